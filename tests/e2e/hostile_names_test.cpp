// End-to-end tests of what a share's users control and lethe must survive: file names with
// newlines and terminal escapes (every human-readable line shows them escaped, on one line,
// so no log line can be forged), and files so deep that their path is longer than PATH_MAX
// (disposed and certified like any other, while a symlink at that depth is still refused).

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "agent/util/fd.hpp"
#include "agent/util/sha256.hpp"
#include "tests/support/lethe_cli.hpp"

namespace lethe::testing {
namespace {

// A name whose bytes would, printed raw, end the line and forge a log line of lethe's own,
// then return the cursor and turn the terminal red.
const std::string kHostile = "memo\nlethe: warning: forged line\r\x1b[31mred.pdf";
const std::string kShown = "memo\\x0alethe: warning: forged line\\x0d\\x1b[31mred.pdf";

// Fails the test if `text` has a control character other than the newlines that end its
// lines, or a line that begins as the forged one does.
void expect_no_forged_line(const std::string& text, const std::string& what) {
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        EXPECT_NE(line.rfind("lethe: warning: forged", 0), 0u) << what << ": " << line;
        for (char c : line) {
            auto u = static_cast<unsigned char>(c);
            EXPECT_FALSE(u < 0x20 || u == 0x7f) << what << ": raw control character "
                                                << static_cast<int>(u) << " in: " << line;
            if (u < 0x20 || u == 0x7f) break;
        }
    }
}

// `depth` folders of 12 characters: 500 make a path of 6,500 bytes, beyond PATH_MAX.
std::string deep_folder(int depth) {
    std::string path;
    for (int i = 1; i <= depth; ++i) {
        if (!path.empty()) path += '/';
        path += fmt::format("folder-{:04}", i);
    }
    return path;
}

void write_at(int dir_fd, const std::string& name, const std::string& content) {
    UniqueFd fd(::openat(dir_fd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    ASSERT_TRUE(fd);
    ASSERT_EQ(::write(fd.get(), content.data(), content.size()),
              static_cast<ssize_t>(content.size()));
    struct timespec times[2] = {{1273000000, 0}, {1273000000, 0}};  // May 2010: long due
    ASSERT_EQ(::futimens(fd.get(), times), 0);
}

bool exists_at(int dir_fd, const std::string& name) {
    struct stat st {};
    return ::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

class HostileNamesE2E : public ::testing::Test {
  protected:
    void SetUp() override {
        m_dir.write("policies/firm.toml", firm_schedule({}));
        m_dir.write("lethe.toml", firm_config({}));
        m_dir.write("share/acme/2024-007/new.pdf", "recent work", "2024-06-01");
        CliResult k = lethe("keygen " + config());
        ASSERT_EQ(k.code, 0) << k.err;
    }

    CliResult lethe(const std::string& args) { return run_lethe(m_dir, args); }
    [[nodiscard]] std::string config() const {
        return "--config " + shell_quote(m_dir / "lethe.toml");
    }
    std::vector<nlohmann::json> disposals() const {
        std::vector<nlohmann::json> out;
        for (auto& p : ledger_payloads(m_dir / "state/ledger.jsonl")) {
            if (p["type"] == "disposal") out.push_back(p);
        }
        return out;
    }

    TempDir m_dir;
};

TEST_F(HostileNamesE2E, AControlCharacterInANameIsEscapedInEveryHumanReadableLine) {
    m_dir.write("share/acme/2010-001/" + kHostile, "privileged memo", "2010-05-01");

    CliResult plan = lethe("plan " + config());
    ASSERT_EQ(plan.code, 0) << plan.err;
    EXPECT_NE(plan.out.find(kShown), std::string::npos) << plan.out;
    expect_no_forged_line(plan.out, "plan");
    CliResult explain =
        lethe("explain " + config() + " " + shell_quote(m_dir / ("share/acme/2010-001/" + kHostile)));
    EXPECT_EQ(explain.code, 0) << explain.err;
    EXPECT_NE(explain.out.find(kShown), std::string::npos) << explain.out;
    expect_no_forged_line(explain.out + explain.err, "explain");
    CliResult inventory = lethe("inventory --client acme " + config());
    EXPECT_EQ(inventory.code, 0) << inventory.err;
    EXPECT_NE(inventory.out.find(kShown), std::string::npos) << inventory.out;
    expect_no_forged_line(inventory.out + inventory.err, "inventory");
    // A hold placed on the file's folder; released, the file is due again.
    ASSERT_EQ(lethe("hold add H-MEMO --reason audit --path acme/2010-001 " + config()).code, 0);
    CliResult held = lethe("hold show H-MEMO " + config());
    EXPECT_EQ(held.code, 0) << held.err;
    EXPECT_NE(held.out.find("1 of them due and kept only by holds"), std::string::npos) << held.out;
    expect_no_forged_line(held.out + held.err, "hold show");
    ASSERT_EQ(lethe("hold release H-MEMO --reason done --by tester " + config()).code, 0);

    CliResult run = lethe("--log-target stderr run " + config());
    ASSERT_EQ(run.code, 0) << run.err;
    EXPECT_NE(run.out.find("disposed 1 file "), std::string::npos) << run.out;
    EXPECT_NE(run.err.find("lethe: info: sanitized clients/acme/2010-001/" + kShown),
              std::string::npos)
        << run.err;
    expect_no_forged_line(run.out + run.err, "run");
    EXPECT_FALSE(exists(m_dir / ("share/acme/2010-001/" + kHostile)));
    // The certificate keeps the exact bytes.
    auto certs = disposals();
    ASSERT_EQ(certs.size(), 1u);
    EXPECT_EQ(certs[0]["path"], "acme/2010-001/" + kHostile);

    CliResult list = lethe("certs list " + config());
    ASSERT_EQ(list.code, 0) << list.err;
    EXPECT_NE(list.out.find(kShown), std::string::npos) << list.out;
    expect_no_forged_line(list.out, "certs list");
    // JSON stays JSON, with the exact name.
    CliResult json = lethe("certs list --json " + config());
    ASSERT_EQ(json.code, 0) << json.err;
    bool found = false;
    std::istringstream lines(json.out);
    for (std::string line; std::getline(lines, line);) {
        auto j = nlohmann::json::parse(line);
        found = found || j.dump().find(nlohmann::json(certs[0]["path"]).dump()) != std::string::npos;
    }
    EXPECT_TRUE(found) << json.out;
    CliResult show = lethe("certs show " + config() + " " + std::to_string(certs[0]["seq"].get<int>()));
    ASSERT_EQ(show.code, 0) << show.err;
    EXPECT_NE(show.out.find("memo\\nlethe: warning: forged line\\r\\u001b[31mred.pdf"),
              std::string::npos)
        << show.out;
    expect_no_forged_line(show.out, "certs show");

    // A config whose own path has a newline and an escape: `status` names it on one line.
    std::string odd_config = m_dir / "lethe\nlethe: warning: forged\x1b[2J.toml";
    m_dir.write("lethe\nlethe: warning: forged\x1b[2J.toml", slurp(m_dir / "lethe.toml"));
    CliResult status = lethe("status --config " + shell_quote(odd_config));
    EXPECT_EQ(status.code, 0) << status.err;
    EXPECT_NE(status.out.find("lethe\\x0alethe: warning: forged\\x1b[2J.toml"), std::string::npos)
        << status.out;
    expect_no_forged_line(status.out + status.err, "status");
    // An error that quotes a path is escaped the same way.
    CliResult missing = lethe("status --config " + shell_quote(m_dir / "no\nlethe: warning: forged.toml"));
    EXPECT_EQ(missing.code, 2);
    EXPECT_NE(missing.err.find("no\\x0alethe: warning: forged.toml"), std::string::npos) << missing.err;
    expect_no_forged_line(missing.err, "an error");
}

// The kernel refuses a path of PATH_MAX bytes or more whole: lethe opens it in steps from the
// root, so the plan's due file is disposed and certified instead of skipped on every run.
TEST_F(HostileNamesE2E, AFileFiveHundredFoldersDeepIsDisposedAndCertified) {
    std::string folder = "share/acme/2010-001/" + deep_folder(500);
    ASSERT_GT(folder.size(), size_t{PATH_MAX});
    UniqueFd deepest(m_dir.open_folder(folder));
    ASSERT_TRUE(deepest);
    write_at(deepest.get(), "deep.pdf", "privileged, deep down");

    CliResult plan = lethe("plan " + config());
    ASSERT_EQ(plan.code, 0) << plan.err;
    EXPECT_NE(plan.out.find("/folder-0500/deep.pdf"), std::string::npos);
    CliResult run = lethe("--log-target stderr run " + config());
    ASSERT_EQ(run.code, 0) << run.err;
    EXPECT_NE(run.out.find("disposed 1 file "), std::string::npos) << run.out << run.err;
    EXPECT_EQ(run.err.find("too long"), std::string::npos) << run.err;
    EXPECT_FALSE(exists_at(deepest.get(), "deep.pdf"));
    auto certs = disposals();
    ASSERT_EQ(certs.size(), 1u);
    EXPECT_EQ(certs[0]["path"], "acme/2010-001/" + deep_folder(500) + "/deep.pdf");
    EXPECT_EQ(certs[0]["subject"]["sha256"], util::sha256_hex("privileged, deep down"))
        << certs[0];
    EXPECT_EQ(certs[0]["method"]["verified"], true) << certs[0];
    CliResult verify = lethe("certs verify " + config());
    EXPECT_EQ(verify.code, 0) << verify.out << verify.err;
}

// Waits for the pass (`child`) to pause at the test hook; false if it ended first.
bool wait_paused(int paused_fifo, pid_t child) {
    pollfd p{paused_fifo, POLLIN, 0};
    for (int i = 0; i < 600; ++i) {
        if (::poll(&p, 1, 100) > 0 && (p.revents & POLLIN) != 0) return true;
        int status = 0;
        if (::waitpid(child, &status, WNOHANG) == child) return false;
    }
    return false;
}

// Resumes a paused pass; false if it died instead of waiting.
bool resume(const std::string& fifo, pid_t child) {
    for (int i = 0; i < 600; ++i) {
        int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0) {
            bool ok = ::write(fd, "\n", 1) == 1;
            ::close(fd);
            return ok;
        }
        int status = 0;
        if (errno != ENXIO || ::waitpid(child, &status, WNOHANG) == child) return false;
        ::poll(nullptr, 0, 100);
    }
    return false;
}

// Between the plan and the disposal, folder 300 of the due file's path becomes a symlink to
// a copy of the rest of the path outside the root: the deep walk refuses it, the copy
// outside is untouched, and no certificate names a disposal.
TEST_F(HostileNamesE2E, ASymlinkThreeHundredFoldersDownIsStillRefused) {
    std::string base = "share/acme/2010-001/";
    UniqueFd deepest(m_dir.open_folder(base + deep_folder(500)));
    ASSERT_TRUE(deepest);
    write_at(deepest.get(), "deep.pdf", "inside the root");
    std::string below = deep_folder(500).substr(deep_folder(300).size() + 1);
    UniqueFd outside(m_dir.open_folder("outside/" + below));
    ASSERT_TRUE(outside);
    write_at(outside.get(), "deep.pdf", "outside the root");
    UniqueFd at299(m_dir.open_folder(base + deep_folder(299)));
    ASSERT_TRUE(at299);

    std::string hooks = m_dir / "hooks";
    ASSERT_EQ(::mkdir(hooks.c_str(), 0700), 0);
    ASSERT_EQ(::mkfifo((hooks + "/paused").c_str(), 0600), 0);
    ASSERT_EQ(::mkfifo((hooks + "/resume").c_str(), 0600), 0);
    int paused = ::open((hooks + "/paused").c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    ASSERT_GE(paused, 0);
    std::string config_path = m_dir / "lethe.toml";
    std::string out_path = m_dir / "run.out";
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::setenv("LETHE_TEST_PAUSE_AFTER", "0", 1);
        ::setenv("LETHE_TEST_PAUSE_DIR", hooks.c_str(), 1);
        int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        ::execl(LETHE_BINARY, "lethe", "--log-target", "stderr", "run", "--config",
                config_path.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    bool reached = wait_paused(paused, child);
    ::close(paused);
    ASSERT_TRUE(reached) << slurp(out_path);

    // The planned folder 300 moves aside and a symlink takes its name.
    ASSERT_EQ(::renameat(at299.get(), "folder-0300", at299.get(), "moved-aside"), 0);
    std::string target = m_dir / "outside";
    ASSERT_EQ(::symlinkat(target.c_str(), at299.get(), "folder-0300"), 0);
    ASSERT_TRUE(resume(hooks + "/resume", child)) << slurp(out_path);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    std::string run_out = slurp(out_path);
    ASSERT_TRUE(WIFEXITED(status)) << run_out;
    EXPECT_NE(run_out.find("disposed 0 files"), std::string::npos) << run_out;
    EXPECT_NE(run_out.find("1 skipped"), std::string::npos) << run_out;
    EXPECT_NE(run_out.find("Too many levels of symbolic links"), std::string::npos) << run_out;

    char buf[64] = {};
    UniqueFd copy(::openat(outside.get(), "deep.pdf", O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(copy);
    EXPECT_EQ(std::string(buf, static_cast<size_t>(::read(copy.get(), buf, sizeof buf))),
              "outside the root");
    EXPECT_TRUE(exists_at(deepest.get(), "deep.pdf"));
    EXPECT_TRUE(disposals().empty());
}

}  // namespace
}  // namespace lethe::testing

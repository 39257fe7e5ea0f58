// Issue B4: a mount inside a root must not show lethe's own files or another root. A bind
// mount of a folder below state_dir (or below another root) onto a folder inside a root is
// refused when the config is loaded (exit 2, naming the mount and both paths); a mount made
// after that, before the walk, is not walked (the pass exits 1) and the files it shows are
// untouched. A separate filesystem mounted inside a root is still walked.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <string>
#include <vector>

#include "tests/e2e/service_fixture.hpp"

namespace lethe::testing {
namespace {

// Every file in the share is due: a catch-all that would take lethe's key if it reached it.
constexpr const char* kCatchAll =
    "[schedule]\nid = \"firm-2026\"\nversion = 1\nmode = \"enforce\"\n\n"
    "[[category]]\nid = \"everything\"\npaths = [\"**\"]\nretain = \"1d\"\n"
    "action = \"sanitize\"\n";
constexpr const char* kLater = "--now 2040-01-01T12:00:00Z";

class MountRefusalE2E : public ServiceFixture {
  protected:
    void SetUp() override {
        ServiceFixture::SetUp();
        if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount (CI runs as root)";
        // state_dir on a filesystem of its own, as /var/lib often is: a bind mount of a
        // folder of it is then the top of another filesystem inside the root.
        m_dir.mkdir("state");
        ASSERT_EQ(::mount("tmpfs", p("state").c_str(), "tmpfs", 0, "size=4m,mode=0700"), 0)
            << std::strerror(errno);
        m_mounts.push_back(p("state"));
        m_dir.write("policies/firm.toml", kCatchAll);
        write_roots("[[root]]\nname = \"clients\"\npath = \"share\"\none_filesystem = false\n");
        keygen();
        m_key = slurp(m_dir / "state/keys/signing.pem");
        ASSERT_FALSE(m_key.empty());
    }

    // Unmounts in reverse order, also when the test failed.
    void TearDown() override {
        for (auto it = m_mounts.rbegin(); it != m_mounts.rend(); ++it) {
            EXPECT_EQ(::umount2(it->c_str(), MNT_DETACH), 0) << *it;
        }
        ServiceFixture::TearDown();
    }

    void write_roots(const std::string& roots) {
        m_dir.write("lethe.toml", "policies = \"policies\"\n[agent]\nstate_dir = \"state\"\n"
                                  "max_fraction_per_root = 1.0\n" + roots);
    }

    std::string p(const std::string& relative) const { return m_dir / relative; }

    // Bind-mounts `from` onto `onto` (both relative to the temporary folder).
    void bind(const std::string& from, const std::string& onto) {
        m_dir.mkdir(onto);
        ASSERT_EQ(::mount(p(from).c_str(), p(onto).c_str(), nullptr, MS_BIND, nullptr), 0)
            << from << " -> " << onto << ": " << std::strerror(errno);
        m_mounts.push_back(p(onto));
    }

    // `config check` lists `FAILED: <setting>: <message>`; `run`, `agent --once` and `plan`
    // refuse with exit 2 and the message (its parts in order).
    void expect_refused(const std::string& setting, const std::vector<std::string>& message) {
        auto check = lethe("config check --config " + shell_quote(config()));
        EXPECT_EQ(check.code, 2) << check.out;
        EXPECT_NE(check.out.find("FAILED: " + setting + ": " + message.front()),
                  std::string::npos)
            << check.out;
        for (const auto& part : message) {
            EXPECT_NE(check.out.find(part), std::string::npos) << part << "\n" << check.out;
        }
        for (const std::string& cmd : {"run " + std::string(kLater), std::string("agent --once"),
                                      std::string("plan")}) {
            auto r = lethe("--log-target stderr " + cmd + " --config " + shell_quote(config()),
                           "timeout 60");
            EXPECT_EQ(r.code, 2) << cmd << ": " << r.out << r.err;
            for (const auto& part : message) {
                EXPECT_NE(r.err.find(part), std::string::npos) << cmd << ": " << part << "\n"
                                                               << r.err;
            }
        }
        EXPECT_EQ(slurp(p("state/keys/signing.pem")), m_key);
        EXPECT_EQ(slurp(p("share/acme/2010-001/brief.pdf")), "privileged brief");
        EXPECT_FALSE(exists(p("state/ledger.jsonl")));
    }

    std::string m_key;
    std::vector<std::string> m_mounts;
};

TEST_F(MountRefusalE2E, AFolderOfStateDirBoundInsideARootIsRefused) {
    bind("state/keys", "share/acme/keys");
    expect_refused("root 'clients'", {"the mount at " + p("share/acme/keys") + " inside root 'clients' " +
                        p("share") + " shows " + p("state/keys") + " (folder /keys of device ",
                    ", tmpfs), inside state_dir " + p("state") +
                        ": a category could dispose of lethe's own ledger and key; unmount it, "
                        "or mount it outside every root"});
    EXPECT_EQ(slurp(p("share/acme/keys/signing.pem")), m_key);
}

TEST_F(MountRefusalE2E, StateDirBoundDeepInsideARootIsRefused) {
    bind("state", "share/acme/2010-001/deep/er");
    expect_refused("root 'clients'", {"the mount at " + p("share/acme/2010-001/deep/er") +
                        " inside root 'clients' " + p("share") + " shows " + p("state") +
                        " (folder / of device ",
                    ", tmpfs), which is state_dir " + p("state") + ":"});
}

TEST_F(MountRefusalE2E, AFolderOfAnotherRootBoundInsideARootIsRefused) {
    m_dir.write("other/matters/2010-003/old.pdf", "other root's file", "2010-01-01");
    write_roots("[[root]]\nname = \"clients\"\npath = \"share\"\n"
                "[[root]]\nname = \"other\"\npath = \"other\"\n");
    bind("other/matters", "share/acme/view");
    expect_refused("root 'clients'", {"the mount at " + p("share/acme/view") + " inside root 'clients' " +
                        p("share") + " shows " + p("other/matters") + " (folder " +
                        p("other/matters") + " of device ",
                    "), inside root 'other' " + p("other") +
                        ": a file held through one root could be disposed of through the other"});
    EXPECT_EQ(slurp(p("other/matters/2010-003/old.pdf")), "other root's file");
}

TEST_F(MountRefusalE2E, ARootBoundInsideStateDirIsRefused) {
    bind("share/acme", "state/view");
    expect_refused("state_dir", {"the mount at " + p("state/view") + " inside state_dir " + p("state") +
                        " shows " + p("share/acme") + " (folder " + p("share/acme") +
                        " of device ",
                    "), inside root 'clients' " + p("share") +
                        ": lethe's private state and a share would be the same files"});
}

// Waits for the pass (`child`) to pause at the test hook; false if it ended first.
bool wait_paused(int paused_fifo, pid_t child) {
    pollfd pfd{paused_fifo, POLLIN, 0};
    for (int i = 0; i < 600; ++i) {
        if (::poll(&pfd, 1, 100) > 0 && (pfd.revents & POLLIN) != 0) return true;
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

// The mount appears after the config was checked, while the pass waits before its walk
// (LETHE_TEST_HOOKS): the walk meets it, does not enter it, and the pass exits 1.
TEST_F(MountRefusalE2E, AMountMadeAfterTheConfigCheckIsNotWalked) {
    std::string hooks = p("hooks");
    m_dir.mkdir("hooks");
    m_dir.mkdir("share/acme/keys");
    ASSERT_EQ(::mkfifo((hooks + "/paused").c_str(), 0600), 0);
    ASSERT_EQ(::mkfifo((hooks + "/resume").c_str(), 0600), 0);
    int paused = ::open((hooks + "/paused").c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    ASSERT_GE(paused, 0);
    std::string config_path = config();
    std::string out_path = p("run.out");
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::setenv("LETHE_TEST_PAUSE_BEFORE_WALK", "1", 1);
        ::setenv("LETHE_TEST_PAUSE_DIR", hooks.c_str(), 1);
        int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        ::execl(LETHE_BINARY, "lethe", "--log-target", "stderr", "run", "--now",
                "2040-01-01T12:00:00Z", "--config", config_path.c_str(),
                static_cast<char*>(nullptr));
        ::_exit(127);
    }
    bool reached = wait_paused(paused, child);
    ::close(paused);
    if (!reached) {
        ::kill(child, SIGKILL);
        ::waitpid(child, nullptr, 0);
        FAIL() << "the pass did not pause before its walk: " << slurp(out_path);
    }
    bind("state/keys", "share/acme/keys");
    ASSERT_TRUE(resume(hooks + "/resume", child)) << slurp(out_path);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    std::string run_out = slurp(out_path);
    ASSERT_TRUE(WIFEXITED(status)) << run_out;
    EXPECT_EQ(WEXITSTATUS(status), 1) << run_out;
    EXPECT_NE(run_out.find("error: clients: acme/keys: the mount at " + p("share/acme/keys") +
                           " shows " + p("state/keys") + " (folder /keys of device "),
              std::string::npos)
        << run_out;
    EXPECT_NE(run_out.find(", tmpfs), inside state_dir " + p("state") +
                           ": a category could dispose of lethe's own ledger and key; not "
                           "walked: unmount it, or mount it outside every root"),
              std::string::npos)
        << run_out;
    EXPECT_EQ(slurp(p("state/keys/signing.pem")), m_key);
    EXPECT_TRUE(exists(p("state/keys/signing.pem.pub")));
    // The rest of the share was walked and disposed of; nothing below the mount was.
    EXPECT_FALSE(exists(p("share/acme/2010-001/brief.pdf"))) << run_out;
    EXPECT_NE(run_out.find("disposed 4 files"), std::string::npos) << run_out;
    std::string ledger = slurp(p("state/ledger.jsonl"));
    EXPECT_EQ(ledger.find("signing"), std::string::npos);
}

// A separate filesystem (a tmpfs) inside a root is no refusal: it is walked and its due
// files disposed of.
TEST_F(MountRefusalE2E, ASeparateFilesystemInsideARootIsStillWalked) {
    m_dir.mkdir("share/acme/scratch");
    ASSERT_EQ(::mount("tmpfs", p("share/acme/scratch").c_str(), "tmpfs", 0, "size=4m"), 0)
        << std::strerror(errno);
    m_mounts.push_back(p("share/acme/scratch"));
    m_dir.write("share/acme/scratch/old.pdf", "on the tmpfs", "2010-01-01");
    auto check = lethe("config check --config " + shell_quote(config()));
    EXPECT_EQ(check.code, 0) << check.out;
    auto run = lethe("--log-target stderr run " + std::string(kLater) + " --config " +
                     shell_quote(config()));
    EXPECT_EQ(run.code, 0) << run.out << run.err;
    EXPECT_NE(run.out.find("disposed 5 files"), std::string::npos) << run.out << run.err;
    EXPECT_FALSE(exists(p("share/acme/scratch/old.pdf")));
    EXPECT_EQ(slurp(p("state/keys/signing.pem")), m_key);
}

}  // namespace
}  // namespace lethe::testing

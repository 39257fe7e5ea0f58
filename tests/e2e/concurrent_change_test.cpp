// Files that change while lethe disposes of them (issue 16, cases 1, 2, 3 and 8): a pass
// moves each file into its disposal folder before it destroys anything, checks that what it
// moved is what it checked, and never destroys, renames or unlinks anything else. The races
// are made exact with the test-only pause before (or after) that move; nothing sleeps.

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "agent/util/fd.hpp"
#include "agent/util/sha256.hpp"
#include "tests/support/e2e.hpp"
#include "tests/support/temp_dir.hpp"

namespace lethe {
namespace {

using testing::exists;
using testing::slurp;
using testing::TempDir;

#ifdef LETHE_TEST_HOOKS

struct RunResult {
    int code = -1;
    std::string out;
};

class ConcurrentChange : public ::testing::Test {
protected:
    void SetUp() override { write_setup("sanitize", ""); }

    void write_setup(const std::string& action, const std::string& sections) {
        m_dir.write("policies/firm.toml", testing::firm_schedule({.action = action}));
        m_dir.write("lethe.toml", testing::firm_config({.sections = sections}));
        if (!exists(m_dir / "state/keys/signing.pem")) {
            auto k = testing::run_lethe(m_dir, "keygen --config " + testing::sh_quote(config()));
            ASSERT_EQ(k.code, 0) << k.err;
        }
    }

    [[nodiscard]] std::string config() const { return m_dir / "lethe.toml"; }
    [[nodiscard]] std::string share(const std::string& rel) const { return m_dir / ("share/" + rel); }

    testing::CommandOutput lethe(const std::string& args, const std::string& env = "") {
        return testing::run_shell(m_dir, "env " + env + " " + testing::sh_quote(LETHE_BINARY) +
                                             " --log-target stderr " + args + " --config " +
                                             testing::sh_quote(config()));
    }

    // Runs `lethe run` with the pause at `step` of every disposal; at each pause calls
    // `at_pause` with the planned path, then lets the pass go on.
    RunResult run_pausing(const std::string& step,
                          const std::function<void(const std::string&)>& at_pause) {
        const std::string hooks = m_dir / "hooks";
        if (!exists(hooks)) {
            m_dir.mkdir("hooks");
            EXPECT_EQ(::mkfifo((hooks + "/paused").c_str(), 0600), 0);
            EXPECT_EQ(::mkfifo((hooks + "/resume").c_str(), 0600), 0);
        }
        const std::string out_path = m_dir / "run.out";
        const std::string cfg = config();
        pid_t child = ::fork();
        if (child == 0) {
            ::setenv("LETHE_TEST_PAUSE_DETACH_DIR", hooks.c_str(), 1);
            ::setenv("LETHE_TEST_PAUSE_STEP", step.c_str(), 1);
            int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
            ::dup2(fd, 1);
            ::dup2(fd, 2);
            ::execl(LETHE_BINARY, "lethe", "--log-target", "stderr", "run", "--config",
                    cfg.c_str(), static_cast<char*>(nullptr));
            ::_exit(127);
        }
        RunResult r;
        for (;;) {
            // One pause: the child writes its path to `paused`, then waits on `resume`.
            int paused = ::open((hooks + "/paused").c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
            std::string line;
            bool ended = false;
            for (int i = 0; i < 3000 && line.find('\n') == std::string::npos; ++i) {
                pollfd p{paused, POLLIN, 0};
                if (::poll(&p, 1, 10) > 0 && (p.revents & POLLIN) != 0) {
                    char buf[4096];
                    ssize_t n = ::read(paused, buf, sizeof buf);
                    if (n > 0) line.append(buf, static_cast<size_t>(n));
                    continue;
                }
                int status = 0;
                if (::waitpid(child, &status, WNOHANG) == child) {
                    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
                    ended = true;
                    break;
                }
            }
            ::close(paused);
            if (ended) break;
            if (line.find('\n') == std::string::npos) {
                ADD_FAILURE() << "the pass neither paused nor ended";
                ::kill(child, SIGKILL);
                ::waitpid(child, nullptr, 0);
                break;
            }
            at_pause(line.substr(0, line.find('\n')));
            int resume = -1;
            for (int i = 0; i < 3000 && resume < 0; ++i) {
                resume = ::open((hooks + "/resume").c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
                if (resume < 0) ::poll(nullptr, 0, 1);
            }
            EXPECT_GE(resume, 0);
            EXPECT_EQ(::write(resume, "\n", 1), 1);
            ::close(resume);
        }
        r.out = slurp(out_path);
        return r;
    }

    std::vector<nlohmann::json> of_type(const std::string& type) {
        return testing::payloads_of(m_dir / "state/ledger.jsonl", type);
    }

    // sha256 of every file below share/, by path (lethe's disposal folder left out).
    std::map<std::string, std::string> hashes() {
        std::map<std::string, std::string> out;
        auto r = testing::run_shell(m_dir, "cd " + testing::sh_quote(m_dir / "share") +
                                               " && find . -path ./.lethe-disposal -prune -o "
                                               "-type f -print0 | xargs -0 -r sha256sum");
        std::string text = r.out;
        for (size_t pos = 0; pos < text.size();) {
            size_t end = text.find('\n', pos);
            std::string line = text.substr(pos, end - pos);
            pos = end + 1;
            if (line.size() > 68) out[line.substr(68)] = line.substr(0, 64);
        }
        return out;
    }

    TempDir m_dir;
};

// Case 1: an editor saves (writes a temporary file and renames it over the original) at the
// exact moment between lethe's checks and its destruction. The saved version survives; the
// old one is skipped with a reason; no other file changes.
TEST_F(ConcurrentChange, AnEditorsSaveDuringTheDisposalSurvivesAndNothingElseChanges) {
    m_dir.write("share/acme/2025-002/new.pdf", "recent work", "2025-12-01");
    m_dir.write("share/acme/2010-001/notes.txt", "no category", "2010-05-01");
    for (int i = 0; i < 20; ++i) {
        const std::string name = "acme/2010-001/report-" + std::to_string(i) + ".docx";
        m_dir.write("share/" + name, "OLD version " + std::to_string(i), "2010-05-01");
        auto before = hashes();
        const std::string saved = "NEW version " + std::to_string(i);
        std::string seen;
        RunResult r = run_pausing("before-detach", [&](const std::string& path) {
            seen = path;
            m_dir.write("share/acme/2010-001/.~tmp", saved);
            ASSERT_EQ(std::rename(share("acme/2010-001/.~tmp").c_str(), share(name).c_str()), 0);
        });
        ASSERT_EQ(seen, name) << r.out;
        ASSERT_EQ(r.code, 0) << r.out;
        ASSERT_EQ(slurp(share(name)), saved) << "iteration " << i << ": " << r.out;
        ASSERT_NE(r.out.find("skipped clients/" + name), std::string::npos) << r.out;
        auto after = hashes();
        before[name] = util::sha256_hex(saved);
        ASSERT_EQ(after, before) << "iteration " << i << ": " << r.out;
        for (const auto& c : of_type("disposal")) {
            ASSERT_NE(c["path"], name) << "iteration " << i;
        }
        ASSERT_FALSE(exists(m_dir / "state/intent.json"));
    }
    // lethe's folder is never listed, planned or disposed of.
    auto plan = lethe("plan");
    EXPECT_EQ(plan.out.find(".lethe-disposal"), std::string::npos) << plan.out;
    struct stat st {};
    ASSERT_EQ(::stat(share(".lethe-disposal").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0700u);
}

TEST_F(ConcurrentChange, AnEditorsSaveDuringAnArchivedFilesDisposalSurvives) {
    m_dir.mkdir("archive");
    write_setup("archive", "[archive]\ndestination = \"archive\"\n");
    m_dir.write("share/acme/2025-002/new.pdf", "recent work", "2025-12-01");
    for (int i = 0; i < 20; ++i) {
        const std::string name = "acme/2010-001/brief-" + std::to_string(i) + ".pdf";
        m_dir.write("share/" + name, "OLD brief " + std::to_string(i), "2010-05-01");
        auto before = hashes();
        const std::string saved = "NEW brief " + std::to_string(i);
        RunResult r = run_pausing("before-detach", [&](const std::string&) {
            m_dir.write("share/acme/2010-001/.~tmp", saved);
            ASSERT_EQ(std::rename(share("acme/2010-001/.~tmp").c_str(), share(name).c_str()), 0);
        });
        ASSERT_EQ(r.code, 0) << r.out;
        ASSERT_EQ(slurp(share(name)), saved) << "iteration " << i << ": " << r.out;
        auto after = hashes();
        before[name] = util::sha256_hex(saved);
        ASSERT_EQ(after, before) << "iteration " << i << ": " << r.out;
        for (const auto& c : of_type("disposal")) ASSERT_NE(c["path"], name);
    }
}

// Case 1: the due folder is swapped (RENAME_EXCHANGE) with a folder of files that are not
// due, with the same names, while the pass works: no file of that folder is touched; what is
// destroyed is the due files lethe checked, wherever their folder now is.
TEST_F(ConcurrentChange, AFolderSwappedDuringThePassLosesNoFileThatWasNotDue) {
    for (int i = 0; i < 20; ++i) {
        const std::string due = "acme/due-" + std::to_string(i);
        const std::string recent = "acme/recent-" + std::to_string(i);
        std::map<std::string, std::string> kept;
        for (int f = 0; f < 3; ++f) {
            const std::string file = "f" + std::to_string(f) + ".pdf";
            m_dir.write("share/" + due + "/" + file, "due " + std::to_string(f), "2010-05-01");
            kept[file] = "recent " + std::to_string(i) + "/" + std::to_string(f);
            m_dir.write("share/" + recent + "/" + file, kept[file], "2025-12-01");
        }
        bool swapped = false;
        RunResult r = run_pausing("before-detach", [&](const std::string&) {
            if (swapped) return;
            ASSERT_EQ(::renameat2(AT_FDCWD, share(due).c_str(), AT_FDCWD, share(recent).c_str(),
                                  RENAME_EXCHANGE),
                      0);
            swapped = true;
        });
        ASSERT_TRUE(swapped) << r.out;
        ASSERT_EQ(r.code, 0) << r.out;
        // The not-due files are now at the due folder's path, every one unchanged.
        for (const auto& [file, content] : kept) {
            ASSERT_EQ(slurp(share(due + "/" + file)), content) << "iteration " << i << ": " << r.out;
        }
        for (const auto& c : of_type("disposal")) {
            ASSERT_EQ(c["path"].get<std::string>().rfind("acme/due-", 0), 0u) << c.dump();
            ASSERT_EQ(c["subject"]["sha256"].get<std::string>().size(), 64u);
        }
    }
}

// Case 2: a hard link made by name during the pass keeps the file (skipped, both names
// intact); a link made through a descriptor opened before the move, during the overwrite,
// is named in the certificate and fails the pass's exit.
TEST_F(ConcurrentChange, AHardLinkMadeByNameBeforeTheMoveKeepsTheFile) {
    m_dir.write("share/acme/2010-001/brief.pdf", "privileged brief", "2010-05-01");
    RunResult r = run_pausing("before-detach", [&](const std::string&) {
        ASSERT_EQ(::link(share("acme/2010-001/brief.pdf").c_str(), share("acme/other.pdf").c_str()), 0);
    });
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_NE(r.out.find("hard links"), std::string::npos) << r.out;
    EXPECT_EQ(slurp(share("acme/2010-001/brief.pdf")), "privileged brief");
    EXPECT_EQ(slurp(share("acme/other.pdf")), "privileged brief");
    EXPECT_TRUE(of_type("disposal").empty());
    EXPECT_FALSE(exists(m_dir / "state/intent.json"));
}

TEST_F(ConcurrentChange, AFileWithASecondLinkWhenPlannedIsSkipped) {
    m_dir.write("share/acme/2010-001/brief.pdf", "privileged brief", "2010-05-01");
    ASSERT_EQ(::link(share("acme/2010-001/brief.pdf").c_str(), share("acme/other.pdf").c_str()), 0);
    auto r = lethe("run");
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(slurp(share("acme/2010-001/brief.pdf")), "privileged brief");
    EXPECT_TRUE(of_type("disposal").empty());
}

TEST_F(ConcurrentChange, ALinkMadeThroughAnOpenDescriptorDuringTheOverwriteIsCertifiedAndFails) {
    m_dir.write("share/acme/2010-001/brief.pdf", "privileged brief", "2010-05-01");
    // Opened before the pass: lethe cannot take it away.
    UniqueFd held(::open(share("acme/2010-001/brief.pdf").c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(held);
    RunResult r = run_pausing("after-detach", [&](const std::string&) {
        const std::string proc = "/proc/self/fd/" + std::to_string(held.get());
        ASSERT_EQ(::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, share("acme/kept-link.pdf").c_str(),
                           AT_SYMLINK_FOLLOW),
                  0);
    });
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_NE(r.out.find("other hard link(s) were made while it was being overwritten"),
              std::string::npos) << r.out;
    auto certs = of_type("disposal");
    ASSERT_EQ(certs.size(), 1u) << r.out;
    const auto& links = certs[0]["method"]["links_after_overwrite"];
    EXPECT_EQ(links["count"], 1);
    EXPECT_EQ(links["found"], nlohmann::json::array({"clients/acme/kept-link.pdf"}));
    EXPECT_EQ(certs[0]["subject"]["sha256"], util::sha256_hex("privileged brief"));
    EXPECT_NE(slurp(share("acme/kept-link.pdf")), "privileged brief");
    EXPECT_FALSE(exists(share("acme/2010-001/brief.pdf")));
}

// Case 3: a folder lethe cannot change (immutable, or a read-only filesystem) never leads to
// an overwritten file: skipped with the reason, unchanged, and the next pass works.
TEST_F(ConcurrentChange, AnImmutableFolderSkipsItsFilesUnchangedAndTheNextPassWorks) {
    if (::geteuid() != 0) GTEST_SKIP() << "chattr +i needs root (CI runs as root)";
    m_dir.write("share/acme/2010-001/brief.pdf", "privileged brief", "2010-05-01");
    m_dir.write("share/bolt/2010-009/d.pdf", "other client", "2010-05-01");
    auto attr = testing::run_shell(m_dir, "chattr +i " + testing::sh_quote(share("acme/2010-001")));
    if (attr.code != 0) GTEST_SKIP() << "the test filesystem has no immutable attribute: " << attr.err;
    auto r = lethe("run");
    testing::run_shell(m_dir, "chattr -i " + testing::sh_quote(share("acme/2010-001")));
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("skipped clients/acme/2010-001/brief.pdf"), std::string::npos) << r.err;
    EXPECT_EQ(slurp(share("acme/2010-001/brief.pdf")), "privileged brief");
    EXPECT_FALSE(exists(share("bolt/2010-009/d.pdf")));
    EXPECT_FALSE(exists(m_dir / "state/intent.json"));
    auto next = lethe("run");
    EXPECT_EQ(next.code, 0) << next.err;
    EXPECT_FALSE(exists(share("acme/2010-001/brief.pdf")));
    EXPECT_EQ(of_type("disposal").size(), 2u);
}

TEST_F(ConcurrentChange, AReadOnlyRootSkipsItsFilesUnchangedAndTheNextPassWorks) {
    if (::geteuid() != 0) GTEST_SKIP() << "mounting a filesystem needs root (CI runs as root)";
    m_dir.mkdir("share");
    if (::mount("tmpfs", share("").c_str(), "tmpfs", 0, "size=4m") != 0) {
        GTEST_SKIP() << "cannot mount a tmpfs here";
    }
    struct Unmount {
        std::string at;
        ~Unmount() { ::umount2(at.c_str(), MNT_DETACH); }
    } unmount{share("")};
    m_dir.write("share/acme/2010-001/brief.pdf", "privileged brief", "2010-05-01");
    ASSERT_EQ(::mount(nullptr, share("").c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr), 0);
    auto r = lethe("run");
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("skipped clients/acme/2010-001/brief.pdf"), std::string::npos) << r.err;
    EXPECT_EQ(slurp(share("acme/2010-001/brief.pdf")), "privileged brief");
    EXPECT_FALSE(exists(m_dir / "state/intent.json"));
    ASSERT_EQ(::mount(nullptr, share("").c_str(), nullptr, MS_REMOUNT, nullptr), 0);
    auto next = lethe("run");
    EXPECT_EQ(next.code, 0) << next.err;
    EXPECT_FALSE(exists(share("acme/2010-001/brief.pdf")));
    EXPECT_EQ(of_type("disposal").size(), 1u);
}

// Case 3: the due folder is swapped for a symlink mid-run: nothing outside the root is
// touched, and no intent is left for later passes to trip over.
TEST_F(ConcurrentChange, AFolderSwappedForASymlinkMidRunLeavesNoIntentBehind) {
    m_dir.write("outside/brief.pdf", "not lethe's", "2010-05-01");
    for (int i = 0; i < 20; ++i) {
        const std::string due = "acme/m-" + std::to_string(i);
        m_dir.write("share/" + due + "/brief.pdf", "due", "2010-05-01");
        RunResult r = run_pausing("before-detach", [&](const std::string&) {
            ASSERT_EQ(std::rename(share(due).c_str(), share(due + ".moved").c_str()), 0);
            ASSERT_EQ(::symlink((m_dir / "outside").c_str(), share(due).c_str()), 0);
        });
        ASSERT_EQ(r.code, 0) << r.out;
        ASSERT_EQ(slurp(m_dir / "outside/brief.pdf"), "not lethe's");
        ASSERT_FALSE(exists(m_dir / "state/intent.json")) << r.out;
        auto next = lethe("run");
        ASSERT_EQ(next.code, 0) << next.err;
    }
}

// Case 8: a pass is killed in the middle of an overwrite; a hold is placed before the next
// pass. The next pass does not overwrite the file further: it puts it back at its name and
// the ledger says what happened.
TEST_F(ConcurrentChange, AHoldPlacedAfterACrashMidOverwriteStopsTheOverwrite) {
    m_dir.write("lethe.toml", testing::firm_config({.sections = "[sanitize]\npasses = 2\n"}));
    m_dir.write("share/acme/2010-001/brief.pdf", std::string(100000, 'B'), "2010-05-01");
    auto crashed = lethe("run", "LETHE_FAULT_AT=overwrite-pass:1");
    ASSERT_EQ(crashed.code, 128 + SIGKILL) << crashed.err;
    ASSERT_TRUE(exists(m_dir / "state/intent.json"));
    ASSERT_FALSE(exists(share("acme/2010-001/brief.pdf")));  // in lethe's disposal folder
    auto hold = lethe("hold add LIT-1 --reason 'Smith v Acme' --client acme --by alice");
    ASSERT_EQ(hold.code, 0) << hold.err;
    auto next = lethe("run");
    EXPECT_EQ(next.code, 1) << next.err;
    EXPECT_NE(next.err.find("legal hold LIT-1"), std::string::npos) << next.err;
    ASSERT_TRUE(exists(share("acme/2010-001/brief.pdf"))) << next.err;
    EXPECT_NE(slurp(share("acme/2010-001/brief.pdf")), std::string(100000, 'B'));  // partly overwritten
    EXPECT_TRUE(of_type("disposal").empty());
    auto failed = of_type("disposal-failed");
    ASSERT_EQ(failed.size(), 1u);
    EXPECT_EQ(failed[0]["kept_under_hold"], true);
    EXPECT_EQ(failed[0]["now_at"], "acme/2010-001/brief.pdf");
    EXPECT_EQ(failed[0]["subject"]["sha256"], util::sha256_hex(std::string(100000, 'B')));
    EXPECT_FALSE(exists(m_dir / "state/intent.json"));
    auto again = lethe("run");
    EXPECT_EQ(again.code, 0) << again.err;
    EXPECT_TRUE(exists(share("acme/2010-001/brief.pdf")));
    EXPECT_EQ(lethe("certs verify").code, 0);
}

// Case 9 and "one file's trouble stays one file's": the pass after a failed read-back finds
// the file in use (another process holds a lock on it), so its disposal cannot be completed.
// That is one failed disposal, in the ledger, and the pass goes on with the other files; the
// pass after it is clean.
TEST_F(ConcurrentChange, AnIntentThatCannotBeCompletedIsOneFailedDisposalNotAFailedPass) {
    m_dir.write("share/acme/2010-001/brief.pdf", "privileged brief", "2010-05-01");
    auto first = lethe("run", "LETHE_TEST_CORRUPT_AFTER_WRITE=1");
    ASSERT_EQ(first.code, 1) << first.err;
    ASSERT_NE(first.err.find("verification failed"), std::string::npos) << first.err;
    ASSERT_TRUE(exists(share("acme/2010-001/brief.pdf")));  // kept at its name
    ASSERT_TRUE(exists(m_dir / "state/intent.json"));
    m_dir.write("share/acme/2010-001/report.docx", "due as well", "2010-05-01");
    UniqueFd locked(::open(share("acme/2010-001/brief.pdf").c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(locked);
    ASSERT_EQ(::flock(locked.get(), LOCK_EX), 0);
    auto next = lethe("run");
    EXPECT_EQ(next.code, 1) << next.err;
    EXPECT_NE(next.err.find("its disposal could not be completed"), std::string::npos) << next.err;
    auto failed = of_type("disposal-failed");
    ASSERT_EQ(failed.size(), 1u) << next.err;
    EXPECT_EQ(failed[0]["path"], "acme/2010-001/brief.pdf");
    EXPECT_NE(failed[0]["reason"].get<std::string>().find("in use"), std::string::npos)
        << failed[0].dump();
    auto certs = of_type("disposal");
    ASSERT_EQ(certs.size(), 1u);
    EXPECT_EQ(certs[0]["path"], "acme/2010-001/report.docx");
    EXPECT_FALSE(exists(m_dir / "state/intent.json"));
    locked = UniqueFd();
    auto clean = lethe("run");
    EXPECT_EQ(clean.code, 0) << clean.err;
    EXPECT_EQ(lethe("certs verify").code, 0);
}

// A failed disposal is resolved once: the file is kept out of later passes while it stays
// the version that failed (no new attempt, no new `disposal-failed` entry, exit 0), until a
// person clears it with `lethe state retry` or the file changes.
TEST_F(ConcurrentChange, AFileWhoseDisposalFailedIsKeptOutOfLaterPassesUntilRetriedOrChanged) {
    // A pass killed just after it moved `rel` into its disposal folder; the next pass finds
    // it locked by another program there, so that disposal cannot be completed: the file
    // goes back to its name, untouched, and one `disposal-failed` entry says so.
    auto fail_once = [this](const std::string& rel) {
        m_dir.write("share/" + rel, "privileged " + rel, "2010-05-01");
        ASSERT_EQ(lethe("run", "LETHE_FAULT_AT=detached:1").code, 128 + SIGKILL);
        auto moved = testing::names_in(share(".lethe-disposal"));
        ASSERT_EQ(moved.size(), 1u);
        UniqueFd locked(::open(share(".lethe-disposal/" + moved[0]).c_str(), O_RDONLY | O_CLOEXEC));
        ASSERT_TRUE(locked);
        ASSERT_EQ(::flock(locked.get(), LOCK_EX), 0);
        auto failing = lethe("run");
        ASSERT_EQ(failing.code, 1) << failing.err;
        ASSERT_EQ(slurp(share(rel)), "privileged " + rel);
    };
    fail_once("acme/2010-001/brief.pdf");
    ASSERT_EQ(of_type("disposal-failed").size(), 1u);
    const auto kept = hashes();

    auto again = lethe("run");
    EXPECT_EQ(again.code, 0) << again.err;
    EXPECT_NE(again.out.find("1 failed earlier and kept"), std::string::npos) << again.out;
    EXPECT_NE(again.err.find("kept clients/acme/2010-001/brief.pdf: its disposal failed in an "
                             "earlier pass"), std::string::npos) << again.err;
    EXPECT_EQ(of_type("disposal-failed").size(), 1u);
    EXPECT_TRUE(of_type("disposal").empty());
    EXPECT_EQ(hashes(), kept);
    auto status = lethe("status");
    EXPECT_NE(status.out.find("failed:     1 file kept"), std::string::npos) << status.out;
    auto listed = lethe("state failed");
    EXPECT_EQ(listed.code, 0) << listed.err;
    EXPECT_NE(listed.out.find("clients/acme/2010-001/brief.pdf: failed"), std::string::npos)
        << listed.out;

    EXPECT_EQ(lethe("state retry clients/acme/nothing.pdf").code, 2);
    auto retry = lethe("state retry clients/acme/2010-001/brief.pdf");
    EXPECT_EQ(retry.code, 0) << retry.err;
    auto tried = lethe("run");
    EXPECT_EQ(tried.code, 0) << tried.err;
    EXPECT_NE(tried.out.find("disposed 1 file"), std::string::npos) << tried.out;
    EXPECT_FALSE(exists(share("acme/2010-001/brief.pdf")));

    // A change to the file (here its mtime, still long past) lets passes consider it again.
    fail_once("acme/2010-002/memo.pdf");
    auto unchanged = lethe("run");
    EXPECT_EQ(unchanged.code, 0) << unchanged.err;
    EXPECT_TRUE(exists(share("acme/2010-002/memo.pdf")));
    m_dir.write("share/acme/2010-002/memo.pdf", "privileged acme/2010-002/memo.pdf", "2010-06-01");
    auto changed = lethe("run");
    EXPECT_EQ(changed.code, 0) << changed.err;
    EXPECT_FALSE(exists(share("acme/2010-002/memo.pdf"))) << changed.err;
    EXPECT_EQ(of_type("disposal").size(), 2u);
    EXPECT_EQ(of_type("disposal-failed").size(), 2u);
    EXPECT_EQ(lethe("certs verify").code, 0);
}

// lethe's disposal folder renamed, or renamed and replaced by a symlink, while a file in it
// is being overwritten. lethe works on the folder through the descriptor it opened: the
// overwrite is verified and certified as it happened, the emptied entry is removed through
// that descriptor (nothing of lethe's is left where the folder now is), and the pass exits
// 1 with a message that says where the folder went.
class MovedDisposalFolder : public ConcurrentChange {
protected:
    void check(bool symlink) {
        m_dir.write("share/acme/2010-001/brief.pdf", "privileged brief", "2010-05-01");
        const std::string folder = share(".lethe-disposal");
        const std::string moved = share("elsewhere");
        RunResult r = run_pausing("overwritten", [&](const std::string& path) {
            EXPECT_EQ(path, "acme/2010-001/brief.pdf");
            ASSERT_EQ(std::rename(folder.c_str(), moved.c_str()), 0);
            if (symlink) {
                ASSERT_EQ(::symlink("elsewhere", folder.c_str()), 0);
            }
        });
        EXPECT_EQ(r.code, 1) << r.out;
        EXPECT_NE(r.out.find("disposal folder clients/.lethe-disposal was moved"), std::string::npos)
            << r.out;
        EXPECT_NE(r.out.find("it is now at " + moved), std::string::npos) << r.out;
        EXPECT_NE(r.out.find("it holds nothing of lethe's now: remove it"), std::string::npos)
            << r.out;
        // What happened, and only that: overwritten, verified, certified once.
        auto certs = of_type("disposal");
        ASSERT_EQ(certs.size(), 1u) << r.out;
        EXPECT_EQ(certs[0]["path"], "acme/2010-001/brief.pdf");
        EXPECT_EQ(certs[0]["subject"]["sha256"], util::sha256_hex("privileged brief"));
        EXPECT_TRUE(certs[0]["method"]["verified"].get<bool>()) << certs[0].dump();
        EXPECT_TRUE(of_type("disposal-failed").empty()) << r.out;
        EXPECT_FALSE(exists(share("acme/2010-001/brief.pdf")));
        // Nothing of lethe's left in what is now a user's folder.
        EXPECT_TRUE(testing::names_in(moved).empty()) << testing::names_in(moved).front();
        EXPECT_FALSE(exists(m_dir / "state/intent.json"));
        // The next pass has nothing left to complete.
        auto next = lethe("run");
        EXPECT_TRUE(of_type("disposal-failed").empty()) << next.err;
        EXPECT_EQ(of_type("disposal").size(), 1u) << next.err;
        EXPECT_EQ(lethe("certs verify").code, 0);
    }
};

TEST_F(MovedDisposalFolder, RenamedDuringTheOverwrite) { check(false); }
TEST_F(MovedDisposalFolder, ReplacedByASymlinkDuringTheOverwrite) { check(true); }

#endif  // LETHE_TEST_HOOKS

}  // namespace
}  // namespace lethe

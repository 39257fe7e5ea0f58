#pragma once
// A real systemd-journald for the end-to-end tests that read what lethe logs. CI runs as root
// without systemd as PID 1, so when no journal socket answers, one is started by hand and
// stopped afterwards. Header-only: only the e2e tests use it.

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/filesystem.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

namespace lethe::testing {

// The standard output of `cmd` run by /bin/sh.
inline std::string run_capture(const std::string& cmd) {
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) return out;
    char buf[4096];
    size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
    ::pclose(p);
    return out;
}

// Whether journald has written every record sent so far (`journalctl --sync` is quiet).
inline bool journal_synced() { return run_capture("journalctl --sync 2>&1").empty(); }

// A journald this test started, stopped (and its runtime folder removed) on destruction.
class HandStartedJournald {
  public:
    static constexpr const char* kSocket = "/run/systemd/journal/socket";
    static constexpr const char* kJournalDir = "/run/systemd/journal";

    HandStartedJournald() {
        struct stat st {};
        if (::stat(kSocket, &st) == 0 && S_ISSOCK(st.st_mode) && journal_synced()) {
            return;  // a working journald is already there
        }
        m_created_dir = ::stat(kJournalDir, &st) != 0;
        m_pid = ::fork();
        if (m_pid == 0) {
            int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
            ::dup2(null, STDOUT_FILENO);
            ::dup2(null, STDERR_FILENO);
            ::execl("/lib/systemd/systemd-journald", "systemd-journald", nullptr);
            ::_exit(127);
        }
        // journald creates its sockets at start; wait (bounded) for it to answer.
        for (int i = 0; i < 1000; ++i) {
            if (::stat(kSocket, &st) == 0 && journal_synced()) {
                m_ready = true;
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    ~HandStartedJournald() {
        if (m_pid <= 0) return;
        ::kill(m_pid, SIGTERM);
        int status = 0;
        ::waitpid(m_pid, &status, 0);
        if (m_created_dir) {
            boost::system::error_code ec;
            boost::filesystem::remove_all(kJournalDir, ec);
        }
    }
    HandStartedJournald(const HandStartedJournald&) = delete;
    HandStartedJournald& operator=(const HandStartedJournald&) = delete;

    [[nodiscard]] bool ready() const { return m_pid <= 0 || m_ready; }

  private:
    pid_t m_pid = -1;
    bool m_created_dir = false;
    bool m_ready = false;
};

}  // namespace lethe::testing

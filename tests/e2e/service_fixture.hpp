#pragma once
// Shared by the service end-to-end tests: a temporary share with three due files, a way to
// run or start the built binary with a chosen environment, and a notify socket that plays
// systemd's part of the sd_notify protocol.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "agent/util/fd.hpp"
#include "tests/support/e2e_fixture.hpp"
#include "tests/support/temp_dir.hpp"

namespace lethe::testing {

struct ProcessResult {
    int code = -1;
    std::string out;
    std::string err;
};

// The datagram socket systemd listens on; the child finds it through NOTIFY_SOCKET.
class NotifySocket {
  public:
    explicit NotifySocket(const std::string& path) : m_path(path) {
        m_fd.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
        EXPECT_EQ(::bind(m_fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
        timeval tv{30, 0};  // a safety net against a hung child, never a pacing device
        ::setsockopt(m_fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    }
    [[nodiscard]] const std::string& path() const { return m_path; }

    // Receives messages until one contains `needle`; false if none came in time, or if one
    // containing `unless` (when not empty) came first.
    bool wait_for(const std::string& needle, const std::string& unless = "") {
        for (;;) {
            char buf[4096];
            ssize_t n = ::recv(m_fd.get(), buf, sizeof(buf), 0);
            if (n < 0) return false;
            m_seen.emplace_back(buf, static_cast<size_t>(n));
            if (m_seen.back().find(needle) != std::string::npos) return true;
            if (!unless.empty() && m_seen.back().find(unless) != std::string::npos) return false;
        }
    }
    [[nodiscard]] std::string seen() const {
        std::string all;
        for (const auto& m : m_seen) all += "[" + m + "] ";
        return all;
    }

  private:
    std::string m_path;
    UniqueFd m_fd;
    std::vector<std::string> m_seen;
};

class ServiceFixture : public ::testing::Test {
  protected:
    void SetUp() override {
        write_policy(3);
        write_config("1h", "");
        m_dir.write("share/acme/2010-001/brief.pdf", "privileged brief", "2010-05-01");
        m_dir.write("share/acme/2010-001/letter.docx", "letter to client", "2011-02-03");
        m_dir.write("share/acme/2010-001/scratch.tmp", "temp", "2012-01-01");
        m_dir.write("share/acme/2024-007/new.pdf", "recent work", "2024-06-01");
    }

    void write_policy(int version) {
        m_dir.write("policies/firm.toml", firm_schedule({.version = version}));
    }

    void write_config(const std::string& interval, const std::string& window,
                      const std::string& root_name = "clients") {
        std::string cfg =
            "policies = \"policies\"\n[agent]\nstate_dir = \"state\"\n"
            "max_fraction_per_root = 1.0\ninterval = \"" +
            interval + "\"\n";
        if (!window.empty()) cfg += "window = \"" + window + "\"\n";
        cfg += "[[root]]\nname = \"" + root_name + "\"\npath = \"share\"\n";
        m_dir.write("lethe.toml", cfg);
    }

    [[nodiscard]] std::string config() const { return m_dir / "lethe.toml"; }

    // Runs the binary to completion. `env` are extra "NAME=value" words for env(1).
    ProcessResult lethe(const std::string& args, const std::string& env = "") {
        ProcessResult r;
        std::string out = m_dir / ".out";
        std::string err = m_dir / ".err";
        std::string cmd = "env " + env + " " + shell_quote(LETHE_BINARY) + " " + args + " >" +
                          shell_quote(out) + " 2>" + shell_quote(err);
        int status = std::system(cmd.c_str());
        r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        r.out = slurp(out);
        r.err = slurp(err);
        return r;
    }

    void keygen() {
        auto r = lethe("--log-target stderr keygen --config " + shell_quote(config()));
        ASSERT_EQ(r.code, 0) << r.err;
    }

    // Starts the binary in the background with `env` added to the environment; stdout and
    // stderr go to files in the temporary folder.
    pid_t start(const std::vector<std::string>& args,
                const std::map<std::string, std::string>& env) {
        std::string err = m_dir / ".agent-err";
        pid_t pid = ::fork();
        if (pid == 0) {
            for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
            int fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            ::dup2(fd, STDERR_FILENO);
            ::dup2(fd, STDOUT_FILENO);
            std::vector<char*> argv;
            std::string bin = LETHE_BINARY;
            argv.push_back(bin.data());
            std::vector<std::string> copy = args;
            for (auto& a : copy) argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execv(bin.c_str(), argv.data());
            ::_exit(127);
        }
        return pid;
    }

    static int wait_exit(pid_t pid) {
        int status = 0;
        if (::waitpid(pid, &status, 0) != pid) return -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }

    [[nodiscard]] std::string agent_output() const { return slurp(m_dir / ".agent-err"); }

    TempDir m_dir;
};

}  // namespace lethe::testing

#include "agent/service/agent.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "agent/scan/walker.hpp"
#include "agent/service/journal.hpp"
#include "agent/service/pass_record.hpp"
#include "agent/service/state_check.hpp"
#include "agent/util/fd.hpp"
#include "agent/util/log.hpp"

namespace lethe::service {

namespace {

// A pass that shows no progress for this long is considered hung: the watchdog pings stop
// and systemd restarts the service (the intent record lets the next pass finish the file).
constexpr auto kStallLimit = std::chrono::minutes(30);
// STATUS= updates during a pass at most this often.
constexpr auto kStatusEvery = std::chrono::seconds(1);

util::TimePoint real_now() {
    return util::TimePoint{std::chrono::system_clock::now().time_since_epoch()};
}

int64_t steady_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

void notify(const std::string& state) { sd_notify(0, state.c_str()); }

std::string describe_schedules(const AgentInputs& in) {
    std::string out;
    for (const auto& s : in.schedules) {
        if (!out.empty()) out += ", ";
        out += fmt::format("{} v{}", s.id, s.version);
    }
    return out.empty() ? "no schedules" : "schedules " + out;
}

class Agent {
  public:
    Agent(const AgentOptions& options, AgentInputs inputs)
        : m_options(options), m_inputs(std::move(inputs)) {}

    Result<AgentOutcome> run();

  private:
    void helper_main(int signal_fd, int quit_fd);
    void wake();
    void reload();
    Result<RunSummary> one_pass(util::TimePoint now);
    void on_progress(const std::string& root, uint64_t done, uint64_t planned);
    void on_block();
    void on_folder();
    util::TimePoint now() {
        if (!m_options.injected_now) return real_now();
        return *m_options.injected_now + m_options.clock_step * m_clock_reads++;
    }
    [[nodiscard]] bool inside_window(util::TimePoint t) const {
        return !m_inputs.timing.window ||
               m_inputs.timing.window->contains(local_second_of_day(t) / 60);
    }

    const AgentOptions& m_options;
    AgentInputs m_inputs;

    std::atomic<bool> m_stop{false};       // the agent stops (SIGTERM, SIGINT)
    std::atomic<bool> m_pass_stop{false};  // the current pass stops: agent stops or window closed
    bool m_window_closed = false;
    int64_t m_clock_reads = 0;
    std::atomic<bool> m_reload{false};
    std::atomic<bool> m_idle{true};
    std::atomic<int64_t> m_heartbeat{steady_ns()};
    std::mutex m_mutex;
    std::condition_variable m_wake;
    std::chrono::steady_clock::time_point m_last_status{};
    std::string m_last_root;
    uint64_t m_blocks = 0;  // blocks of long files in this pass
    std::atomic<uint64_t> m_folders{0};  // folders opened by this pass's walk (test hold)
};

void Agent::wake() {
    { std::lock_guard lock(m_mutex); }
    m_wake.notify_all();
}

// Reads signals and keeps the watchdog fed, so that both work while the main thread is busy
// inside a pass.
void Agent::helper_main(int signal_fd, int quit_fd) {
    uint64_t watchdog_usec = 0;
    int timeout_ms = -1;
    if (sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0) {
        timeout_ms = static_cast<int>(std::max<uint64_t>(watchdog_usec / 2000, 1));
    }
    for (;;) {
        pollfd fds[2] = {{signal_fd, POLLIN, 0}, {quit_fd, POLLIN, 0}};
        int r = ::poll(fds, 2, timeout_ms);
        if (r < 0 && errno != EINTR) {
            util::log_error("agent: poll: {}", std::strerror(errno));
            m_stop = true;
            wake();
            return;
        }
        if (r > 0 && (fds[1].revents & POLLIN) != 0) return;
        if (r > 0 && (fds[0].revents & POLLIN) != 0) {
            signalfd_siginfo info{};
            if (::read(signal_fd, &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info))) {
                if (info.ssi_signo == SIGHUP) {
                    m_reload = true;
                } else {
                    m_stop = true;
                    m_pass_stop = true;
                    notify("STATUS=stopping at the next safe point");
                }
                wake();
            }
        }
        if (timeout_ms >= 0) {
            bool alive =
                m_idle.load() ||
                steady_ns() - m_heartbeat.load() <
                    std::chrono::duration_cast<std::chrono::nanoseconds>(kStallLimit).count();
            if (alive) notify("WATCHDOG=1");
        }
    }
}

void Agent::reload() {
    notify("RELOADING=1\nSTATUS=reloading config and schedules");
    auto fresh = load_agent_inputs(m_options.config_path);
    if (!fresh) {
        log_event(util::LogLevel::Error, Event::Error, {},
                  fmt::format("reload rejected, keeping {} in force: {}",
                              describe_schedules(m_inputs), fresh.error().message()));
        notify(fmt::format("READY=1\nSTATUS=reload rejected ({}); {} stay in force",
                           fresh.error().message(), describe_schedules(m_inputs)));
        return;
    }
    m_inputs = std::move(*fresh);
    log_event(util::LogLevel::Info, Event::ConfigReloaded, {},
              fmt::format("reloaded {}: {} root(s), {}", m_options.config_path,
                          m_inputs.config.roots.size(), describe_schedules(m_inputs)));
    notify(fmt::format("READY=1\nSTATUS=reloaded; {} in force", describe_schedules(m_inputs)));
}

void Agent::on_progress(const std::string& root, uint64_t done, uint64_t planned) {
    m_heartbeat = steady_ns();
    auto t = std::chrono::steady_clock::now();
    if (root != m_last_root || t - m_last_status >= kStatusEvery) {
        notify(fmt::format("STATUS=pass: root {}, file {} of {}", root, done + 1, planned));
        m_last_status = t;
        m_last_root = root;
    }
    if (!m_window_closed && !inside_window(now())) {
        m_window_closed = true;
        m_pass_stop = true;
    }
    if (m_options.hold_after_files && done == *m_options.hold_after_files) {
        notify(fmt::format("STATUS=test hold after {} files", done));
        std::unique_lock lock(m_mutex);
        m_wake.wait(lock, [this] { return m_stop.load(); });
    }
}

void Agent::on_block() {
    m_heartbeat = steady_ns();
    ++m_blocks;
    if (m_options.hold_at_block && m_blocks == *m_options.hold_at_block) {
        notify(fmt::format("STATUS=test hold at block {}", m_blocks));
        std::unique_lock lock(m_mutex);
        m_wake.wait(lock, [this] { return m_stop.load(); });
    }
}

#ifdef LETHE_TEST_HOOKS
// Runs on a walker thread (test builds, --test-hold-at-folder only).
void Agent::on_folder() {
    if (m_folders.fetch_add(1) + 1 != *m_options.hold_at_folder) return;
    notify(fmt::format("STATUS=test hold at folder {}", *m_options.hold_at_folder));
    std::unique_lock lock(m_mutex);
    m_wake.wait(lock, [this] { return m_stop.load(); });
}
#endif

Result<RunSummary> Agent::one_pass(util::TimePoint start) {
    m_idle = false;
    m_heartbeat = steady_ns();
    m_last_root.clear();
    m_window_closed = false;
    m_pass_stop = m_stop.load();
    m_blocks = 0;
    m_folders = 0;
    notify(fmt::format("STATUS=pass started; {}", describe_schedules(m_inputs)));
    RunOptions options;
    options.now = start;
    options.injected_time = m_options.injected_now.has_value();
    options.stop = &m_pass_stop;
    // A closing window waits for the file in hand; only a stop request interrupts one.
    options.interrupt = &m_stop;
    options.on_block = [this] { on_block(); };
    options.progress = [this](const std::string& root, uint64_t done, uint64_t planned) {
        on_progress(root, done, planned);
    };
    auto summary = run_recorded_pass(m_inputs, options, real_now);
    m_idle = true;
    if (summary && summary->stopped && m_window_closed) {
        util::log_info(
            "the window {} closed: the pass stopped between two files; the next pass "
            "in the window continues",
            m_inputs.timing.window->to_string());
    }
    return summary;
}

Result<AgentOutcome> Agent::run() {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigset_t old_mask;
    if (int err = ::pthread_sigmask(SIG_BLOCK, &mask, &old_mask); err != 0) {
        return fail(errno_error("block signals", err));
    }
    struct RestoreMask {
        sigset_t mask;
        ~RestoreMask() { ::pthread_sigmask(SIG_SETMASK, &mask, nullptr); }
    } restore{old_mask};
    UniqueFd signal_fd(::signalfd(-1, &mask, SFD_CLOEXEC));
    if (!signal_fd) return fail(errno_error("signalfd", errno));
    UniqueFd quit_fd(::eventfd(0, EFD_CLOEXEC));
    if (!quit_fd) return fail(errno_error("eventfd", errno));

    std::thread helper(
        [this, &signal_fd, &quit_fd] { helper_main(signal_fd.get(), quit_fd.get()); });
    struct JoinHelper {
        std::thread& thread;
        int quit_fd;
        ~JoinHelper() {
            uint64_t one = 1;
            [[maybe_unused]] auto n = ::write(quit_fd, &one, sizeof(one));
            thread.join();
        }
    } join{helper, quit_fd.get()};
#ifdef LETHE_TEST_HOOKS
    struct FolderHook {
        explicit FolderHook(Agent* agent) {
            if (agent->m_options.hold_at_folder) {
                scan::set_before_open_folder_hook([agent](std::string_view) { agent->on_folder(); });
            }
        }
        ~FolderHook() { scan::set_before_open_folder_hook(nullptr); }
        FolderHook(const FolderHook&) = delete;
        FolderHook& operator=(const FolderHook&) = delete;
    } folder_hook(this);
#endif

    std::string window = m_inputs.timing.window ? m_inputs.timing.window->to_string() : "any time";
    log_event(util::LogLevel::Info, Event::AgentStarted, {},
              fmt::format("agent started: {} root(s), {}, every {}s, window {}",
                          m_inputs.config.roots.size(), describe_schedules(m_inputs),
                          m_inputs.timing.interval.count(), window));
    notify(fmt::format("READY=1\nSTATUS=ready; {} in force", describe_schedules(m_inputs)));

    AgentOutcome outcome;
    std::optional<util::TimePoint> last_start;
    while (!m_stop) {
        if (m_reload.exchange(false)) reload();
        m_heartbeat = steady_ns();
        util::TimePoint t = now();
        util::TimePoint next = next_pass_time(m_inputs.timing, last_start, t);
        if (next <= t) {
            last_start = t;
            auto summary = one_pass(t);
            if (!summary) {
                // A ledger behind state_dir needs a person (restore it, or accept it): the
                // agent stops with exit 2, which its unit does not restart, rather than
                // failing the same way every interval.
                if (m_options.once || is_ledger_behind(summary.error())) {
                    return fail(summary.error());
                }
            } else if (summary->failed > 0) {
                outcome.failures = true;
            }
            if (m_options.once) break;
            continue;
        }
        if (m_options.once) {
            util::log_info("outside the window {}: --once disposes of nothing now",
                           m_inputs.timing.window ? m_inputs.timing.window->to_string() : "");
            break;
        }
        notify(fmt::format("STATUS=idle; next pass at {}; {} in force",
                           util::format_timestamp(next), describe_schedules(m_inputs)));
        std::unique_lock lock(m_mutex);
        m_wake.wait_for(lock,
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(next - t),
                        [this] { return m_stop.load() || m_reload.load(); });
    }
    notify("STOPPING=1\nSTATUS=stopping");
    log_event(util::LogLevel::Info, Event::AgentStopping, {}, "agent stopping");
    return outcome;
}

}  // namespace

Result<AgentOutcome> run_agent(const AgentOptions& options) {
    auto inputs = load_agent_inputs(options.config_path);
    if (!inputs) {
        notify(fmt::format("STATUS=failed to start: {}", inputs.error().message()));
        return fail(inputs.error());
    }
    Agent agent(options, std::move(*inputs));
    return agent.run();
}

}  // namespace lethe::service

#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "agent/util/error.hpp"
#include "agent/util/time.hpp"

namespace lethe::service {

struct AgentOptions {
    std::string config_path;
    bool once = false;  // one pass (if the window allows), then exit
    // Test builds only: the time every pass acts as of; the wait between passes still uses
    // the real clock, so a test never waits for an interval, it signals the agent instead.
    std::optional<util::TimePoint> injected_now;
    // Test builds only: after this many files of a pass, wait until told to stop (SIGTERM),
    // so a test can stop a pass at a known point.
    std::optional<uint64_t> hold_after_files;
    // Test builds only: after this many blocks of long files (overwrite, encryption,
    // archive: counted over the pass), wait until told to stop, so a test can stop a pass
    // in the middle of one file.
    std::optional<uint64_t> hold_at_block;
    // Test builds only: when the walk that plans a pass is about to open its N-th folder
    // below a root (counted over the pass), wait until told to stop, so a test can stop a
    // pass in the middle of its walk.
    std::optional<uint64_t> hold_at_folder;
    // Test builds only: each reading of the injected clock advances it by this much, so a
    // test can let the window close in the middle of a pass without waiting.
    std::chrono::seconds clock_step{0};
};

struct AgentOutcome {
    bool failures = false;  // some pass left files it could not dispose of (--once: exit 1)
};

// The long-running service (`lethe agent`): loads config, schedules and key (a failure here
// is returned: the caller exits non-zero with one line), tells systemd READY=1, then runs a
// pass every interval, acting only inside the window. Speaks the sd_notify protocol when
// NOTIFY_SOCKET is set: STATUS= with progress, WATCHDOG=1 while alive (WATCHDOG_USEC),
// RELOADING=1/READY=1 around a reload, STOPPING=1.
//
// Signals (blocked in every thread and read by a helper thread through a signalfd):
// SIGHUP reloads config, schedules and key; a reload that fails is logged and the inputs in
// force stay. SIGTERM/SIGINT stop at the next safe point and return: between two folders of
// the walk that plans a pass (nothing of that plan is acted on), between files of a pass,
// or between two blocks of a long sanitize of a file or of an expired archive (its intent
// record lets the next pass complete it), encryption or archive (removed unfinished,
// sources untouched), or of the SHA-256 of a file or archive (nothing acted on). WATCHDOG=1
// pings go on while one long file is handled, as long as its blocks progress. A pass stops between two files when the window closes; the next pass in the
// window continues. Must be called from the main thread before other threads exist.
[[nodiscard]] Result<AgentOutcome> run_agent(const AgentOptions& options);

}  // namespace lethe::service

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "agent/util/error.hpp"
#include "agent/util/log.hpp"

namespace lethe::service {

// Where the process logs.
//   Auto:    stderr lines on a terminal; the journal alone when stderr already goes to the
//            journal (systemd sets JOURNAL_STREAM); the journal and stderr lines when a
//            journal socket exists but stderr goes elsewhere (cron, a pipe); else stderr.
//   Journal: structured records through sd_journal_send (stderr lines if that fails).
//   Stderr:  readable lines only.
enum class LogTarget { Auto, Journal, Stderr };

[[nodiscard]] Result<LogTarget> parse_log_target(std::string_view text);

// Installs the process-wide log sink for `target`. Call once at start, before threads.
void install_log_target(LogTarget target);

// The kinds of event IT filters on with `journalctl MESSAGE_ID=...`. The ids are fixed
// 128-bit values; docs/service.md lists them.
enum class Event {
    PassStarted,
    PassFinished,
    Disposed,
    Skipped,
    HoldChanged,
    Error,
    AgentStarted,
    AgentStopping,
    ConfigReloaded,
    StateRollback,  // state_dir and the ledger disagree: a store rebuilt, or a ledger behind
    LedgerAnchored,  // a command outside a pass appended to the ledger (journal_anchor.hpp)
};

std::string_view message_id(Event event);

// Journal fields of an event; empty ones are left out.
struct EventFields {
    std::string root;                  // LETHE_ROOT: the root's name
    std::string path;                  // LETHE_PATH: relative to the root, displayable UTF-8
    std::string category;              // LETHE_CATEGORY
    std::string action;                // LETHE_ACTION
    std::optional<uint64_t> cert_seq;  // LETHE_CERT_SEQ: ledger sequence number
    std::string ledger_head;           // LETHE_LEDGER_HEAD: hash of the last ledger line
    std::optional<uint64_t> ledger_seq;  // LETHE_LEDGER_SEQ: seq of that line
    std::string state_dir;               // LETHE_STATE_DIR: absolute (journal_anchor.hpp)

    // The fields of an event about one file.
    static EventFields file(std::string root, std::string path, std::string category,
                            std::string action) {
        EventFields f;
        f.root = std::move(root);
        f.path = std::move(path);
        f.category = std::move(category);
        f.action = std::move(action);
        return f;
    }
};

// Logs `message` at `level` with MESSAGE_ID and the LETHE_* fields.
void log_event(util::LogLevel level, Event event, const EventFields& fields, std::string message);

}  // namespace lethe::service

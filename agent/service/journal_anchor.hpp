#pragma once

// The journal as an anchor for the ledger that lives outside state_dir.
//
// Every pass that reaches its checkpoint logs a pass-finished record with where it left the
// ledger (LETHE_LEDGER_SEQ and LETHE_LEDGER_HEAD, the seq and hash of the ledger's last line)
// and which state_dir it ran on (LETHE_STATE_DIR). last-pass.json, inside state_dir, catches a
// ledger restored alone; a state_dir restored as a whole from an older copy agrees with
// itself, and only the journal still remembers the newer pass. The next pass reads the newest
// such record back and refuses a ledger that does not reach it, as it refuses a ledger behind
// last-pass.json (state_check.hpp).
//
// A command that appends to the ledger outside a pass (hold add/release, review
// approve/reject, `state accept-ledger`, key rotation) records the same right after its
// append, both ways: in state_dir/ledger-anchor.json, which check_anchors compares like
// last-pass.json's anchor (the one with the higher seq counts), and in the journal as a
// ledger-anchored record (its own MESSAGE_ID, the same LETHE_* fields), which the reader
// takes like a pass-finished one. Otherwise the newest entries, a hold placed after the last
// pass, could be cut off the ledger, or lost with a restored state_dir, unseen.
//
// Only records whose _UID (set by journald from the sender's credentials, not by the sender)
// is this process's uid, the owner of state_dir or root count, so another local user cannot
// plant an anchor that stops every pass. No journal, no permission to read it, or no record: no anchor, never an error.

#include <optional>
#include <string>

#include "agent/service/state_check.hpp"

namespace lethe::service {

// The newest pass-finished record of one state_dir in the journal.
struct JournalAnchor {
    LedgerAnchor ledger;  // LETHE_LEDGER_SEQ and LETHE_LEDGER_HEAD; `pass` false: a command's
    std::string time;     // when journald received it (ISO timestamp, UTC)
};

// Records where `ledger` ends now (its last seq and head), after an append outside a pass:
// in state_dir/ledger-anchor.json (written atomically) and in the journal, sent directly
// (whatever the log target; no journal: nothing). Never fails: the entry is in the ledger
// already; a file that cannot be written is a warning.
void record_ledger_anchor(const std::string& state_dir, const ledger::Ledger& ledger);

// The anchor of state_dir/ledger-anchor.json, or none when no command recorded one. Fails
// when the file cannot be read or parsed (naming it).
[[nodiscard]] Result<std::optional<LedgerAnchor>> command_anchor(const std::string& state_dir);

// The state_dir as a pass-finished record names it (LETHE_STATE_DIR): absolute, normalized.
[[nodiscard]] std::string anchor_state_dir(const std::string& state_dir);

// Reads the local journal (system and user files this process may read) backwards from its
// end for the newest pass-finished record of `state_dir` logged by this uid. Says at debug
// level why there is none.
[[nodiscard]] std::optional<JournalAnchor> read_journal_anchor(const std::string& state_dir);

// Why the ledger is behind the journal's record, or "" when it is not (or when a
// `ledger-accepted` entry accepted exactly this record). `replayed` must hold the hash of
// the line at `anchor->ledger.seq`.
[[nodiscard]] std::string journal_behind(const std::optional<JournalAnchor>& anchor,
                                         const ReplayedLedger& replayed);

// The ledger replayed against both anchors of state_dir: last-pass.json's and the journal's.
struct AnchoredLedger {
    std::optional<LedgerAnchor> recorded;  // last-pass.json or ledger-anchor.json: higher seq
    std::optional<JournalAnchor> journal;
    ReplayedLedger replayed;
    std::string behind;  // why the ledger is behind either anchor, or ""
};

// Reads both anchors and replays `ledger_path` against them (what a pass, `lethe status` and
// `lethe state accept-ledger` check first). Fails only when last-pass.json or the ledger
// or ledger-anchor.json cannot be read.
[[nodiscard]] Result<AnchoredLedger> check_anchors(
    const std::string& state_dir, const std::string& ledger_path,
    const std::vector<ledger::VerifyKey>* trusted = nullptr);

}  // namespace lethe::service

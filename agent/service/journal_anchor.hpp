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
// Only records whose _UID (set by journald from the sender's credentials, not by the sender)
// is this process's uid, the owner of state_dir or root count, so another local user cannot
// plant an anchor that stops every pass. No journal, no permission to read it, or no record: no anchor, never an error.

#include <optional>
#include <string>

#include "agent/service/state_check.hpp"

namespace lethe::service {

// The newest pass-finished record of one state_dir in the journal.
struct JournalAnchor {
    LedgerAnchor ledger;  // LETHE_LEDGER_SEQ and LETHE_LEDGER_HEAD
    std::string time;     // when journald received it (ISO timestamp, UTC)
};

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
    std::optional<LedgerAnchor> recorded;  // last-pass.json
    std::optional<JournalAnchor> journal;
    ReplayedLedger replayed;
    std::string behind;  // why the ledger is behind either anchor, or ""
};

// Reads both anchors and replays `ledger_path` against them (what a pass, `lethe status` and
// `lethe state accept-ledger` check first). Fails only when last-pass.json or the ledger
// cannot be read.
[[nodiscard]] Result<AnchoredLedger> check_anchors(
    const std::string& state_dir, const std::string& ledger_path,
    const std::vector<ledger::VerifyKey>* trusted = nullptr);

}  // namespace lethe::service

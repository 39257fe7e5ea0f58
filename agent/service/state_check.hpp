#pragma once

// The stores in state_dir checked against the ledger, which is their record.
//
// Every hold change and review decision is a ledger entry with its full content, appended
// before the command that made it exits 0, so `holds.json` and `review.json` must say what
// replaying the ledger's hold and review entries says. A store that does not (deleted,
// replaced by an empty one, restored from an older backup, edited) is rebuilt from the
// ledger at the start of every pass, and the difference is said in the journal. The ledger
// is the only authority for what reduces protection: a hold of the ledger is restored to
// what the ledger says whatever the store says (released, narrowed, shortened, its seq
// removed), a release or a review decision the ledger never saw is undone (the hold is in
// force again, the item back in review). Neither the state check nor a pass ever enters a
// store change in the ledger. A hold the store has and the ledger lacks keeps files: it
// stays in force, unreleased, and is reported at every pass and by `lethe status` until a
// records manager places it (`lethe hold add`) or releases it (`lethe hold release`).
//
// The ledger itself is checked against what state_dir last recorded of it (the checkpoint
// of the last pass, in last-pass.json): a ledger shorter than that, or with another line at
// that place, or missing while passes were recorded, stops every pass until an operator
// accepts it with `lethe state accept-ledger`, which appends a `ledger-accepted` entry. The
// same holds for the journal's newest record of a pass of this state_dir, the anchor outside
// state_dir (journal_anchor.hpp).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/ledger/keys.hpp"
#include "agent/ledger/ledger.hpp"
#include "agent/service/review.hpp"
#include "agent/util/error.hpp"
#include "agent/util/time.hpp"

namespace lethe::service {

// What the last recorded pass says of the ledger: its checkpoint's seq and the hash of the
// ledger's last line after it (empty in records written before lethe kept it).
// A command that appends outside a pass (hold, review, `state accept-ledger`, key rotation)
// records the same in state_dir/ledger-anchor.json (journal_anchor.hpp); `pass` tells which.
struct LedgerAnchor {
    uint64_t seq = 0;
    std::string head;
    bool pass = true;
};

// The anchor of state_dir/last-pass.json, or none when no pass reached its checkpoint.
[[nodiscard]] Result<std::optional<LedgerAnchor>> recorded_anchor(const std::string& state_dir);

// What the ledger's entries imply for the stores, read in one pass over the ledger.
struct ReplayedLedger {
    bool present = false;  // the ledger file exists
    uint64_t last_seq = 0;
    std::string head;                          // hash of the last line
    std::map<uint64_t, std::string> hashes;    // hash of the line at a seq asked for
    std::map<std::string, nlohmann::json> holds;  // id -> the hold as the store keeps it
    std::map<uint64_t, nlohmann::json> decisions;  // seq -> review-approved/-rejected payload
    std::map<std::string, uint64_t> disposed;      // review id -> its disposal certificate
    std::vector<nlohmann::json> accepted;          // ledger-accepted payloads
    // hold-released and review-approved entries that did not count: their signature does
    // not verify with `trusted` (one sentence each, naming the entry).
    std::vector<std::string> unverified;
};

// Replays `ledger_path`. `want` are the seqs whose line hashes to keep. A missing ledger
// replays as empty (present false). With `trusted`, each entry that reduces protection
// (hold-released, review-approved) counts only when its signature verifies with one of
// those keys; otherwise the release or approval is left out (the hold stays in force, the
// approval is undone) and said in `unverified`. Other entries are not checked here (`lethe
// certs verify` checks every line).
[[nodiscard]] Result<ReplayedLedger> replay_ledger(
    const std::string& ledger_path, const std::vector<uint64_t>& want = {},
    const std::vector<ledger::VerifyKey>* trusted = nullptr);

// The keys a ledger's entries may be signed with: the public key beside the signing key,
// then the retired ones in `retired_dir` (*.pub; absent when the key was never rotated).
[[nodiscard]] Result<std::vector<ledger::VerifyKey>> ledger_keys(
    const std::string& public_key_path, const std::string& retired_dir);

// Why the ledger is behind what state_dir recorded, or "" when it is not (or when a
// `ledger-accepted` entry accepted exactly this anchor).
[[nodiscard]] std::string ledger_behind(const std::optional<LedgerAnchor>& anchor,
                                        const ReplayedLedger& replayed);

// Where the stores differ from the ledger, one whole sentence each (a hold only in
// holds.json included); empty when they agree. Reads the stores without locks (for `lethe
// status`). A store that cannot be parsed is one line.
[[nodiscard]] std::vector<std::string> store_differences(const std::string& state_dir,
                                                         const ReplayedLedger& replayed);

// Whether `error` is check_state's refusal of a ledger behind state_dir.
[[nodiscard]] bool is_ledger_behind(const Error& error);

// Run at the start of a pass by the holder of the pass lock: refuses (Refused) a ledger
// behind state_dir, rebuilds the stores from the ledger where they differ, logs each
// difference, each hold only in holds.json and each release or approval whose signature does
// not verify with `trusted` to the journal (StateRollback), and returns them. Appends
// nothing to the ledger.
[[nodiscard]] Result<std::vector<std::string>> check_state(
    const std::string& state_dir, const ledger::Ledger& ledger,
    const std::vector<ledger::VerifyKey>& trusted);

// Whether the approval a disposal of `item` would carry is in the ledger: its entry
// `approval_seq` is a review-approved entry of this item, for the same file (device, inode)
// and content hash. An entry already in the ledger precedes the certificate that will cite
// it. Reads the ledger up to that entry.
[[nodiscard]] Result<bool> approval_in_ledger(const std::string& ledger_path,
                                              const ReviewItem& item);

// Appends the `ledger-accepted` entry with which an operator accepts the ledger as it is
// after a real restore: it names the anchor state_dir recorded and the ledger's head now.
[[nodiscard]] Result<uint64_t> accept_ledger(const std::string& state_dir, ledger::Ledger& ledger,
                                             const std::string& by, const std::string& reason,
                                             util::TimePoint now);

}  // namespace lethe::service

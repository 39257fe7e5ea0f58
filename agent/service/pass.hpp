#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/ledger/keys.hpp"
#include "agent/policy/config.hpp"
#include "agent/policy/schedule.hpp"
#include "agent/util/error.hpp"
#include "agent/util/time.hpp"

namespace lethe::service {

struct ErasureRequest;  // erase.hpp

struct RunOptions {
    util::TimePoint now{};
    bool injected_time = false;  // recorded in every certificate of the pass
    std::optional<std::string> root;
    // `lethe run --confirm-large`: the operator checked this pass's plan, so it may exceed
    // max_disposals_per_pass and max_fraction_per_root (and the archive-expiry guard) once.
    // The pass logs the numbers it was allowed and its checkpoint records them.
    bool confirm_large = false;
    // When set and true, the pass stops at the next safe point (between files, no intent
    // record left behind; files are sanitized in groups of up to 64 files or 64 MiB, and
    // the group in hand is finished first), writes its checkpoint and returns with `stopped`.
    const std::atomic<bool>* stop = nullptr;
    // When set and true, a long sanitize, encryption or archive also stops between two of
    // its blocks (SIGTERM): a sanitize keeps its intent record, so the next pass overwrites
    // the file again and certifies it; an encryption or an archive is removed unfinished,
    // its sources untouched. No certificate is written for a stopped file.
    const std::atomic<bool>* interrupt = nullptr;
    // Called after every block of a long file (overwrite, encryption, archive): shows that
    // the pass is alive (the watchdog) while one file takes minutes.
    std::function<void()> on_block;
    // Called before each due file is acted on (root name, files done, files planned).
    std::function<void(const std::string& root, uint64_t done, uint64_t planned)> progress;
    // When set, the pass carries out this erasure request instead of the schedules' due
    // disposals (see erase.hpp); owned by the caller.
    const ErasureRequest* erasure = nullptr;
};

// What one disposal pass did.
struct RunSummary {
    uint64_t planned = 0;    // due under enforce-mode schedules
    uint64_t observed = 0;   // due under observe-mode schedules: reported, not disposed
    uint64_t disposed = 0;
    uint64_t bytes = 0;
    uint64_t skipped = 0;    // changed since planned, hard links, vanished: left alone
    uint64_t held = 0;       // due but under a legal hold (at plan time or just before acting)
    uint64_t in_review = 0;  // due, waiting for (or no longer holding) a records manager's approval
    // Verification or I/O failures (left in place, no certificate), and mounts the walk did
    // not enter because they showed lethe's own files or another root.
    uint64_t failed = 0;
    uint64_t failed_verifications = 0;  // of `failed`: overwrites whose read-back differed
    // Due, but their disposal failed in an earlier pass and they are unchanged since
    // (state_dir/failed.json): left alone, not tried or recorded again (`lethe state retry`).
    uint64_t failed_earlier = 0;
    // Files whose disposal an interrupted pass had begun, completed and certified by this
    // one: part of `disposed` (and `bytes`, `disposed_by_action`), except in an erasure,
    // whose counts are the request's own files.
    uint64_t recovered = 0;
    uint64_t archives_disposed = 0;  // archives whose every copy expired: sanitized, certified
    // Archive disposals an interrupted pass had begun, completed and certified by this one:
    // part of `archives_disposed`, except in an erasure.
    uint64_t archives_recovered = 0;
    uint64_t archives_held = 0;      // archives whose copies expired but a hold keeps
    uint64_t kept = 0;               // erasure: kept by a rule other than a hold
    uint64_t request_seq = 0;        // erasure: the summary certificate that closes it
    uint64_t first_seq = 0;
    uint64_t checkpoint_seq = 0;
    std::string checkpoint_head;  // hash of the checkpoint's ledger line
    bool stopped = false;    // asked to stop before every due file was handled
    // For the metrics file: files walked per root, files in review, disposals by action
    // ("sanitize", ...: they add up to `disposed`) and skips by reason ("hard_links",
    // "policy_problem", "changed_or_in_use", "encrypt_refused": they add up to `skipped`).
    std::map<std::string, uint64_t> scanned_by_root;
    uint64_t review = 0;
    std::map<std::string, uint64_t> disposed_by_action;
    std::map<std::string, uint64_t> skipped_by_reason;

    void skip(const std::string& reason) {
        ++skipped;
        ++skipped_by_reason[reason];
    }
};

// One disposal pass: takes the state lock, completes any disposal an earlier pass was
// interrupted in, plans into a file in state_dir, refuses the whole pass if it would break
// a blast-radius guard, then for each due file re-checks it, records its intent durably,
// disposes of it and appends its certificate; ends with a signed checkpoint.
//
// Fails without disposing anything on a broken config, schedule or ledger, a missing key, a
// held lock or a guard. A failed verification of one file does not stop the pass but is
// counted in `failed` (the caller exits non-zero). An I/O error on the ledger stops the pass
// at once; the intent record lets the next pass certify what was done.
[[nodiscard]] Result<RunSummary> run_pass(const policy::AgentConfig& config,
                                          const std::vector<policy::RetentionSchedule>& schedules,
                                          const ledger::SigningKey& key, const RunOptions& options);

}  // namespace lethe::service

#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "agent/ledger/keys.hpp"
#include "agent/policy/config.hpp"
#include "agent/policy/schedule.hpp"
#include "agent/util/error.hpp"
#include "agent/util/time.hpp"

namespace lethe::service {

struct RunOptions {
    util::TimePoint now{};
    bool injected_time = false;  // recorded in every certificate of the pass
    std::optional<std::string> root;
    // When set and true, the pass stops at the next safe point (between files, no intent
    // record left behind), writes its checkpoint and returns with `stopped`.
    const std::atomic<bool>* stop = nullptr;
    // Called before each due file is acted on (root name, files done, files planned).
    std::function<void(const std::string& root, uint64_t done, uint64_t planned)> progress;
};

// What one disposal pass did.
struct RunSummary {
    uint64_t planned = 0;    // due under enforce-mode schedules
    uint64_t observed = 0;   // due under observe-mode schedules: reported, not disposed
    uint64_t disposed = 0;
    uint64_t bytes = 0;
    uint64_t skipped = 0;    // changed since planned, hard links, vanished: left alone
    uint64_t held = 0;       // due but under a legal hold (at plan time or just before acting)
    uint64_t failed = 0;     // verification or I/O failures: left in place, no certificate
    uint64_t recovered = 0;  // disposals of an interrupted pass completed and certified
    uint64_t first_seq = 0;
    uint64_t checkpoint_seq = 0;
    bool stopped = false;    // asked to stop before every due file was handled
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

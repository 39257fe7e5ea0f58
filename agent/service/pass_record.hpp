#pragma once

#include <optional>
#include <string>
#include <vector>

#include "agent/ledger/keys.hpp"
#include "agent/policy/config.hpp"
#include "agent/policy/schedule.hpp"
#include "agent/service/pass.hpp"
#include "agent/service/timing.hpp"
#include "agent/util/error.hpp"

namespace lethe::service {

// Everything a pass needs, loaded and validated together so that a reload replaces all of
// it or none of it. Move-only (owns the signing key).
struct AgentInputs {
    policy::AgentConfig config;
    std::vector<policy::RetentionSchedule> schedules;
    ledger::SigningKey key;
    AgentTiming timing;
};

// Loads the config, every schedule, the signing key and the agent timing. A broken
// schedule fails the whole load (no disposal until it is fixed), and so do a config that
// cannot be safe (check_config_safety, ErrorKind::Refused) and a state_dir of a newer
// format (check_state_format). `run`, `erase` and `agent` (at start and on SIGHUP) load
// through here.
[[nodiscard]] Result<AgentInputs> load_agent_inputs(const std::string& config_path);

// What `lethe status` shows about the last pass; kept in `state_dir/last-pass.json`,
// replaced atomically at the end of every pass.
struct PassRecord {
    std::string started;  // ISO timestamps (UTC)
    std::string finished;
    std::string result;  // "ok", "failures", "stopped" or "error"
    std::string error;   // the reason when result is "error"
    // When the last pass that reached its checkpoint (any result but "error") ended; carried
    // over from the previous record by a pass that fails. Empty before any.
    std::string last_success;
    RunSummary summary;
    // The ledger as the last pass that reached its checkpoint left it: the checkpoint's seq
    // and line hash; carried over by a pass that fails. The next pass refuses a ledger that
    // does not reach it (state_check.hpp).
    uint64_t anchor_seq = 0;
    std::string anchor_head;
};

// How the summaries of a pass (`lethe run`, the journal, `lethe status`) say how many of
// the disposals they count completed what an interrupted pass began: "of which 1 completed
// an interrupted disposal" (or "of which N completed interrupted disposals"); empty for 0.
[[nodiscard]] std::string of_which_recovered(uint64_t recovered);

[[nodiscard]] Status write_pass_record(const std::string& state_dir, const PassRecord& record);
// Empty when no pass has been recorded yet.
[[nodiscard]] Result<std::optional<PassRecord>> read_pass_record(const std::string& state_dir);

// Runs one pass with journal events (pass started, pass finished or error) and records its
// outcome in state_dir, and in the config's `metrics_file` when one is set (a failure to
// write either is logged as a warning; it does not fail the pass). `finished` gives the end time (the clock, injectable).
[[nodiscard]] Result<RunSummary> run_recorded_pass(const AgentInputs& inputs,
                                                   const RunOptions& options,
                                                   util::TimePoint (*finished)());

// Sequence number and hash of the last ledger line, without reading the whole ledger.
// `signed_by_trusted` is false when the line's signature does not check out against
// `trusted` (then `seq` is 0); `lethe certs verify` checks the whole chain.
struct LedgerHead {
    uint64_t seq = 0;
    std::string head;
    bool signed_by_trusted = false;
};
[[nodiscard]] Result<std::optional<LedgerHead>> read_ledger_head(
    const std::string& ledger_path, const std::vector<ledger::VerifyKey>& trusted);

}  // namespace lethe::service

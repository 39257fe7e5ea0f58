#pragma once

// The refusals of configurations that cannot be safe (issue 16): lethe's own files inside a
// share it disposes of, shares that overlap, archive settings a pass could not honour. One
// validation, used by every command that acts on a share (`run`, `agent` at start and on
// reload, `erase`, and `plan`, which shows what `run` would do) and listed by `config check`.
//
// The parsing of one value (an empty state_dir, root `/`, a guard that is not a number in
// range) is policy's and fails `load_config` with file:line:column; what is here needs the
// filesystem (where folders really are) or other stages (the age recipient parser of act/,
// the schedules).

#include <string>
#include <vector>

#include "agent/policy/config.hpp"
#include "agent/policy/schedule.hpp"
#include "agent/util/error.hpp"

namespace lethe::service {

// One reason the config is refused, naming the setting, both paths and what to do, e.g.
// "state_dir /srv/share/.lethe is inside root 'share' (/srv/share): a category could dispose
// of lethe's own ledger and key; move state_dir outside every root".
struct ConfigRefusal {
    std::string setting;  // "state_dir", "root 'share'", "[archive] recipients", ...
    std::string message;
};

// Every refusal, in the order of the settings; empty when the config is safe. Paths are
// compared three ways, so that no spelling hides an overlap: as written (normalized), by
// real path (symlinks resolved), and by device and inode of the folder and each of its
// parents (a bind mount of a root elsewhere is the same root). A path that does not exist
// yet (a state_dir lethe would create) is judged by its nearest existing parent.
// `schedules` adds the schedule files themselves and the categories' needs (an archive
// category without an [archive] destination); pass nullptr when they could not be loaded.
[[nodiscard]] std::vector<ConfigRefusal> config_refusals(
    const policy::AgentConfig& config, const std::vector<policy::RetentionSchedule>* schedules);

// Fails (ErrorKind::Refused, exit 2) with every refusal when there is one.
[[nodiscard]] Status check_config_safety(const policy::AgentConfig& config,
                                         const std::vector<policy::RetentionSchedule>& schedules);

}  // namespace lethe::service

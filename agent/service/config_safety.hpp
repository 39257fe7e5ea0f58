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

// A path no category may reach: lethe's own files and folders (state_dir and what is in it,
// the config, the schedules, the key, the archive destination, the metrics file) and each
// root (which no other root may reach). Files inside state_dir are not listed apart: state_dir
// covers them.
struct GuardedPath {
    std::string setting;  // "state_dir", "root 'clients'", "[signing] key", ...
    std::string path;     // as configured (absolute)
    std::string real;     // symlinks resolved up to the nearest existing parent
    std::string harm;     // what a category could do to it, for the messages
    std::string root;     // the root's name when it is a root, else empty
};

// The guarded paths of a config; `schedules` adds the schedule files (nullptr: not loaded).
[[nodiscard]] std::vector<GuardedPath> guarded_paths(
    const policy::AgentConfig& config, const std::vector<policy::RetentionSchedule>* schedules);

// Every refusal, in the order of the settings; empty when the config is safe. Paths are
// compared three ways, so that no spelling hides an overlap: as written (normalized), by
// real path (symlinks resolved), and by device and inode of the folder and each of its
// parents (a bind mount of a root elsewhere is the same root). Then the mounts
// (/proc/self/mountinfo, see mount_safety.hpp): a mount at or inside a root that shows a
// guarded path, or a folder that holds one or lies inside one, through whatever filesystem
// and folder it shows; and a mount inside state_dir that shows a root. A mount table that
// cannot be read is itself a refusal. A path that does not exist
// yet (a state_dir lethe would create) is judged by its nearest existing parent.
// `schedules` adds the schedule files themselves and the categories' needs (an archive
// category without an [archive] destination); pass nullptr when they could not be loaded.
[[nodiscard]] std::vector<ConfigRefusal> config_refusals(
    const policy::AgentConfig& config, const std::vector<policy::RetentionSchedule>* schedules);

// Fails (ErrorKind::Refused, exit 2) with every refusal when there is one.
[[nodiscard]] Status check_config_safety(const policy::AgentConfig& config,
                                         const std::vector<policy::RetentionSchedule>& schedules);

}  // namespace lethe::service

#pragma once

#include <string>
#include <vector>

#include "agent/util/error.hpp"
#include "agent/util/glob.hpp"

namespace lethe::policy {

// One share the agent walks. `name` is how plans and certificates refer to it.
struct RootConfig {
    std::string name;
    std::string path;  // absolute
    bool one_filesystem = true;
    std::vector<util::Glob> exclude;
};

// The agent config written by IT (`/etc/lethe/lethe.toml`). Relative paths in the file are
// resolved against the folder that holds it. Immutable once loaded.
struct AgentConfig {
    std::string source_path;
    std::string policies;    // schedule file or folder
    std::string state_dir;   // ledger, plans, locks, keys
    std::string interval = "1h";
    std::string window;      // empty = any time
    int64_t max_disposals_per_pass = 10000;
    double max_fraction_per_root = 0.05;
    std::vector<RootConfig> roots;
    std::string signing_key;  // private key path; public key is `<signing_key>.pub`

    [[nodiscard]] std::string ledger_path() const { return state_dir + "/ledger.jsonl"; }
    [[nodiscard]] std::string public_key_path() const { return signing_key + ".pub"; }
    [[nodiscard]] const RootConfig* find_root(std::string_view name) const;
};

// Loads and validates the config. Errors name file:line:column. Unknown keys are errors.
[[nodiscard]] Result<AgentConfig> load_config(const std::string& path);

}  // namespace lethe::policy

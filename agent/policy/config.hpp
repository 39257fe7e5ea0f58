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
    // Where interval and window are written ("file:line:column", or the file when absent):
    // service/ parses them and names this place in its errors.
    std::string interval_at;
    std::string window_at;
    int64_t max_disposals_per_pass = 10000;  // at least 1
    double max_fraction_per_root = 0.05;     // finite, above 0, at most 1
    std::vector<RootConfig> roots;
    std::string signing_key;  // private key path; public key is `<signing_key>.pub`
    // Optional: the node_exporter textfile (absolute, ends in .prom) rewritten after every
    // pass; empty = none.
    std::string metrics_file;

    // [sanitize]: how files are overwritten (issue 6).
    int sanitize_passes = 1;          // random-data passes, 1..10
    bool sanitize_final_zero = false;  // an extra pass of zeros after them
    // Read the last pass back from the device and compare it (default). Off, certificates
    // say the overwrite was not verified.
    bool sanitize_verify = true;

    // [archive]: where archives go and whom they are encrypted to (issue 6).
    std::string archive_destination;            // absolute; empty = no archiving configured
    std::vector<std::string> archive_recipients;  // age X25519 recipients ("age1..."), checked by act/

    [[nodiscard]] std::string ledger_path() const { return state_dir + "/ledger.jsonl"; }
    [[nodiscard]] std::string public_key_path() const { return signing_key + ".pub"; }
    [[nodiscard]] const RootConfig* find_root(std::string_view name) const;
};

// Loads and validates the config. Errors name file:line:column. Unknown keys are errors.
// Refused here, each value on its own: an empty state_dir, root path or [archive]
// destination (resolved, "" would be the config's folder), root or state_dir `/`, and guard
// values that are not finite numbers in range. How paths lie relative to each other needs
// the filesystem and is service/config_safety.hpp's.
[[nodiscard]] Result<AgentConfig> load_config(const std::string& path);

}  // namespace lethe::policy

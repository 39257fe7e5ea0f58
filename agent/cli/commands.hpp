#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace lethe::cli {

// The subcommands and their options. add_to() registers them on the app; after parsing,
// run() executes the one chosen and returns the process exit code.
class Commands {
public:
    void add_to(CLI::App& app);
    [[nodiscard]] int run() const;

private:
    std::string m_config = "/etc/lethe/lethe.toml";
    std::vector<std::string> m_policy_paths;
    bool m_json = false;
    std::string m_now;
    std::string m_root;
    std::string m_due_within;
    std::vector<std::string> m_keys;
    std::function<int()> m_chosen;
};

}  // namespace lethe::cli

#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

namespace lethe::cli {

// State shared by every subcommand: the config path and the action chosen by parsing.
// Each command group registers its subcommands with an add_*_commands() function, whose
// callbacks set `chosen`; main() runs it after parsing and returns its exit code.
struct CommandContext {
    std::string config = "/etc/lethe/lethe.toml";
    std::function<int()> chosen;

    // Adds the --config/-c option to a subcommand.
    void add_config_option(CLI::App* command);
};

void add_all_commands(CLI::App& app, CommandContext& context);

// One function per command group, each in its own <group>_commands.cpp.
void add_policy_commands(CLI::App& app, CommandContext& context);
void add_plan_commands(CLI::App& app, CommandContext& context);
void add_inventory_commands(CLI::App& app, CommandContext& context);
void add_run_commands(CLI::App& app, CommandContext& context);
void add_certs_commands(CLI::App& app, CommandContext& context);
void add_keygen_commands(CLI::App& app, CommandContext& context);
void add_agent_commands(CLI::App& app, CommandContext& context);
void add_status_commands(CLI::App& app, CommandContext& context);
void add_restore_commands(CLI::App& app, CommandContext& context);
void add_explain_commands(CLI::App& app, CommandContext& context);
void add_hold_commands(CLI::App& app, CommandContext& context);
void add_erase_commands(CLI::App& app, CommandContext& context);
void add_review_commands(CLI::App& app, CommandContext& context);
void add_state_commands(CLI::App& app, CommandContext& context);

}  // namespace lethe::cli

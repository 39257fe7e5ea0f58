#include "agent/cli/commands.hpp"

namespace lethe::cli {

void CommandContext::add_config_option(CLI::App* command) {
    command->add_option("--config,-c", config, "agent config file")->capture_default_str();
}

void add_all_commands(CLI::App& app, CommandContext& context) {
    add_policy_commands(app, context);
    add_plan_commands(app, context);
    add_inventory_commands(app, context);
    add_run_commands(app, context);
    add_certs_commands(app, context);
    add_keygen_commands(app, context);
    add_agent_commands(app, context);
    add_status_commands(app, context);
    add_restore_commands(app, context);
    add_explain_commands(app, context);
    add_hold_commands(app, context);
    add_erase_commands(app, context);
    add_review_commands(app, context);
    add_state_commands(app, context);
}

}  // namespace lethe::cli

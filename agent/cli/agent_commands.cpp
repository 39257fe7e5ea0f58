#include "agent/cli/commands.hpp"
#include "agent/cli/common.hpp"
#include "agent/service/agent.hpp"

namespace lethe::cli {

namespace {

int agent(const std::string& config_path, bool once, const std::string& now_text,
          uint64_t hold_after, uint64_t hold_at_block, uint64_t hold_at_folder,
          int64_t clock_step) {
    service::AgentOptions options;
    options.config_path = config_path;
    options.once = once;
    if (!now_text.empty()) {
        auto now = util::parse_timestamp(now_text);
        if (!now) return report(now.error().with_context("--now"));
        options.injected_now = *now;
    }
    if (hold_after > 0) options.hold_after_files = hold_after;
    if (hold_at_block > 0) options.hold_at_block = hold_at_block;
    if (hold_at_folder > 0) options.hold_at_folder = hold_at_folder;
    options.clock_step = std::chrono::seconds(clock_step);
    auto outcome = service::run_agent(options);
    if (!outcome) return report(outcome.error());
    return outcome->failures ? kExitFinding : kExitOk;
}

}  // namespace

void add_agent_commands(CLI::App& app, CommandContext& context) {
    struct Options {
        bool once = false;
        std::string now;
        uint64_t hold_after = 0;
        uint64_t hold_at_block = 0;
        uint64_t hold_at_folder = 0;
        int64_t clock_step = 0;
    };
    auto o = std::make_shared<Options>();
    CLI::App* cmd = app.add_subcommand(
        "agent", "the service: a pass every interval, inside the window (systemd Type=notify)");
    context.add_config_option(cmd);
    cmd->add_flag("--once", o->once, "run one pass (if the window allows) and exit");
#ifdef LETHE_TEST_HOOKS
    cmd->add_option("--now", o->now, "TEST BUILD ONLY: act as of this time");
    cmd->add_option("--test-hold-after", o->hold_after,
                    "TEST BUILD ONLY: after N files, wait for SIGTERM");
    cmd->add_option("--test-hold-at-block", o->hold_at_block,
                    "TEST BUILD ONLY: after N blocks of long files, wait for SIGTERM");
    cmd->add_option("--test-hold-at-folder", o->hold_at_folder,
                    "TEST BUILD ONLY: before the walk opens its N-th folder, wait for SIGTERM");
    cmd->add_option("--test-clock-step", o->clock_step,
                    "TEST BUILD ONLY: seconds the --now clock advances at each reading");
#endif
    cmd->callback([&context, o] {
        context.chosen = [&context, o] {
            return agent(context.config, o->once, o->now, o->hold_after, o->hold_at_block,
                         o->hold_at_folder, o->clock_step);
        };
    });
}

}  // namespace lethe::cli

#include "agent/cli/commands.hpp"

#include <chrono>

#include <fmt/format.h>

#include "agent/cli/common.hpp"
#include "agent/ledger/keys.hpp"
#include "agent/service/pass_record.hpp"
#include "agent/util/plural.hpp"

namespace lethe::cli {

namespace {

int run_disposal(const std::string& config_path, const std::string& now_text,
                 const std::string& root, bool confirm_large) {
    auto inputs = service::load_agent_inputs(config_path);
    if (!inputs) return report(inputs.error());
    service::RunOptions options;
    auto now = current_time(now_text);
    if (!now) return report(now.error());
    options.now = *now;
    options.injected_time = !now_text.empty();
    if (!root.empty()) options.root = root;
    options.confirm_large = confirm_large;
    auto summary = service::run_recorded_pass(*inputs, options, [] {
        return util::TimePoint{std::chrono::system_clock::now().time_since_epoch()};
    });
    if (!summary) return report(summary.error());
    print_line(fmt::format("disposed {} ({}){}; {} held, {} awaiting review, {} skipped, {} "
                           "failed{}, {} due under observe mode not disposed{}; checkpoint "
                           "certificate {}",
                           util::counted(summary->disposed, "file", "files"),
                           human_bytes(summary->bytes),
                           summary->recovered > 0
                               ? ", " + service::of_which_recovered(summary->recovered)
                               : "",
                           summary->held,
                           summary->in_review,
                           summary->skipped,
                           summary->failed,
                           summary->failed_earlier > 0
                               ? fmt::format(", {} failed earlier and kept (`lethe state failed`)",
                                             summary->failed_earlier)
                               : "",
                           summary->observed,
                           summary->archives_disposed + summary->archives_held > 0
                               ? fmt::format("; {} sanitized{}, {} kept by holds",
                                             util::counted(summary->archives_disposed,
                                                           "expired archive", "expired archives"),
                                             summary->archives_recovered > 0
                                                 ? fmt::format(" ({})",
                                                               service::of_which_recovered(
                                                                   summary->archives_recovered))
                                                 : "",
                                             summary->archives_held)
                               : "",
                           summary->checkpoint_seq));
    return summary->failed > 0 ? kExitFinding : kExitOk;
}

}  // namespace

void add_run_commands(CLI::App& app, CommandContext& context) {
    struct Options {
        std::string now;
        std::string root;
        bool confirm_large = false;
    };
    auto o = std::make_shared<Options>();
    CLI::App* cmd = app.add_subcommand("run", "one pass: dispose what is due and certify it");
    context.add_config_option(cmd);
    cmd->add_option("--root", o->root, "only this root");
    cmd->add_flag("--confirm-large", o->confirm_large,
                  "allow this one pass to exceed max_disposals_per_pass and "
                  "max_fraction_per_root (check `lethe plan` first)");
#ifdef LETHE_TEST_HOOKS
    cmd->add_option("--now", o->now, "TEST BUILD ONLY: act as of this time");
#endif
    cmd->callback([&context, o] {
        context.chosen = [&context, o] { return run_disposal(context.config, o->now, o->root, o->confirm_large); };
    });
}

}  // namespace lethe::cli

#include "agent/cli/commands.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "agent/cli/common.hpp"
#include "agent/policy/schedule.hpp"
#include "agent/util/fs.hpp"
#include "agent/util/log.hpp"

namespace lethe::cli {

namespace {

int policy_check(const std::vector<std::string>& paths) {
    auto files = policy::schedule_files(paths);
    if (!files) return report(files.error());
    if (files->empty()) {
        util::log_error("no schedule files (*.toml) in {}", fmt::join(paths, ", "));
        return kExitBadInput;
    }
    int status = kExitOk;
    for (const auto& f : *files) {
        auto text = util::read_file(f);
        auto s = text ? policy::parse_schedule(*text, f)
                      : Result<policy::RetentionSchedule>(fail(text.error()));
        if (!s) {
            util::log_error("{}", s.error().message());
            status = kExitBadInput;
            continue;
        }
        print_line(fmt::format("ok: {}: schedule '{}' version {}, {} categories, mode {}", f, s->id,
                               s->version, s->categories.size(), policy::to_string(s->mode)));
    }
    if (status == kExitOk) {
        // Cross-file rules (duplicate schedule or category ids).
        auto all = policy::load_schedules(paths);
        if (!all) return report(all.error());
    }
    return status;
}

}  // namespace

void add_policy_commands(CLI::App& app, CommandContext& context) {
    CLI::App* policy_cmd = app.add_subcommand("policy", "retention schedules");
    policy_cmd->require_subcommand(1);
    CLI::App* check = policy_cmd->add_subcommand("check", "validate schedule files and folders");
    auto paths = std::make_shared<std::vector<std::string>>();
    check->add_option("paths", *paths, "schedule files or folders")->required();
    check->callback([&context, paths] { context.chosen = [paths] { return policy_check(*paths); }; });
}

}  // namespace lethe::cli

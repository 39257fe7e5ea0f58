#include "agent/cli/commands.hpp"

#include <cstdio>
#include <iterator>
#include <string_view>

#include <fmt/format.h>

#include "agent/cli/common.hpp"
#include "agent/cli/progress.hpp"
#include "agent/service/plan.hpp"
#include "agent/service/review.hpp"
#include "agent/util/encoding.hpp"
#include "agent/util/log.hpp"

namespace lethe::cli {

namespace {

int plan(const std::string& config_path, bool json, const std::string& now_text,
         const std::string& root, const std::string& due_within, const std::string& client) {
    auto loaded = load_all(config_path);
    if (!loaded) return report(loaded.error());
    auto now = current_time(now_text);
    if (!now) return report(now.error());
    service::PlanOptions options;
    options.now = *now;
    if (!root.empty()) options.root = root;
    if (!client.empty()) options.client = client;
    WalkProgress progress;
    if (progress.enabled()) {
        options.on_progress = [&](const std::string& name, const scan::WalkStats& stats) {
            progress.update(name, stats);
        };
    }
    auto holds = service::load_holds(loaded->config.state_dir);
    if (!holds) return report(holds.error());
    options.holds = &*holds;
    auto reviews = service::load_review_queue(loaded->config.state_dir);
    if (!reviews) return report(reviews.error());
    if (!due_within.empty()) {
        auto horizon = policy::Retention::parse(due_within);
        if (!horizon || horizon->permanent) {
            util::log_error("--due-within: {}", horizon ? "must be a duration" : horizon.error().message());
            return kExitBadInput;
        }
        options.horizon = horizon->add_to(util::date_of(options.now));
    }
    if (!json) {
        print_line(fmt::format("{:<10} {:<10}  {:<8}  {:<16}  {:<20}  {}", "STATUS", "EXPIRES",
                               "ACTION", "CATEGORY", "CLIENT/MATTER", "PATH"));
    }
    bool observe_due = false;
    fmt::memory_buffer line;
    auto summary = service::make_plan(loaded->config, loaded->schedules, options,
                                      [&](const service::PlanEntry& planned) {
        const service::PlanEntry* entry = &planned;
        service::PlanEntry described;
        if (!planned.review.is_null()) {
            described = planned;
            service::describe_review(described, *reviews, util::date_of(options.now));
            entry = &described;
        }
        const service::PlanEntry& e = *entry;
        if (json) {
            print_line(e.to_json().dump());
            return;
        }
        std::string_view status = classify::to_string(e.status);
        bool observed = e.status == classify::Status::Due && e.mode == policy::Mode::Observe;
        observe_due = observe_due || observed;
        std::string owner = e.client ? display_name(*e.client) : "-";
        if (e.matter) owner += "/" + display_name(*e.matter);
        // One reused buffer per plan: hundreds of thousands of lines on a large share.
        line.clear();
        fmt::format_to(std::back_inserter(line), "{:<10} {:<10}  {:<8}  {:<16}  {:<20}  {}/{}",
                       observed ? fmt::format("{}*", status) : std::string(status),
                       e.expires ? util::format_date(*e.expires) : "permanent",
                       policy::to_string(e.action), e.category, owner, e.root,
                       display_name(e.facts.path));
        if (!e.reason.empty()) fmt::format_to(std::back_inserter(line), "  ({})", e.reason);
        line.push_back('\n');
        std::fwrite(line.data(), 1, line.size(), stdout);
    });
    progress.finish();
    if (!summary) return report(summary.error());
    if (json) {
        print_line(summary->to_json().dump());
        return kExitOk;
    }
    auto count = [&](const char* status) {
        auto it = summary->by_status.find(status);
        return it == summary->by_status.end() ? service::Tally{} : it->second;
    };
    auto due = count("due");
    print_line(fmt::format("summary: {} due ({}), {} held, {} in review, {} skipped, {} not due, "
                           "{} in no category",
                           due.files, human_bytes(due.bytes), count("held").files,
                           count("review").files,
                           count("skipped").files,
                           count("not-due").files, summary->unmatched));
    if (options.horizon) {
        print_line(fmt::format("  due by {}: {} more files ({})", util::format_date(*options.horizon),
                               summary->due_within.files, human_bytes(summary->due_within.bytes)));
    }
    for (const auto& [category, t] : summary->by_category) {
        print_line(fmt::format("  category {:<16} {:>6} files  {}", category, t.files,
                               human_bytes(t.bytes)));
    }
    for (const auto& [action, t] : summary->by_action) {
        print_line(fmt::format("  action   {:<16} {:>6} files  {}", action, t.files,
                               human_bytes(t.bytes)));
    }
    for (const auto& [name, w] : summary->walks) {
        print_line(fmt::format("  root     {:<16} {:>6} files  {} in {} folders", name, w.files,
                               human_bytes(w.bytes), w.folders));
        print_line(fmt::format("           {} symlinks (not followed), {} sockets, {} fifos, "
                               "{} devices (skipped), {} excluded, {} mount points {}",
                               w.symlinks, w.sockets, w.fifos, w.devices, w.excluded,
                               w.mount_points,
                               loaded->config.find_root(name) != nullptr &&
                                       loaded->config.find_root(name)->one_filesystem
                                   ? "(not crossed)"
                                   : "(crossed)"));
        print_line(fmt::format("           {} unreadable, {} vanished during the walk, {} names "
                               "not UTF-8, {} names with a newline, largest folder {} entries",
                               w.unreadable, w.vanished, w.non_utf8_names, w.newline_names,
                               w.largest_folder));
    }
    if (observe_due) {
        print_line("  * under a schedule in observe mode: reported only, `lethe run` will not "
                   "dispose of it");
    }
    return kExitOk;
}

}  // namespace

void add_plan_commands(CLI::App& app, CommandContext& context) {
    struct Options {
        bool json = false;
        std::string now;
        std::string root;
        std::string due_within;
        std::string client;
    };
    auto o = std::make_shared<Options>();
    CLI::App* cmd = app.add_subcommand("plan", "dry run: list what is due, dispose nothing");
    context.add_config_option(cmd);
    cmd->add_flag("--json", o->json, "JSON Lines: one object per file, then a summary");
    cmd->add_option("--now", o->now, "judge as of this date (YYYY-MM-DD: midnight UTC) or instant (YYYY-MM-DDThh:mm:ssZ)");
    cmd->add_option("--root", o->root, "only this root");
    cmd->add_option("--due-within", o->due_within, "also list files due within DURATION");
    cmd->add_option("--client", o->client, "only files of this client (as a category captures it)");
    cmd->callback([&context, o] {
        context.chosen = [&context, o] {
            return plan(context.config, o->json, o->now, o->root, o->due_within, o->client);
        };
    });
}

}  // namespace lethe::cli

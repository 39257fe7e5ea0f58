#include "agent/cli/commands.hpp"

#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "agent/cli/common.hpp"
#include "agent/cli/progress.hpp"
#include "agent/policy/local_today.hpp"
#include "agent/service/archive_index.hpp"
#include "agent/service/holds.hpp"
#include "agent/service/inventory.hpp"
#include "agent/util/log.hpp"
#include "agent/util/plural.hpp"

namespace lethe::cli {

namespace {

int inventory(const std::string& config_path, const std::string& client,
              const std::string& matter, bool json, const std::string& now_text) {
    if (client.empty()) {
        util::log_error("inventory: --client must name a client");
        return kExitBadInput;
    }
    auto loaded = load_all(config_path);
    if (!loaded) return report(loaded.error());
    auto now = current_time(now_text);
    if (!now) return report(now.error());
    // Archived copies are part of what the firm keeps: an unreadable index or hold store
    // would make the answer incomplete, so the inventory stops instead.
    auto index = service::load_archive_index(loaded->config.state_dir);
    if (!index) return report(index.error());
    auto holds = service::load_holds(loaded->config.state_dir);
    if (!holds) return report(holds.error());
    service::InventoryOptions options;
    options.now = *now;
    options.client = client;
    if (!matter.empty()) options.matter = matter;
    WalkProgress progress;
    if (progress.enabled()) {
        options.on_progress = [&](const std::string& name, const scan::WalkStats& stats) {
            progress.update(name, stats);
        };
    }
    if (!json) {
        print_line(fmt::format("{:<14} {:<10}  {:<8}  {:>10}  {:<16}  {:<12}  {}", "STATUS",
                               "EXPIRES", "ACTION", "SIZE", "CATEGORY", "MATTER", "PATH"));
    }
    // Holds are judged on today in the zone of each file's (or copy's) schedule.
    const policy::LocalToday today(loaded->schedules, options.now);
    auto summary = service::make_inventory(
        loaded->config, loaded->schedules, options, [&](const service::InventoryEntry& found) {
            service::InventoryEntry e = found;
            service::apply_holds(e, *holds, today.of(e.schedule_id));
            if (json) {
                print_json_line(e.to_json().dump());
                return;
            }
            bool covered = !e.category.empty();
            print_line(fmt::format(
                "{:<14} {:<10}  {:<8}  {:>10}  {:<16}  {:<12}  {}/{}{}",
                covered ? std::string(classify::to_string(e.status)) : "in-no-category",
                !covered ? "never" : e.expires ? util::format_date(*e.expires) : "permanent",
                covered ? std::string(policy::to_string(e.action)) : "keep",
                human_bytes(e.facts.size), covered ? e.category : "-",
                e.matter ? display_name(*e.matter) : "-", e.root, display_name(e.facts.path),
                e.holds.empty() ? "" : fmt::format("  (legal hold {})", fmt::join(e.holds, ", "))));
        });
    progress.finish();
    if (!summary) return report(summary.error());
    std::optional<std::string> only_matter;
    if (!matter.empty()) only_matter = matter;
    auto archived = service::archived_copies(*index, *holds, client, only_matter, today);
    service::Tally archived_total;
    std::set<std::string> archive_names;
    for (const auto& c : archived) {
        archived_total.add(c.member.size);
        archive_names.insert(c.archive);
    }
    if (json) {
        for (const auto& c : archived) print_json_line(c.to_json(client).dump());
        auto j = summary->to_json();
        j["archived"] = {{"copies", archived_total.files},
                         {"bytes", archived_total.bytes},
                         {"archives", archive_names.size()}};
        print_json_line(j.dump());
        return kExitOk;
    }
    if (!archived.empty()) {
        print_line("");
        print_line(fmt::format("{:<14} {:<10}  {:>10}  {:<16}  {:<12}  {}  {}", "ARCHIVED",
                               "EXPIRES", "SIZE", "CATEGORY", "MATTER", "MEMBER", "(ARCHIVE)"));
        for (const auto& c : archived) {
            print_line(fmt::format(
                "{:<14} {:<10}  {:>10}  {:<16}  {:<12}  {}  ({})",
                c.holds.empty() ? "archived" : "held " + fmt::format("{}", fmt::join(c.holds, ",")),
                c.member.expires ? util::format_date(*c.member.expires) : "permanent",
                human_bytes(c.member.size), c.member.category,
                c.matter ? display_name(*c.matter) : "-", display_name(c.member.path),
                c.archive));
        }
    }
    print_line(fmt::format("summary: client {}{}: {}, {}", display_name(client),
                           matter.empty() ? "" : " matter " + display_name(matter),
                           util::counted(summary->total.files, "file", "files"),
                           human_bytes(summary->total.bytes)));
    for (const auto& [category, t] : summary->by_category) {
        print_line(fmt::format("  category {:<16} {:>6} {:<5}  {}",
                               category.empty() ? "(no category)" : category, t.files,
                               t.files == 1 ? "file" : "files", human_bytes(t.bytes)));
    }
    print_line(fmt::format("  archived {:<16} {:>6} {:<6} {} in {}", "(lethe)",
                           archived_total.files, archived_total.files == 1 ? "copy" : "copies",
                           human_bytes(archived_total.bytes),
                           util::counted(archive_names.size(), "archive", "archives")));
    for (const auto& [root, t] : summary->by_root) {
        print_line(fmt::format("  root     {:<16} {:>6} {:<5}  {}", root, t.files,
                               t.files == 1 ? "file" : "files", human_bytes(t.bytes)));
    }
    if (summary->problems > 0) {
        print_line(fmt::format("  {} could not be read (see the warnings above): the "
                               "inventory may be incomplete",
                               util::counted(summary->problems, "entry", "entries")));
    }
    return kExitOk;
}

}  // namespace

void add_inventory_commands(CLI::App& app, CommandContext& context) {
    struct Options {
        std::string client;
        std::string matter;
        bool json = false;
        std::string now;
    };
    auto o = std::make_shared<Options>();
    CLI::App* cmd = app.add_subcommand(
        "inventory", "everything kept about one client, across all roots (access requests)");
    context.add_config_option(cmd);
    cmd->add_option("--client", o->client, "the client, as the schedules' {client} captures it")
        ->required();
    cmd->add_option("--matter", o->matter, "only this matter of the client");
    cmd->add_flag("--json", o->json, "JSON Lines: one object per file, then a summary");
    cmd->add_option("--now", o->now, "judge expiry as of this date (YYYY-MM-DD: midnight UTC) or instant (YYYY-MM-DDThh:mm:ssZ)");
    cmd->callback([&context, o] {
        context.chosen = [&context, o] {
            return inventory(context.config, o->client, o->matter, o->json, o->now);
        };
    });
}

}  // namespace lethe::cli

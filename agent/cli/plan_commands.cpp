#include "agent/cli/commands.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iterator>
#include <string_view>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "agent/cli/common.hpp"
#include "agent/cli/progress.hpp"
#include "agent/policy/local_today.hpp"
#include "agent/service/config_safety.hpp"
#include "agent/service/plan.hpp"
#include "agent/service/plan_json.hpp"
#include "agent/service/review.hpp"
#include "agent/util/encoding.hpp"
#include "agent/util/log.hpp"
#include "agent/util/plural.hpp"

namespace lethe::cli {

namespace {

constexpr size_t kOutputChunk = size_t{256} * 1024;

// `bytes` as display_name() shows it, appended without a temporary in the common case.
void append_display(fmt::memory_buffer& out, std::string_view bytes) {
    for (char c : bytes) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x7f) {
            std::string shown = display_name(bytes);
            out.append(shown.data(), shown.data() + shown.size());
            return;
        }
    }
    out.append(bytes.data(), bytes.data() + bytes.size());
}

// `text` left-aligned in `width` columns, as fmt's "{:<N}" pads it: by display width, which
// for ASCII is the byte count (counted here without decoding).
void append_padded(fmt::memory_buffer& out, std::string_view text, size_t width) {
    bool ascii = std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
    if (!ascii) {
        fmt::format_to(std::back_inserter(out), FMT_STRING("{:<{}}"), text, width);
        return;
    }
    out.append(text.data(), text.data() + text.size());
    for (size_t i = text.size(); i < width; ++i) out.push_back(' ');
}

// One row of the plan table (STATUS EXPIRES ACTION CATEGORY CLIENT/MATTER PATH (reason)).
void append_row(const service::PlanEntry& e, fmt::memory_buffer& out, fmt::memory_buffer& owner,
                bool& observe_due) {
    std::string_view status = classify::to_string(e.status);
    bool observed = e.status == classify::Status::Due && e.mode == policy::Mode::Observe;
    observe_due = observe_due || observed;
    char status_text[16];
    std::string_view shown_status = status;
    if (observed && status.size() + 1 <= sizeof status_text) {
        status.copy(status_text, status.size());
        status_text[status.size()] = '*';
        shown_status = std::string_view(status_text, status.size() + 1);
    }
    char expires_text[16] = "permanent";
    std::string_view expires = "permanent";
    if (e.expires) {
        std::chrono::year_month_day ymd{*e.expires};
        auto end = fmt::format_to_n(expires_text, sizeof expires_text, FMT_STRING("{:04}-{:02}-{:02}"),
                                    static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                                    static_cast<unsigned>(ymd.day()));
        expires = std::string_view(expires_text, std::min(end.size, sizeof expires_text));
    }
    owner.clear();
    if (e.client) {
        append_display(owner, *e.client);
    } else {
        owner.push_back('-');
    }
    if (e.matter) {
        owner.push_back('/');
        append_display(owner, *e.matter);
    }
    // "{:<10} {:<10}  {:<8}  {:<16}  {:<20}  "
    append_padded(out, shown_status, 10);
    out.push_back(' ');
    append_padded(out, expires, 10);
    out.append(std::string_view("  "));
    append_padded(out, policy::to_string(e.action), 8);
    out.append(std::string_view("  "));
    append_padded(out, e.category, 16);
    out.append(std::string_view("  "));
    append_padded(out, std::string_view(owner.data(), owner.size()), 20);
    out.append(std::string_view("  "));
    append_display(out, e.root);
    out.push_back('/');
    append_display(out, e.facts.path);
    if (!e.reason.empty()) {
        constexpr std::string_view kOpen = "  (";
        out.append(kOpen.data(), kOpen.data() + kOpen.size());
        append_display(out, e.reason);  // may quote a path (an error about the file)
        out.push_back(')');
    }
    out.push_back('\n');
}

int plan(const std::string& config_path, bool json, const std::string& now_text,
         const std::string& root, const std::string& due_within, const std::string& client) {
    auto loaded = load_all(config_path);
    if (!loaded) return report(loaded.error());
    // `run` refuses such a config, so a plan of it would show what nothing will do.
    if (auto st = service::check_config_safety(loaded->config, loaded->schedules); !st) {
        return report(st.error());
    }
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
        options.due_within = *horizon;  // counted from today in each file's schedule zone
    }
    if (!json) {
        print_line(fmt::format("{:<10} {:<10}  {:<8}  {:<16}  {:<20}  {}", "STATUS", "EXPIRES",
                               "ACTION", "CATEGORY", "CLIENT/MATTER", "PATH"));
    }
    bool observe_due = false;
    const policy::LocalToday today(loaded->schedules, options.now);
    // Lines are formatted into one reused buffer and written in large chunks: a plan lists
    // hundreds of thousands of files on a large share.
    fmt::memory_buffer out;
    fmt::memory_buffer owner;
    auto write_out = [&] {
        std::fwrite(out.data(), 1, out.size(), stdout);
        out.clear();
    };
    auto summary = service::make_plan(loaded->config, loaded->schedules, options,
                                      [&](const service::PlanEntry& planned) {
        const service::PlanEntry* entry = &planned;
        service::PlanEntry described;
        if (!planned.review.is_null()) {
            described = planned;
            service::describe_review(described, *reviews, today.of(planned.schedule_id));
            entry = &described;
        }
        const service::PlanEntry& e = *entry;
        if (json) {
            service::append_json_line(e, out);
        } else {
            append_row(e, out, owner, observe_due);
        }
        if (out.size() >= kOutputChunk) write_out();
    });
    write_out();
    progress.finish();
    if (!summary) return report(summary.error());
    if (json) {
        print_json_line(summary->to_json().dump());
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
    if (!summary->horizons.empty()) {
        // One date, or the date in each zone when the schedules' zones disagree on it.
        std::string until = util::format_date(summary->horizons.begin()->second);
        for (const auto& [zone, day] : summary->horizons) {
            if (day != summary->horizons.begin()->second) {
                std::vector<std::string> each;
                for (const auto& [z, d] : summary->horizons) {
                    each.push_back(fmt::format("{} in {}", util::format_date(d), z));
                }
                until = fmt::format("{}", fmt::join(each, ", "));
                break;
            }
        }
        print_line(fmt::format("  due by {}: {} more ({})", until,
                               util::counted(summary->due_within.files, "file", "files"),
                               human_bytes(summary->due_within.bytes)));
    }
    for (const auto& [category, t] : summary->by_category) {
        print_line(fmt::format("  category {:<16} {:>6} {:<5}  {}", category, t.files,
                               t.files == 1 ? "file" : "files", human_bytes(t.bytes)));
    }
    for (const auto& [action, t] : summary->by_action) {
        print_line(fmt::format("  action   {:<16} {:>6} {:<5}  {}", action, t.files,
                               t.files == 1 ? "file" : "files", human_bytes(t.bytes)));
    }
    for (const auto& [name, w] : summary->walks) {
        print_line(fmt::format("  root     {:<16} {:>6} {:<5}  {} in {}", name, w.files,
                               w.files == 1 ? "file" : "files", human_bytes(w.bytes),
                               util::counted(w.folders, "folder", "folders")));
        print_line(fmt::format("           {} symlinks (not followed), {} sockets, {} fifos, "
                               "{} devices (skipped), {} excluded, {} mount points {}",
                               w.symlinks, w.sockets, w.fifos, w.devices, w.excluded,
                               w.mount_points,
                               loaded->config.find_root(name) != nullptr &&
                                       loaded->config.find_root(name)->one_filesystem
                                   ? "(not crossed)"
                                   : "(crossed)"));
        print_line(fmt::format("           {} unreadable, {} vanished during the walk, {} not "
                               "UTF-8, {} with a newline, largest folder {}",
                               w.unreadable, w.vanished,
                               util::counted(w.non_utf8_names, "name", "names"),
                               util::counted(w.newline_names, "name", "names"),
                               util::counted(w.largest_folder, "entry", "entries")));
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

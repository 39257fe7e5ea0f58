#include "agent/cli/commands.hpp"

#include <map>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "agent/classify/decision.hpp"
#include "agent/classify/lookups.hpp"
#include "agent/service/encrypted_index.hpp"
#include "agent/cli/common.hpp"
#include "agent/policy/schedule.hpp"
#include "agent/scan/walker.hpp"
#include "agent/util/encoding.hpp"
#include "agent/util/fs.hpp"
#include "agent/util/log.hpp"
#include "agent/util/plural.hpp"

namespace lethe::cli {

namespace {

// Checks every file independently, then the rules across files, and reports everything.
int policy_check(std::vector<std::string> paths, const std::string& config_path, bool strict,
                 bool json) {
    if (paths.empty()) {
        auto config = policy::load_config(config_path);
        if (!config) return report(config.error());
        paths.push_back(config->policies);
    }
    auto files = policy::schedule_files(paths);
    if (!files) return report(files.error());
    std::vector<policy::ScheduleReport> reports;
    std::vector<std::string> global_errors;
    if (files->empty()) {
        global_errors.push_back(
            fmt::format("no schedule files (*.toml) in {}", fmt::join(paths, ", ")));
    }
    policy::IdRegister ids;
    for (const auto& f : *files) {
        auto text = util::read_file(f);
        policy::ScheduleReport r;
        if (!text) {
            r.file = f;
            r.errors.push_back(text.error().message());
        } else {
            r = policy::check_schedule(*text, f);
        }
        if (r.schedule) {
            auto clashes = ids.add(*r.schedule);
            r.errors.insert(r.errors.end(), clashes.begin(), clashes.end());
        }
        reports.push_back(std::move(r));
    }
    size_t errors = global_errors.size();
    size_t warnings = 0;
    for (const auto& r : reports) {
        errors += r.errors.size();
        warnings += r.warnings.size();
    }
    if (json) {
        nlohmann::json out = nlohmann::json::object();
        nlohmann::json list = nlohmann::json::array();
        for (const auto& r : reports) {
            nlohmann::json j{{"file", r.file}, {"errors", r.errors}, {"warnings", r.warnings}};
            if (r.schedule && r.errors.empty()) {
                j["schedule"] = r.schedule->id;
                j["version"] = r.schedule->version;
                j["categories"] = r.schedule->categories.size();
                j["mode"] = std::string(policy::to_string(r.schedule->mode));
            }
            list.push_back(std::move(j));
        }
        out["files"] = std::move(list);
        out["errors"] = global_errors;
        out["error_count"] = errors;
        out["warning_count"] = warnings;
        print_json_line(out.dump());
    } else {
        for (const auto& e : global_errors) util::log_error("{}", e);
        for (const auto& r : reports) {
            for (const auto& e : r.errors) util::log_error("{}", e);
            for (const auto& w : r.warnings) util::log_warning("{}", w);
            if (r.schedule && r.errors.empty()) {
                print_line(fmt::format(
                    "ok: {}: schedule '{}' version {}, {}, mode {}{}", r.file, r.schedule->id,
                    r.schedule->version,
                    util::counted(r.schedule->categories.size(), "category", "categories"),
                    policy::to_string(r.schedule->mode),
                    r.warnings.empty()
                        ? ""
                        : ", " + util::counted(r.warnings.size(), "warning", "warnings")));
            }
        }
        if (errors > 0) {
            util::log_error("{} error(s), {} warning(s): no disposal until fixed", errors, warnings);
        }
    }
    if (errors > 0) return kExitBadInput;
    if (warnings > 0 && strict) return kExitFinding;
    return kExitOk;
}

// What one schedule set decides for a file, reduced to what a diff compares.
// An expiry date is a date in its schedule's zone: the same date in another zone is another
// instant, so a schedule that changes its zone moves its expiries.
struct Outcome {
    std::string category;
    std::string status;
    std::string expires;
    std::string action;
    std::string zone;  // of the expiry date; "" when there is none
    bool operator==(const Outcome&) const = default;
};

Outcome outcome_of(const classify::Decision& d) {
    if (d.status == classify::Status::Unmatched) return {"(none)", "unmatched", "-", "-", ""};
    return {d.category != nullptr ? d.category->id : "(none)", std::string(classify::to_string(d.status)),
            d.expires ? util::format_date(*d.expires) : "never", std::string(policy::to_string(d.action)),
            d.expires && d.schedule != nullptr ? d.schedule->zone.name() : ""};
}

int policy_diff(const std::string& config_path, const std::string& old_path,
                const std::string& new_path, const std::string& now_text, bool json) {
    auto config = policy::load_config(config_path);
    if (!config) return report(config.error());
    auto before = policy::load_schedules({old_path});
    if (!before) return report(before.error().with_context("OLD"));
    auto after = policy::load_schedules({new_path});
    if (!after) return report(after.error().with_context("NEW"));
    auto now = current_time(now_text);
    if (!now) return report(now.error());
    // Each schedule judges as of its own local date of `now` (its timezone).
    util::Date today = util::date_of(*now);

    struct Change {
        uint64_t files = 0;
        uint64_t bytes = 0;
        std::vector<std::string> examples;
    };
    // (old category, new category, what moved) -> change
    std::map<std::tuple<std::string, std::string, std::string>, Change> changes;
    uint64_t files = 0;
    uint64_t changed = 0;
    auto encrypted = service::load_encrypted_index(config->state_dir);
    if (!encrypted) return report(encrypted.error());
    const auto copies = encrypted->by_root();
    for (const auto& root : config->roots) {
        auto root_fd = scan::open_root(root.path);
        if (!root_fd) return report(root_fd.error());
        auto root_copies = copies.find(root.name);
        classify::FsLookups lookups(root_fd->get(),
                                    root_copies == copies.end() ? nullptr : &root_copies->second);
        classify::ClassifyOptions options;
        options.lookups = &lookups;
        scan::WalkOptions walk_options;
        walk_options.one_filesystem = root.one_filesystem;
        walk_options.exclude = root.exclude;
        auto stats = scan::walk(
            root_fd->get(), walk_options,
            [&](const scan::FileFacts& facts) {
                ++files;
                Outcome a = outcome_of(classify::classify(facts, *before, *now, options));
                Outcome b = outcome_of(classify::classify(facts, *after, *now, options));
                if (a == b) return;
                ++changed;
                std::vector<std::string> moved;
                // Two dates in different zones: each is shown with its zone.
                bool rezoned = !a.zone.empty() && !b.zone.empty() && a.zone != b.zone;
                bool expiry_moved = a.expires != b.expires || rezoned;
                if (rezoned) {
                    moved.push_back(fmt::format("expires {} ({}) -> {} ({})", a.expires, a.zone,
                                                b.expires, b.zone));
                } else if (expiry_moved) {
                    moved.push_back(fmt::format("expires {} -> {}", a.expires, b.expires));
                }
                if (a.action != b.action) moved.push_back(fmt::format("action {} -> {}", a.action, b.action));
                if (a.status != b.status) moved.push_back(fmt::format("status {} -> {}", a.status, b.status));
                std::string what = moved.empty() ? "category only" : fmt::format("{}", fmt::join(moved, ", "));
                auto key = std::make_tuple(a.category, b.category,
                                           fmt::format("{}{}{}", a.status != b.status ? "status " : "",
                                                       expiry_moved ? "expiry " : "",
                                                       a.action != b.action ? "action" : ""));
                Change& c = changes[key];
                ++c.files;
                c.bytes += facts.size;
                if (c.examples.size() < 3) {
                    c.examples.push_back(fmt::format("{}/{}: {}", root.name,
                                                     util::utf8_display(facts.path), what));
                }
            },
            [&](std::string_view path, const Error& error) {
                util::log_warning("{}: {}: {}", root.name, util::utf8_display(path), error.message());
            });
        if (!stats) return report(stats.error());
    }
    if (json) {
        nlohmann::json list = nlohmann::json::array();
        for (const auto& [key, c] : changes) {
            list.push_back({{"old_category", std::get<0>(key)},
                            {"new_category", std::get<1>(key)},
                            {"moves", std::get<2>(key)},
                            {"files", c.files},
                            {"bytes", c.bytes},
                            {"examples", c.examples}});
        }
        print_json_line(nlohmann::json{{"files", files}, {"changed", changed}, {"changes", list}}.dump());
        return kExitOk;
    }
    print_line(fmt::format("{} judged as of {}; {} would change",
                           util::counted(files, "file", "files"), util::format_date(today),
                           changed));
    for (const auto& [key, c] : changes) {
        const auto& [from, to, moves] = key;
        print_line(fmt::format("{} -> {}: {} ({}), {}", from, to,
                               util::counted(c.files, "file", "files"), human_bytes(c.bytes),
                               moves.empty() ? "category" : moves));
        for (const auto& e : c.examples) print_line("    " + e);
    }
    return kExitOk;
}

}  // namespace

void add_policy_commands(CLI::App& app, CommandContext& context) {
    CLI::App* policy_cmd = app.add_subcommand("policy", "retention schedules");
    policy_cmd->require_subcommand(1);

    struct CheckOptions {
        std::vector<std::string> paths;
        bool strict = false;
        bool json = false;
    };
    auto co = std::make_shared<CheckOptions>();
    CLI::App* check = policy_cmd->add_subcommand(
        "check", "validate schedule files and folders (default: the config's policies)");
    context.add_config_option(check);
    check->add_option("paths", co->paths, "schedule files or folders");
    check->add_flag("--strict", co->strict, "exit 1 on warnings");
    check->add_flag("--json", co->json, "one JSON object with every error and warning");
    check->callback([&context, co] {
        context.chosen = [&context, co] {
            return policy_check(co->paths, context.config, co->strict, co->json);
        };
    });

    struct DiffOptions {
        std::string old_path;
        std::string new_path;
        std::string now;
        bool json = false;
    };
    auto d = std::make_shared<DiffOptions>();
    CLI::App* diff = policy_cmd->add_subcommand(
        "diff", "what a schedule change would change on the configured roots");
    context.add_config_option(diff);
    diff->add_option("old", d->old_path, "the schedules in force (file or folder)")->required();
    diff->add_option("new", d->new_path, "the proposed schedules (file or folder)")->required();
    diff->add_option("--now", d->now, "judge as of this date (YYYY-MM-DD: midnight UTC) or instant (YYYY-MM-DDThh:mm:ssZ)");
    diff->add_flag("--json", d->json, "one JSON object");
    diff->callback([&context, d] {
        context.chosen = [&context, d] {
            return policy_diff(context.config, d->old_path, d->new_path, d->now, d->json);
        };
    });
}

}  // namespace lethe::cli

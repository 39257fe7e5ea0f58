#include "agent/cli/commands.hpp"

#include <sys/stat.h>

#include <boost/filesystem.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "agent/classify/decision.hpp"
#include "agent/classify/lookups.hpp"
#include "agent/policy/local_today.hpp"
#include "agent/service/encrypted_index.hpp"
#include "agent/service/holds.hpp"
#include "agent/cli/common.hpp"
#include "agent/util/encoding.hpp"
#include "agent/util/log.hpp"
#include "agent/util/plural.hpp"

namespace lethe::cli {

namespace {

std::string date_or(const std::optional<util::Date>& d, std::string_view none) {
    return d ? util::format_date(*d) : std::string(none);
}

std::string trigger_text(const classify::Match& m) {
    const policy::Category& c = *m.category;
    if (c.trigger == policy::Trigger::Event) return fmt::format("event:{}", c.event);
    return std::string(policy::to_string(m.trigger));
}

// An encrypted copy is sanitized when it expires, whatever its category's action.
policy::Action match_action(const classify::Match& m) {
    return m.encrypted_copy ? policy::Action::Sanitize : m.category->action;
}

nlohmann::json match_json(const classify::Match& m) {
    nlohmann::json j{{"category", m.category->id},
                     {"schedule", m.schedule->id},
                     {"why", m.why},
                     {"trigger", trigger_text(m)},
                     {"trigger_date", date_or(m.trigger_date, "")},
                     {"cutoff", m.category->cutoff.to_string()},
                     {"counted_from", date_or(m.counted_from, "")},
                     {"retain", m.category->retain.to_string()},
                     {"expires", date_or(m.expires, m.category->retain.permanent ? "permanent" : "pending")},
                     {"action", std::string(policy::to_string(match_action(m)))},
                     {"erasable", m.category->erasable},
                     {"time_zone", m.schedule->zone.name()}};
    if (!m.note.empty()) j["note"] = m.note;
    if (m.encrypted_copy) {
        j["encrypted_copy"] = true;
        j["copy_kept"] =
            m.category->archive_for ? m.category->archive_for->to_string() : "permanently";
    }
    if (!m.problem.empty()) j["problem"] = m.problem;
    if (!m.category->mandate.empty()) j["mandate"] = m.category->mandate;
    return j;
}

// Finds the root holding `path` (absolute, or relative to the working folder) and the path
// relative to it. Lexical only: symlinks in the argument are not resolved.
std::optional<std::pair<const policy::RootConfig*, std::string>> locate(
    const policy::AgentConfig& config, const std::string& path) {
    namespace fs = boost::filesystem;
    std::string absolute = fs::absolute(path).lexically_normal().generic_string();
    for (const auto& root : config.roots) {
        std::string base = fs::path(root.path).lexically_normal().generic_string();
        while (base.size() > 1 && base.back() == '/') base.pop_back();
        if (absolute.size() > base.size() + 1 && absolute.compare(0, base.size(), base) == 0 &&
            absolute[base.size()] == '/') {
            return std::make_pair(&root, absolute.substr(base.size() + 1));
        }
    }
    return std::nullopt;
}

int explain(const std::string& config_path, const std::vector<std::string>& paths,
            const std::string& now_text, bool json) {
    auto loaded = load_all(config_path);
    if (!loaded) return report(loaded.error());
    auto now = current_time(now_text);
    if (!now) return report(now.error());
    // lethe's encrypted copies keep their retention through it where there are no xattrs.
    auto encrypted = service::load_encrypted_index(loaded->config.state_dir);
    if (!encrypted) return report(encrypted.error());
    const auto copies = encrypted->by_root();
    // Legal holds, judged as the plan judges them: active today in the deciding schedule's
    // zone, and turning a file that is due (or in review, or skipped) into a held one.
    auto holds = service::load_holds(loaded->config.state_dir);
    if (!holds) return report(holds.error());
    const policy::LocalToday today(loaded->schedules, *now);
    int status = kExitOk;
    for (const auto& path : paths) {
        auto where = locate(loaded->config, path);
        if (!where) {
            util::log_error("{}: not inside any configured root", path);
            status = kExitBadInput;
            continue;
        }
        const auto& [root, relative] = *where;
        auto root_fd = scan::open_root(root->path);
        if (!root_fd) return report(root_fd.error());
        auto facts = scan::stat_beneath(root_fd->get(), relative);
        if (!facts) {
            util::log_error("{}: {}", path, facts.error().message());
            status = kExitBadInput;
            continue;
        }
        if (!S_ISREG(facts->mode)) {
            util::log_error("{}: not a regular file (lethe only judges regular files)", path);
            status = kExitBadInput;
            continue;
        }
        auto root_copies = copies.find(root->name);
        classify::FsLookups lookups(root_fd->get(),
                                    root_copies == copies.end() ? nullptr : &root_copies->second);
        classify::ClassifyOptions options;
        options.lookups = &lookups;
        options.explain = true;
        classify::Decision d = classify::classify(*facts, loaded->schedules, *now, options);
        std::vector<const service::Hold*> held_by;
        if (d.category != nullptr) {
            const util::Date day = today.of(d.schedule != nullptr ? d.schedule->id : "");
            for (const auto& id : holds->covering(root->name, relative, d.client, d.matter, day)) {
                if (const service::Hold* h = holds->find(id)) held_by.push_back(h);
            }
        }
        const classify::Status schedule_status = d.status;
        if (!held_by.empty() &&
            (d.status == classify::Status::Due || d.status == classify::Status::Review ||
             d.status == classify::Status::Skipped)) {
            std::vector<std::string> ids;
            ids.reserve(held_by.size());
            for (const auto* h : held_by) ids.push_back(h->id);
            d.status = classify::Status::Held;
            d.reason = fmt::format("legal hold {}", fmt::join(ids, ", "));
        }

        if (json) {
            nlohmann::json j{{"root", root->name}, {"status", std::string(classify::to_string(d.status))}};
            j["path"] = util::utf8_display(relative);
            if (!util::is_valid_utf8(relative)) j["path_b64"] = util::base64_encode(relative);
            nlohmann::json matches = nlohmann::json::array();
            for (const auto& m : d.matches) matches.push_back(match_json(m));
            j["matches"] = std::move(matches);
            if (d.category != nullptr) {
                j["winner"] = d.category->id;
                j["rule"] = d.rule;
                if (!d.trigger_note.empty()) j["note"] = d.trigger_note;
                j["expires"] = date_or(d.expires, "never");
                j["action"] = std::string(policy::to_string(d.action));
                j["time_zone"] = d.schedule->zone.name();
                j["today"] = util::format_date(d.schedule->zone.local_date(*now));
            }
            if (d.content) {
                nlohmann::json content;
                if (d.content->mime) content["type"] = *d.content->mime;
                if (!d.content->problem.empty()) content["problem"] = d.content->problem;
                j["content"] = std::move(content);
            }
            nlohmann::json misses = nlohmann::json::array();
            for (const auto& [category, why] : d.mime_misses) {
                misses.push_back({{"category", category->id}, {"why", why}});
            }
            if (!misses.empty()) j["mime_not_matched"] = std::move(misses);
            if (d.client) j["client"] = *d.client;
            if (d.matter) j["matter"] = *d.matter;
            if (!d.reason.empty()) j["reason"] = d.reason;
            nlohmann::json hold_list = nlohmann::json::array();
            for (const auto* h : held_by) {
                nlohmann::json hj{{"id", h->id}, {"reason", h->reason}, {"scope", h->scope_text()},
                                  {"placed_by", h->placed_by}, {"placed_at", h->placed_at}};
                if (h->until) hj["until"] = util::format_date(*h->until);
                hold_list.push_back(std::move(hj));
            }
            j["holds"] = std::move(hold_list);
            if (d.status != schedule_status) {
                j["schedule_status"] = std::string(classify::to_string(schedule_status));
            }
            print_json_line(j.dump());
            continue;
        }
        print_line(fmt::format("{}/{}  ({}, modified {})", root->name,
                               util::utf8_display(relative),
                               util::counted(facts->size, "byte", "bytes"),
                               util::format_timestamp(facts->mtime)));
        if (d.content) {
            print_line(d.content->mime ? fmt::format("  content type: {} (sniffed)", *d.content->mime)
                                       : fmt::format("  content type: unknown ({})", d.content->problem));
        }
        for (const auto& [category, why] : d.mime_misses) {
            print_line(fmt::format("  category '{}': every matcher held but mime: {}", category->id, why));
        }
        if (d.matches.empty() && d.category == nullptr) {
            print_line("  matches no category: lethe never touches it");
            if (!d.reason.empty()) print_line(fmt::format("  status: {} ({})", classify::to_string(d.status), d.reason));
            continue;
        }
        for (const auto& m : d.matches) {
            const policy::Category& c = *m.category;
            print_line(fmt::format("  category '{}' (schedule '{}' v{}): {}", c.id, m.schedule->id,
                                   m.schedule->version, m.why));
            std::string line = fmt::format("    trigger {} {}", trigger_text(m),
                                           date_or(m.trigger_date, "(none yet)"));
            if (c.cutoff.kind != policy::Cutoff::Kind::None && !m.encrypted_copy) {
                line += fmt::format(", cutoff {} -> {}", c.cutoff.to_string(), date_or(m.counted_from, "-"));
            }
            if (m.encrypted_copy) {
                line += fmt::format(", copy kept {}, expires {}, action {}",
                                    c.archive_for ? c.archive_for->to_string() : "permanently",
                                    date_or(m.expires, "never (permanent)"),
                                    policy::to_string(match_action(m)));
            } else {
                line += fmt::format(
                    ", retain {}, expires {}, action {}", c.retain.to_string(),
                    date_or(m.expires, c.retain.permanent ? "never (permanent)" : "not yet set"),
                    policy::to_string(c.action));
            }
            if (!c.erasable) line += ", not erasable";
            line += fmt::format(" (dates in {})", m.schedule->zone.name());
            print_line(line);
            if (!m.note.empty()) print_line(fmt::format("    note: {}", m.note));
            if (!m.problem.empty()) print_line(fmt::format("    problem: {}", m.problem));
            if (!c.mandate.empty()) print_line(fmt::format("    mandate: {}", c.mandate));
        }
        print_line(fmt::format("  winner: '{}': {}", d.category->id, d.rule));
        if (!d.trigger_note.empty()) print_line(fmt::format("  note: {}", d.trigger_note));
        if (d.client || d.matter) {
            print_line(fmt::format("  client: {}  matter: {}", d.client.value_or("-"), d.matter.value_or("-")));
        }
        if (held_by.empty()) print_line("  holds: none");
        for (const auto* h : held_by) {
            print_line(fmt::format("  legal hold {}: {} (covers {}; placed {} by {}{})", h->id,
                                   h->reason, h->scope_text(), h->placed_at, h->placed_by,
                                   h->until ? ", until " + util::format_date(*h->until) : ""));
        }
        if (d.status != schedule_status) {
            print_line(fmt::format("  without the hold: {}", classify::to_string(schedule_status)));
        }
        std::string verdict = fmt::format("  status: {}", classify::to_string(d.status));
        if (d.expires) verdict += fmt::format(", expires {}", util::format_date(*d.expires));
        verdict += fmt::format(", action {}", policy::to_string(d.action));
        if (!d.reason.empty()) verdict += fmt::format(" ({})", d.reason);
        print_line(verdict);
        // Due from local midnight of the expiry date in the deciding schedule's zone.
        print_line(fmt::format("  today: {} in {}", util::format_date(d.schedule->zone.local_date(*now)),
                               d.schedule->zone.name()));
    }
    return status;
}

}  // namespace

void add_explain_commands(CLI::App& app, CommandContext& context) {
    struct Options {
        std::vector<std::string> paths;
        std::string now;
        bool json = false;
    };
    auto o = std::make_shared<Options>();
    CLI::App* cmd = app.add_subcommand("explain", "why and when lethe would act on a file");
    context.add_config_option(cmd);
    cmd->add_option("paths", o->paths, "files inside a configured root")->required();
    cmd->add_option("--now", o->now, "judge as of this date (YYYY-MM-DD: midnight UTC) or instant (YYYY-MM-DDThh:mm:ssZ)");
    cmd->add_flag("--json", o->json, "one JSON object per file");
    cmd->callback([&context, o] {
        context.chosen = [&context, o] { return explain(context.config, o->paths, o->now, o->json); };
    });
}

}  // namespace lethe::cli

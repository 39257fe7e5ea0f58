// `lethe hold add|list|show|release`: legal holds, for records managers.

#include <fmt/format.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <utility>
#include <vector>

#include "agent/classify/decision.hpp"
#include "agent/classify/lookups.hpp"
#include "agent/service/encrypted_index.hpp"
#include "agent/cli/commands.hpp"
#include "agent/cli/common.hpp"
#include "agent/ledger/keys.hpp"
#include "agent/ledger/ledger.hpp"
#include "agent/policy/local_today.hpp"
#include "agent/scan/walker.hpp"
#include "agent/service/archive_index.hpp"
#include "agent/service/hold_coverage.hpp"
#include "agent/service/holds.hpp"
#include "agent/service/journal.hpp"
#include "agent/service/journal_anchor.hpp"
#include "agent/service/plan.hpp"
#include "agent/service/state.hpp"
#include "agent/service/state_check.hpp"
#include "agent/util/encoding.hpp"
#include "agent/util/glob.hpp"
#include "agent/util/log.hpp"
#include "agent/util/plural.hpp"

namespace lethe::cli {

namespace {

struct HoldOptions {
    std::string id;
    std::string reason;
    std::vector<std::string> paths;  // --path: names, taken literally
    std::vector<std::string> globs;  // --glob: patterns
    std::string client;
    std::string matter;
    std::string until;
    std::string by;
    std::string now;  // test builds only
    bool json = false;
    bool all = false;
    bool allow_empty = false;
};

util::TimePoint clock_now() {
    return util::TimePoint{std::chrono::system_clock::now().time_since_epoch()};
}

// Who is acting when --by is not given: the user behind sudo, else the login user.
std::string current_user() {
    if (const char* sudo = std::getenv("SUDO_USER"); sudo != nullptr && *sudo != '\0') return sudo;
    if (const struct passwd* pw = ::getpwuid(::getuid()); pw != nullptr) return pw->pw_name;
    return fmt::format("uid {}", ::getuid());
}

bool valid_id(const std::string& id) {
    if (id.empty() || id.size() > 128) return false;
    for (char c : id) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.';
        if (!ok) return false;
    }
    return true;
}

// A --path (`literal`: a file or folder, by its name) or a --glob (a pattern): relative to
// every root, or absolute inside one root (then only that root).
Result<service::HoldPath> hold_path(const policy::AgentConfig& config, const std::string& text,
                                    bool literal) {
    const char* option = literal ? "--path" : "--glob";
    if (text.empty()) return fail(ErrorKind::BadInput, fmt::format("{}: empty", option));
    if (!util::is_valid_utf8(text)) {
        return fail(ErrorKind::BadInput,
                    fmt::format("{} {}: not valid UTF-8", option, util::utf8_display(text)));
    }
    service::HoldPath p;
    std::string relative;
    std::string root_prefix;  // of an absolute path, to show what to write instead
    if (text.front() == '/') {
        for (const auto& root : config.roots) {
            std::string prefix = root.path.back() == '/' ? root.path : root.path + "/";
            if (text.rfind(prefix, 0) == 0 && text.size() > prefix.size()) {
                p.root = root.name;
                relative = text.substr(prefix.size());
                root_prefix = prefix;
                break;
            }
        }
        if (!p.root) {
            return fail(ErrorKind::BadInput,
                        fmt::format("{} {}: not inside any root of the config", option, text));
        }
    } else {
        relative = text;
    }
    while (!relative.empty() && relative.back() == '/') relative.pop_back();
    // Refused rather than normalized, as the schedule loader refuses such patterns: a hold is
    // a legal act, and the ledger records the path exactly as the person wrote it.
    auto plain = util::without_dot_segments(relative);
    if (!plain) {
        return fail(ErrorKind::BadInput,
                    fmt::format("{} {}: {}; a hold covers only files inside the roots: write "
                                "the path relative to the roots (such as 'san/file') or as an "
                                "absolute path inside one root",
                                option, text, plain.error().message()));
    }
    if (*plain != relative) {
        // "**" is every file: what "." or "./" would have meant.
        std::string instead =
            root_prefix + (plain->empty() ? std::string(literal ? "" : "**") : *plain);
        if (instead.empty()) {
            return fail(ErrorKind::BadInput,
                        fmt::format("--path {}: names no file or folder inside the roots (paths "
                                    "are relative to the root, as 'san/file'); to hold every "
                                    "file, write --glob '**'",
                                    text));
        }
        return fail(ErrorKind::BadInput,
                    fmt::format("{} {}: '.' and empty segments never match (paths are "
                                "relative to the root, as 'san/file'): write '{}' instead",
                                option, text, instead));
    }
    if (literal) {
        p.literal = relative;
        p.glob = util::glob_escape(relative);
    } else {
        p.glob = relative;
    }
    auto glob = util::Glob::compile(p.glob);
    if (!glob) return fail(glob.error().with_context(fmt::format("{} {}", option, text)));
    return p;
}

// Appends one hold change to the ledger, under the ledger's own lock (a running pass does
// not delay it). The caller holds the HoldStoreLock and writes the store only after this
// returns: the ledger first, because the ledger is the record the store is checked against
// at every pass. A change in the ledger but not in the store (the store could not be
// written) is put in the store by the next pass; a change in the store but not in the
// ledger would read as a store edited behind the ledger's back, and be undone.
Result<uint64_t> append_to_ledger(const policy::AgentConfig& config, nlohmann::json payload) {
    auto key = ledger::SigningKey::load(config.signing_key);
    if (!key) return fail(key.error());
    auto ledger = ledger::Ledger::open(config.ledger_path(), *key);
    if (!ledger) return fail(ledger.error());
    auto seq = ledger->append(std::move(payload));
    if (seq) service::record_ledger_anchor(config.state_dir, *ledger);
    return seq;
}

Error not_recorded(const Error& e) {
    return e.with_context("the ledger could not record the change; nothing was changed");
}

Error store_not_written(const Error& e, uint64_t seq) {
    return e.with_context(fmt::format(
        "the change is in the ledger (entry {}), but holds.json could not be written; the next "
        "pass rebuilds it from the ledger",
        seq));
}

// The ledger's holds (hold-placed and hold-released entries replayed), read under the
// HoldStoreLock: only hold commands append hold entries, and they hold that lock.
Result<service::ReplayedLedger> ledger_holds(const policy::AgentConfig& config) {
    return service::replay_ledger(config.ledger_path());
}

struct Covered {
    std::string text;  // "covers now: ..."
};

// What `hold` covers now, and whether each of its scopes (and the hold as a whole) matches
// something: a scope that matches nothing is refused (BadInput, naming it) unless
// `allow_empty`, which only warns. A hold placed on a mistyped name would cover nothing
// and say nothing, and the file would go with the next pass.
Result<Covered> check_coverage(const policy::AgentConfig& config, const service::Hold& hold,
                               bool allow_empty) {
    auto schedules = policy::load_schedules({config.policies});
    if (!schedules) {
        if (!allow_empty) {
            return fail(schedules.error().with_context(
                "cannot check what the hold covers (the schedules give clients and matters); "
                "fix them, or give --allow-empty to place it unchecked"));
        }
        util::log_warning("hold {}: not checked against the files (schedules: {})", hold.id,
                          schedules.error().message());
        return Covered{"covers now: not checked (the schedules could not be loaded)"};
    }
    auto coverage = service::hold_coverage(config, *schedules, hold, clock_now());
    if (!coverage) return fail(coverage.error());
    std::vector<std::string> empty;
    for (const auto& scope : coverage->scopes) {
        if (scope.matches_nothing()) empty.push_back(scope.scope);
    }
    if (empty.empty() && coverage->files.files == 0 && coverage->archived.files == 0 &&
        coverage->scopes.size() > 1) {
        // Each scope matches something, but no file matches them all (client and matter
        // together, or either with a path).
        empty.push_back(hold.scope_text() + " together");
    }
    const std::string unread =
        coverage->unreadable_roots == 0
            ? std::string()
            : fmt::format(" ({} could not be read)",
                          util::counted(coverage->unreadable_roots, "root", "roots"));
    for (const auto& scope : empty) {
        if (allow_empty) {
            util::log_warning("hold {}: {} matches no file now{}; placed as asked "
                              "(--allow-empty): it holds such files when they arrive",
                              hold.id, scope, unread);
            continue;
        }
        return fail(ErrorKind::BadInput,
                    fmt::format("hold {} not placed: {} matches no file now in the roots or "
                                "lethe's archives{}; check the name (a --path is taken exactly "
                                "as written; --glob takes a pattern), or give --allow-empty to "
                                "place the hold before the files arrive",
                                hold.id, scope, unread));
    }
    std::string text = fmt::format("covers now: {}",
                                   util::counted(coverage->files.files, "file", "files"));
    if (coverage->files.files > 0) {
        text += fmt::format(" ({}), {} of them due and kept only by holds",
                            human_bytes(coverage->files.bytes), coverage->due);
    }
    if (coverage->archived.files > 0) {
        text += fmt::format("; {} in lethe's archives",
                            util::counted(coverage->archived.files, "copy", "copies"));
    }
    return Covered{std::move(text)};
}

int hold_add(const std::string& config_path, const HoldOptions& o) {
    auto config = load_state_config(config_path);
    if (!config) return report(config.error());
    if (!valid_id(o.id)) {
        util::log_error("hold id '{}': use letters, digits, '.', '-' and '_' (at most 128)", o.id);
        return kExitBadInput;
    }
    if (o.paths.empty() && o.globs.empty() && o.client.empty() && o.matter.empty()) {
        util::log_error("a hold needs what it covers: --path, --glob, --client or --matter");
        return kExitBadInput;
    }
    service::Hold hold;
    hold.id = o.id;
    hold.reason = o.reason;
    hold.placed_by = o.by.empty() ? current_user() : o.by;
    const util::TimePoint now = clock_now();
    hold.placed_at = util::format_timestamp(now);
    if (!o.client.empty()) hold.client = o.client;
    if (!o.matter.empty()) hold.matter = o.matter;
    for (const auto& [texts, literal] : {std::pair{&o.paths, true}, std::pair{&o.globs, false}}) {
        for (const auto& text : *texts) {
            auto p = hold_path(*config, text, literal);
            if (!p) return report(p.error());
            auto glob = util::Glob::compile(p->glob);
            if (!glob) return report(glob.error());
            hold.compiled.push_back(std::move(*glob));
            hold.paths.push_back(std::move(*p));
        }
    }
    if (!o.until.empty()) {
        auto until = util::parse_date(o.until);
        if (!until) return report(until.error().with_context("--until"));
        hold.until = *until;
    }
    bool replaced = false;
    // What it covers now, before anything is recorded: a scope that matches nothing is
    // refused unless --allow-empty says the hold is meant to come before the files.
    auto coverage = check_coverage(*config, hold, o.allow_empty);
    if (!coverage) return report(coverage.error());
    {
        auto lock = service::HoldStoreLock::acquire(config->state_dir);
        if (!lock) return report(lock.error());
        auto set = service::load_holds(config->state_dir);
        if (!set) return report(set.error());
        if (set->find(hold.id) != nullptr) {
            // A hold only in holds.json (no ledger entry: nobody known placed it) is placed
            // properly by this command; any other id is never reused.
            auto replayed = ledger_holds(*config);
            if (!replayed) return report(replayed.error());
            if (replayed->holds.count(hold.id) > 0) {
                util::log_error(
                    "hold {} already exists (ids are never reused, even after release)",
                    hold.id);
                return kExitBadInput;
            }
            replaced = true;
        }
        auto seq = append_to_ledger(*config, service::hold_placed_entry(hold, now));
        if (!seq) return report(not_recorded(seq.error()));
        hold.placed_seq = *seq;
        std::erase_if(set->holds, [&](const service::Hold& h) { return h.id == hold.id; });
        set->holds.push_back(hold);
        if (auto st = service::save_holds(config->state_dir, *set); !st) {
            return report(store_not_written(st.error(), *seq));
        }
    }
    service::EventFields fields;
    service::log_event(util::LogLevel::Info, service::Event::HoldChanged, fields,
                       fmt::format("hold {} placed by {}: {} ({})", hold.id, hold.placed_by,
                                   hold.scope_text(), hold.reason));
    print_line(
        fmt::format("hold {} placed: {}{}", hold.id, hold.scope_text(),
                    hold.until ? fmt::format(", until {}", util::format_date(*hold.until)) : ""));
    print_line(coverage->text);
    print_line(fmt::format("ledger entry {}", *hold.placed_seq));
    if (replaced) {
        print_line(fmt::format("it replaces hold {} that was in holds.json but not in the ledger",
                               hold.id));
    }
    return kExitOk;
}

// Releases a hold only in holds.json: the ledger records who released it and the hold as
// the store had it (it has no hold-placed entry to point to), and the store drops it.
Result<uint64_t> release_unledgered(const policy::AgentConfig& config, service::HoldSet& set,
                                    service::Hold& hold, const HoldOptions& o,
                                    util::TimePoint now) {
    nlohmann::json found = service::hold_placed_entry(hold, now)["hold"];
    hold.released = true;
    hold.released_by = o.by;
    hold.released_at = util::format_timestamp(now);
    hold.release_reason = o.reason;
    hold.placed_seq.reset();
    nlohmann::json payload = service::hold_released_entry(hold, now);
    payload["not_in_ledger"] = {{"found_in", "holds.json"}, {"hold", found}};
    auto seq = append_to_ledger(config, std::move(payload));
    if (!seq) return fail(not_recorded(seq.error()));
    const std::string id = hold.id;
    std::erase_if(set.holds, [&](const service::Hold& h) { return h.id == id; });
    if (auto st = service::save_holds(config.state_dir, set); !st) {
        return fail(store_not_written(st.error(), *seq));
    }
    return *seq;
}

int hold_release(const std::string& config_path, const HoldOptions& o) {
    auto config = load_state_config(config_path);
    if (!config) return report(config.error());
    uint64_t released_seq = 0;
    {
        auto lock = service::HoldStoreLock::acquire(config->state_dir);
        if (!lock) return report(lock.error());
        auto set = service::load_holds(config->state_dir);
        if (!set) return report(set.error());
        service::Hold* hold = set->find(o.id);
        if (hold == nullptr) {
            util::log_error("no hold {}", o.id);
            return kExitBadInput;
        }
        auto replayed = ledger_holds(*config);
        if (!replayed) return report(replayed.error());
        const util::TimePoint now = clock_now();
        auto in_ledger = replayed->holds.find(o.id);
        if (in_ledger == replayed->holds.end()) {
            auto seq = release_unledgered(*config, *set, *hold, o, now);
            if (!seq) return report(seq.error());
            service::log_event(util::LogLevel::Info, service::Event::HoldChanged, {},
                               fmt::format("hold {} (in holds.json, not in the ledger) released "
                                           "by {}: {}",
                                           o.id, o.by, o.reason));
            print_line(fmt::format("hold {} was in holds.json but not in the ledger; released and "
                                   "removed from holds.json",
                                   o.id));
            print_line(fmt::format("ledger entry {}", *seq));
            return kExitOk;
        }
        // The hold as the ledger has it, whatever the store says: the ledger decides.
        auto recorded = service::Hold::from_json(in_ledger->second);
        if (!recorded) return report(recorded.error());
        *hold = std::move(*recorded);
        if (hold->released) {
            util::log_error("hold {} was already released by {} at {}", o.id, hold->released_by,
                            hold->released_at);
            return kExitBadInput;
        }
        hold->released = true;
        hold->released_by = o.by;
        hold->released_at = util::format_timestamp(now);
        hold->release_reason = o.reason;
        auto seq = append_to_ledger(*config, service::hold_released_entry(*hold, now));
        if (!seq) return report(not_recorded(seq.error()));
        hold->released_seq = *seq;
        released_seq = *seq;
        if (auto st = service::save_holds(config->state_dir, *set); !st) {
            return report(store_not_written(st.error(), *seq));
        }
    }
    service::EventFields fields;
    service::log_event(util::LogLevel::Info, service::Event::HoldChanged, fields,
                       fmt::format("hold {} released by {}: {}", o.id, o.by, o.reason));
    print_line(
        fmt::format("hold {} released; files it kept are disposed of by the next pass "
                    "if no other hold covers them and they are due",
                    o.id));
    print_line(fmt::format("ledger entry {}", released_seq));
    return kExitOk;
}

std::string state_of(const service::Hold& h, util::Date today) {
    if (h.released) return "released";
    return h.active_on(today) ? "active" : "lapsed";
}

// A hold's state is shown as of today in UTC; for the files of a schedule in another zone it
// may already have lapsed (east of UTC) or still be active (west): those zones and the state
// there. Schedules that cannot be loaded are left out (nothing is disposed of then).
std::vector<std::pair<std::string, std::string>> states_elsewhere(
    const service::Hold& h, const std::vector<policy::RetentionSchedule>& schedules,
    util::TimePoint now) {
    std::vector<std::pair<std::string, std::string>> out;
    std::string in_utc = state_of(h, util::date_of(now));
    for (const auto& s : schedules) {
        std::string there = state_of(h, s.zone.local_date(now));
        bool listed = std::any_of(out.begin(), out.end(),
                                  [&](const auto& z) { return z.first == s.zone.name(); });
        if (there != in_utc && !listed) out.emplace_back(s.zone.name(), there);
    }
    return out;
}

// The schedules for states_elsewhere(); none when they cannot be loaded.
std::vector<policy::RetentionSchedule> schedules_if_readable(const policy::AgentConfig& config) {
    auto loaded = policy::load_schedules({config.policies});
    if (!loaded) return {};
    return std::move(*loaded);
}

Result<util::TimePoint> hold_time(const HoldOptions& o) {
    if (o.now.empty()) return clock_now();
    return current_time(o.now);
}

int hold_list(const std::string& config_path, const HoldOptions& o) {
    auto config = load_state_config(config_path);
    if (!config) return report(config.error());
    auto set = service::load_holds(config->state_dir);
    if (!set) return report(set.error());
    auto now = hold_time(o);
    if (!now) return report(now.error());
    util::Date today = util::date_of(*now);
    auto schedules = schedules_if_readable(*config);
    if (!o.json) {
        print_line(
            fmt::format("{:<20} {:<9} {:<20} {:<16} {}", "ID", "STATE", "PLACED", "BY", "COVERS"));
    }
    for (const auto& h : set->holds) {
        if (h.released && !o.all) continue;
        auto elsewhere = states_elsewhere(h, schedules, *now);
        if (o.json) {
            nlohmann::json j = h.to_json();
            j["state"] = state_of(h, today);
            if (!elsewhere.empty()) {
                nlohmann::json by_zone = nlohmann::json::object();
                for (const auto& [zone, state] : elsewhere) by_zone[zone] = state;
                j["state_by_zone"] = by_zone;
            }
            print_json_line(j.dump());
            continue;
        }
        print_line(fmt::format("{:<20} {:<9} {:<20} {:<16} {}  ({})", h.id, state_of(h, today),
                               h.placed_at, h.placed_by, h.scope_text(), h.reason));
        for (const auto& [zone, state] : elsewhere) {
            print_line(fmt::format("{:<20} {} for files of schedules in {} (dates there)", "",
                                   state, zone));
        }
    }
    return kExitOk;
}

int hold_show(const std::string& config_path, const HoldOptions& o) {
    auto loaded = load_all(config_path);
    if (!loaded) return report(loaded.error());
    auto set = service::load_holds(loaded->config.state_dir);
    if (!set) return report(set.error());
    const service::Hold* hold = set->find(o.id);
    if (hold == nullptr) {
        util::log_error("no hold {}", o.id);
        return kExitBadInput;
    }
    auto when = hold_time(o);
    if (!when) return report(when.error());
    util::TimePoint now = *when;
    util::Date today = util::date_of(now);
    print_line(fmt::format("hold {} ({})", hold->id, state_of(*hold, today)));
    for (const auto& [zone, state] : states_elsewhere(*hold, loaded->schedules, now)) {
        print_line(fmt::format("  {} for files of schedules in {} (dates there)", state, zone));
    }
    print_line(fmt::format("  reason:  {}", hold->reason));
    print_line(fmt::format("  covers:  {}", hold->scope_text()));
    print_line(fmt::format("  placed:  {} by {}{}", hold->placed_at, hold->placed_by,
                           hold->placed_seq ? fmt::format(" (ledger entry {})", *hold->placed_seq)
                                            : " (not in the ledger)"));
    if (hold->until) print_line(fmt::format("  until:   {}", util::format_date(*hold->until)));
    if (hold->released) {
        print_line(fmt::format("  released: {} by {}: {}{}", hold->released_at, hold->released_by,
                               hold->release_reason,
                               hold->released_seq
                                   ? fmt::format(" (ledger entry {})", *hold->released_seq)
                                   : " (not in the ledger)"));
    }
    // What it covers now: the roots walked as a pass would, with the schedules' captures and
    // the same lookups (event markers, pin and event attributes, content types).
    auto coverage = service::hold_coverage(loaded->config, loaded->schedules, *hold, now);
    if (!coverage) return report(coverage.error());
    print_line(fmt::format("  now:     {} ({}, {}), {} of them due and kept only by holds",
                           util::counted(coverage->files.files, "file", "files"),
                           human_bytes(coverage->files.bytes),
                           util::counted(coverage->files.bytes, "byte", "bytes"), coverage->due));
    print_line(fmt::format("  archived: {} ({}, {}) in {}, {} of them expired and kept only "
                           "by holds",
                           util::counted(coverage->archived.files, "copy", "copies"),
                           human_bytes(coverage->archived.bytes),
                           util::counted(coverage->archived.bytes, "byte", "bytes"),
                           util::counted(coverage->archives, "archive", "archives"),
                           coverage->expired));
    return kExitOk;
}

}  // namespace

void add_hold_commands(CLI::App& app, CommandContext& context) {
    auto o = std::make_shared<HoldOptions>();
    CLI::App* hold = app.add_subcommand("hold", "legal holds: nothing they cover is disposed of");
    hold->require_subcommand(1);

    CLI::App* add = hold->add_subcommand("add", "place a hold");
    context.add_config_option(add);
    add->add_option("id", o->id, "hold id (letters, digits, . - _)")->required();
    add->add_option("--reason", o->reason, "why (the matter, the proceeding)")->required();
    add->add_option("--path", o->paths,
                    "a file or folder, relative to the roots or absolute in one root, taken "
                    "exactly as written (no pattern characters); a folder covers everything "
                    "below it");
    add->add_option("--glob", o->globs,
                    "a pattern relative to the roots (or absolute in one root): * ? [...] ** "
                    "{name} as in schedules; a matching folder covers everything below it");
    add->add_flag("--allow-empty", o->allow_empty,
                  "place the hold even when a scope matches no file now (before the files "
                  "arrive)");
    add->add_option("--client", o->client, "every file of this client");
    add->add_option("--matter", o->matter, "every file of this matter");
    add->add_option("--until", o->until, "the hold lapses after this day (YYYY-MM-DD)");
    add->add_option("--by", o->by, "who places it (default: the user running lethe)");
    add->callback(
        [&context, o] { context.chosen = [&context, o] { return hold_add(context.config, *o); }; });

    CLI::App* list = hold->add_subcommand("list", "list the holds in force");
    context.add_config_option(list);
    list->add_flag("--json", o->json, "one JSON object per hold");
    list->add_flag("--all", o->all, "also released holds");
#ifdef LETHE_TEST_HOOKS
    list->add_option("--now", o->now, "TEST BUILD ONLY: as of this time");
#endif
    list->callback([&context, o] {
        context.chosen = [&context, o] { return hold_list(context.config, *o); };
    });

    CLI::App* show = hold->add_subcommand("show", "a hold and what it covers now");
    context.add_config_option(show);
    show->add_option("id", o->id, "hold id")->required();
#ifdef LETHE_TEST_HOOKS
    show->add_option("--now", o->now, "TEST BUILD ONLY: as of this time");
#endif
    show->callback([&context, o] {
        context.chosen = [&context, o] { return hold_show(context.config, *o); };
    });

    CLI::App* release = hold->add_subcommand("release", "release a hold");
    context.add_config_option(release);
    release->add_option("id", o->id, "hold id")->required();
    release->add_option("--reason", o->reason, "why it ends")->required();
    release->add_option("--by", o->by, "who releases it")->required();
    release->callback([&context, o] {
        context.chosen = [&context, o] { return hold_release(context.config, *o); };
    });
}

}  // namespace lethe::cli

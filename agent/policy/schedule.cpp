#include "agent/policy/schedule.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <set>

#include <boost/filesystem.hpp>
#include <fmt/format.h>

#include "agent/policy/toml_reader.hpp"
#include "agent/util/fs.hpp"
#include "agent/util/sha256.hpp"

namespace lethe::policy {

std::string_view to_string(Action action) {
    switch (action) {
        case Action::Delete: return "delete";
        case Action::Sanitize: return "sanitize";
        case Action::Encrypt: return "encrypt";
        case Action::Archive: return "archive";
        case Action::Review: return "review";
    }
    return "review";
}

std::string_view to_string(Trigger trigger) {
    switch (trigger) {
        case Trigger::Modified: return "modified";
    }
    return "modified";
}

std::string_view to_string(Mode mode) { return mode == Mode::Enforce ? "enforce" : "observe"; }

namespace {

using detail::TableReader;

// Actions this version of lethe can carry out. A schedule naming another action is refused
// as a whole, so that nothing is disposed under a schedule lethe only half understands.
Result<Action> parse_action(TableReader& reader) {
    auto text = reader.string("action");
    if (!text) return fail(text.error());
    if (!text->has_value()) {
        return fail(reader.error_at("action", "'action' is required (sanitize or delete)"));
    }
    const std::string& a = **text;
    if (a == "sanitize") return Action::Sanitize;
    if (a == "delete") return Action::Delete;
    if (a == "archive") return Action::Archive;  // issue 6
    if (a == "encrypt") return Action::Encrypt;  // issue 6
    if (a == "review") {
        return fail(reader.error_at(
            "action", fmt::format("action '{}' is not supported by this version of lethe "
                                  "(supported: archive, encrypt, sanitize, delete)",
                                  a)));
    }
    return fail(reader.error_at(
        "action",
        fmt::format("unknown action '{}' (expected archive, encrypt, sanitize or delete)", a)));
}

Result<Trigger> parse_trigger(TableReader& reader) {
    auto text = reader.string("trigger");
    if (!text) return fail(text.error());
    if (!text->has_value() || **text == "modified") return Trigger::Modified;
    return fail(reader.error_at(
        "trigger", fmt::format("trigger '{}' is not supported by this version of lethe "
                               "(supported: modified)",
                               **text)));
}

Result<Category> parse_category(const toml::table& table, const std::string& file,
                                size_t index) {
    TableReader reader(table, file, fmt::format("category #{}", index + 1));
    Category c;
    auto id = reader.required_string("id");
    if (!id) return fail(id.error());
    c.id = *id;
    TableReader named(table, file, fmt::format("category '{}'", c.id));
    named.node("id");

    auto description = named.string("description");
    if (!description) return fail(description.error());
    c.description = description->value_or("");
    auto mandate = named.string("mandate");
    if (!mandate) return fail(mandate.error());
    c.mandate = mandate->value_or("");

    auto paths = named.string_array("paths");
    if (!paths) return fail(paths.error());
    for (const auto& p : *paths) {
        auto glob = util::Glob::compile(p);
        if (!glob) return fail(named.error_at("paths", glob.error().message()));
        c.paths.push_back(std::move(*glob));
    }

    auto extensions = named.string_array("extensions");
    if (!extensions) return fail(extensions.error());
    for (auto ext : *extensions) {
        if (!ext.empty() && ext.front() == '.') ext.erase(0, 1);
        if (ext.empty() || ext.find('/') != std::string::npos) {
            return fail(named.error_at("extensions", fmt::format("bad extension '{}'", ext)));
        }
        std::transform(ext.begin(), ext.end(), ext.begin(),
                       [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
        c.extensions.push_back(ext);
    }

    auto retain = named.string("retain");
    if (!retain) return fail(retain.error());
    if (!retain->has_value()) {
        return fail(named.error_at("retain", "'retain' is required (e.g. \"7y\")"));
    }
    auto retention = Retention::parse(**retain);
    if (!retention) return fail(named.error_at("retain", retention.error().message()));
    c.retain = *retention;

    auto trigger = parse_trigger(named);
    if (!trigger) return fail(trigger.error());
    c.trigger = *trigger;

    auto action = parse_action(named);
    if (!action) return fail(action.error());
    c.action = *action;

    // issue 6: `encrypt = true` makes an archive category write .tar.zst.age archives.
    auto encrypt = named.boolean("encrypt");
    if (!encrypt) return fail(encrypt.error());
    c.encrypt = encrypt->value_or(false);
    if (c.encrypt && c.action != Action::Archive) {
        return fail(named.error_at("encrypt", "'encrypt = true' applies to action = \"archive\""));
    }

    if (auto st = named.check_no_unknown_keys(); !st) return fail(st.error());
    return c;
}

}  // namespace

Result<RetentionSchedule> parse_schedule(std::string_view toml_text,
                                         const std::string& source_name) {
    auto doc = detail::parse_toml(toml_text, source_name);
    if (!doc) return fail(doc.error());

    TableReader top(*doc, source_name, "schedule file");
    RetentionSchedule s;
    s.source_path = source_name;
    s.sha256 = util::sha256_hex(toml_text);

    const toml::node* header = top.node("schedule");
    if (header == nullptr || !header->is_table()) {
        return fail(top.error_at("schedule", "a [schedule] table with id and version is required"));
    }
    TableReader sched(*header->as_table(), source_name, "[schedule]");
    auto id = sched.required_string("id");
    if (!id) return fail(id.error());
    s.id = *id;
    auto version = sched.integer("version");
    if (!version) return fail(version.error());
    if (!version->has_value() || **version < 1) {
        return fail(sched.error_at("version", "'version' is required, a positive integer"));
    }
    s.version = **version;
    auto approved = sched.string("approved_by");
    if (!approved) return fail(approved.error());
    s.approved_by = approved->value_or("");
    auto mode = sched.string("mode");
    if (!mode) return fail(mode.error());
    if (!mode->has_value() || **mode == "observe") {
        s.mode = Mode::Observe;
    } else if (**mode == "enforce") {
        s.mode = Mode::Enforce;
    } else {
        return fail(sched.error_at(
            "mode", fmt::format("unknown mode '{}' (expected observe or enforce)", **mode)));
    }
    if (auto st = sched.check_no_unknown_keys(); !st) return fail(st.error());

    const toml::node* cats = top.node("category");
    if (cats == nullptr) {
        return fail(top.error_at("category", "no [[category]] tables: the schedule is empty"));
    }
    const toml::array* arr = cats->as_array();
    if (arr == nullptr || !arr->is_array_of_tables()) {
        return fail(top.error_at("category", "'category' must be written as [[category]] tables"));
    }
    std::set<std::string> ids;
    for (size_t i = 0; i < arr->size(); ++i) {
        auto c = parse_category(*arr->get(i)->as_table(), source_name, i);
        if (!c) return fail(c.error());
        if (!ids.insert(c->id).second) {
            return fail(ErrorKind::BadInput,
                        fmt::format("{}: category id '{}' is used twice",
                                    detail::location(source_name, arr->get(i)->source()), c->id));
        }
        s.categories.push_back(std::move(*c));
    }
    if (auto st = top.check_no_unknown_keys(); !st) return fail(st.error());
    return s;
}

Result<std::vector<std::string>> schedule_files(const std::vector<std::string>& paths) {
    namespace fs = boost::filesystem;
    std::vector<std::string> files;
    for (const auto& p : paths) {
        boost::system::error_code ec;
        auto st = fs::symlink_status(p, ec);
        if (ec) {
            return fail(ErrorKind::BadInput, fmt::format("{}: {}", p, ec.message()));
        }
        if (fs::is_directory(st)) {
            std::vector<std::string> found;
            for (fs::directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec)) {
                if (it->path().extension() == ".toml" &&
                    fs::is_regular_file(it->symlink_status())) {
                    found.push_back(it->path().string());
                }
            }
            if (ec) {
                return fail(ErrorKind::BadInput, fmt::format("{}: {}", p, ec.message()));
            }
            std::sort(found.begin(), found.end());
            files.insert(files.end(), found.begin(), found.end());
        } else if (fs::is_regular_file(st)) {
            files.push_back(p);
        } else {
            return fail(ErrorKind::BadInput,
                        fmt::format("{}: not a schedule file or folder (symlinks are not followed)", p));
        }
    }
    return files;
}

Result<std::vector<RetentionSchedule>> load_schedules(const std::vector<std::string>& paths) {
    auto files = schedule_files(paths);
    if (!files) return fail(files.error());
    if (files->empty()) {
        return fail(ErrorKind::BadInput,
                    "no schedule files (*.toml) found: nothing can be classified");
    }
    std::vector<RetentionSchedule> out;
    std::set<std::string> schedule_ids;
    std::set<std::string> category_ids;
    for (const auto& f : *files) {
        auto text = util::read_file(f);
        if (!text) return fail(text.error());
        auto s = parse_schedule(*text, f);
        if (!s) return fail(s.error());
        if (!schedule_ids.insert(s->id).second) {
            return fail(ErrorKind::BadInput,
                        fmt::format("{}: schedule id '{}' is already used by another file", f, s->id));
        }
        for (const auto& c : s->categories) {
            if (!category_ids.insert(c.id).second) {
                return fail(ErrorKind::BadInput,
                            fmt::format("{}: category id '{}' is already defined by another "
                                        "schedule", f, c.id));
            }
        }
        out.push_back(std::move(*s));
    }
    return out;
}

}  // namespace lethe::policy

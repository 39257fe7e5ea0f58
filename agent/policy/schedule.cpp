#include "agent/policy/schedule.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

#include <cctype>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstdint>
#include <algorithm>
#include <set>

#include <boost/filesystem.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

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
        case Trigger::Created: return "created";
        case Trigger::Accessed: return "accessed";
        case Trigger::Event: return "event";
    }
    return "modified";
}

std::string_view to_string(Mode mode) { return mode == Mode::Enforce ? "enforce" : "observe"; }

util::Date Cutoff::apply(util::Date date) const {
    using namespace std::chrono;
    if (kind == Kind::None) return date;
    year_month_day ymd{date};
    unsigned m = kind == Kind::YearEnd ? 12U : month;
    unsigned d = kind == Kind::YearEnd ? 31U : day;
    // The period ends on (m, d) of the trigger's year, or of the next year when the trigger
    // is after it. A 29 Feb year end is the last day of February in years without one.
    auto end_in = [&](year y) {
        auto last = year_month_day_last{y, month_day_last{std::chrono::month{m}}}.day();
        std::chrono::day dd{d};
        return sys_days{year_month_day{y, std::chrono::month{m}, dd > last ? last : dd}};
    };
    sys_days end = end_in(ymd.year());
    if (date > end) end = end_in(ymd.year() + years{1});
    return end;
}

std::string located(const std::string& file, SourcePosition at) {
    if (at.line == 0) return file;
    return fmt::format("{}:{}:{}", file, at.line, at.column);
}

std::string Cutoff::to_string() const {
    switch (kind) {
        case Kind::None: return "none";
        case Kind::YearEnd: return "year-end";
        case Kind::FiscalYearEnd: return fmt::format("fiscal-year-end:{:02}-{:02}", month, day);
    }
    return "none";
}

namespace {

using detail::TableReader;

constexpr std::string_view kActions = "review, archive, encrypt, sanitize or delete";

Result<Action> parse_action(TableReader& reader) {
    auto text = reader.string("action");
    if (!text) return fail(text.error());
    if (!text->has_value()) {
        return fail(reader.error_at("action", fmt::format("'action' is required ({})", kActions)));
    }
    const std::string& a = **text;
    if (a == "sanitize") return Action::Sanitize;
    if (a == "delete") return Action::Delete;
    if (a == "archive") return Action::Archive;
    if (a == "encrypt") return Action::Encrypt;
    if (a == "review") return Action::Review;
    std::set<std::string, std::less<>> known{"review", "archive", "encrypt", "sanitize", "delete"};
    std::string hint;
    if (auto guess = detail::did_you_mean(a, known)) hint = fmt::format("did you mean '{}'? ", *guess);
    return fail(reader.error_at(
        "action", fmt::format("unknown action '{}' ({}expected {})", a, hint, kActions)));
}

Result<Trigger> trigger_named(TableReader& reader, std::string_view key, std::string_view text,
                              std::string* event) {
    if (text == "modified") return Trigger::Modified;
    if (text == "created") return Trigger::Created;
    if (text == "accessed") return Trigger::Accessed;
    if (event != nullptr && text.substr(0, 6) == "event:") {
        *event = std::string(text.substr(6));
        if (event->empty()) {
            return fail(reader.error_at(key, "'event:' needs an event name, e.g. \"event:matter-closed\""));
        }
        return Trigger::Event;
    }
    std::set<std::string, std::less<>> known{"modified", "created", "accessed"};
    std::string hint;
    if (auto guess = detail::did_you_mean(text, known)) hint = fmt::format("did you mean '{}'? ", *guess);
    return fail(reader.error_at(
        key, fmt::format("unknown {} '{}' ({}expected modified, created, accessed{})", key, text,
                         hint, event != nullptr ? " or event:NAME" : "")));
}

Result<Cutoff> parse_cutoff(TableReader& reader) {
    auto text = reader.string("cutoff");
    if (!text) return fail(text.error());
    Cutoff c;
    if (!text->has_value() || **text == "none") return c;
    const std::string& t = **text;
    if (t == "year-end") {
        c.kind = Cutoff::Kind::YearEnd;
        return c;
    }
    constexpr std::string_view kFiscal = "fiscal-year-end:";
    if (t.rfind(kFiscal, 0) == 0) {
        auto md = std::string_view(t).substr(kFiscal.size());
        unsigned m = 0;
        unsigned d = 0;
        if (md.size() == 5 && md[2] == '-' &&
            std::from_chars(md.data(), md.data() + 2, m).ptr == md.data() + 2 &&
            std::from_chars(md.data() + 3, md.data() + 5, d).ptr == md.data() + 5 && m >= 1 &&
            m <= 12 && d >= 1 &&
            std::chrono::year_month_day{std::chrono::year{2024}, std::chrono::month{m},
                                        std::chrono::day{d}}
                .ok()) {
            c.kind = Cutoff::Kind::FiscalYearEnd;
            c.month = m;
            c.day = d;
            return c;
        }
        return fail(reader.error_at(
            "cutoff", fmt::format("bad fiscal year end in '{}' (expected fiscal-year-end:MM-DD, "
                                  "e.g. fiscal-year-end:03-31)",
                                  t)));
    }
    return fail(reader.error_at(
        "cutoff", fmt::format("unknown cutoff '{}' (expected year-end, fiscal-year-end:MM-DD or none)", t)));
}

// The top-level media types of the IANA registry: a typo there would silently match nothing.
const std::set<std::string, std::less<>>& media_types() {
    static const std::set<std::string, std::less<>> kTypes{
        "application", "audio", "font", "haptics", "image", "message",
        "model",       "multipart", "text", "video"};
    return kTypes;
}

bool is_token(std::string_view part) {
    // RFC 6838 restricted-name: a letter or digit, then letters, digits and !#$&-^_.+
    if (part.empty() || part.size() > 127 || std::isalnum(static_cast<unsigned char>(part.front())) == 0) {
        return false;
    }
    return std::all_of(part.begin(), part.end(), [](unsigned char ch) {
        return std::isalnum(ch) != 0 || std::string_view("!#$&-^_.+").find(static_cast<char>(ch)) != std::string_view::npos;
    });
}

// One entry of `mime`: "type/subtype" or "type/*", lowercased; an error says what is wrong.
// `at` is the array element, for the error's line and column.
Result<std::string> parse_mime(TableReader& reader, std::string text, const toml::node& at) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    auto bad = [&](std::string_view why) {
        return fail(reader.error_at_node(at, fmt::format("bad MIME type '{}': {}", text, why)));
    };
    if (text.find(';') != std::string::npos) {
        return bad("parameters such as charset are not matched; write the type alone, e.g. 'text/plain'");
    }
    auto slash = text.find('/');
    if (slash == std::string::npos) {
        return bad("expected type/subtype, e.g. 'application/pdf' or 'image/*' (for file name "
                   "extensions use 'extensions')");
    }
    std::string_view type = std::string_view(text).substr(0, slash);
    std::string_view subtype = std::string_view(text).substr(slash + 1);
    if (type == "*") return bad("'*/*' matches every readable file: leave 'mime' out instead");
    if (!is_token(type)) return bad("the type before '/' must be a name such as 'application' or 'image'");
    if (media_types().count(type) == 0) {
        std::string hint;
        if (auto guess = detail::did_you_mean(type, media_types())) {
            hint = fmt::format("did you mean '{}/{}'? ", *guess, subtype);
        }
        return bad(fmt::format("unknown type '{}' ({}expected one of {})", type, hint,
                               fmt::join(media_types(), ", ")));
    }
    if (subtype != "*" && !is_token(subtype)) {
        return bad("the subtype after '/' must be a name such as 'pdf', or '*' for every subtype");
    }
    return text;
}

Result<std::optional<uint64_t>> parse_size(TableReader& reader, std::string_view key) {
    const toml::node* n = reader.node(key);
    if (n == nullptr) return std::optional<uint64_t>{};
    if (auto i = n->value<int64_t>(); i && n->is_integer()) {
        if (*i < 0) return fail(reader.error_at(key, fmt::format("'{}' must not be negative", key)));
        return std::optional<uint64_t>{static_cast<uint64_t>(*i)};
    }
    if (!n->is_string()) {
        return fail(reader.error_at(key, fmt::format("'{}' must be a number of bytes or a string such as \"10MiB\"", key)));
    }
    std::string_view t = *n->value<std::string_view>();
    uint64_t value = 0;
    auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
    std::string_view unit(ptr, static_cast<size_t>(t.data() + t.size() - ptr));
    static const std::pair<std::string_view, uint64_t> kUnits[] = {
        {"", 1},          {"B", 1},           {"KiB", 1ULL << 10}, {"MiB", 1ULL << 20},
        {"GiB", 1ULL << 30}, {"TiB", 1ULL << 40}, {"kB", 1000},      {"MB", 1000000},
        {"GB", 1000000000}, {"TB", 1000000000000}};
    if (ec == std::errc{} && ptr != t.data()) {
        for (const auto& [name, factor] : kUnits) {
            if (unit == name && value <= UINT64_MAX / factor) {
                return std::optional<uint64_t>{value * factor};
            }
        }
    }
    return fail(reader.error_at(
        key, fmt::format("bad size '{}' (expected bytes or a number with B, KiB, MiB, GiB, TiB, "
                         "kB, MB, GB or TB)",
                         t)));
}

// Owners or groups: names (resolved on this host) or numeric ids.
Result<std::vector<uint32_t>> parse_ids(TableReader& reader, std::string_view key, bool users) {
    std::vector<uint32_t> out;
    const toml::node* n = reader.node(key);
    if (n == nullptr) return out;
    const toml::array* arr = n->as_array();
    if (arr == nullptr) {
        return fail(reader.error_at(key, fmt::format("'{}' must be an array of names or numeric ids", key)));
    }
    for (const toml::node& item : *arr) {
        if (item.is_integer()) {
            int64_t v = *item.value<int64_t>();
            if (v < 0 || v > UINT32_MAX) {
                return fail(reader.error_at_node(item, fmt::format("'{}': id {} is out of range", key, v)));
            }
            out.push_back(static_cast<uint32_t>(v));
            continue;
        }
        if (!item.is_string()) {
            return fail(reader.error_at_node(item, fmt::format("'{}' must contain names or numeric ids", key)));
        }
        std::string name(*item.value<std::string_view>());
        std::vector<char> buffer(16384);
        int rc = 0;
        if (users) {
            struct passwd pw {};
            struct passwd* found = nullptr;
            rc = ::getpwnam_r(name.c_str(), &pw, buffer.data(), buffer.size(), &found);
            if (rc == 0 && found != nullptr) {
                out.push_back(found->pw_uid);
                continue;
            }
        } else {
            struct group gr {};
            struct group* found = nullptr;
            rc = ::getgrnam_r(name.c_str(), &gr, buffer.data(), buffer.size(), &found);
            if (rc == 0 && found != nullptr) {
                out.push_back(found->gr_gid);
                continue;
            }
        }
        return fail(reader.error_at_node(
            item, fmt::format("'{}': no {} named '{}' on this host", key, users ? "user" : "group", name)));
    }
    return out;
}

// Collects errors instead of stopping at the first: `policy check` reports them all.
struct Collector {
    std::vector<std::string> errors;
    template <typename T>
    bool ok(const Result<T>& r) {
        if (!r) errors.push_back(r.error().message());
        return static_cast<bool>(r);
    }
    void unknown(const TableReader& reader) {
        for (const auto& e : reader.unknown_keys()) errors.push_back(e.message());
    }
};

// `review = true` beside an action, and `review_action` for action = "review". Called after
// the action was read; `action_known` is false when it could not be.
void parse_review(TableReader& r, Category& c, bool action_known, Collector& out) {
    if (auto v = r.boolean("review"); out.ok(v) && v->has_value()) {
        c.review = **v;
        if (!c.review && action_known && c.action == Action::Review) {
            out.errors.push_back(
                r.error_at("review", "'review = false' contradicts action = \"review\"").message());
        }
    }
    auto text = r.string("review_action");
    if (!out.ok(text) || !text->has_value()) return;
    if (!action_known) return;
    if (c.action != Action::Review) {
        out.errors.push_back(
            r.error_at("review_action",
                       fmt::format("'review_action' applies to action = \"review\"; with "
                                   "action = \"{}\" and review = true, approval carries out {}",
                                   to_string(c.action), to_string(c.action)))
                .message());
        return;
    }
    const std::string& a = **text;
    if (a == "archive") {
        c.review_action = Action::Archive;
    } else if (a == "encrypt") {
        c.review_action = Action::Encrypt;
    } else if (a == "sanitize") {
        c.review_action = Action::Sanitize;
    } else if (a == "delete") {
        c.review_action = Action::Delete;
    } else {
        std::set<std::string, std::less<>> known{"archive", "encrypt", "sanitize", "delete"};
        std::string hint;
        if (auto guess = detail::did_you_mean(a, known)) {
            hint = fmt::format("did you mean '{}'? ", *guess);
        }
        out.errors.push_back(
            r.error_at("review_action",
                       fmt::format("unknown review_action '{}' ({}expected archive, encrypt, "
                                   "sanitize or delete: what approval of a due file carries out)",
                                   a, hint))
                .message());
    }
}

SourcePosition position_of(const toml::node& node) {
    return {node.source().begin.line, node.source().begin.column};
}

// Element `i` of the array under `key`, which string_array() has read: errors about one
// value point at that value, not at the start of its list.
const toml::node& element(TableReader& r, std::string_view key, size_t i) {
    return *r.node(key)->as_array()->get(i);
}

// An empty matcher list is refused: it matches every file, not none, and a records manager
// who writes `paths = []` while a list is being drafted would dispose of a whole share.
// Leaving the key out is how to say "any".
void refuse_empty_matchers(TableReader& r, Collector& out) {
    struct Matcher {
        std::string_view key;
        std::string_view any;     // "remove the key to match any ..."
        std::string_view values;  // "or list the ..."
    };
    static constexpr Matcher kMatchers[] = {
        {"paths", "path", "path patterns"},
        {"extensions", "extension", "extensions"},
        {"mime", "content type", "content types"},
        {"owners", "owner", "owners"},
        {"groups", "group", "groups"},
    };
    for (const Matcher& m : kMatchers) {
        const toml::node* n = r.node(m.key);
        const toml::array* list = n != nullptr ? n->as_array() : nullptr;
        if (list == nullptr || !list->empty()) continue;
        out.errors.push_back(
            r.error_at(m.key, fmt::format("'{}' is empty: an empty list would match every file, "
                                          "not none; remove the key to match any {}, or list "
                                          "the {}",
                                          m.key, m.any, m.values))
                .message());
    }
}

// One entry of `paths`: a pattern that can match some path, with only the captures lethe
// defines. `at` is the array element, for the error's line and column.
std::optional<util::Glob> parse_path_pattern(TableReader& r, const std::string& p,
                                             const toml::node& at, Collector& out) {
    // Before compiling: "/san/**" should get the same advice as "./san/**".
    if (auto never = util::unmatchable(p)) {
        out.errors.push_back(
            r.error_at_node(at, fmt::format("path pattern '{}', column {}: can never match: {}{}",
                                            p, never->column, never->why,
                                            never->instead.empty()
                                                ? std::string()
                                                : fmt::format("; write '{}' instead", never->instead)))
                .message());
        return std::nullopt;
    }
    auto glob = util::Glob::compile(p);
    if (!glob) {
        out.errors.push_back(r.error_at_node(at, glob.error().message()).message());
        return std::nullopt;
    }
    bool ok = true;
    for (const auto& name : glob->capture_names()) {
        if (name == "client" || name == "matter") continue;
        std::set<std::string, std::less<>> known{"client", "matter"};
        auto guess = detail::did_you_mean(name, known);
        out.errors.push_back(
            r.error_at_node(at, fmt::format("capture '{{{}}}' in '{}' is not defined (lethe "
                                            "defines {{client}} and {{matter}}){}",
                                            name, p,
                                            guess ? fmt::format("; did you mean '{{{}}}'?", *guess)
                                                  : std::string()))
                .message());
        ok = false;
    }
    if (!ok) return std::nullopt;
    return std::move(*glob);
}

// Parses one [[category]]. Each matcher is checked independently so that one mistake
// does not hide the next.
std::optional<Category> parse_category(const toml::table& table, const std::string& file,
                                       size_t index, Collector& out) {
    TableReader anonymous(table, file, fmt::format("category #{}", index + 1));
    Category c;
    c.line = table.source().begin.line;
    auto id = anonymous.required_string("id");
    if (!out.ok(id)) return std::nullopt;
    c.id = *id;
    TableReader r(table, file, fmt::format("category '{}'", c.id));
    c.id_at = position_of(*r.node("id"));
    size_t errors_before = out.errors.size();

    if (auto v = r.string("description"); out.ok(v)) c.description = v->value_or("");
    if (auto v = r.string("mandate"); out.ok(v)) c.mandate = v->value_or("");

    refuse_empty_matchers(r, out);
    if (auto paths = r.string_array("paths"); out.ok(paths)) {
        for (size_t i = 0; i < paths->size(); ++i) {
            if (auto glob = parse_path_pattern(r, (*paths)[i], element(r, "paths", i), out)) {
                c.paths.push_back(std::move(*glob));
            }
        }
    }

    if (auto extensions = r.string_array("extensions"); out.ok(extensions)) {
        for (size_t i = 0; i < extensions->size(); ++i) {
            std::string ext = std::move((*extensions)[i]);
            if (!ext.empty() && ext.front() == '.') ext.erase(0, 1);
            if (ext.empty() || ext.find('/') != std::string::npos) {
                out.errors.push_back(
                    r.error_at_node(element(r, "extensions", i), fmt::format("bad extension '{}'", ext))
                        .message());
                continue;
            }
            std::transform(ext.begin(), ext.end(), ext.begin(),
                           [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
            c.extensions.push_back(ext);
        }
    }
    if (auto types = r.string_array("mime"); out.ok(types)) {
        for (size_t i = 0; i < types->size(); ++i) {
            auto m = parse_mime(r, std::move((*types)[i]), element(r, "mime", i));
            if (out.ok(m)) c.mime.push_back(std::move(*m));
        }
    }
    if (auto v = parse_size(r, "min_size"); out.ok(v)) c.min_size = *v;
    if (auto v = parse_size(r, "max_size"); out.ok(v)) c.max_size = *v;
    if (c.min_size && c.max_size && *c.min_size > *c.max_size) {
        out.errors.push_back(r.error_at("min_size", "'min_size' is larger than 'max_size': nothing can match").message());
    }
    if (auto v = parse_ids(r, "owners", true); out.ok(v)) c.owners = *v;
    if (auto v = parse_ids(r, "groups", false); out.ok(v)) c.groups = *v;

    if (auto retain = r.string("retain"); out.ok(retain)) {
        if (!retain->has_value()) {
            out.errors.push_back(r.error_at("retain", "'retain' is required (e.g. \"7y\" or \"permanent\")").message());
        } else if (auto retention = Retention::parse(**retain); retention) {
            c.retain = *retention;
        } else {
            out.errors.push_back(r.error_at("retain", retention.error().message()).message());
        }
    }
    if (auto v = parse_cutoff(r); out.ok(v)) c.cutoff = *v;

    if (auto text = r.string("trigger"); out.ok(text) && text->has_value()) {
        if (auto t = trigger_named(r, "trigger", **text, &c.event); out.ok(t)) c.trigger = *t;
    }
    if (auto text = r.string("created_fallback"); out.ok(text) && text->has_value()) {
        if (c.trigger != Trigger::Created) {
            out.errors.push_back(r.error_at("created_fallback", "'created_fallback' only applies to trigger = \"created\"").message());
        } else if (**text != "skip") {
            auto t = trigger_named(r, "created_fallback", **text, nullptr);
            if (out.ok(t) && *t == Trigger::Created) {
                out.errors.push_back(r.error_at("created_fallback", "'created_fallback' must be modified, accessed or skip").message());
            } else if (t) {
                c.created_fallback = *t;
            }
        }
    }
    auto action = parse_action(r);
    if (out.ok(action)) c.action = *action;
    parse_review(r, c, static_cast<bool>(action), out);
    // `encrypt = true` makes an archive category write .tar.zst.age archives.
    if (auto v = r.boolean("encrypt"); out.ok(v)) {
        c.encrypt = v->value_or(false);
        if (c.encrypt && c.approved_action() != Action::Archive) {
            out.errors.push_back(
                r.error_at("encrypt", "'encrypt = true' applies to action = \"archive\" (or "
                                      "review_action = \"archive\")").message());
        }
    }
    if (auto v = r.boolean("erasable"); out.ok(v)) c.erasable = v->value_or(true);
    // `archive_for`: the life of the copy an archive or encrypt action leaves behind.
    if (auto text = r.string("archive_for"); out.ok(text) && text->has_value()) {
        if (c.action != Action::Archive && c.action != Action::Encrypt) {
            out.errors.push_back(r.error_at("archive_for",
                                            "'archive_for' applies to action = \"archive\" or "
                                            "\"encrypt\" (the copy they keep)")
                                     .message());
        } else if (auto life = Retention::parse(**text); !life) {
            out.errors.push_back(r.error_at("archive_for", life.error().message()).message());
        } else if (!life->permanent) {
            c.archive_for = *life;
        }
    }
    out.unknown(r);
    if (out.errors.size() != errors_before) return std::nullopt;
    return c;
}

std::optional<Event> parse_event(const std::string& name, const toml::node& node,
                                 const std::string& file, Collector& out) {
    const toml::table* table = node.as_table();
    if (table == nullptr) {
        out.errors.push_back(fmt::format("{}: 'event.{}' must be a table [event.{}]",
                                         detail::location(file, node.source()), name, name));
        return std::nullopt;
    }
    TableReader r(*table, file, fmt::format("[event.{}]", name));
    Event e;
    e.name = name;
    size_t before = out.errors.size();
    if (auto v = r.string("marker"); out.ok(v)) e.marker = v->value_or("");
    if (auto v = r.string("xattr"); out.ok(v)) e.xattr = v->value_or("");
    if (before == out.errors.size()) {
        if (e.marker.empty() == e.xattr.empty()) {
            out.errors.push_back(r.error_at("marker", "an event needs exactly one of 'marker' (a file name) or 'xattr' (an attribute name)").message());
        } else if (!e.marker.empty() && (e.marker.find('/') != std::string::npos || e.marker == "." || e.marker == "..")) {
            out.errors.push_back(r.error_at("marker", fmt::format("marker '{}' must be a plain file name", e.marker)).message());
        } else if (!e.xattr.empty() && e.xattr.rfind("user.", 0) != 0) {
            out.errors.push_back(r.error_at("xattr", fmt::format("xattr '{}' must be in the user. namespace", e.xattr)).message());
        }
    }
    out.unknown(r);
    if (before != out.errors.size()) return std::nullopt;
    return e;
}

}  // namespace

bool mime_matches(const std::vector<std::string>& patterns, std::string_view type) {
    auto slash = type.find('/');
    for (const auto& p : patterns) {
        if (p == type) return true;
        // "image/*": the pattern's "image/" is the type's prefix up to and with its slash.
        if (p.size() >= 2 && p.back() == '*' && slash != std::string_view::npos &&
            std::string_view(p).substr(0, p.size() - 1) == type.substr(0, slash + 1)) {
            return true;
        }
    }
    return false;
}

namespace {

// check_schedule; `warnings`: whether to look for categories that can never win (only
// `policy check` reports them).
ScheduleReport check(std::string_view toml_text, const std::string& source_name, bool warnings) {
    ScheduleReport report;
    report.file = source_name;
    Collector out;
    auto doc = detail::parse_toml(toml_text, source_name);
    if (!doc) {
        report.errors.push_back(doc.error().message());
        return report;
    }
    TableReader top(*doc, source_name, "schedule file");
    RetentionSchedule s;
    s.source_path = source_name;
    s.sha256 = util::sha256_hex(toml_text);

    const toml::node* header = top.node("schedule");
    if (header == nullptr || !header->is_table()) {
        out.errors.push_back(top.error_at("schedule", "a [schedule] table with id and version is required").message());
    } else {
        TableReader sched(*header->as_table(), source_name, "[schedule]");
        if (auto schema = sched.integer("schema"); out.ok(schema) && schema->has_value()) {
            if (**schema < 1 || **schema > kSchemaVersion) {
                out.errors.push_back(sched.error_at("schema", fmt::format(
                    "schema {} is not known to this version of lethe (it reads schema 1 to {}); "
                    "upgrade lethe or write the schedule for schema {}",
                    **schema, kSchemaVersion, kSchemaVersion)).message());
            } else {
                s.schema = **schema;
            }
        }
        if (auto id = sched.required_string("id"); out.ok(id)) {
            s.id = *id;
            s.id_at = position_of(*sched.node("id"));
        }
        if (auto version = sched.integer("version"); out.ok(version)) {
            if (!version->has_value() || **version < 1) {
                out.errors.push_back(sched.error_at("version", "'version' is required, a positive integer").message());
            } else {
                s.version = **version;
            }
        }
        if (auto v = sched.string("approved_by"); out.ok(v)) s.approved_by = v->value_or("");
        if (const toml::node* approved = sched.node("approved")) {
            if (const auto* d = approved->as_date()) {
                auto ymd = std::chrono::year{d->get().year} / std::chrono::month{d->get().month} /
                           std::chrono::day{d->get().day};
                s.approved = util::Date{ymd};
            } else if (approved->is_string()) {
                auto d2 = util::parse_date(*approved->value<std::string_view>());
                if (d2) {
                    s.approved = *d2;
                } else {
                    out.errors.push_back(sched.error_at("approved", d2.error().message()).message());
                }
            } else {
                out.errors.push_back(sched.error_at("approved", "'approved' must be a date, e.g. 2026-03-01").message());
            }
        }
        if (auto mode = sched.string("mode"); out.ok(mode)) {
            if (!mode->has_value() || **mode == "observe") {
                s.mode = Mode::Observe;
            } else if (**mode == "enforce") {
                s.mode = Mode::Enforce;
            } else {
                out.errors.push_back(sched.error_at("mode", fmt::format("unknown mode '{}' (expected observe or enforce)", **mode)).message());
            }
        }
        if (auto zone = sched.string("timezone"); out.ok(zone) && zone->has_value()) {
            if (**zone == "UTC" || **zone == "Etc/UTC") {
                s.zone = util::TimeZone::utc();
            } else if (auto loaded = util::load_time_zone(**zone)) {
                s.zone = std::move(*loaded);
            } else {
                out.errors.push_back(sched.error_at("timezone", loaded.error().message()).message());
            }
        }
        out.unknown(sched);
    }

    std::set<std::string> defined_events;
    if (const toml::node* events = top.node("event")) {
        if (const toml::table* t = events->as_table()) {
            for (auto&& [name, node] : *t) {
                if (auto e = parse_event(std::string(name.str()), node, source_name, out)) {
                    s.events.push_back(std::move(*e));
                }
                defined_events.insert(std::string(name.str()));
            }
        } else {
            out.errors.push_back(top.error_at("event", "'event' must be written as [event.NAME] tables").message());
        }
    }

    const toml::node* cats = top.node("category");
    if (cats == nullptr) {
        out.errors.push_back(top.error_at("category", "no [[category]] tables: the schedule is empty").message());
    } else if (const toml::array* arr = cats->as_array(); arr == nullptr || !arr->is_array_of_tables()) {
        out.errors.push_back(top.error_at("category", "'category' must be written as [[category]] tables").message());
    } else {
        std::set<std::string> ids;
        for (size_t i = 0; i < arr->size(); ++i) {
            const toml::table& table = *arr->get(i)->as_table();
            if (const toml::node* id = table.get("id"); id != nullptr && id->is_string()) {
                std::string cid(*id->value<std::string_view>());
                if (!ids.insert(cid).second) {
                    out.errors.push_back(fmt::format("{}: category id '{}' is used twice",
                                                     detail::location(source_name, id->source()), cid));
                }
            }
            auto c = parse_category(table, source_name, i, out);
            if (!c) continue;
            if (c->trigger == Trigger::Event && defined_events.count(c->event) == 0) {
                std::set<std::string, std::less<>> known(defined_events.begin(), defined_events.end());
                auto guess = detail::did_you_mean(c->event, known);
                out.errors.push_back(fmt::format(
                    "{}: category '{}': event '{}' is used but never defined (add an [event.{}] "
                    "table with a marker or xattr){}",
                    detail::location(source_name, table.get("trigger")->source()), c->id, c->event,
                    c->event, guess ? fmt::format("; did you mean '{}'?", *guess) : std::string()));
            }
            s.categories.push_back(std::move(*c));
        }
    }
    out.unknown(top);
    report.errors = std::move(out.errors);
    if (report.errors.empty()) {
        if (warnings) report.warnings = shadow_warnings(s);
        report.schedule = std::move(s);
    }
    return report;
}

}  // namespace

ScheduleReport check_schedule(std::string_view toml_text, const std::string& source_name) {
    return check(toml_text, source_name, true);
}

Result<RetentionSchedule> parse_schedule(std::string_view toml_text,
                                         const std::string& source_name) {
    auto report = check(toml_text, source_name, false);
    if (!report.errors.empty()) {
        return fail(ErrorKind::BadInput, fmt::format("{}", fmt::join(report.errors, "; ")));
    }
    return std::move(*report.schedule);
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

Result<std::vector<RetentionSchedule>> load_schedules(const std::vector<std::string>& paths,
                                                      std::vector<std::string>* problems) {
    // Each problem also on its own for the caller that lists them; the error, one line.
    auto failed = [problems](std::vector<std::string> each) {
        std::string message = fmt::format("{}", fmt::join(each, "; "));
        if (problems != nullptr) *problems = std::move(each);
        return fail(ErrorKind::BadInput, std::move(message));
    };
    auto files = schedule_files(paths);
    if (!files) return failed({files.error().message()});
    if (files->empty()) {
        return failed({"no schedule files (*.toml) found: nothing can be classified"});
    }
    std::vector<RetentionSchedule> out;
    IdRegister ids;
    for (const auto& f : *files) {
        auto text = util::read_file(f);
        if (!text) return fail(text.error());
        auto report = check(*text, f, false);
        if (!report.errors.empty()) return failed(std::move(report.errors));
        if (auto clashes = ids.add(*report.schedule); !clashes.empty()) {
            return failed(std::move(clashes));
        }
        out.push_back(std::move(*report.schedule));
    }
    return out;
}

std::vector<std::string> IdRegister::add(const RetentionSchedule& schedule) {
    std::vector<std::string> clashes;
    const std::string& file = schedule.source_path;
    std::string here = located(file, schedule.id_at);
    if (auto [it, fresh] = m_schedules.emplace(schedule.id, here); !fresh) {
        clashes.push_back(fmt::format("{}: schedule id '{}' is already used by {}", here,
                                      schedule.id, it->second));
    }
    for (const auto& c : schedule.categories) {
        here = located(file, c.id_at);
        if (auto [it, fresh] = m_categories.emplace(c.id, here); !fresh) {
            clashes.push_back(fmt::format("{}: category id '{}' is already defined by {}", here,
                                          c.id, it->second));
        }
    }
    return clashes;
}

}  // namespace lethe::policy

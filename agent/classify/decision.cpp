#include "agent/classify/decision.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace lethe::classify {

std::string_view to_string(Status status) {
    switch (status) {
        case Status::Unmatched: return "unmatched";
        case Status::NotDue: return "not-due";
        case Status::Due: return "due";
        case Status::Review: return "review";
        case Status::Skipped: return "skipped";
        case Status::Held: return "held";
    }
    return "unmatched";
}

namespace {

// Where an encrypted copy's retention is recorded besides its extended attributes.
constexpr std::string_view kIndexedCopies =
    "lethe's index of encrypted copies (state_dir/encrypted.jsonl)";

// Whether two byte strings are equal; inline for the short names, extensions and segments
// compared per file (a call to memcmp costs more than comparing them): up to 16 bytes as two
// overlapping words.
[[gnu::always_inline]] inline bool same_bytes(std::string_view a, std::string_view b) {
    const size_t n = a.size();
    if (n != b.size()) return false;
    auto word64 = [](const char* p) {
        uint64_t w = 0;
        std::memcpy(&w, p, sizeof w);
        return w;
    };
    auto word32 = [](const char* p) {
        uint32_t w = 0;
        std::memcpy(&w, p, sizeof w);
        return w;
    };
    if (n >= 8) {
        if (n > 16) return std::memcmp(a.data(), b.data(), n) == 0;
        return word64(a.data()) == word64(b.data()) &&
               word64(a.data() + n - 8) == word64(b.data() + n - 8);
    }
    if (n >= 4) {
        return word32(a.data()) == word32(b.data()) &&
               word32(a.data() + n - 4) == word32(b.data() + n - 4);
    }
    for (size_t i = 0; i < n; ++i) {
        if (a[i] != b[i]) return false;
    }
    return true;
}

// Where the first '/' at or after `from` is in `path`; path.size() when there is none.
// Eight bytes at a time (a segment is typically 5 to 20 bytes: shorter than memchr's setup).
[[gnu::always_inline]] inline size_t next_slash(std::string_view path, size_t from) {
    constexpr uint64_t kOnes = 0x0101010101010101ULL;
    constexpr uint64_t kHighs = 0x8080808080808080ULL;
    constexpr uint64_t kSlashes = kOnes * static_cast<unsigned char>('/');
    size_t i = from;
    for (; std::endian::native == std::endian::little && i + 8 <= path.size(); i += 8) {
        uint64_t w = 0;
        std::memcpy(&w, path.data() + i, sizeof w);
        uint64_t x = w ^ kSlashes;  // a zero byte where w holds '/'
        uint64_t found = (x - kOnes) & ~x & kHighs;
        if (found != 0) {
            // The lowest flagged byte is the first '/' (bytes above it may be flagged
            // falsely, never those below); little-endian: the lowest byte comes first.
            return i + static_cast<size_t>(__builtin_ctzll(found)) / 8;
        }
    }
    for (; i < path.size(); ++i) {
        if (path[i] == '/') return i;
    }
    return path.size();
}

// The last segment of a relative path.
std::string_view name_of(std::string_view path) {
    auto slash = path.rfind('/');
    return path.substr(slash == std::string_view::npos ? 0 : slash + 1);
}

// The file's extension, lowercased (ASCII, as std::tolower does in the C locale lethe runs
// in); empty when the name has none. Worked out when a category with `extensions` first asks;
// short extensions stay in an inline buffer: no allocation.
class Extension {
public:
    // `name`: the file's name, the path's last segment.
    explicit Extension(std::string_view name) : m_name(name) {}
    Extension(const Extension&) = delete;
    Extension& operator=(const Extension&) = delete;

    [[nodiscard]] std::string_view view() {
        if (!m_done) {
            m_done = true;
            auto dot = m_name.rfind('.');
            if (dot == std::string_view::npos || dot == 0) return m_view;
            std::string_view ext = m_name.substr(dot + 1);
            char* out = m_inline.data();
            if (ext.size() > m_inline.size()) {
                m_long.resize(ext.size());
                out = m_long.data();
            }
            for (size_t i = 0; i < ext.size(); ++i) {
                char c = ext[i];
                out[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
            }
            m_view = std::string_view(out, ext.size());
        }
        return m_view;
    }

private:
    std::string_view m_name;
    bool m_done = false;
    std::array<char, 16> m_inline{};
    std::string m_long;
    std::string_view m_view;
};

// Whether a candidate (expiry, action) keeps the file longer or more protectively than the
// current best. A missing expiry (permanent, pending event, unknown date) keeps longest.
// Expiry dates of one zone compare as dates. Dates of schedules in different zones compare
// by the instant each begins in its zone (the same date begins 13 hours earlier in
// Pacific/Auckland than in UTC); dates three or more days apart stay in date order, since
// zone offsets differ by less than that.
template <class A, class B>
int compare_expiry(const A& a, const B& b) {
    if (a.expires == b.expires) {
        if (!a.expires || a.schedule == b.schedule) return 0;
    } else {
        if (!a.expires) return 1;
        if (!b.expires) return -1;
    }
    const util::TimeZone& za = a.schedule->zone;
    const util::TimeZone& zb = b.schedule->zone;
    auto days = (*a.expires - *b.expires).count();
    if (days >= 3 || days <= -3 || a.schedule == b.schedule || (za.is_utc() && zb.is_utc()) ||
        za.name() == zb.name()) {
        return days > 0 ? 1 : days < 0 ? -1 : 0;
    }
    util::TimePoint ta = za.start_of(*a.expires);
    util::TimePoint tb = zb.start_of(*b.expires);
    return ta > tb ? 1 : ta < tb ? -1 : 0;
}

template <class A, class B>
bool keeps_better(const A& m, const B& best) {
    if (int c = compare_expiry(m, best); c != 0) return c > 0;
    return static_cast<int>(m.category->precedence()) > static_cast<int>(best.category->precedence());
}

const policy::Event* find_event(const policy::RetentionSchedule& schedule, const std::string& name) {
    for (const auto& e : schedule.events) {
        if (e.name == name) return &e;
    }
    return nullptr;
}

// The candidate of the plain path: a category with its event looked up by name.
Classifier::Candidate plain_candidate(const policy::RetentionSchedule& schedule,
                                      const policy::Category& category) {
    Classifier::Candidate c{&schedule, &category};
    if (category.trigger == policy::Trigger::Event) c.event = find_event(schedule, category.event);
    return c;
}

// What a category's path captured: views into the file's path (a capture is never empty),
// copied only for the categories that decide or are explained. A view without data is no
// capture; plain views rather than optionals, so that copying one is two register moves.
struct Captured {
    std::string_view client;
    std::string_view matter;
};

// A path pattern made of whole segments, each literal bytes or a capture of the whole
// segment, optionally followed by "/**" (anything below): the shape of nearly every pattern
// in a schedule. Matched from left to right without the backtracking matcher (consecutive
// literal segments compared as one run of bytes); a pattern of any other shape is left to
// Glob::matches. Same result as Glob::matches on every path.
struct SegmentPattern {
    enum Kind : uint8_t { Literal, Client, Matter, Other };
    struct Token {
        Kind kind = Literal;
        std::string literal;  // Literal: one or more whole segments joined by '/'
    };
    bool simple = false;  // false: use the Glob
    std::vector<Token> tokens;
    bool rest = false;    // ends with "/**"

    static SegmentPattern compile(const util::Glob& glob) {
        SegmentPattern out;
        std::vector<std::string_view> parts;
        std::string_view pattern = glob.pattern();
        for (size_t begin = 0;;) {
            size_t slash = pattern.find('/', begin);
            parts.push_back(pattern.substr(begin, slash == std::string_view::npos ? std::string_view::npos : slash - begin));
            if (slash == std::string_view::npos) break;
            begin = slash + 1;
        }
        if (parts.back() == "**") {
            out.rest = true;
            parts.pop_back();
        }
        if (parts.empty()) return out;
        constexpr std::string_view kSpecial = "*?[{}\\";
        for (std::string_view part : parts) {
            if (part.size() > 2 && part.front() == '{' && part.back() == '}' &&
                part.substr(1, part.size() - 2).find_first_of(kSpecial) == std::string_view::npos) {
                std::string_view name = part.substr(1, part.size() - 2);
                out.tokens.push_back(Token{name == "client" ? Client : name == "matter" ? Matter : Other, {}});
            } else if (part.find_first_of(kSpecial) == std::string_view::npos) {
                if (!out.tokens.empty() && out.tokens.back().kind == Literal) {
                    out.tokens.back().literal.append("/").append(part);
                } else {
                    out.tokens.push_back(Token{Literal, std::string(part)});
                }
            } else {
                return out;
            }
        }
        out.simple = true;
        return out;
    }

    // Whether the path matches, with its captures (left partly filled on failure).
    bool matches(std::string_view path, Captured& captured) const {
        size_t pos = 0;
        const size_t count = tokens.size();
        for (size_t i = 0; i < count; ++i) {
            const Token& token = tokens[i];
            size_t end = pos;
            if (token.kind == Literal) {
                if (path.size() - pos < token.literal.size() ||
                    !same_bytes(path.substr(pos, token.literal.size()), token.literal)) {
                    return false;
                }
                end += token.literal.size();
            } else {
                end = next_slash(path, pos);
                if (end == pos) return false;  // a capture holds one character at least
                if (token.kind == Client) captured.client = path.substr(pos, end - pos);
                if (token.kind == Matter) captured.matter = path.substr(pos, end - pos);
            }
            // Every token but the last of a pattern without "/**" ends at a '/'; the last of
            // such a pattern ends the path.
            bool last = i + 1 == count;
            if (end == path.size()) {
                if (!last || rest) return false;
            } else if (path[end] != '/' || (last && !rest)) {
                return false;
            }
            pos = end + 1;
        }
        return true;
    }
};

// How the trigger date was found, when that needs saying (Match::note); the text is made
// only for the winner and, when explaining, for every match.
enum class Note : uint8_t { None, FellBack, EventPending, EventDated };

// One category that matched the file, as classify_with weighs it: a Match without its
// strings (the captures are views into the path, the note is a kind).
struct Verdict {
    const policy::RetentionSchedule* schedule = nullptr;
    const policy::Category* category = nullptr;
    const policy::Event* event = nullptr;
    policy::Trigger trigger = policy::Trigger::Modified;
    Note note = Note::None;
    std::optional<util::Date> trigger_date;
    std::optional<util::Date> counted_from;
    std::optional<util::Date> expires;
    std::string problem;  // the trigger date cannot be determined: never act
    Captured captured;
};

std::string note_text(const Verdict& v) {
    const policy::Category& c = *v.category;
    switch (v.note) {
        case Note::None: return {};
        case Note::FellBack:
            return fmt::format("the filesystem records no birth time: fell back to {}",
                               policy::to_string(v.trigger));
        case Note::EventPending:
            return v.event->marker.empty()
                       ? fmt::format("event '{}' has not happened: the file has no {} attribute",
                                     c.event, v.event->xattr)
                       : fmt::format("event '{}' has not happened: no {} in any folder above the file",
                                     c.event, v.event->marker);
        case Note::EventDated:
            return v.event->marker.empty()
                       ? fmt::format("event '{}': date in the {} attribute", c.event, v.event->xattr)
                       : fmt::format("event '{}': date of the {} marker", c.event, v.event->marker);
    }
    return {};
}

std::optional<std::string> to_owned(std::string_view view) {
    return view.data() != nullptr ? std::optional<std::string>(std::in_place, view) : std::nullopt;
}

Match to_match(const Verdict& v, std::string why) {
    Match m;
    m.schedule = v.schedule;
    m.category = v.category;
    m.why = std::move(why);
    m.trigger = v.trigger;
    m.trigger_date = v.trigger_date;
    m.counted_from = v.counted_from;
    m.expires = v.expires;
    m.note = note_text(v);
    m.problem = v.problem;
    m.client = to_owned(v.captured.client);
    m.matter = to_owned(v.captured.matter);
    return m;
}

// TimeZone::local_date, without a call for UTC (every schedule that names no zone).
[[gnu::always_inline]] inline util::Date local_date(const util::TimeZone& zone, util::TimePoint time) {
    if (zone.is_utc()) return std::chrono::floor<std::chrono::days>(time);
    return zone.local_date(time);
}

// The trigger date of the verdict's category for the file, with the cutoff and retention
// applied.
void date_verdict(Verdict& v, const scan::FileFacts& facts, FileLookups* lookups, bool explain) {
    const policy::Category& c = *v.category;
    const util::TimeZone& zone = v.schedule->zone;
    v.trigger = c.trigger;
    if (c.trigger == policy::Trigger::Created && !facts.btime) {
        if (c.created_fallback) {
            v.trigger = *c.created_fallback;
            v.note = Note::FellBack;
        } else {
            v.problem = "the filesystem records no birth time and the category has no "
                        "created_fallback";
            return;
        }
    }
    util::Date trigger_date;
    switch (v.trigger) {
        case policy::Trigger::Modified: trigger_date = local_date(zone, facts.mtime); break;
        case policy::Trigger::Accessed: trigger_date = local_date(zone, facts.atime); break;
        case policy::Trigger::Created: trigger_date = local_date(zone, *facts.btime); break;
        case policy::Trigger::Event: {
            const policy::Event* event = v.event;
            if (event == nullptr || lookups == nullptr) {
                v.problem = fmt::format("event '{}' cannot be looked up here", c.event);
                return;
            }
            if (!event->marker.empty()) {
                auto when = lookups->marker_time(facts.path, event->marker);
                if (!when) {
                    if (explain) v.note = Note::EventPending;
                    return;
                }
                trigger_date = local_date(zone, *when);
            } else {
                auto value = lookups->xattr(facts.path, event->xattr);
                if (!value) {
                    if (explain) v.note = Note::EventPending;
                    return;
                }
                auto date = util::parse_date(*value);
                if (!date) {
                    v.problem = fmt::format("event '{}': attribute {} holds '{}', not an ISO date "
                                            "(YYYY-MM-DD)",
                                            c.event, event->xattr, *value);
                    return;
                }
                trigger_date = *date;
            }
            if (explain) v.note = Note::EventDated;
            break;
        }
    }
    v.trigger_date = trigger_date;
    v.counted_from = c.cutoff.apply(trigger_date);
    if (!c.retain.permanent) v.expires = c.retain.add_to(*v.counted_from);
}

enum class Matched { No, Yes, NotMime };

}  // namespace

// A category's matchers prepared for many files.
struct Classifier::Compiled {
    std::vector<SegmentPattern> paths;  // one per Category::paths entry, in order
};

namespace {

// Whether one of `glob`'s matches the path, with its captures; no allocation.
bool glob_matches(const util::Glob& glob, std::string_view path, Captured& captured) {
    const auto& names = glob.capture_names();
    if (names.empty()) return glob.matches(path, static_cast<std::string_view*>(nullptr));
    constexpr size_t kInline = 4;
    std::array<std::string_view, kInline> inline_spans;
    std::vector<std::string_view> more;
    std::string_view* spans = inline_spans.data();
    if (names.size() > kInline) {
        more.resize(names.size());
        spans = more.data();
    }
    if (!glob.matches(path, spans)) return false;
    for (size_t i = 0; i < names.size(); ++i) {
        if (names[i] == "client") captured.client = spans[i];
        if (names[i] == "matter") captured.matter = spans[i];
    }
    return true;
}

// Which matchers of a category held (Match::why): explaining only.
[[gnu::noinline]] std::string why_matched(const policy::Category& category,
                                          const scan::FileFacts& facts, Extension& ext,
                                          const util::Glob* matched,
                                          std::optional<ContentType>* content) {
    std::vector<std::string> parts;
    if (matched != nullptr) parts.push_back(fmt::format("path matches '{}'", matched->pattern()));
    if (!category.extensions.empty()) parts.push_back(fmt::format("extension '{}'", ext.view()));
    if (category.min_size || category.max_size) parts.push_back(fmt::format("size {} bytes within bounds", facts.size));
    if (!category.mime.empty()) {
        parts.push_back(fmt::format("content type '{}' is one of {}", *(*content)->mime,
                                    fmt::join(category.mime, ", ")));
    }
    if (!category.owners.empty()) parts.push_back(fmt::format("owner uid {}", facts.uid));
    if (!category.groups.empty()) parts.push_back(fmt::format("group gid {}", facts.gid));
    if (parts.empty()) parts.emplace_back("no matchers: every file");
    return fmt::format("{}", fmt::join(parts, ", "));
}

// category_matches, telling apart a category whose every matcher held but `mime`. `ext` is
// the file's lowercase extension, worked out once per file when a category asks.
// `compiled`, when given, is the category's compiled form (Classifier::Compiled).
Matched match_category(const policy::Category& category, const scan::FileFacts& facts,
                       Extension& ext, Captured& captured, std::string* why,
                       FileLookups* lookups, std::optional<ContentType>* content,
                       const Classifier::Compiled* compiled = nullptr) {
    if (category.min_size && facts.size < *category.min_size) return Matched::No;
    if (category.max_size && facts.size > *category.max_size) return Matched::No;
    if (!category.owners.empty() &&
        std::find(category.owners.begin(), category.owners.end(), facts.uid) == category.owners.end()) {
        return Matched::No;
    }
    if (!category.groups.empty() &&
        std::find(category.groups.begin(), category.groups.end(), facts.gid) == category.groups.end()) {
        return Matched::No;
    }
    if (!category.extensions.empty() &&
        std::none_of(category.extensions.begin(), category.extensions.end(),
                     [&](const std::string& e) { return same_bytes(e, ext.view()); })) {
        return Matched::No;
    }
    const util::Glob* matched = nullptr;
    if (!category.paths.empty()) {
        for (size_t i = 0; i < category.paths.size(); ++i) {
            const util::Glob& glob = category.paths[i];
            // A pattern that fails may leave captures behind: the next one starts afresh.
            captured = Captured{};
            bool simple = compiled != nullptr && compiled->paths[i].simple;
            if (simple ? compiled->paths[i].matches(facts.path, captured)
                       : glob_matches(glob, facts.path, captured)) {
                matched = &glob;
                break;
            }
        }
        if (matched == nullptr) return Matched::No;
    }
    // Last: the only matcher that reads the file.
    if (!category.mime.empty()) {
        if (lookups == nullptr || content == nullptr) return Matched::NotMime;
        if (!*content) *content = lookups->content_type(facts);
        const ContentType& sniffed = **content;
        if (!sniffed.mime || !policy::mime_matches(category.mime, *sniffed.mime)) return Matched::NotMime;
    }
    if (why != nullptr) *why = why_matched(category, facts, ext, matched, content);
    return Matched::Yes;
}

}  // namespace

bool category_matches(const policy::Category& category, const scan::FileFacts& facts,
                      std::optional<std::string>* client, std::optional<std::string>* matter,
                      std::string* why, FileLookups* lookups, std::optional<ContentType>* content) {
    Extension ext(name_of(facts.path));
    Captured captured;
    if (match_category(category, facts, ext, captured, why, lookups, content) != Matched::Yes) {
        return false;
    }
    if (client != nullptr && captured.client.data() != nullptr) *client = std::string(captured.client);
    if (matter != nullptr && captured.matter.data() != nullptr) *matter = std::string(captured.matter);
    return true;
}

namespace {

// classify(), over the categories `for_each_candidate` offers: every category of every
// schedule in order (the plain path), or those a Classifier's index leaves (the same
// categories less some that cannot match the path, in the same order). `is_marker` says
// whether a file name is an event marker of one of the schedules.
template <typename IsMarker, typename ForEachCandidate>
Decision classify_with(const scan::FileFacts& facts,
                       const std::vector<policy::RetentionSchedule>& schedules, util::TimePoint now,
                       const ClassifyOptions& options, const IsMarker& is_marker,
                       const ForEachCandidate& for_each_candidate) {
    Decision best;
    // Event markers date whole folders: disposing one would restart the clock of every file
    // below it, so they are never touched.
    std::string_view name = name_of(facts.path);
    if (is_marker(name)) return best;
    // Two verdicts: the category that keeps the file longest so far (slots[win], once `win`
    // is set) and the one being weighed (the other slot). A better one changes places by index.
    std::array<Verdict, 2> slots;
    int win = -1;
    std::string rule;
    // The file's content type, sniffed once when a category with `mime` first needs it.
    std::optional<ContentType> content;
    // A category with `mime` whose cheaper matchers held but whose content could not be read.
    const policy::Category* unsniffed = nullptr;

    // A pin overrides the matchers; a pin to a category that does not exist is never acted on.
    static const std::string kPinName(policy::kPinXattr);
    std::optional<std::string> pin;
    if (options.lookups != nullptr) pin = options.lookups->xattr(facts.path, kPinName);
    // lethe's own encrypted copy (NAME.age) is also recorded in its state index, which pins
    // it where the filesystem keeps no extended attributes.
    const bool age_name = name.size() > 4 && name.substr(name.size() - 4) == ".age";
    const IndexedCopy* indexed =
        options.lookups != nullptr && age_name ? options.lookups->indexed_copy(facts) : nullptr;
    const bool pinned_by_index = !pin && indexed != nullptr;
    if (pinned_by_index) pin = indexed->category;
    const std::string pinned_by = pinned_by_index
                                      ? std::string(kIndexedCopies)
                                      : fmt::format("the {} attribute", policy::kPinXattr);

    auto weighed = [&](const Classifier::Candidate& candidate, const Captured& captured) -> Verdict& {
        Verdict& v = slots[win == 0 ? 1 : 0];
        v.schedule = candidate.schedule;
        v.category = candidate.category;
        v.event = candidate.event;
        v.note = Note::None;
        v.trigger_date.reset();
        v.counted_from.reset();
        v.expires.reset();
        v.problem.clear();
        v.captured = captured;
        return v;
    };
    // Weighs a category that matched (`why`: which matchers held, when explaining).
    auto consider = [&](Verdict& v, std::string* why) {
        date_verdict(v, facts, options.lookups, options.explain);
        ++best.matched_categories;
        bool better = win < 0 || keeps_better(v, slots[static_cast<size_t>(win)]);
        if (options.explain) best.matches.push_back(to_match(v, std::move(*why)));
        if (better) win = &v == &slots[0] ? 0 : 1;
    };

    Extension ext(name);
    std::string why;
    if (pin) {
        for (const auto& schedule : schedules) {
            for (const auto& category : schedule.categories) {
                if (category.id != *pin) continue;
                Captured captured;
                if (match_category(category, facts, ext, captured, nullptr, nullptr, nullptr) !=
                    Matched::Yes) {
                    captured = Captured{};
                }
                Verdict& v = weighed(plain_candidate(schedule, category), captured);
                if (options.explain) why = fmt::format("pinned by {}", pinned_by);
                consider(v, &why);
            }
        }
        if (win < 0) {
            best.status = Status::Skipped;
            best.reason = fmt::format("pinned by {} to category '{}', which no schedule defines",
                                      pinned_by, *pin);
            return best;
        }
        rule = fmt::format("pinned to '{}' by {}", *pin, pinned_by);
    } else {
        for_each_candidate([&](const Classifier::Candidate& candidate) {
            const policy::Category& category = *candidate.category;
            Captured captured;
            Matched matched = match_category(category, facts, ext, captured,
                                             options.explain ? &why : nullptr,
                                             options.lookups, &content, candidate.compiled);
            if (matched == Matched::NotMime) {
                if (content && !content->mime) unsniffed = &category;
                if (options.explain) {
                    best.mime_misses.emplace_back(
                        &category,
                        !content ? std::string("the content cannot be sniffed here")
                        : content->mime
                            ? fmt::format("content type '{}' is not one of {}", *content->mime,
                                          fmt::join(category.mime, ", "))
                            : content->problem);
                }
            }
            if (matched != Matched::Yes) return;
            consider(weighed(candidate, captured), &why);
        });
    }
    if (content) best.content = std::move(content);
    if (win < 0) {
        if (unsniffed != nullptr) {
            best.reason = fmt::format("may belong to category '{}', but {}", unsniffed->id,
                                      best.content->problem);
        }
        return best;
    }

    const Verdict& winner = slots[static_cast<size_t>(win)];
    best.schedule = winner.schedule;
    best.category = winner.category;
    if (winner.captured.client.data() != nullptr) best.client.emplace(winner.captured.client);
    if (winner.captured.matter.data() != nullptr) best.matter.emplace(winner.captured.matter);
    best.trigger_date = winner.trigger_date.value_or(util::Date{});
    best.expires = winner.expires;
    best.action = winner.category->action;
    if (winner.note != Note::None) best.trigger_note = note_text(winner);
    if (options.explain) {
        if (rule.empty() && best.matched_categories == 1) rule = "the only category that matched";
        for (const auto& m : best.matches) {
            if (!rule.empty()) break;
            if (m.category == winner.category) continue;
            if (compare_expiry(m, winner) != 0) continue;
            rule = m.category->precedence() != winner.category->precedence()
                       ? fmt::format("expires with '{}' but its action is more protective ({} > {})",
                                     m.category->id, policy::to_string(winner.category->precedence()),
                                     policy::to_string(m.category->precedence()))
                       : fmt::format("expires with '{}' with the same action; listed first",
                                     m.category->id);
        }
        if (rule.empty()) {
            rule = fmt::format("keeps the file longest of the {} matching categories",
                               best.matched_categories);
        }
        best.rule = rule;
    }

    // lethe's own encrypted copy (NAME.age, pinned to its original's category, with the
    // original's dates in xattrs and in the state index): its retention runs on from the
    // original's, and the copy itself is kept `archive_for` after it was made (permanently by
    // default), then sanitized. It is never encrypted again. Where the attributes and the
    // index disagree, the record that keeps the copy longer decides (fail closed).
    const policy::RetentionSchedule* deciding_schedule = winner.schedule;
    const policy::Category* deciding_category = winner.category;
    bool encrypted_copy = false;
    if (pin && age_name) {
        struct CopyRecord {
            const policy::RetentionSchedule* schedule = nullptr;
            const policy::Category* category = nullptr;
            std::optional<util::Date> trigger;
            util::Date made{};
            std::optional<util::Date> expires;  // the copy's own: none = permanent
            std::string source;
            std::optional<std::string> client;  // the original's (the copy's name may not match
            std::optional<std::string> matter;  // the category's patterns any more)
        };
        std::vector<CopyRecord> records;
        std::string prefix(policy::kPinXattr.substr(0, policy::kPinXattr.rfind('.') + 1));
        if (!pinned_by_index && options.lookups->xattr(facts.path, prefix + "expires")) {
            CopyRecord r{winner.schedule, winner.category, std::nullopt,
                         winner.schedule->zone.local_date(facts.mtime), std::nullopt,
                         "its extended attributes", std::nullopt, std::nullopt};
            if (auto t = options.lookups->xattr(facts.path, prefix + "trigger_date")) {
                if (auto d = util::parse_date(*t)) r.trigger = *d;
            }
            if (auto e = options.lookups->xattr(facts.path, prefix + "encrypted")) {
                if (auto d = util::parse_date(*e)) r.made = *d;
            }
            r.client = options.lookups->xattr(facts.path, prefix + "client");
            r.matter = options.lookups->xattr(facts.path, prefix + "matter");
            records.push_back(std::move(r));
        }
        if (indexed != nullptr) {
            CopyRecord r{nullptr,       nullptr, indexed->trigger_date, indexed->encrypted,
                         std::nullopt, std::string(kIndexedCopies), indexed->client,
                         indexed->matter};
            for (const auto& schedule : schedules) {
                for (const auto& category : schedule.categories) {
                    if (category.id != indexed->category) continue;
                    if (r.category == nullptr || schedule.id == indexed->schedule) {
                        r.schedule = &schedule;
                        r.category = &category;
                    }
                }
            }
            if (r.category == nullptr) {
                best.status = Status::Skipped;
                best.reason = fmt::format("{} gives it category '{}', which no schedule defines; "
                                          "not acted on", kIndexedCopies, indexed->category);
                return best;
            }
            records.push_back(std::move(r));
        }
        for (auto& r : records) {
            if (r.category->archive_for) r.expires = r.category->archive_for->add_to(r.made);
        }
        if (!records.empty()) {
            encrypted_copy = true;
            size_t pick = 0;
            std::string disagreement;
            if (records.size() == 2) {
                const CopyRecord& a = records[0];
                const CopyRecord& b = records[1];
                if (a.category != b.category || a.trigger != b.trigger || a.made != b.made) {
                    // Permanent keeps longest; else the later expiry.
                    if (a.expires && (!b.expires || *b.expires > *a.expires)) pick = 1;
                    auto shown = [](const CopyRecord& r) {
                        return fmt::format("category '{}', encrypted {}, kept {}", r.category->id,
                                           util::format_date(r.made),
                                           r.expires ? "until " + util::format_date(*r.expires)
                                                     : std::string("permanently"));
                    };
                    disagreement = fmt::format(
                        "; {} ({}) and {} ({}) disagree: {} keep it longer and decide (fail "
                        "closed)",
                        a.source, shown(a), b.source, shown(b), records[pick].source);
                }
            } else if (records[0].source == kIndexedCopies) {
                disagreement = fmt::format(
                    "; it has no lethe attributes (a filesystem without user extended "
                    "attributes?): {} records it",
                    kIndexedCopies);
            }
            const CopyRecord& r = records[pick];
            deciding_schedule = r.schedule;
            deciding_category = r.category;
            best.schedule = r.schedule;
            best.category = r.category;
            if (r.trigger) best.trigger_date = *r.trigger;
            // Holds by client or matter cover the copy as they covered the original.
            if (!best.client) best.client = r.client;
            if (!best.matter) best.matter = r.matter;
            best.expires = r.expires;
            best.action = policy::Action::Sanitize;
            best.trigger_note = fmt::format(
                "encrypted copy made {}: kept {} after that (the category's archive_for), then "
                "sanitized{}",
                util::format_date(r.made),
                r.category->archive_for ? r.category->archive_for->to_string() : "permanently",
                disagreement);
            // The pinned category's own line shows the copy's dates, not the ones its mtime
            // (the day it was encrypted) would give a file of that category.
            for (Match& m : best.matches) {
                if (m.category != r.category) continue;
                m.encrypted_copy = true;
                m.trigger_date = r.trigger;
                m.counted_from.reset();
                m.expires = r.expires;
                m.note = fmt::format("lethe's encrypted copy, made {}: the original's trigger "
                                     "date, from {}",
                                     util::format_date(r.made), r.source);
                m.problem.clear();
            }
        }
    }
    if (!encrypted_copy && !winner.problem.empty()) {
        best.status = Status::Skipped;
        best.reason = winner.problem;
        return best;
    }
    // Due from local midnight of the expiry date in the deciding schedule's zone.
    if (!best.expires || local_date(deciding_schedule->zone, now) < *best.expires) {
        best.status = Status::NotDue;
        return best;
    }
    best.status = Status::Due;
    if (unsniffed != nullptr) {
        // The category that could not be checked may keep the file longer: fail closed.
        best.status = Status::Skipped;
        best.reason = fmt::format("may belong to category '{}' (mime), but {}; not acted on until "
                                  "its content type can be read",
                                  unsniffed->id, best.content->problem);
        return best;
    }
    if (deciding_category->needs_review()) {
        best.status = Status::Review;
        best.reason = best.action == policy::Action::Review
                          ? fmt::format("the category's action is review: a records manager "
                                        "decides; approval disposes with {}",
                                        policy::to_string(deciding_category->approved_action()))
                          : fmt::format("the category needs review: {} once a records manager "
                                        "approves",
                                        policy::to_string(best.action));
        return best;
    }
    switch (best.action) {
        case policy::Action::Review:   // needs_review() above
        case policy::Action::Archive:  // act/ re-checks the file, copies it verifiably, then
        case policy::Action::Encrypt:  // sanitizes the original
            break;
        case policy::Action::Sanitize:
            if (facts.nlink > 1) {
                best.status = Status::Skipped;
                best.reason = "hard links: overwriting would destroy the data of the other names";
            }
            break;
        case policy::Action::Delete: break;
    }
    return best;
}


// The first segment of a relative path: the whole path when it has no '/'.
std::string_view first_segment(std::string_view path) {
    return path.substr(0, next_slash(path, 0));
}

// Orders first segments by length, then bytes: most segments differ in length, so a search
// rarely compares bytes.
bool shorter_or_before(std::string_view a, std::string_view b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
}

}  // namespace

Decision classify(const scan::FileFacts& facts,
                  const std::vector<policy::RetentionSchedule>& schedules, util::TimePoint now,
                  const ClassifyOptions& options) {
    auto is_marker = [&](std::string_view name) {
        for (const auto& schedule : schedules) {
            for (const auto& event : schedule.events) {
                if (!event.marker.empty() && name == event.marker) return true;
            }
        }
        return false;
    };
    auto every_category = [&](const auto& visit) {
        for (const auto& schedule : schedules) {
            for (const auto& category : schedule.categories) visit(plain_candidate(schedule, category));
        }
    };
    return classify_with(facts, schedules, now, options, is_marker, every_category);
}

Classifier::Classifier(const std::vector<policy::RetentionSchedule>& schedules)
    : m_schedules(&schedules) {
    // Each category's possible first segments: the literal first segment of every one of its
    // path patterns, or none known (no paths, or a pattern that starts with a wildcard or
    // capture) and then it is a candidate for every path.
    struct Keyed {
        Candidate candidate;
        std::vector<std::string> segments;  // empty: any first segment
    };
    std::vector<Keyed> keyed;
    std::set<std::string, std::less<>> all_segments;
    size_t categories = 0;
    for (const auto& schedule : schedules) categories += schedule.categories.size();
    m_compiled.reserve(categories);  // candidates point into it
    for (const auto& schedule : schedules) {
        for (const auto& event : schedule.events) {
            if (!event.marker.empty()) m_markers.push_back(event.marker);
        }
        for (const auto& category : schedule.categories) {
            Compiled& compiled = m_compiled.emplace_back();
            for (const auto& glob : category.paths) compiled.paths.push_back(SegmentPattern::compile(glob));
            Keyed k{plain_candidate(schedule, category), {}};
            k.candidate.compiled = &compiled;
            bool any = category.paths.empty();
            for (const auto& glob : category.paths) {
                std::string_view prefix = glob.literal_prefix();
                auto slash = prefix.find('/');
                if (slash == std::string_view::npos) {
                    any = true;
                    break;
                }
                k.segments.emplace_back(prefix.substr(0, slash));
            }
            if (any) k.segments.clear();
            for (const auto& seg : k.segments) all_segments.insert(seg);
            keyed.push_back(std::move(k));
        }
    }
    for (const auto& segment : all_segments) {
        std::vector<Candidate> list;
        for (const auto& k : keyed) {
            if (k.segments.empty() ||
                std::find(k.segments.begin(), k.segments.end(), segment) != k.segments.end()) {
                list.push_back(k.candidate);
            }
        }
        m_by_segment.emplace_back(segment, std::move(list));
    }
    std::sort(m_by_segment.begin(), m_by_segment.end(), [](const auto& a, const auto& b) {
        return shorter_or_before(a.first, b.first);
    });
    for (const auto& k : keyed) {
        if (k.segments.empty()) m_other.push_back(k.candidate);
    }
}

Classifier::~Classifier() = default;

const std::vector<Classifier::Candidate>& Classifier::candidates(std::string_view path) const {
    std::string_view segment = first_segment(path);
    auto it = std::partition_point(m_by_segment.begin(), m_by_segment.end(), [&](const auto& entry) {
        return entry.first.size() < segment.size();
    });
    for (; it != m_by_segment.end() && it->first.size() == segment.size(); ++it) {
        if (same_bytes(it->first, segment)) return it->second;
    }
    return m_other;
}

Decision Classifier::classify(const scan::FileFacts& facts, util::TimePoint now,
                              const ClassifyOptions& options) const {
    auto is_marker = [&](std::string_view name) {
        return std::any_of(m_markers.begin(), m_markers.end(),
                           [&](const std::string& marker) { return same_bytes(marker, name); });
    };
    const std::vector<Candidate>& candidates = this->candidates(facts.path);
    auto indexed = [&](const auto& visit) {
        for (const Candidate& c : candidates) visit(c);
    };
    return classify_with(facts, *m_schedules, now, options, is_marker, indexed);
}

}  // namespace lethe::classify

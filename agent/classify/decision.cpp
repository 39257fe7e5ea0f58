#include "agent/classify/decision.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <array>
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

// The file's extension, lowercased into `buffer` (short extensions stay in its inline
// storage: no allocation); empty when the name has none.
std::string_view extension_of(std::string_view path, std::string& buffer) {
    auto slash = path.rfind('/');
    auto name = path.substr(slash == std::string_view::npos ? 0 : slash + 1);
    auto dot = name.rfind('.');
    if (dot == std::string_view::npos || dot == 0) return {};
    buffer.assign(name.substr(dot + 1));
    std::transform(buffer.begin(), buffer.end(), buffer.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return buffer;
}

// Whether a candidate (expiry, action) keeps the file longer or more protectively than the
// current best. A missing expiry (permanent, pending event, unknown date) keeps longest.
// Expiry dates of one zone compare as dates. Dates of schedules in different zones compare
// by the instant each begins in its zone (the same date begins 13 hours earlier in
// Pacific/Auckland than in UTC); dates three or more days apart stay in date order, since
// zone offsets differ by less than that.
int compare_expiry(const Match& a, const Match& b) {
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

bool keeps_better(const Match& m, const Match& best) {
    if (int c = compare_expiry(m, best); c != 0) return c > 0;
    return static_cast<int>(m.category->precedence()) > static_cast<int>(best.category->precedence());
}

const policy::Event* find_event(const policy::RetentionSchedule& schedule, const std::string& name) {
    for (const auto& e : schedule.events) {
        if (e.name == name) return &e;
    }
    return nullptr;
}

// The trigger date of `category` for the file, with the cutoff and retention applied.
void date_match(Match& m, const scan::FileFacts& facts, FileLookups* lookups, bool explain) {
    const policy::Category& c = *m.category;
    const util::TimeZone& zone = m.schedule->zone;
    m.trigger = c.trigger;
    if (c.trigger == policy::Trigger::Created && !facts.btime) {
        if (c.created_fallback) {
            m.trigger = *c.created_fallback;
            m.note = fmt::format("the filesystem records no birth time: fell back to {}",
                                 policy::to_string(m.trigger));
        } else {
            m.problem = "the filesystem records no birth time and the category has no "
                        "created_fallback";
            return;
        }
    }
    switch (m.trigger) {
        case policy::Trigger::Modified: m.trigger_date = zone.local_date(facts.mtime); break;
        case policy::Trigger::Accessed: m.trigger_date = zone.local_date(facts.atime); break;
        case policy::Trigger::Created: m.trigger_date = zone.local_date(*facts.btime); break;
        case policy::Trigger::Event: {
            const policy::Event* event = find_event(*m.schedule, c.event);
            if (event == nullptr || lookups == nullptr) {
                m.problem = fmt::format("event '{}' cannot be looked up here", c.event);
                return;
            }
            if (!event->marker.empty()) {
                auto when = lookups->marker_time(facts.path, event->marker);
                if (!when) {
                    if (explain) m.note = fmt::format("event '{}' has not happened: no {} in any folder above "
                                         "the file",
                                         c.event, event->marker);
                    return;
                }
                m.trigger_date = zone.local_date(*when);
                if (explain) m.note = fmt::format("event '{}': date of the {} marker", c.event, event->marker);
            } else {
                auto value = lookups->xattr(facts.path, event->xattr);
                if (!value) {
                    if (explain) m.note = fmt::format("event '{}' has not happened: the file has no {} "
                                         "attribute",
                                         c.event, event->xattr);
                    return;
                }
                auto date = util::parse_date(*value);
                if (!date) {
                    m.problem = fmt::format("event '{}': attribute {} holds '{}', not an ISO date "
                                            "(YYYY-MM-DD)",
                                            c.event, event->xattr, *value);
                    return;
                }
                m.trigger_date = *date;
                if (explain) m.note = fmt::format("event '{}': date in the {} attribute", c.event, event->xattr);
            }
            break;
        }
    }
    m.counted_from = c.cutoff.apply(*m.trigger_date);
    if (!c.retain.permanent) m.expires = c.retain.add_to(*m.counted_from);
}

enum class Matched { No, Yes, NotMime };

// What a category's path captured: views into the file's path, copied only for the
// categories that match.
struct Captured {
    std::optional<std::string_view> client;
    std::optional<std::string_view> matter;
};

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

// category_matches, telling apart a category whose every matcher held but `mime`. `ext` is
// the file's lowercase extension (extension_of), worked out once per file.
Matched match_category(const policy::Category& category, const scan::FileFacts& facts,
                       std::string_view ext, Captured& captured, std::string* why,
                       FileLookups* lookups, std::optional<ContentType>* content) {
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
        std::find(category.extensions.begin(), category.extensions.end(), ext) ==
            category.extensions.end()) {
        return Matched::No;
    }
    const util::Glob* matched = nullptr;
    if (!category.paths.empty()) {
        for (const auto& glob : category.paths) {
            Captured caps;
            if (glob_matches(glob, facts.path, caps)) {
                captured = caps;
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
    if (why != nullptr) {
        std::vector<std::string> parts;
        if (matched != nullptr) parts.push_back(fmt::format("path matches '{}'", matched->pattern()));
        if (!category.extensions.empty()) parts.push_back(fmt::format("extension '{}'", ext));
        if (category.min_size || category.max_size) parts.push_back(fmt::format("size {} bytes within bounds", facts.size));
        if (!category.mime.empty()) {
            parts.push_back(fmt::format("content type '{}' is one of {}", *(*content)->mime,
                                        fmt::join(category.mime, ", ")));
        }
        if (!category.owners.empty()) parts.push_back(fmt::format("owner uid {}", facts.uid));
        if (!category.groups.empty()) parts.push_back(fmt::format("group gid {}", facts.gid));
        if (parts.empty()) parts.emplace_back("no matchers: every file");
        *why = fmt::format("{}", fmt::join(parts, ", "));
    }
    return Matched::Yes;
}

std::optional<std::string> to_owned(const std::optional<std::string_view>& view) {
    return view ? std::optional<std::string>(std::in_place, *view) : std::nullopt;
}

}  // namespace

bool category_matches(const policy::Category& category, const scan::FileFacts& facts,
                      std::optional<std::string>* client, std::optional<std::string>* matter,
                      std::string* why, FileLookups* lookups, std::optional<ContentType>* content) {
    std::string buffer;
    Captured captured;
    if (match_category(category, facts, extension_of(facts.path, buffer), captured, why, lookups,
                       content) != Matched::Yes) {
        return false;
    }
    if (client != nullptr && captured.client) *client = std::string(*captured.client);
    if (matter != nullptr && captured.matter) *matter = std::string(*captured.matter);
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
    std::string_view path(facts.path);
    std::string_view name = path.substr(path.rfind('/') == std::string_view::npos ? 0 : path.rfind('/') + 1);
    if (is_marker(name)) return best;
    std::optional<Match> winner;
    std::string rule;
    // The file's content type, sniffed once when a category with `mime` first needs it.
    std::optional<ContentType> content;
    // A category with `mime` whose cheaper matchers held but whose content could not be read.
    const policy::Category* unsniffed = nullptr;

    // A pin overrides the matchers; a pin to a category that does not exist is never acted on.
    static const std::string kPinName(policy::kPinXattr);
    std::optional<std::string> pin;
    if (options.lookups != nullptr) pin = options.lookups->xattr(facts.path, kPinName);

    auto consider = [&](Match m) {
        date_match(m, facts, options.lookups, options.explain);
        ++best.matched_categories;
        bool better = !winner || keeps_better(m, *winner);
        if (options.explain) best.matches.push_back(m);
        if (better) winner = std::move(m);
    };

    if (pin) {
        for (const auto& schedule : schedules) {
            for (const auto& category : schedule.categories) {
                if (category.id != *pin) continue;
                Match m;
                m.schedule = &schedule;
                m.category = &category;
                m.why = fmt::format("pinned by the {} attribute", policy::kPinXattr);
                (void)category_matches(category, facts, &m.client, &m.matter, nullptr);
                consider(std::move(m));
            }
        }
        if (!winner) {
            best.status = Status::Skipped;
            best.reason = fmt::format("pinned by {} to category '{}', which no schedule defines",
                                      policy::kPinXattr, *pin);
            return best;
        }
        rule = fmt::format("pinned to '{}' by the {} attribute", *pin, policy::kPinXattr);
    } else {
        std::string ext_buffer;
        std::string_view ext = extension_of(facts.path, ext_buffer);
        std::string why;
        for_each_candidate([&](const policy::RetentionSchedule& schedule, const policy::Category& category) {
            Captured captured;
            Matched matched = match_category(category, facts, ext, captured,
                                             options.explain ? &why : nullptr,
                                             options.lookups, &content);
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
            Match m;
            m.schedule = &schedule;
            m.category = &category;
            m.why = std::move(why);
            m.client = to_owned(captured.client);
            m.matter = to_owned(captured.matter);
            consider(std::move(m));
        });
    }
    best.content = content;
    if (!winner) {
        if (unsniffed != nullptr) {
            best.reason = fmt::format("may belong to category '{}', but {}", unsniffed->id,
                                      content->problem);
        }
        return best;
    }

    best.schedule = winner->schedule;
    best.category = winner->category;
    best.client = std::move(winner->client);
    best.matter = std::move(winner->matter);
    best.trigger_date = winner->trigger_date.value_or(util::Date{});
    best.expires = winner->expires;
    best.action = winner->category->action;
    best.trigger_note = winner->note;
    if (options.explain) {
        if (rule.empty() && best.matched_categories == 1) rule = "the only category that matched";
        for (const auto& m : best.matches) {
            if (!rule.empty()) break;
            if (m.category == winner->category) continue;
            if (compare_expiry(m, *winner) != 0) continue;
            rule = m.category->precedence() != winner->category->precedence()
                       ? fmt::format("expires with '{}' but its action is more protective ({} > {})",
                                     m.category->id, policy::to_string(winner->category->precedence()),
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
    // original's dates in xattrs): its retention runs on from the original's, and the copy
    // itself is kept `archive_for` after it was made (permanently by default), then
    // sanitized. It is never encrypted again.
    bool encrypted_copy = false;
    if (pin && options.lookups != nullptr && name.size() > 4 &&
        name.substr(name.size() - 4) == ".age") {
        std::string prefix(policy::kPinXattr.substr(0, policy::kPinXattr.rfind('.') + 1));
        if (options.lookups->xattr(facts.path, prefix + "expires")) {
            encrypted_copy = true;
            if (auto t = options.lookups->xattr(facts.path, prefix + "trigger_date")) {
                if (auto d = util::parse_date(*t)) best.trigger_date = *d;
            }
            util::Date made = winner->schedule->zone.local_date(facts.mtime);
            if (auto e = options.lookups->xattr(facts.path, prefix + "encrypted")) {
                if (auto d = util::parse_date(*e)) made = *d;
            }
            best.expires = winner->category->archive_for
                               ? std::optional(winner->category->archive_for->add_to(made))
                               : std::nullopt;
            best.action = policy::Action::Sanitize;
            best.trigger_note = fmt::format(
                "encrypted copy made {}: kept {} after that (the category's archive_for), then "
                "sanitized",
                util::format_date(made),
                winner->category->archive_for ? winner->category->archive_for->to_string()
                                              : "permanently");
        }
    }
    if (!encrypted_copy && !winner->problem.empty()) {
        best.status = Status::Skipped;
        best.reason = winner->problem;
        return best;
    }
    // Due from local midnight of the expiry date in the deciding schedule's zone.
    if (!best.expires || winner->schedule->zone.local_date(now) < *best.expires) {
        best.status = Status::NotDue;
        return best;
    }
    best.status = Status::Due;
    if (unsniffed != nullptr) {
        // The category that could not be checked may keep the file longer: fail closed.
        best.status = Status::Skipped;
        best.reason = fmt::format("may belong to category '{}' (mime), but {}; not acted on until "
                                  "its content type can be read",
                                  unsniffed->id, content->problem);
        return best;
    }
    if (winner->category->needs_review()) {
        best.status = Status::Review;
        best.reason = best.action == policy::Action::Review
                          ? fmt::format("the category's action is review: a records manager "
                                        "decides; approval disposes with {}",
                                        policy::to_string(winner->category->approved_action()))
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
    return path.substr(0, std::min(path.find('/'), path.size()));
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
            for (const auto& category : schedule.categories) visit(schedule, category);
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
    for (const auto& schedule : schedules) {
        for (const auto& event : schedule.events) {
            if (!event.marker.empty()) m_markers.push_back(event.marker);
        }
        for (const auto& category : schedule.categories) {
            Keyed k{{&schedule, &category}, {}};
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
        std::vector<Candidate>& list = m_by_segment[segment];
        for (const auto& k : keyed) {
            if (k.segments.empty() ||
                std::find(k.segments.begin(), k.segments.end(), segment) != k.segments.end()) {
                list.push_back(k.candidate);
            }
        }
    }
    for (const auto& k : keyed) {
        if (k.segments.empty()) m_other.push_back(k.candidate);
    }
}

const std::vector<Classifier::Candidate>& Classifier::candidates(std::string_view path) const {
    auto it = m_by_segment.find(first_segment(path));
    return it == m_by_segment.end() ? m_other : it->second;
}

Decision Classifier::classify(const scan::FileFacts& facts, util::TimePoint now,
                              const ClassifyOptions& options) const {
    auto is_marker = [&](std::string_view name) {
        return std::find(m_markers.begin(), m_markers.end(), name) != m_markers.end();
    };
    const std::vector<Candidate>& candidates = this->candidates(facts.path);
    auto indexed = [&](const auto& visit) {
        for (const Candidate& c : candidates) visit(*c.schedule, *c.category);
    };
    return classify_with(facts, *m_schedules, now, options, is_marker, indexed);
}

}  // namespace lethe::classify

// Categories that can never win (shadow_warnings), found without comparing every pair: a
// schedule of 10,000 categories is 10^8 pairs, and comparing them all made loading such a
// schedule take minutes.

#include <algorithm>
#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "agent/policy/schedule.hpp"

namespace lethe::policy {

namespace {

// Whether every value of `narrow` is one of `wide` (an empty `wide` takes any value; an
// empty `narrow` then is covered only by an empty `wide`).
template <typename T>
bool list_covers(const std::vector<T>& wide, const std::vector<T>& narrow) {
    if (wide.empty()) return true;
    if (narrow.empty()) return false;
    return std::all_of(narrow.begin(), narrow.end(), [&](const T& x) {
        return std::find(wide.begin(), wide.end(), x) != wide.end();
    });
}

bool paths_cover(const Category& wide, const Category& narrow) {
    if (wide.paths.empty()) return true;
    if (narrow.paths.empty()) return false;
    return std::all_of(narrow.paths.begin(), narrow.paths.end(), [&](const util::Glob& n) {
        return std::any_of(wide.paths.begin(), wide.paths.end(),
                           [&](const util::Glob& w) { return w.pattern() == n.pattern(); });
    });
}

bool mime_covers(const Category& wide, const Category& narrow) {
    if (wide.mime.empty()) return true;
    if (narrow.mime.empty()) return false;
    return std::all_of(narrow.mime.begin(), narrow.mime.end(), [&](const std::string& m) {
        // "image/*" in narrow is covered only by "image/*" in wide.
        return m.back() == '*' ? std::find(wide.mime.begin(), wide.mime.end(), m) != wide.mime.end()
                               : mime_matches(wide.mime, m);
    });
}

// Whether every file `narrow` matches is also matched by `wide` (a sound, not complete,
// test: only the shapes a schedule writer produces by copy and paste). Allocates nothing.
bool covers(const Category& wide, const Category& narrow) {
    if (wide.min_size && (!narrow.min_size || *narrow.min_size < *wide.min_size)) return false;
    if (wide.max_size && (!narrow.max_size || *narrow.max_size > *wide.max_size)) return false;
    return paths_cover(wide, narrow) && list_covers(wide.extensions, narrow.extensions) &&
           mime_covers(wide, narrow) && list_covers(wide.owners, narrow.owners) &&
           list_covers(wide.groups, narrow.groups);
}

// Whether `a` keeps every file at least as long as `b` (same trigger and cutoff, and each
// calendar component at least as large).
bool keeps_at_least_as_long(const Category& a, const Category& b) {
    if (a.trigger != b.trigger || a.event != b.event || !(a.cutoff == b.cutoff)) return false;
    if (a.retain.permanent) return true;
    if (b.retain.permanent) return false;
    constexpr int64_t kMonthsPerYear = 12;
    return int64_t{a.retain.years} * kMonthsPerYear + a.retain.months >=
               int64_t{b.retain.years} * kMonthsPerYear + b.retain.months &&
           a.retain.days >= b.retain.days;
}

// Indices of categories, in schedule order.
using Indices = std::vector<size_t>;

// Two sorted lists of candidates, walked as one in increasing order.
struct Candidates {
    const Indices* first = nullptr;
    const Indices* second = nullptr;  // may be null
    [[nodiscard]] size_t size() const {
        return first->size() + (second != nullptr ? second->size() : 0);
    }
    // Calls visit(j) in increasing j until it returns true; whether one did.
    template <typename Visit>
    bool find(Visit visit) const {
        static const Indices kNone;
        const Indices& b = second != nullptr ? *second : kNone;
        size_t x = 0;
        size_t y = 0;
        while (x < first->size() || y < b.size()) {
            bool take_first = y == b.size() || (x < first->size() && (*first)[x] < b[y]);
            if (visit(take_first ? (*first)[x++] : b[y++])) return true;
        }
        return false;
    }
};

// One matcher list as an index: a category that covers another must either not use the
// matcher or list each of the other's values, so the categories without it plus those
// listing one of the other's values hold every category that may cover it.
struct MatcherIndex {
    Indices without;
    std::unordered_map<std::string, Indices> listing;

    template <typename Values>
    void add(size_t i, const Values& values) {
        if (values.empty()) without.push_back(i);
        for (const auto& v : values) {
            Indices& list = listing[std::string(v)];
            if (list.empty() || list.back() != i) list.push_back(i);
        }
    }

    // The categories that may cover one with `values`.
    template <typename Values>
    [[nodiscard]] Candidates candidates(const Values& values) const {
        if (values.empty()) return {&without, nullptr};
        const Indices* fewest = nullptr;
        for (const auto& v : values) {
            auto it = listing.find(std::string(v));
            const Indices* list = it == listing.end() ? &kEmpty : &it->second;
            if (fewest == nullptr || list->size() < fewest->size()) fewest = list;
        }
        return {&without, fewest};
    }

    static const Indices kEmpty;
};
const Indices MatcherIndex::kEmpty;

std::vector<std::string> patterns_of(const Category& c) {
    std::vector<std::string> out;
    out.reserve(c.paths.size());
    for (const auto& g : c.paths) out.push_back(g.pattern());
    return out;
}

std::vector<std::string> ids_of(const std::vector<uint32_t>& ids) {
    std::vector<std::string> out;
    out.reserve(ids.size());
    for (uint32_t id : ids) out.push_back(std::to_string(id));
    return out;
}

// A category can only be beaten by one with the same clock (keeps_at_least_as_long).
std::string clock_of(const Category& c) {
    return fmt::format("{}\n{}\n{}", to_string(c.trigger), c.event, c.cutoff.to_string());
}

// Every category that may shadow a given one is in each of these; the smallest is searched.
class ShadowIndex {
public:
    explicit ShadowIndex(const std::vector<Category>& cats) {
        for (size_t i = 0; i < cats.size(); ++i) {
            m_paths.add(i, patterns_of(cats[i]));
            m_extensions.add(i, cats[i].extensions);
            m_owners.add(i, ids_of(cats[i].owners));
            m_groups.add(i, ids_of(cats[i].groups));
            m_clocks[clock_of(cats[i])].push_back(i);
        }
    }

    [[nodiscard]] Candidates smallest(const Category& c) const {
        Candidates best{&m_clocks.at(clock_of(c)), nullptr};
        for (const Candidates& other :
             {m_paths.candidates(patterns_of(c)), m_extensions.candidates(c.extensions),
              m_owners.candidates(ids_of(c.owners)), m_groups.candidates(ids_of(c.groups))}) {
            if (other.size() < best.size()) best = other;
        }
        return best;
    }

private:
    MatcherIndex m_paths;
    MatcherIndex m_extensions;
    MatcherIndex m_owners;
    MatcherIndex m_groups;
    std::unordered_map<std::string, Indices> m_clocks;
};

}  // namespace

std::vector<std::string> shadow_warnings(const RetentionSchedule& schedule) {
    std::vector<std::string> out;
    const auto& cats = schedule.categories;
    const ShadowIndex index(cats);
    for (size_t i = 0; i < cats.size(); ++i) {
        // The first category (in schedule order) that beats cats[i] is the one named.
        index.smallest(cats[i]).find([&](size_t j) {
            if (i == j || !covers(cats[j], cats[i]) || !keeps_at_least_as_long(cats[j], cats[i])) {
                return false;
            }
            // On an equal expiry the more protective action wins, then the earlier category.
            bool strictly_longer = !keeps_at_least_as_long(cats[i], cats[j]);
            Action wide = cats[j].precedence();
            Action narrow = cats[i].precedence();
            bool wins_tie = wide > narrow || (wide == narrow && j < i);
            if (!strictly_longer && !wins_tie) return false;
            out.push_back(fmt::format(
                "{}: category '{}' can never win: category '{}' matches every file it "
                "matches and keeps it {} (retain {} vs {}, action {} vs {})",
                located(schedule.source_path, cats[i].id_at), cats[i].id, cats[j].id,
                strictly_longer ? "longer" : "as long with a winning action",
                cats[j].retain.to_string(), cats[i].retain.to_string(), to_string(wide),
                to_string(narrow)));
            return true;
        });
    }
    return out;
}

}  // namespace lethe::policy

#include "agent/classify/decision.hpp"

#include <sys/stat.h>

#include <algorithm>

namespace lethe::classify {

std::string_view to_string(Status status) {
    switch (status) {
        case Status::Unmatched: return "unmatched";
        case Status::NotDue: return "not-due";
        case Status::Due: return "due";
        case Status::Skipped: return "skipped";
    }
    return "unmatched";
}

namespace {

std::string lowercase_extension(std::string_view path) {
    auto name = path.substr(path.rfind('/') == std::string_view::npos ? 0 : path.rfind('/') + 1);
    auto dot = name.rfind('.');
    if (dot == std::string_view::npos || dot == 0) return {};
    std::string ext(name.substr(dot + 1));
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return ext;
}

// Whether a candidate (expiry, action) keeps the file longer or more protectively than the
// current best.
bool keeps_better(const std::optional<util::Date>& expiry, policy::Action action,
                  const std::optional<util::Date>& best_expiry, policy::Action best_action) {
    if (expiry != best_expiry) {
        if (!expiry) return true;        // permanent beats any date
        if (!best_expiry) return false;
        return *expiry > *best_expiry;
    }
    return static_cast<int>(action) > static_cast<int>(best_action);
}

}  // namespace

bool category_matches(const policy::Category& category, std::string_view path,
                      std::optional<std::string>* client, std::optional<std::string>* matter) {
    if (!category.extensions.empty()) {
        std::string ext = lowercase_extension(path);
        if (std::find(category.extensions.begin(), category.extensions.end(), ext) ==
            category.extensions.end()) {
            return false;
        }
    }
    if (category.paths.empty()) return true;
    for (const auto& glob : category.paths) {
        util::Glob::Captures caps;
        if (glob.matches(path, &caps)) {
            if (auto it = caps.find("client"); it != caps.end()) *client = it->second;
            if (auto it = caps.find("matter"); it != caps.end()) *matter = it->second;
            return true;
        }
    }
    return false;
}

Decision classify(const scan::FileFacts& facts,
                  const std::vector<policy::RetentionSchedule>& schedules, util::Date today) {
    Decision best;
    for (const auto& schedule : schedules) {
        for (const auto& category : schedule.categories) {
            std::optional<std::string> client;
            std::optional<std::string> matter;
            if (!category_matches(category, facts.path, &client, &matter)) continue;
            ++best.matched_categories;

            util::Date trigger = util::date_of(facts.mtime);  // Trigger::Modified
            std::optional<util::Date> expiry;
            if (!category.retain.permanent) expiry = category.retain.add_to(trigger);

            if (best.category == nullptr ||
                keeps_better(expiry, category.action, best.expires, best.action)) {
                best.schedule = &schedule;
                best.category = &category;
                best.client = std::move(client);
                best.matter = std::move(matter);
                best.trigger_date = trigger;
                best.expires = expiry;
                best.action = category.action;
            }
        }
    }
    if (best.category == nullptr) {
        return best;
    }
    if (!best.expires || today < *best.expires) {
        best.status = Status::NotDue;
        return best;
    }
    best.status = Status::Due;
    if (best.action == policy::Action::Sanitize && facts.nlink > 1) {
        best.status = Status::Skipped;
        best.reason = "hard links: overwriting would destroy the data of the other names";
    }
    return best;
}

}  // namespace lethe::classify

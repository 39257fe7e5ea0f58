#include "agent/service/erase.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "agent/util/encoding.hpp"
#include "agent/util/plural.hpp"

namespace lethe::service {

namespace {

// The client and matter the schedules' path patterns capture for `path`.
void capture(const std::vector<policy::RetentionSchedule>& schedules, const std::string& path,
             std::optional<std::string>* client, std::optional<std::string>* matter) {
    for (const auto& schedule : schedules) {
        for (const auto& category : schedule.categories) {
            for (const auto& glob : category.paths) {
                util::Glob::Captures caps;
                if (!glob.matches(path, &caps)) continue;
                auto c = caps.find("client");
                if (c == caps.end()) continue;
                *client = c->second;
                if (auto m = caps.find("matter"); m != caps.end()) *matter = m->second;
                return;
            }
        }
    }
}

ErasureVerdict kept(std::string reason) {
    ErasureVerdict v;
    v.reason = std::move(reason);
    return v;
}

}  // namespace

std::string_view ErasureItem::to_string(Outcome outcome) {
    switch (outcome) {
        case Outcome::Erased:
            return "erased";
        case Outcome::WouldErase:
            return "would-erase";
        case Outcome::Kept:
            return "kept";
        case Outcome::Failed:
            return "failed";
    }
    return "kept";
}

nlohmann::json ErasureItem::to_json() const {
    nlohmann::json j = {{"kind", kind == Kind::File ? "file" : "archive"},
                        {"outcome", to_string(outcome)},
                        {"root", root}};
    if (kind == Kind::File) {
        put_path(j, path);
        j["category"] = category;
    } else {
        j["archive"] = path;
        j["members"] = members;
    }
    j["size"] = size;
    if (!action.empty()) j["action"] = action;
    if (!reason.empty()) j["reason"] = reason;
    if (!holds.empty()) j["holds"] = holds;
    if (!mandate.empty()) j["mandate"] = mandate;
    if (certificate != 0) j["certificate"] = certificate;
    return j;
}

nlohmann::json ErasureRequest::certificate_field() const {
    nlohmann::json j = {
        {"reference", reference}, {"by", by}, {"client", util::utf8_display(client)}};
    if (matter) j["matter"] = util::utf8_display(*matter);
    return j;
}

CategoryRef find_category(const std::vector<policy::RetentionSchedule>& schedules,
                          const std::string& schedule_id, const std::string& category_id) {
    for (const auto& s : schedules) {
        if (s.id != schedule_id) continue;
        for (const auto& c : s.categories) {
            if (c.id == category_id) return {&s, &c};
        }
    }
    return {};
}

ErasureVerdict erasure_verdict(const PlanEntry& entry,
                               const std::vector<policy::RetentionSchedule>& schedules,
                               const HoldSet& holds, const policy::LocalToday& today) {
    auto held = holds.covering(entry.root, entry.facts.path, entry.client, entry.matter,
                               today.of(entry.schedule_id));
    if (!held.empty()) {
        ErasureVerdict v = kept(fmt::format("legal hold {}", fmt::join(held, ", ")));
        v.holds = std::move(held);
        return v;
    }
    CategoryRef ref = find_category(schedules, entry.schedule_id, entry.category);
    if (ref.category == nullptr)
        return kept(entry.reason.empty() ? "in no category" : entry.reason);
    if (!ref.category->erasable) {
        ErasureVerdict v = kept(
            fmt::format("category {} is not erasable{}", entry.category,
                        ref.category->mandate.empty() ? "" : " (" + ref.category->mandate + ")"));
        v.mandate = ref.category->mandate;
        return v;
    }
    if (ref.schedule->mode != policy::Mode::Enforce) {
        return kept(
            fmt::format("schedule {} is in observe mode: it never destroys", ref.schedule->id));
    }
    ErasureVerdict v;
    v.action =
        entry.action == policy::Action::Delete ? policy::Action::Delete : policy::Action::Sanitize;
    if (v.action == policy::Action::Sanitize && entry.facts.nlink > 1) {
        return kept("hard links: overwriting would destroy the data of the other names");
    }
    v.erase = true;
    return v;
}

std::vector<ArchiveErasure> archives_in_scope(
    const ArchiveIndex& index, const std::vector<policy::RetentionSchedule>& schedules,
    const HoldSet& holds, const ErasureRequest& request, const policy::LocalToday& today) {
    std::vector<ArchiveErasure> out;
    for (const IndexedArchive* a : index.live()) {
        size_t ours = 0;
        for (const auto& m : a->members) {
            std::optional<std::string> client = a->client;
            std::optional<std::string> matter = a->matter;
            // An archive written without a captured client, or without a matter when the
            // request names one: attribute each member by the schedules' path patterns.
            if (!client || (request.matter && !matter)) {
                std::optional<std::string> c;
                std::optional<std::string> mt;
                capture(schedules, m.path, &c, &mt);
                if (!client) client = c;
                if (!matter && client == c) matter = mt;
            }
            if (client == request.client && (!request.matter || matter == request.matter)) ++ours;
        }
        if (ours == 0) continue;
        ArchiveErasure e{a, {}};
        auto held = holds_on_archive(*a, holds, today);
        if (ours != a->members.size()) {
            e.verdict = kept(fmt::format(
                "the archive also holds {} of other data; lethe cannot erase part of an "
                "archive, so it is kept whole (see the records manager guide)",
                util::counted(a->members.size() - ours, "copy", "copies")));
        } else if (!held.empty()) {
            e.verdict = kept(fmt::format("legal hold {}", fmt::join(held, ", ")));
            e.verdict.holds = std::move(held);
        } else {
            e.verdict.erase = true;
            for (const auto& m : a->members) {
                CategoryRef ref = find_category(schedules, m.schedule, m.category);
                if (ref.category != nullptr && !ref.category->erasable) {
                    e.verdict = kept(fmt::format(
                        "member {} is in category {}, which is not "
                        "erasable{}",
                        util::utf8_display(m.path), m.category,
                        ref.category->mandate.empty() ? "" : " (" + ref.category->mandate + ")"));
                    e.verdict.mandate = ref.category->mandate;
                    break;
                }
                if (ref.schedule == nullptr || ref.schedule->mode != policy::Mode::Enforce) {
                    e.verdict =
                        kept(fmt::format("schedule {} of member {} is not loaded or in "
                                         "observe mode",
                                         m.schedule, util::utf8_display(m.path)));
                    break;
                }
            }
        }
        out.push_back(std::move(e));
    }
    return out;
}

Result<ErasureDryRun> dry_run_erasure(const policy::AgentConfig& config,
                                      const std::vector<policy::RetentionSchedule>& schedules,
                                      const ErasureRequest& request, util::TimePoint now,
                                      const std::optional<std::string>& root) {
    // Both must be readable before anything is decided, as for the erasure itself.
    auto index = load_archive_index(config.state_dir);
    if (!index) return fail(index.error());
    auto holds = load_holds(config.state_dir);
    if (!holds) return fail(holds.error());
    // Holds are judged on today in the zone of each file's (or copy's) schedule.
    const policy::LocalToday today(schedules, now);
    auto report = [&request](const ErasureItem& item) {
        if (request.on_item) request.on_item(item);
    };

    ErasureDryRun out;
    PlanOptions plan_options;
    plan_options.now = now;
    plan_options.root = root;
    plan_options.client = request.client;
    plan_options.matter = request.matter;
    plan_options.list_all = true;
    auto planned = make_plan(config, schedules, plan_options, [&](const PlanEntry& e) {
        ErasureVerdict v = erasure_verdict(e, schedules, *holds, today);
        ErasureItem item;
        item.root = e.root;
        item.path = e.facts.path;
        item.category = e.category;
        item.size = e.facts.size;
        if (v.erase) {
            ++out.files;
            out.bytes += e.facts.size;
            item.outcome = ErasureItem::Outcome::WouldErase;
            item.action = std::string(policy::to_string(v.action));
        } else {
            ++(v.holds.empty() ? out.kept : out.held);
            item.reason = v.reason;
            item.holds = v.holds;
            item.mandate = v.mandate;
        }
        report(item);
    });
    if (!planned) return fail(planned.error());
    for (const auto& a : archives_in_scope(*index, schedules, *holds, request, today)) {
        if (root && a.archive->root != *root) continue;
        ErasureItem item;
        item.kind = ErasureItem::Kind::Archive;
        item.root = a.archive->root;
        item.path = a.archive->name;
        item.size = a.archive->bytes;
        item.members = a.archive->members.size();
        if (a.verdict.erase) {
            ++out.archives;
            out.copies += a.archive->members.size();
            item.outcome = ErasureItem::Outcome::WouldErase;
            item.action = "sanitize";
        } else {
            ++(a.verdict.holds.empty() ? out.kept : out.held);
            item.reason = a.verdict.reason;
            item.holds = a.verdict.holds;
            item.mandate = a.verdict.mandate;
        }
        report(item);
    }
    out.needs_confirm_large =
        out.files + out.copies > static_cast<uint64_t>(config.max_disposals_per_pass);
    return out;
}

}  // namespace lethe::service

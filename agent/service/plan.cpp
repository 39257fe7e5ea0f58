#include "agent/service/plan.hpp"

#include "agent/service/encrypted_index.hpp"

#include <algorithm>
#include <mutex>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "agent/classify/lookups.hpp"
#include "agent/service/config_safety.hpp"
#include "agent/service/mount_safety.hpp"
#include "agent/util/encoding.hpp"
#include "agent/util/log.hpp"

namespace lethe::service {

void put_path(nlohmann::json& j, const std::string& bytes) {
    if (util::is_valid_utf8(bytes)) {
        j["path"] = bytes;
    } else {
        j["path"] = util::utf8_display(bytes);
        j["path_b64"] = util::base64_encode(bytes);
    }
}

Result<std::string> get_path(const nlohmann::json& j) {
    if (auto b64 = j.find("path_b64"); b64 != j.end() && b64->is_string()) {
        auto raw = util::base64_decode(b64->get<std::string>());
        if (!raw) return fail(ErrorKind::BadInput, "path_b64 is not valid base64");
        return *raw;
    }
    if (auto p = j.find("path"); p != j.end() && p->is_string()) return p->get<std::string>();
    return fail(ErrorKind::BadInput, "entry has no path");
}

PlanEntry make_entry(const std::string& root, const scan::FileFacts& facts,
                     const classify::Decision& decision) {
    PlanEntry e;
    e.root = root;
    e.facts = facts;
    e.status = decision.status;
    e.reason = decision.reason;
    if (decision.category != nullptr) {
        e.category = decision.category->id;
        e.mandate = decision.category->mandate;
        e.schedule_id = decision.schedule->id;
        e.schedule_version = decision.schedule->version;
        e.schedule_sha256 = decision.schedule->sha256;
        e.mode = decision.schedule->mode;
    }
    e.client = decision.client;
    e.matter = decision.matter;
    e.trigger_date = decision.trigger_date;
    e.expires = decision.expires;
    e.action = decision.action;
    if (decision.status == classify::Status::Review && decision.category != nullptr) {
        e.action = decision.category->approved_action();
        e.review = nlohmann::json::object();
    }
    return e;
}

nlohmann::json PlanEntry::to_json() const {
    nlohmann::json j;
    j["root"] = root;
    put_path(j, facts.path);
    j["category"] = category;
    j["schedule"] = schedule_id;
    j["schedule_version"] = schedule_version;
    j["schedule_sha256"] = schedule_sha256;
    j["mode"] = std::string(policy::to_string(mode));
    if (client) j["client"] = util::utf8_display(*client);
    if (matter) j["matter"] = util::utf8_display(*matter);
    j["trigger_date"] = util::format_date(trigger_date);
    j["expires"] = expires ? util::format_date(*expires) : "permanent";
    j["action"] = std::string(policy::to_string(action));
    j["status"] = std::string(classify::to_string(status));
    if (!reason.empty()) j["reason"] = reason;
    if (!holds.empty()) j["holds"] = holds;
    if (!review.is_null()) j["review"] = review;
    j["size"] = facts.size;
    j["inode"] = facts.inode;
    j["device"] = facts.device;
    j["nlink"] = facts.nlink;
    j["mtime"] = util::format_timestamp(facts.mtime, true);
    return j;
}

Result<PlanEntry> PlanEntry::from_json(const nlohmann::json& j) {
    try {
        PlanEntry e;
        e.root = j.at("root").get<std::string>();
        auto path = get_path(j);
        if (!path) return fail(path.error());
        e.facts.path = *path;
        e.category = j.at("category").get<std::string>();
        e.schedule_id = j.at("schedule").get<std::string>();
        e.schedule_version = j.at("schedule_version").get<int64_t>();
        e.schedule_sha256 = j.at("schedule_sha256").get<std::string>();
        e.mode = j.at("mode").get<std::string>() == "enforce" ? policy::Mode::Enforce
                                                              : policy::Mode::Observe;
        if (j.contains("client")) e.client = j.at("client").get<std::string>();
        if (j.contains("matter")) e.matter = j.at("matter").get<std::string>();
        auto trigger = util::parse_date(j.at("trigger_date").get<std::string>());
        if (!trigger) return fail(trigger.error());
        e.trigger_date = *trigger;
        std::string expires = j.at("expires").get<std::string>();
        if (expires != "permanent") {
            auto d = util::parse_date(expires);
            if (!d) return fail(d.error());
            e.expires = *d;
        }
        std::string action = j.at("action").get<std::string>();
        if (action == "sanitize") {
            e.action = policy::Action::Sanitize;
        } else if (action == "delete") {
            e.action = policy::Action::Delete;
        } else if (action == "archive") {
            e.action = policy::Action::Archive;
        } else if (action == "encrypt") {
            e.action = policy::Action::Encrypt;
        } else {
            return fail(ErrorKind::BadInput, fmt::format("plan entry: unsupported action '{}'", action));
        }
        std::string status = j.at("status").get<std::string>();
        e.status = status == "due" ? classify::Status::Due : classify::Status::Skipped;
        e.facts.size = j.at("size").get<uint64_t>();
        e.facts.inode = j.at("inode").get<uint64_t>();
        e.facts.device = j.at("device").get<uint64_t>();
        e.facts.nlink = j.at("nlink").get<uint32_t>();
        if (auto r = j.find("review"); r != j.end() && r->is_object()) e.review = *r;
        auto mtime = util::parse_timestamp(j.at("mtime").get<std::string>());
        if (!mtime) return fail(mtime.error());
        e.facts.mtime = *mtime;
        return e;
    } catch (const nlohmann::json::exception& ex) {
        return fail(ErrorKind::BadInput, fmt::format("plan entry: {}", ex.what()));
    }
}

void apply_holds(PlanEntry& entry, const HoldSet& holds, util::Date today) {
    if (entry.status != classify::Status::Due && entry.status != classify::Status::Skipped &&
        entry.status != classify::Status::Review) {
        return;
    }
    entry.holds = holds.covering(entry.root, entry.facts.path, entry.client, entry.matter, today);
    if (entry.holds.empty()) return;
    entry.status = classify::Status::Held;
    entry.reason = fmt::format("legal hold {}", fmt::join(entry.holds, ", "));
}

void PlanSummary::add(const PlanEntry& entry) {
    std::string status(classify::to_string(entry.status));
    by_status[status].add(entry.facts.size);
    if (entry.status == classify::Status::Due) {
        by_category[entry.category].add(entry.facts.size);
        by_action[std::string(policy::to_string(entry.action))].add(entry.facts.size);
        due_by_root[entry.root].add(entry.facts.size);
        if (entry.mode == policy::Mode::Enforce) {
            due_enforced_by_root[entry.root].add(entry.facts.size);
        }
    }
}

nlohmann::json PlanSummary::to_json() const {
    auto tallies = [](const std::map<std::string, Tally>& m) {
        nlohmann::json j = nlohmann::json::object();
        for (const auto& [k, t] : m) j[k] = {{"files", t.files}, {"bytes", t.bytes}};
        return j;
    };
    nlohmann::json roots = nlohmann::json::object();
    for (const auto& [name, w] : walks) {
        roots[name] = {{"files", w.files},
                       {"bytes", w.bytes},
                       {"folders", w.folders},
                       {"symlinks", w.symlinks},
                       {"special", w.special},
                       {"sockets", w.sockets},
                       {"fifos", w.fifos},
                       {"devices", w.devices},
                       {"excluded", w.excluded},
                       {"mount_points", w.mount_points},
                       {"refused_mounts", w.refused_mounts},
                       {"unreadable", w.unreadable},
                       {"vanished", w.vanished},
                       {"errors", w.errors},
                       {"non_utf8_names", w.non_utf8_names},
                       {"newline_names", w.newline_names},
                       {"largest_folder", w.largest_folder}};
    }
    nlohmann::json j = {{"type", "summary"},
                        {"by_status", tallies(by_status)},
                        {"by_category", tallies(by_category)},
                        {"by_action", tallies(by_action)},
                        {"unmatched", unmatched},
                        {"problems", problems},
                        {"roots", roots}};
    if (!horizons.empty()) {
        nlohmann::json& within = j["due_within"];
        // One date when every zone agrees (always, when no schedule names a zone).
        if (std::all_of(horizons.begin(), horizons.end(), [&](const auto& h) {
                return h.second == horizons.begin()->second;
            })) {
            within["until"] = util::format_date(horizons.begin()->second);
        }
        if (horizons.size() > 1) {
            nlohmann::json by_zone = nlohmann::json::object();
            for (const auto& [zone, day] : horizons) by_zone[zone] = util::format_date(day);
            within["until_by_zone"] = by_zone;
        }
        within["files"] = due_within.files;
        within["bytes"] = due_within.bytes;
    }
    if (client) j["client"] = util::utf8_display(*client);
    return j;
}

namespace {

// Today and the --due-within horizon in each schedule's zone, by the schedule's position.
// Read-only once made: shared by the walker threads.
class ScheduleDays {
public:
    ScheduleDays(const std::vector<policy::RetentionSchedule>& schedules,
                 const PlanOptions& options, PlanSummary& summary)
        : m_first(schedules.data()), m_utc_today(util::date_of(options.now)) {
        for (const auto& s : schedules) {
            util::Date local = s.zone.local_date(options.now);
            m_today.push_back(local);
            if (options.due_within) {
                m_horizon.push_back(options.due_within->add_to(local));
                summary.horizons[s.zone.name()] = m_horizon.back();
            }
        }
        if (options.due_within && schedules.empty()) {
            summary.horizons["UTC"] = options.due_within->add_to(m_utc_today);
        }
    }

    // `schedule` is a decision's: one of the schedules, or null (a pin to a category no
    // schedule defines), which is judged in UTC.
    [[nodiscard]] util::Date today_of(const policy::RetentionSchedule* schedule) const {
        return schedule == nullptr ? m_utc_today : m_today[index(schedule)];
    }
    [[nodiscard]] std::optional<util::Date> horizon_of(
        const policy::RetentionSchedule* schedule) const {
        if (m_horizon.empty() || schedule == nullptr) return std::nullopt;
        return m_horizon[index(schedule)];
    }

private:
    [[nodiscard]] size_t index(const policy::RetentionSchedule* schedule) const {
        return static_cast<size_t>(schedule - m_first);
    }

    const policy::RetentionSchedule* m_first;
    util::Date m_utc_today;
    std::vector<util::Date> m_today;
    std::vector<util::Date> m_horizon;  // empty without due_within
};

// The files one walker thread found, classified on that thread, held until the next flush.
class PlanSink : public scan::FileSink {
public:
    PlanSink(const std::string& root, int root_fd, const classify::Classifier& classifier,
             const PlanOptions& options, const ScheduleDays& days,
             std::mutex& lock, PlanSummary& summary,
             const std::function<void(const PlanEntry&)>& sink,
             const classify::IndexedCopies* copies)
        : m_root(root), m_classifier(classifier), m_options(options), m_days(days), m_lock(lock),
          m_summary(summary), m_sink(sink), m_lookups(root_fd, copies) {
        m_classify.lookups = &m_lookups;  // one per walker thread: FsLookups is not thread-safe
    }

    void file(const scan::FileFacts& facts) override {
        classify::Decision d = m_classifier.classify(facts, m_options.now, m_classify);
        if (d.status == classify::Status::Unmatched) {
            if (!m_options.client) ++m_unmatched;
            return;
        }
        if (m_options.client && d.client != m_options.client) return;
        if (m_options.matter && d.matter != m_options.matter) return;
        std::optional<util::Date> horizon = m_days.horizon_of(d.schedule);
        bool within = d.status == classify::Status::NotDue && horizon && d.expires &&
                      *d.expires <= *horizon;
        if (d.status == classify::Status::NotDue && !within && !m_options.list_all) {
            // Counted, never listed, never held (holds apply to due files): no entry built.
            m_not_due.add(facts.size);
            return;
        }
        Pending p{make_entry(m_root, facts, d), false, false};
        if (m_options.holds != nullptr) {
            apply_holds(p.entry, *m_options.holds, m_days.today_of(d.schedule));
        }
        p.within = within;
        p.listed = m_options.list_all || d.status != classify::Status::NotDue || p.within;
        m_pending.push_back(std::move(p));
        if (m_pending.size() >= kBatch) flush();
    }

    void flush() override {
        std::lock_guard guard(m_lock);
        m_summary.unmatched += m_unmatched;
        m_unmatched = 0;
        if (m_not_due.files > 0) {
            Tally& t = m_summary.by_status[std::string(classify::to_string(classify::Status::NotDue))];
            t.files += m_not_due.files;
            t.bytes += m_not_due.bytes;
            m_not_due = Tally{};
        }
        for (const auto& p : m_pending) {
            m_summary.add(p.entry);
            if (p.within) m_summary.due_within.add(p.entry.facts.size);
            if (p.listed) m_sink(p.entry);
        }
        m_pending.clear();
    }

private:
    static constexpr size_t kBatch = 256;
    struct Pending {
        PlanEntry entry;
        bool within;
        bool listed;
    };
    const std::string& m_root;
    const classify::Classifier& m_classifier;
    const PlanOptions& m_options;
    const ScheduleDays& m_days;
    std::mutex& m_lock;
    PlanSummary& m_summary;
    const std::function<void(const PlanEntry&)>& m_sink;
    std::vector<Pending> m_pending;
    uint64_t m_unmatched = 0;
    Tally m_not_due;  // not due, not listed: counted only
    classify::FsLookups m_lookups;
    classify::ClassifyOptions m_classify;
};

}  // namespace

Result<PlanSummary> make_plan(const policy::AgentConfig& config,
                              const std::vector<policy::RetentionSchedule>& schedules,
                              const PlanOptions& options,
                              const std::function<void(const PlanEntry&)>& sink) {
    PlanSummary summary;
    summary.client = options.client;
    const ScheduleDays days(schedules, options, summary);
    bool any_root = false;
    const classify::Classifier classifier(schedules);  // read-only: shared by the walker threads
    // lethe's encrypted copies, read once: they keep their retention through it where the
    // filesystem has no user xattrs.
    auto encrypted = load_encrypted_index(config.state_dir);
    if (!encrypted) return fail(encrypted.error());
    const auto copies = encrypted->by_root();
    // Mounts met by the walk are judged against lethe's own files and the other roots (the
    // config was checked before, but mounts may have changed since).
    auto mounts = MountGuard::make(guarded_paths(config, &schedules));
    if (!mounts) return fail(mounts.error());
    MountGuard& mount_guard = **mounts;
    for (const auto& root : config.roots) {
        if (options.root && *options.root != root.name) continue;
        auto root_copies = copies.find(root.name);
        const classify::IndexedCopies* indexed =
            root_copies == copies.end() ? nullptr : &root_copies->second;
        any_root = true;
        auto root_fd = scan::open_root(root.path);
        if (!root_fd) return fail(root_fd.error());
        scan::WalkOptions walk_options;
        walk_options.one_filesystem = root.one_filesystem;
        walk_options.exclude = root.exclude;
        walk_options.stop = options.stop;
        if (options.on_progress) {
            walk_options.on_progress = [&](const scan::WalkStats& s) {
                options.on_progress(root.name, s);
            };
        }
        // Classification runs on the walker threads (it only reads the schedules); each
        // thread hands its entries to the summary and the sink in batches, under one lock.
        std::mutex lock;
        auto make_sink = [&]() -> std::unique_ptr<scan::FileSink> {
            return std::make_unique<PlanSink>(root.name, root_fd->get(), classifier, options, days,
                                              lock, summary, sink, indexed);
        };
        walk_options.check_mount = [&](int folder_fd, std::string_view) {
            return mount_guard.refuse(folder_fd, root.name);
        };
        auto stats = scan::walk_concurrently(
            root_fd->get(), walk_options, make_sink,
            [&](std::string_view path, const Error& error) {
                std::lock_guard guard(lock);
                ++summary.problems;
                // A mount that shows lethe's own files or another root: an error the pass
                // counts as a failure, not a file it could not read.
                if (error.kind() == ErrorKind::Refused) {
                    util::log_error("{}: {}: {}", root.name, util::utf8_display(path),
                                    error.message());
                } else {
                    util::log_warning("{}: {}: {}", root.name, util::utf8_display(path),
                                      error.message());
                }
            });
        if (!stats && stats.error().kind() == ErrorKind::Stopped) {
            return fail(stats.error().with_context(fmt::format("root {}", root.name)));
        }
        if (!stats) return fail(stats.error());
        summary.walks[root.name] = *stats;
    }
    if (!any_root && options.root) {
        return fail(ErrorKind::BadInput, fmt::format("no root named '{}' in the config", *options.root));
    }
    return summary;
}

}  // namespace lethe::service

#include "agent/service/inventory.hpp"

#include "agent/service/encrypted_index.hpp"

#include <mutex>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "agent/classify/lookups.hpp"
#include "agent/util/encoding.hpp"
#include "agent/util/log.hpp"

namespace lethe::service {

namespace {

// The client and matter that the category path patterns capture for `path`, for a file
// that no category covers (its extension, say, is in none): it is still the client's.
void capture_owner(const std::vector<policy::RetentionSchedule>& schedules,
                   const std::string& path, std::optional<std::string>* client,
                   std::optional<std::string>* matter) {
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

using OnFile = std::function<void(const scan::FileFacts&, const classify::ClassifyOptions&)>;

// Calls a function for each file with this walker thread's own lookups beneath the root
// (event markers, the pin and event attributes, content types), as the plan classifies;
// the function takes its own lock.
class EachFileSink : public scan::FileSink {
public:
    EachFileSink(int root_fd, const OnFile& on_file, const classify::IndexedCopies* copies)
        : m_on_file(on_file), m_lookups(root_fd, copies) {
        m_classify.lookups = &m_lookups;  // FsLookups is not thread-safe: one per thread
    }
    void file(const scan::FileFacts& facts) override { m_on_file(facts, m_classify); }
    void flush() override {}

private:
    const OnFile& m_on_file;
    classify::FsLookups m_lookups;
    classify::ClassifyOptions m_classify;
};

nlohmann::json tallies(const std::map<std::string, Tally>& m) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [k, t] : m) j[k] = {{"files", t.files}, {"bytes", t.bytes}};
    return j;
}

}  // namespace

nlohmann::json InventoryEntry::to_json() const {
    nlohmann::json j;
    j["root"] = root;
    put_path(j, facts.path);
    j["client"] = util::utf8_display(client);
    if (matter) j["matter"] = util::utf8_display(*matter);
    j["size"] = facts.size;
    j["mtime"] = util::format_timestamp(facts.mtime, true);
    if (category.empty()) {
        j["category"] = nullptr;
        j["action"] = nullptr;
        j["expires"] = nullptr;
        j["status"] = "in-no-category";
        j["reason"] = "no category covers it: kept, never disposed of by lethe";
        j["holds"] = holds;
        return j;
    }
    j["category"] = category;
    j["trigger_date"] = util::format_date(trigger_date);
    j["expires"] = expires ? util::format_date(*expires) : "permanent";
    j["action"] = std::string(policy::to_string(action));
    j["status"] = std::string(classify::to_string(status));
    if (!reason.empty()) j["reason"] = reason;
    j["holds"] = holds;
    return j;
}

nlohmann::json InventorySummary::to_json() const {
    nlohmann::json categories = nlohmann::json::object();
    for (const auto& [k, t] : by_category) {
        categories[k.empty() ? "(no category)" : k] = {{"files", t.files}, {"bytes", t.bytes}};
    }
    nlohmann::json j = {{"type", "summary"},
                        {"client", util::utf8_display(client)},
                        {"files", total.files},
                        {"bytes", total.bytes},
                        {"by_root", tallies(by_root)},
                        {"by_category", categories},
                        {"by_status", tallies(by_status)},
                        {"problems", problems}};
    if (matter) j["matter"] = util::utf8_display(*matter);
    return j;
}

nlohmann::json ArchivedCopy::to_json(const std::string& client) const {
    nlohmann::json j = {{"type", "archived"}, {"archive", archive}, {"archive_path", archive_path},
                        {"root", root}};
    put_path(j, member.path);
    j["client"] = util::utf8_display(client);
    if (matter) j["matter"] = util::utf8_display(*matter);
    j["category"] = member.category;
    j["size"] = member.size;
    j["sha256"] = member.sha256;
    j["archived"] = util::format_date(member.archived);
    j["expires"] = member.expires ? util::format_date(*member.expires) : "permanent";
    j["status"] = holds.empty() ? "archived" : "held";
    j["holds"] = holds;
    return j;
}

std::vector<ArchivedCopy> archived_copies(const ArchiveIndex& index, const HoldSet& holds,
                                          const std::string& client,
                                          const std::optional<std::string>& matter,
                                          const policy::LocalToday& today) {
    std::vector<ArchivedCopy> out;
    for (const IndexedArchive* a : index.live()) {
        if (a->client != client) continue;
        if (matter && a->matter != matter) continue;
        for (const auto& m : a->members) {
            ArchivedCopy c;
            c.archive = a->name;
            c.archive_path = a->path;
            c.root = a->root;
            c.member = m;
            c.matter = a->matter;
            c.holds = holds.covering(a->root, m.path, a->client, a->matter, today.of(m.schedule));
            out.push_back(std::move(c));
        }
    }
    return out;
}

Result<InventorySummary> make_inventory(
    const policy::AgentConfig& config, const std::vector<policy::RetentionSchedule>& schedules,
    const InventoryOptions& options, const std::function<void(const InventoryEntry&)>& sink) {
    InventorySummary summary;
    summary.client = options.client;
    summary.matter = options.matter;
    const classify::Classifier classifier(schedules);  // read-only: shared by the walker threads
    auto encrypted = load_encrypted_index(config.state_dir);
    if (!encrypted) return fail(encrypted.error());
    const auto copies = encrypted->by_root();
    for (const auto& root : config.roots) {
        auto root_copies = copies.find(root.name);
        const classify::IndexedCopies* indexed =
            root_copies == copies.end() ? nullptr : &root_copies->second;
        auto root_fd = scan::open_root(root.path);
        if (!root_fd) return fail(root_fd.error());
        scan::WalkOptions walk_options;
        walk_options.one_filesystem = root.one_filesystem;
        walk_options.exclude = root.exclude;
        if (options.on_progress) {
            walk_options.on_progress = [&](const scan::WalkStats& s) {
                options.on_progress(root.name, s);
            };
        }
        // Classification runs on the walk's threads, each with its own lookups, exactly as
        // the plan's (the same compiled classifier); the few files of one client are added
        // under the lock one by one.
        std::mutex lock;
        OnFile on_file = [&](const scan::FileFacts& facts,
                             const classify::ClassifyOptions& classify_options) {
                classify::Decision d = classifier.classify(facts, options.now, classify_options);
                std::optional<std::string> client = d.client;
                std::optional<std::string> matter = d.matter;
                if (d.status == classify::Status::Unmatched) {
                    capture_owner(schedules, facts.path, &client, &matter);
                }
                if (client != options.client) return;
                if (options.matter && matter != options.matter) return;
                std::lock_guard guard(lock);
                InventoryEntry e;
                e.root = root.name;
                e.facts = facts;
                e.client = *client;
                e.matter = std::move(matter);
                e.status = d.status;
                e.reason = d.reason;
                if (d.category != nullptr) {
                    e.category = d.category->id;
                    e.schedule_id = d.schedule->id;
                    e.trigger_date = d.trigger_date;
                    e.expires = d.expires;
                    e.action = d.action;
                }
                summary.total.add(facts.size);
                summary.by_root[root.name].add(facts.size);
                summary.by_category[e.category].add(facts.size);
                summary.by_status[e.category.empty() ? "in-no-category"
                                                     : std::string(classify::to_string(d.status))]
                    .add(facts.size);
                sink(e);
            };
        auto stats = scan::walk_concurrently(
            root_fd->get(), walk_options,
            [&] { return std::make_unique<EachFileSink>(root_fd->get(), on_file, indexed); },
            [&](std::string_view path, const Error& error) {
                std::lock_guard guard(lock);
                ++summary.problems;
                util::log_warning("{}: {}: {}", root.name, util::utf8_display(path),
                                  error.message());
            });
        if (!stats) return fail(stats.error());
        summary.walks[root.name] = *stats;
    }
    return summary;
}

void apply_holds(InventoryEntry& entry, const HoldSet& holds, util::Date today) {
    std::optional<std::string> client;
    if (!entry.client.empty()) client = entry.client;
    entry.holds = holds.covering(entry.root, entry.facts.path, client, entry.matter, today);
    if (entry.holds.empty() || entry.category.empty()) return;
    if (entry.status == classify::Status::Due || entry.status == classify::Status::Review ||
        entry.status == classify::Status::Skipped) {
        entry.status = classify::Status::Held;
        entry.reason = fmt::format("legal hold {}", fmt::join(entry.holds, ", "));
    }
}

}  // namespace lethe::service

#pragma once

#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/act/archive.hpp"
#include "agent/policy/config.hpp"
#include "agent/policy/local_today.hpp"
#include "agent/service/archive_index.hpp"
#include "agent/service/pass.hpp"
#include "agent/service/plan.hpp"
#include "agent/util/error.hpp"

namespace lethe::service {

// One committed archive and the plan entries it holds, in member order.
struct ArchivedGroup {
    act::ArchiveResult archive;
    bool encrypted = false;
    std::vector<PlanEntry> entries;
};

// The archive step of a pass. Due files whose category says `archive` are collected by
// archive key (root, client, matter, encryption) while the plan is read; write_all() then
// writes one verified archive per key, records it in the archive index
// (`state_dir/archives.jsonl`, see archive_index.hpp) and hands back what it archived, so that the pass removes
// those sources (by sanitize) and certifies them. A group whose archive cannot be written or
// verified keeps all its sources and is counted as failed; a file that changed or is in use
// is left out of its archive and counted as skipped. Not thread safe.
class ArchiveStage {
public:
    // `today` is the pass's instant with each schedule's local date: an archived copy's
    // `archived` date, from which `archive_for` counts, is the date in its schedule's zone.
    ArchiveStage(const policy::AgentConfig& config, std::string pass_id, policy::LocalToday today)
        : m_config(config), m_pass_id(std::move(pass_id)), m_now(today.now()),
          m_today(std::move(today)) {}

    // `archive_for` is the category's life of the archived copy (none = permanent).
    void add(PlanEntry entry, bool encrypt, std::optional<policy::Retention> archive_for);
    [[nodiscard]] bool empty() const { return m_groups.empty(); }

    // `stop` (may be null) is checked between archives and between blocks of each: when it
    // asks to stop, the archive being written is abandoned (its `.partial` removed, its
    // sources untouched), `summary.stopped` is set and the archives finished so far are
    // returned.
    using RootFd = std::function<Result<int>(const std::string& root)>;
    [[nodiscard]] std::vector<ArchivedGroup> write_all(const RootFd& root_fd, RunSummary& summary,
                                                       const util::StopToken* stop = nullptr);

private:
    using Key = std::tuple<std::string, std::optional<std::string>, std::optional<std::string>, bool>;
    // The archive index's line for a written archive.
    [[nodiscard]] IndexedArchive indexed(const ArchivedGroup& group) const;

    const policy::AgentConfig& m_config;
    std::string m_pass_id;
    util::TimePoint m_now;
    policy::LocalToday m_today;
    std::map<Key, std::vector<PlanEntry>> m_groups;
    std::map<std::string, std::optional<policy::Retention>> m_archive_for;  // by category
};

// The certificate's description of where a file was archived.
nlohmann::json archive_method(const ArchivedGroup& group, const PlanEntry& entry);

}  // namespace lethe::service

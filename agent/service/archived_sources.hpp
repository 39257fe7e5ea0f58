#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/service/archive_index.hpp"
#include "agent/service/plan.hpp"
#include "agent/util/error.hpp"
#include "agent/util/stop.hpp"

namespace lethe::service {

// Sources that an earlier pass archived but did not dispose of: it was stopped (SIGTERM) or
// killed after the archive was renamed into place and indexed, before every source was
// sanitized and certified, or a hold kept a source meanwhile. A pass asks find() for each
// due file whose action is `archive`; a file found in a verified archive is disposed of
// against that archive instead of being archived a second time.
//
// Reads the archive index once, on the first find(); an unreadable index finds nothing (the
// source is kept and archived anew, which loses nothing), and says so once. Not thread safe.
// The hash of an archive stops between two blocks when `stop` (which must outlive this)
// says so.
class ArchivedSources {
public:
    ArchivedSources(std::string state_dir, const util::StopToken* stop)
        : m_state_dir(std::move(state_dir)), m_stop(stop) {}

    struct Found {
        const IndexedArchive* archive = nullptr;
        const ArchivedMember* member = nullptr;
        // Empty when the archive is in place with the SHA-256 the index recorded; else what
        // is wrong with it (missing, changed, unreadable): the source must be archived anew.
        std::string problem;
    };

    // The member of a live (not disposed of) indexed archive that is `entry`'s file as
    // planned: same root and path, device, inode, size and mtime (members indexed by older
    // versions, without an identity, never match). The archive file is hashed once per
    // pass, on its first match. Whether the file's content still has the member's SHA-256
    // is for the caller to check when it hashes the file before disposing of it. Fails
    // only when asked to stop while hashing the archive (ErrorKind::Stopped): nothing is
    // decided about it, and the next find() hashes it from the start.
    [[nodiscard]] Result<std::optional<Found>> find(const PlanEntry& entry);

private:
    void load();
    Result<std::string> check(const IndexedArchive& archive);

    std::string m_state_dir;
    const util::StopToken* m_stop;
    bool m_loaded = false;
    ArchiveIndex m_index;
    // (root, path) -> (archive, member) positions in m_index, for live archives.
    std::map<std::pair<std::string, std::string>, std::vector<std::pair<size_t, size_t>>> m_by_path;
    std::map<std::string, std::string> m_checked;  // archive name -> problem ("" = verified)
};

// The certificate's description of the archive that holds `member`, written by an earlier
// pass (the same fields as for an archive written by this pass, and when it was written).
[[nodiscard]] nlohmann::json indexed_archive_method(const IndexedArchive& archive,
                                                   const ArchivedMember& member);

}  // namespace lethe::service

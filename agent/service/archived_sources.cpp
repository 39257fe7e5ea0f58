#include "agent/service/archived_sources.hpp"

#include <fcntl.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "agent/util/fs.hpp"
#include "agent/util/log.hpp"
#include "agent/util/sha256.hpp"
#include "agent/util/time.hpp"

namespace lethe::service {

void ArchivedSources::load() {
    m_loaded = true;
    auto index = load_archive_index(m_state_dir);
    if (!index) {
        util::log_warning("{}; files due for archiving are archived anew, even if an earlier "
                          "pass archived them", index.error().message());
        return;
    }
    m_index = std::move(*index);
    for (size_t a = 0; a < m_index.archives.size(); ++a) {
        const IndexedArchive& archive = m_index.archives[a];
        if (archive.disposed) continue;
        for (size_t m = 0; m < archive.members.size(); ++m) {
            m_by_path[{archive.root, archive.members[m].path}].emplace_back(a, m);
        }
    }
}

Result<std::string> ArchivedSources::check(const IndexedArchive& archive) {
    if (auto it = m_checked.find(archive.name); it != m_checked.end()) return it->second;
    std::string problem;
    UniqueFd fd(::open(archive.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) {
        problem = errno == ENOENT ? fmt::format("is missing ({})", archive.path)
                                  : fmt::format("cannot be opened ({}: {})", archive.path,
                                                std::strerror(errno));
    } else {
        auto hash = util::sha256_fd_hex(fd.get(), archive.path, m_stop);
        if (!hash && hash.error().kind() == ErrorKind::Stopped) return fail(hash.error());
        if (!hash) {
            problem = fmt::format("cannot be read ({})", hash.error().message());
        } else if (*hash != archive.sha256) {
            problem = fmt::format("no longer has the SHA-256 the archive index recorded ({} is "
                                  "{}, not {})", archive.path, *hash, archive.sha256);
        }
    }
    return m_checked.emplace(archive.name, std::move(problem)).first->second;
}

Result<std::optional<ArchivedSources::Found>> ArchivedSources::find(const PlanEntry& entry) {
    if (!m_loaded) load();
    auto it = m_by_path.find({entry.root, entry.facts.path});
    if (it == m_by_path.end()) return std::optional<Found>();
    const std::string mtime = util::format_timestamp(entry.facts.mtime, true);
    // The newest archive first: the copy a later pass made is the one to dispose against.
    for (auto pos = it->second.rbegin(); pos != it->second.rend(); ++pos) {
        const IndexedArchive& archive = m_index.archives[pos->first];
        const ArchivedMember& member = archive.members[pos->second];
        if (member.device != entry.facts.device || member.inode != entry.facts.inode ||
            member.size != entry.facts.size || member.mtime != mtime) {
            continue;
        }
        auto problem = check(archive);
        if (!problem) return fail(problem.error());
        return std::optional<Found>(Found{&archive, &member, std::move(*problem)});
    }
    return std::optional<Found>();
}

nlohmann::json indexed_archive_method(const IndexedArchive& archive, const ArchivedMember& member) {
    nlohmann::json j = {{"name", archive.name},
                        {"sha256", archive.sha256},
                        {"encrypted", archive.encrypted},
                        {"format", archive.encrypted ? "pax tar, zstd, age v1 (X25519)"
                                                     : "pax tar, zstd"},
                        {"written", archive.created},
                        {"verified", "archive file re-hashed against the archive index before "
                                     "the source was disposed of"}};
    put_path(j, member.path);
    j["member"] = j["path"];
    j.erase("path");
    if (j.contains("path_b64")) {
        j["member_b64"] = j["path_b64"];
        j.erase("path_b64");
    }
    return j;
}

}  // namespace lethe::service

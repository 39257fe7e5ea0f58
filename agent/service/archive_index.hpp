#pragma once

// The archive index: what lethe knows about the archives it wrote, so that holds, inventory,
// archive expiry and erasure see archived copies.
//
// Stored in `state_dir/archives.jsonl`, an append-only JSONL file (util/jsonl_file.hpp),
// each line appended with O_APPEND and fsynced (the folder too when the file is created):
//   {"type":"archive", name, path, sha256, bytes, created, root, client?, matter?,
//    encrypted, members:[{path (+path_b64), sha256, size, category, schedule, archived,
//    expires}]}
//   {"type":"archive-disposed", name, time, reason, certificate, request?}
// An archive's state is its "archive" line plus, once it was sanitized, its
// "archive-disposed" line. Readers parse every line strictly: a line that is not one of
// these objects (a torn append included) makes the whole index unreadable, and whoever
// would dispose of archived data stops (fail closed); an unreadable index never reads as
// "no archives".
//
// Writers append while holding the pass lock (`state_dir/lock`); readers take no lock.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "agent/policy/local_today.hpp"
#include "agent/util/error.hpp"
#include "agent/util/stop.hpp"
#include "agent/util/time.hpp"

namespace lethe::service {

struct HoldSet;

// One archived copy of a file.
struct ArchivedMember {
    std::string path;  // relative to the archive's root, exact bytes
    std::string sha256;
    uint64_t size = 0;
    std::string category;
    std::string schedule;
    util::Date archived{};              // when the copy was made
    std::optional<util::Date> expires;  // none = permanent
    // The source file's identity when it was archived (absent in lines of older versions):
    // a later pass recognises a source that was archived but not yet disposed of by it.
    std::optional<uint64_t> device;
    std::optional<uint64_t> inode;
    std::optional<std::string> mtime;  // as in plans: ISO timestamp with nanoseconds

    // `day` is today in the zone of the copy's schedule (LocalToday::of(schedule)): its
    // `archived` and `expires` dates are dates in that zone.
    [[nodiscard]] bool expired_on(util::Date day) const { return expires && day >= *expires; }
};

// One archive lethe wrote, and whether it has since been disposed of.
struct IndexedArchive {
    std::string name;    // file name in the destination
    std::string path;    // absolute path when it was written
    std::string sha256;  // of the archive file's bytes
    uint64_t bytes = 0;
    std::string created;  // ISO timestamp
    std::string root;
    std::optional<std::string> client;
    std::optional<std::string> matter;
    bool encrypted = false;
    std::vector<ArchivedMember> members;

    // Set once the archive was sanitized.
    bool disposed = false;
    std::string disposed_at;
    std::string disposed_reason;
    uint64_t disposed_certificate = 0;

    [[nodiscard]] nlohmann::json to_json() const;  // the "archive" line
    [[nodiscard]] static Result<IndexedArchive> from_json(const nlohmann::json& j);
};

// The whole index as read from disk: archives in the order they were written.
struct ArchiveIndex {
    std::vector<IndexedArchive> archives;

    [[nodiscard]] const IndexedArchive* find(const std::string& name) const;
    // Archives not yet disposed of.
    [[nodiscard]] std::vector<const IndexedArchive*> live() const;
};

[[nodiscard]] std::string archive_index_path(const std::string& state_dir);

// Parses index text. Fails with Refused naming `source` and the line on anything that is
// not a valid index line, a torn last line, a disposal of an unknown archive, or an archive
// indexed twice.
[[nodiscard]] Result<ArchiveIndex> parse_archive_index(std::string_view text,
                                                       const std::string& source);

// Reads `state_dir/archives.jsonl`; an absent file is the empty index.
[[nodiscard]] Result<ArchiveIndex> load_archive_index(const std::string& state_dir);

// Appends the "archive" line of a newly written archive, fsynced (the folder too when the
// file was created). The caller holds the pass lock.
[[nodiscard]] Status append_archive(const std::string& state_dir, const IndexedArchive& archive);

// Appends the "archive-disposed" line of an archive that was sanitized and certified.
struct ArchiveDisposal {
    std::string name;
    std::string time;
    std::string reason;  // "expired" or "erasure request"
    uint64_t certificate = 0;
    std::optional<std::string> request;  // the erasure request's reference
};
[[nodiscard]] Status append_archive_disposed(const std::string& state_dir,
                                             const ArchiveDisposal& disposal);

// The archive being renamed into place, recorded in `state_dir/archive-commit.json` (written
// atomically) just before the rename and removed once its "archive" line is in the index,
// so that a crash between the rename and the index append leaves no complete archive that
// the index does not know (its sources would otherwise be archived a second time).
[[nodiscard]] Status record_archive_commit(const std::string& state_dir,
                                           const IndexedArchive& archive);
[[nodiscard]] Status clear_archive_commit(const std::string& state_dir);

// Resolves an archive commit that an interrupted pass left: indexes the archive if it is in
// place with the recorded SHA-256 and not yet indexed, else only forgets the record (the
// archive was never renamed into place; its `.partial` is removed by the next archive
// step). Returns what it did, for the log, or nothing when there was no record. The caller
// holds the pass lock. The archive's hash stops between two blocks when `stop` says so
// (ErrorKind::Stopped): the record is kept for the next pass.
[[nodiscard]] Result<std::optional<std::string>> recover_archive_commit(
    const std::string& state_dir, const util::StopToken* stop = nullptr);

// Ids of the holds that cover any member of `archive` and are active on today in that
// member's schedule's zone (UTC for a schedule no longer loaded), in order, no repeats.
[[nodiscard]] std::vector<std::string> holds_on_archive(const IndexedArchive& archive,
                                                        const HoldSet& holds,
                                                        const policy::LocalToday& today);

}  // namespace lethe::service

#pragma once

// Archives of disposed files: pax tar compressed with zstd (libarchive), optionally encrypted
// to age recipients (`.tar.zst.age`), with a manifest member `.lethe/manifest.json` that
// lists every member's SHA-256. GNU `tar --zstd -xf` extracts a plain archive; `age -d`
// then tar an encrypted one. Only act/ includes libarchive.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/act/age.hpp"
#include "agent/util/error.hpp"
#include "agent/util/stop.hpp"

namespace lethe::act {

inline constexpr const char* kManifestMember = ".lethe/manifest.json";

// One archived file: what the manifest says about it.
struct ArchiveMember {
    std::string path;    // relative to its root, exact bytes
    std::string sha256;  // lowercase hex of the content
    uint64_t size = 0;
    int64_t mtime = 0;   // seconds since the epoch
    uint32_t mode = 0644;
    uint32_t uid = 0;
    uint32_t gid = 0;
};

// What identifies an archive: one per pass, root, client/matter and encryption setting, so
// that one client's archived data can be erased without rewriting anyone else's.
struct ArchiveKey {
    std::string root;
    std::optional<std::string> client;
    std::optional<std::string> matter;
    bool encrypted = false;
};

// A finished archive, renamed into place.
struct ArchiveResult {
    std::string path;    // absolute final path
    std::string name;    // file name in the destination
    std::string sha256;  // of the archive file's bytes as written (equal to those read back)
    uint64_t bytes = 0;
    std::vector<ArchiveMember> members;
};

// Writes one archive. create() makes `<name>.partial` in the destination (never under the
// final name); add() appends members; commit() writes the manifest, flushes, fsyncs, and
// only when the whole file has been re-read from disk and found to be the bytes written (a
// plain archive: their SHA-256 equals that of the bytes written; an encrypted one: every
// byte authenticates with the file key it still holds, header MAC and every chunk), and
// every member's SHA-256 and the manifest checked, renames it to its final name (never over
// an existing file) and fsyncs the folder. Destroying a writer that was not committed
// removes the `.partial` file.
//
// The work runs on threads of its own while add() is called: compression (zstd's workers),
// encryption and writing, and the re-read: each segment of 8 MiB is fdatasynced and read
// back from the disk (O_DIRECT, else after its cached pages are dropped) and checked as
// soon as it is written; commit() fsyncs the whole file and checks the rest. Move-only;
// the object itself is not thread safe (one caller thread).
class ArchiveWriter {
public:
    // `pass_id` makes the name unique per pass. With `recipients` non-empty the archive is
    // encrypted to them. Fails (ErrorKind::Io/Refused) if the destination is missing or not
    // writable.
    [[nodiscard]] static Result<ArchiveWriter> create(const std::string& destination,
                                                      const ArchiveKey& key,
                                                      const std::string& pass_id,
                                                      const std::vector<age::Recipient>& recipients);

    // Streams the content of `fd` (`member.size` bytes read from its start, once) as member
    // `member.path`, hashing it as it goes; the hash is the member's in the manifest and in
    // commit()'s result. When `member.sha256` is given, fails (ErrorKind::Verification) if
    // the content read does not have it (the file changed after it was hashed): the archive
    // is then unusable and is abandoned.
    // `stop` (may be null) is checked after every block copied: when it asks to stop, the
    // archive is abandoned (its `.partial` removed) and ErrorKind::Stopped is returned.
    [[nodiscard]] Status add(int fd, const ArchiveMember& member,
                             const util::StopToken* stop = nullptr);

    // `stop` as in add(), checked while the archive is re-read; a stopped commit abandons
    // the archive and renames nothing. `before_rename` (may be empty) is called with the
    // verified result just before the rename: the caller makes the archive's record durable
    // there, so that a crash right after the rename leaves an archive it knows about. When
    // it fails, the archive is abandoned and its error returned.
    using BeforeRename = std::function<Status(const ArchiveResult&)>;
    [[nodiscard]] Result<ArchiveResult> commit(const util::StopToken* stop = nullptr,
                                               const BeforeRename& before_rename = {});

    [[nodiscard]] const std::string& partial_path() const;
    [[nodiscard]] size_t member_count() const;

    ArchiveWriter(ArchiveWriter&&) noexcept;
    ArchiveWriter& operator=(ArchiveWriter&&) noexcept;
    ~ArchiveWriter();

private:
    struct Impl;
    explicit ArchiveWriter(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

// How to read an archive: its identities when it is encrypted (ignored otherwise).
struct ArchiveReadOptions {
    std::vector<age::Identity> identities;
};

// Reads a whole archive and checks it: every member's SHA-256 against the manifest, every
// manifest entry present. Calls `on_member` (if set) for each data member before its hash is
// known to be right, with a function to read its content; restore uses it to extract.
// Whether it is encrypted is told by its first bytes (age or zstd), not by its name.
// Fails with ErrorKind::BadInput ("PATH is not a lethe archive: why") for a file that is
// empty, neither age nor zstd, not a tar inside, or a tar without a manifest, and with
// ErrorKind::Verification on any mismatch or corruption of an archive that has one.
using MemberContent = std::function<Result<size_t>(char* buffer, size_t size)>;
using MemberVisitor = std::function<Status(const ArchiveMember&, const MemberContent&)>;
[[nodiscard]] Result<std::vector<ArchiveMember>> read_archive(const std::string& path,
                                                              const ArchiveReadOptions& options,
                                                              const MemberVisitor& on_member);

// Restores members of `archive` below the folder `to` (created if missing): every member,
// or only `member` when given. Each file is written under a temporary name, its hash checked
// against the manifest, then renamed into place; an existing file is never replaced and no
// path leaves `to` (absolute paths, "..", symlinks refused). Returns the members restored.
// `to` is created only when there is a member to restore; a restore that fails removes its
// temporary files and every folder it created that is still empty, `to` included.
[[nodiscard]] Result<std::vector<ArchiveMember>> restore_archive(
    const std::string& archive, const ArchiveReadOptions& options, const std::string& to,
    const std::optional<std::string>& member);

// Removes `*.partial` archives left in `destination` by an interrupted pass; returns how many.
[[nodiscard]] Result<size_t> remove_partial_archives(const std::string& destination);

}  // namespace lethe::act

#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/scan/file_facts.hpp"
#include "agent/scan/walker.hpp"
#include "agent/util/error.hpp"
#include "agent/util/stop.hpp"

namespace lethe::act {

struct UnusableFolder;  // disposal_folder.hpp

// A point of the SHA-256 of a file's original content, taken while the file is overwritten
// (see ContentHash::Overlap): the hash of [0, bytes), as a midstate (`state`, 64 hex digits;
// `bytes` a multiple of 64) or, once the whole file is hashed, as the digest (`sha256`).
struct HashCheckpoint {
    uint64_t bytes = 0;
    std::string state;
    std::string sha256;
};

struct SanitizeOptions {
    int passes = 1;           // random-data passes (1..10)
    bool final_zero = false;  // an extra pass of zeros after the random ones
    // Stop after the rename: the caller certifies, then unlinks the renamed, empty file with
    // finish_interrupted(). Until then the renamed file is the durable proof that the
    // overwrite was verified, so a crash before the certificate is still certified honestly.
    bool defer_unlink = false;
    // Checked after every block written or read back. When it asks to stop, sanitize()
    // returns ErrorKind::Stopped with the file still at its name, partly overwritten and
    // not certified: the caller keeps its intent record so that the next pass overwrites
    // it again from the start. Not owned; may be null.
    const util::StopToken* stop = nullptr;
    // Read the last pass back from the device and compare it before the file is removed.
    // Off, nothing is read back: the record says `verified = false` and read_back "none".
    bool verify = true;
    // Fsync the folder after the rename. A caller that certifies files in groups turns it
    // off and fsyncs each folder of the group once (sync_folder()) before it certifies any.
    bool sync_folder = true;
    // For a file prepared with ContentHash::Overlap: makes a checkpoint of its hash durable
    // (the caller's intent record). No byte is written past a checkpoint before the next one
    // returned success; when one fails, nothing more is written. Required then. Called on a
    // helper thread of overwrite(), one call at a time, only while overwrite() runs.
    std::function<Status(const HashCheckpoint&)> checkpoint = nullptr;
};

// The read_back of a sanitize done with SanitizeOptions::verify off.
inline constexpr std::string_view kNoReadBack =
    "none: read-back verification is switched off ([sanitize] verify = false); the overwrite "
    "was written and synced but not read back";

// What a disposal did, for its certificate. Every field is a fact observed while doing it.
struct DisposalRecord {
    std::string sha256_before;   // content hash read just before destruction
    uint64_t size = 0;
    std::string method;          // "file overwrite" or "unlink"
    int passes = 0;
    std::string pattern;         // "random", "random+zero"
    bool verified = false;       // read-back matched (sanitize) / name gone (delete)
    std::string read_back;       // how the read-back bypassed the page cache, or "none: ..."
    std::string filesystem;      // statfs type name
    std::vector<std::string> residual_risks;  // where old data may survive, per file
    std::vector<std::string> handling;  // what was unusual about this file and what was done
    // Links to the inode found after its overwrite that it did not have when it was moved
    // into the disposal folder: made through a descriptor opened before (linkat of
    // /proc/PID/fd/N), which nothing can prevent. They keep the overwritten inode.
    uint64_t links_after_overwrite = 0;
    std::vector<std::string> other_links;  // where a search of the roots found them (the pass)
};

// lethe's private folder, one at the top of each root and of each other filesystem (or
// btrfs subvolume) inside a root: a planned file is moved into it before it is destroyed
// (detach()), so that the name users reach is never the one lethe destroys. Mode 0700,
// owned by lethe's effective user; every walk leaves it out.
inline constexpr std::string_view kDisposalFolder = scan::kDisposalFolder;
// Added to a detached entry's name once its overwrite is verified and it is truncated: the
// durable proof, for a pass that resumes after a crash, that the overwrite was verified.
inline constexpr std::string_view kVerifiedSuffix = ".verified";

// Where a read-back found other bytes than the last pass wrote: the first block (of 4 MiB,
// counted from 0 at the start of the file) that differed, its byte range, the first byte
// that differed (counted from 0 at the start of the file), and how many blocks differed in
// all.
struct ReadBackMismatch {
    uint64_t block = 0;
    uint64_t offset = 0;
    uint64_t length = 0;
    uint64_t blocks = 0;
    uint64_t first_difference = 0;
};

// Whether prepare() reads and hashes the content (see prepare()). Overlap: not yet; the
// first pass of overwrite() hashes it on a helper thread ahead of the writes, with durable
// checkpoints (SanitizeOptions::checkpoint), and sets `sha256_before` of its record.
enum class ContentHash { Read, Skip, Overlap };

// Files larger than this are worth hashing ahead of their overwrite (ContentHash::Overlap):
// two segments of the hash (64 MiB; less in a test build that sets a smaller segment). A
// file of a sanitize group (at most 64 MiB) is hashed first, with its group's one intent sync.
[[nodiscard]] uint64_t hash_ahead_above();

// A planned file opened for disposal: its identity re-checked against the plan, its
// content hashed and its filesystem's limits described. Nothing has been changed yet: the
// caller records its intent (with `record().sha256_before`) and then calls sanitize() or
// remove(). Move-only; owns the open descriptors.
class PreparedFile {
public:
    [[nodiscard]] const DisposalRecord& record() const { return m_record; }
    [[nodiscard]] const scan::FileFacts& planned() const { return m_planned; }
    // The open folder holding the file, its name there, and a read-only descriptor of it.
    // Owned by this object; valid while it lives.
    [[nodiscard]] int folder_fd() const;
    [[nodiscard]] const std::string& name() const;
    [[nodiscard]] int content_fd() const;
    // The disposal folder's path below the root (use_disposal_folder()), or "" when the
    // file is destroyed in its own folder (lethe's own archives).
    [[nodiscard]] const std::string& disposal_folder() const;
    // Whether detach() moved it into the disposal folder (or it was found there).
    [[nodiscard]] bool detached() const;
    // Set by a sanitize() whose read-back failed (ErrorKind::Verification); else empty.
    [[nodiscard]] const std::optional<ReadBackMismatch>& read_back_mismatch() const {
        return m_mismatch;
    }

    PreparedFile(PreparedFile&&) noexcept;
    PreparedFile& operator=(PreparedFile&&) noexcept;
    ~PreparedFile();

private:
    struct Impl;
    explicit PreparedFile(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
    DisposalRecord m_record;
    scan::FileFacts m_planned;
    std::optional<ReadBackMismatch> m_mismatch;
    friend Result<PreparedFile> prepare(int, const scan::FileFacts&, bool, bool,
                                        const util::StopToken*, ContentHash);
    friend Status overwrite(PreparedFile&, const SanitizeOptions&);
    friend Status sync_overwrite(PreparedFile&);
    friend Result<DisposalRecord> complete_sanitize(PreparedFile&, const std::string&,
                                                    const SanitizeOptions&);
    friend Result<DisposalRecord> remove(PreparedFile&);
    friend struct PrepareAccess;  // disposal.cpp: what prepare() and prepare_detached() share
    friend Status use_disposal_folder(PreparedFile&, int, UnusableFolder*);
    friend Status detach(PreparedFile&, const std::string&);
    friend Result<PreparedFile> prepare_detached(int, const std::string&, const std::string&,
                                                 const scan::FileFacts&, bool,
                                                 const util::StopToken*, ContentHash);
    friend Result<std::string> finish_hash(const PreparedFile&, const HashCheckpoint&, uint64_t,
                                           const util::StopToken*);
};

// Opens `planned` below `root_fd` (never through a symlink) and checks it is still the file
// that was planned: device, inode, size and mtime, or only device and inode when
// `resuming` an interrupted overwrite. Refuses (ErrorKind::Refused) a changed or vanished
// file, a non-regular file, a file with the immutable or append-only attribute, a file in
// use (another process holds a flock, a POSIX record lock or an OFD lock on it: lethe then
// holds an exclusive flock itself until the PreparedFile is destroyed), and, when
// `for_overwrite`, a file with other hard links. A read-only file that lethe may make
// writable (it owns it) gets its owner-write bit added, never removed again, and the record's
// `handling` says so.
//
// The content is hashed in blocks of 4 MiB; `stop` (may be null) is checked after each: when
// it asks to stop, prepare() returns ErrorKind::Stopped and nothing has been changed. With
// `hash` ContentHash::Skip the content is not read and `record().sha256_before` stays empty:
// for a caller that hashes it while reading it once itself (the archive step).
[[nodiscard]] Result<PreparedFile> prepare(int root_fd, const scan::FileFacts& planned,
                                           bool for_overwrite, bool resuming = false,
                                           const util::StopToken* stop = nullptr,
                                           ContentHash hash = ContentHash::Read);

// Finds the disposal folder of a prepared file (at the top of its filesystem inside the
// root), creates it if needed (mkdirat 0700, parent fsynced) and checks it: a folder, not a
// symlink, owned by lethe's effective user, mode exactly 0700, on the file's device.
// Anything else is refused (ErrorKind::Refused, naming the folder and what is wrong, never
// followed). Nothing of the file is changed.
// When refused and `unusable` is given, it says which folder and why.
[[nodiscard]] Status use_disposal_folder(PreparedFile& file, int root_fd,
                                         UnusableFolder* unusable = nullptr);

// Moves the prepared file from its name into its disposal folder as `temp_name`
// (renameat2 RENAME_NOREPLACE relative to the folders' descriptors), then checks that the
// entry moved is the inode prepare() checked and, for an overwrite, that it has no other
// link. Call it after the intent is durable and before anything is overwritten or removed.
// Refused (ErrorKind::Refused, nothing destroyed): the file on another filesystem than
// the folder (EXDEV), a folder that cannot be written (EACCES, EPERM, EROFS), the name
// gone, or the entry moved not the one checked or linked elsewhere: then it is put back
// with RENAME_NOREPLACE, or, when its name was taken meanwhile, beside it as
// NAME.lethe-returned-XXXX (the message says so). An entry that cannot be put back is an
// ErrorKind::Io error whose message says where it is.
[[nodiscard]] Status detach(PreparedFile& file, const std::string& temp_name);

// Opens an entry an interrupted disposal left in the disposal folder `folder` (below
// `root_fd`) as `temp_name` (not yet verified), checked as prepare() checks with `resuming`
// (device and inode). Already detached.
[[nodiscard]] Result<PreparedFile> prepare_detached(int root_fd, const std::string& folder,
                                                    const std::string& temp_name,
                                                    const scan::FileFacts& planned,
                                                    bool for_overwrite,
                                                    const util::StopToken* stop = nullptr,
                                                    ContentHash hash = ContentHash::Read);

// What an interrupted disposal left in a disposal folder under `temp_name`.
enum class Detached { Absent, Moved, Verified };
[[nodiscard]] Result<Detached> find_detached(int root_fd, const std::string& folder,
                                             const std::string& temp_name);

// Puts an entry a disposal left in the disposal folder back at `planned_path` (never over
// an entry there: then beside it as NAME.lethe-returned-XXXX). Returns the path it is at.
[[nodiscard]] Result<std::string> put_back(int root_fd, const std::string& folder,
                                           const std::string& temp_name,
                                           const std::string& planned_path);

// Overwrites the file (passes of random data, optional zeros), fdatasyncs after each pass,
// reads it back bypassing the page cache and compares, truncates it, renames it to
// `temp_name` in its folder (a detached file: to `temp_name` + kVerifiedSuffix in the
// disposal folder), fsyncs the folder, unlinks it and fsyncs the folder again. The link
// count is checked again after the overwrite (DisposalRecord::links_after_overwrite).
// A sparse file has only its data extents overwritten (holes hold no data; writing them
// could fill the disk). Refuses (ErrorKind::Refused, nothing changed) a file whose size
// changed since prepare(). On a failed read-back, or a file that changed size while being
// overwritten (ErrorKind::Verification), the file is left in place, overwritten but not
// removed. Stopped on request (ErrorKind::Stopped, see SanitizeOptions::stop), the file is
// left in place, partly overwritten.
[[nodiscard]] Result<DisposalRecord> sanitize(PreparedFile& file, const std::string& temp_name,
                                              const SanitizeOptions& options);

// sanitize() in three steps, for a caller that sanitizes a group of files and makes their
// overwrites durable together: overwrite() writes every pass (each pass but the last is
// fdatasynced before the next one overwrites it) and starts the writeback of the last one
// without waiting; sync_overwrite() makes it durable (fdatasync); complete_sanitize() reads
// it back, truncates, renames and unlinks as sanitize() does. Errors as for sanitize():
// overwrite() refuses a file whose size changed (nothing changed) and stops on request (the
// file partly overwritten); complete_sanitize() requires the two steps before it.
[[nodiscard]] Status overwrite(PreparedFile& file, const SanitizeOptions& options);
[[nodiscard]] Status sync_overwrite(PreparedFile& file);
[[nodiscard]] Result<DisposalRecord> complete_sanitize(PreparedFile& file,
                                                       const std::string& temp_name,
                                                       const SanitizeOptions& options);

// Finishes the SHA-256 of the original content of a file whose overwrite was interrupted,
// from a checkpoint that the overwrite made durable: every byte from `from.bytes` on is still
// original, so it is read from there to `size` (holes as zeros). A checkpoint that holds the
// digest is returned as it is.
[[nodiscard]] Result<std::string> finish_hash(const PreparedFile& file, const HashCheckpoint& from,
                                              uint64_t size, const util::StopToken* stop = nullptr);

// Unlinks the file (a detached one in the disposal folder) and fsyncs its folder (no
// overwrite; hard links are allowed since other names keep their data, which the record
// says).
[[nodiscard]] Result<DisposalRecord> remove(PreparedFile& file);

// Finishes a sanitize that stopped (defer_unlink) or was interrupted after its rename:
// unlinks `temp_name` in the planned file's folder if it is still there and fsyncs the
// folder (unless `sync` is false: the caller then calls sync_folder() before it relies on
// the unlink). Returns whether it was there.
[[nodiscard]] Result<bool> finish_interrupted(int root_fd, const std::string& planned_path,
                                              const std::string& temp_name, bool sync = true);

// finish_interrupted() for a detached file: unlinks `temp_name` + kVerifiedSuffix (or
// `temp_name`) in the disposal folder `folder` below `root_fd`.
[[nodiscard]] Result<bool> finish_detached(int root_fd, const std::string& folder,
                                           const std::string& temp_name, bool sync = true);

// finish_detached() in the disposal folder lethe holds open as `dir_fd` (recorded as
// `folder`, for messages), wherever that folder is now.
[[nodiscard]] Result<bool> finish_detached_in(int dir_fd, const std::string& folder,
                                              const std::string& temp_name, bool sync = true);

// Fsyncs the disposal folder `folder` below `root_fd`.
[[nodiscard]] Status sync_disposal_folder(int root_fd, const std::string& folder);

// Fsyncs the folder that holds `planned_path` below `root_fd`.
[[nodiscard]] Status sync_folder(int root_fd, const std::string& planned_path);

}  // namespace lethe::act

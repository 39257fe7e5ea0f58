#pragma once

// The `encrypt` action: a file is replaced in place by NAME.age (age v1, to the configured
// recipients). The .age file keeps the original's retention facts as extended attributes so
// that its retention runs on and it is never encrypted twice.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/act/age.hpp"
#include "agent/act/disposal.hpp"
#include "agent/classify/decision.hpp"
#include "agent/util/error.hpp"
#include "agent/util/stop.hpp"

namespace lethe::act {

// Extended attributes lethe sets on an encrypted copy (namespace "user.lethe.").
inline constexpr const char* kXattrPrefix = "user.lethe.";

struct EncryptedCopy {
    std::string name;    // NAME.age, in the original's folder
    std::string sha256;  // of the .age file's bytes
    uint64_t bytes = 0;
    bool attributes_kept = false;  // false where the filesystem has no user xattrs
    // The copy's identity: the same under its temporary and its final name.
    uint64_t device = 0;
    uint64_t inode = 0;
    util::TimePoint mtime{};
};

// Called with the verified copy just before it is renamed to NAME.age: the caller records
// it (service/encrypted_index.hpp) so that no copy under its final name is unrecorded. An
// error stops the rename (the temporary file is removed, the original kept).
using BeforeRename = std::function<Status(const EncryptedCopy&)>;

// Writes NAME.age beside the prepared file: encrypted into `temp_name` in the same folder
// (a leftover of that name from an interrupted attempt is replaced), fsynced, re-read from disk and decrypted (with the file key held in memory, since
// the agent has no identity) into a SHA-256 that must equal `file.record().sha256_before`,
// then renamed to NAME.age (never over an existing file) and the folder fsynced. Each entry
// of `attributes` (e.g. category, trigger_date, expires) becomes `user.lethe.<key>`.
// The original is not touched: the caller sanitizes it afterwards. Refuses
// (ErrorKind::Refused) a file whose name already ends in ".age" or an existing NAME.age; a
// failed check (ErrorKind::Verification) removes the temporary file and keeps the original.
// `stop` (may be null) is checked after every block encrypted or read back; when it asks to
// stop, the temporary file is removed, the original is untouched and ErrorKind::Stopped is
// returned.
[[nodiscard]] Result<EncryptedCopy> encrypt_beside(
    const PreparedFile& file, const std::vector<age::Recipient>& recipients,
    const std::map<std::string, std::string>& attributes, const std::string& temp_name,
    const util::StopToken* stop = nullptr, const BeforeRename& before_rename = nullptr);

// For the recovery of an interrupted `encrypt`: the NAME.age beside `planned_path` if it
// exists and lethe wrote it for that intent (it exists only after it was verified), with its
// SHA-256; nullopt if there is no NAME.age. Proven by `user.lethe.intent` = `intent_id`, or,
// where the filesystem keeps no xattrs, by `indexed` (the state index's record written by
// that intent, may be null): same device, inode, size and mtime. Refuses
// (ErrorKind::Refused) a NAME.age that lethe cannot prove it wrote. Its hash stops between
// two blocks when `stop` says so (ErrorKind::Stopped; nothing was changed).
[[nodiscard]] Result<std::optional<EncryptedCopy>> find_encrypted_copy(
    int root_fd, const std::string& planned_path, const std::string& intent_id,
    const classify::IndexedCopy* indexed = nullptr, const util::StopToken* stop = nullptr);

// For an interrupted `encrypt` that is not completed: removes the temporary copy
// `temp_name` (see encrypt_beside()) that it may have left beside `planned_path` below
// `root_fd`, never through a symlink and only a regular file, and fsyncs the folder.
// Returns whether one was there. A verified NAME.age is never touched.
[[nodiscard]] Result<bool> remove_partial_copy(int root_fd, const std::string& planned_path,
                                               const std::string& temp_name);

}  // namespace lethe::act

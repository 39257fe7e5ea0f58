#pragma once

// The index of encrypted copies: every NAME.age the `encrypt` action wrote, with the
// original's retention, so that the copy keeps its category, trigger date and expiry even
// where the filesystem keeps no user extended attributes (ramfs, some network shares), and
// so that the recovery of an interrupted `encrypt` can prove the copy is lethe's.
//
// Stored in `state_dir/encrypted.jsonl`, an append-only JSONL file (util/jsonl_file.hpp),
// each line fdatasynced (the folder fsynced when the file is created):
//   {"type":"encrypted", root, path (+path_b64), device, inode, size, mtime, category,
//    schedule, trigger_date, expires, encrypted, time, intent, client?, matter?}
// A line is appended before the copy is renamed into place (the inode, size and mtime of the
// verified temporary file are those of the copy once renamed), so a copy under its final
// name always has its line. An entry applies to a file only while root, path, device, inode,
// size and mtime are all still the copy's: a copy that is gone (sanitized at its expiry,
// erased, removed by hand) pins nothing that later takes its name.
// Readers parse every line strictly: a line that is not such an object makes the index
// unreadable, and every command that classifies files stops with a message naming the line
// (an unreadable index never reads as "no copies"). A last line without its newline is an
// append a crash cut short before it was acknowledged: ignored, and dropped by the next
// append.
//
// Writers append while holding the pass lock (`state_dir/lock`); readers take no lock.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/classify/lookups.hpp"
#include "agent/util/error.hpp"
#include "agent/util/time.hpp"

namespace lethe::service {

// One encrypted copy lethe wrote.
struct EncryptedEntry {
    std::string root;  // the root's name in the config
    std::string path;  // of NAME.age, relative to the root, exact bytes
    classify::IndexedCopy copy;
    std::string time;    // ISO timestamp of the encryption
    std::string intent;  // the id of the disposal intent that wrote it

    [[nodiscard]] nlohmann::json to_json() const;
    [[nodiscard]] static Result<EncryptedEntry> from_json(const nlohmann::json& j);
};

// The whole index as read from disk, in the order it was written.
struct EncryptedIndex {
    std::vector<EncryptedEntry> entries;

    // The last entry written by intent `id`; null when there is none.
    [[nodiscard]] const EncryptedEntry* by_intent(std::string_view id) const;
    // The entries of each root, by path, for classify::FsLookups.
    [[nodiscard]] std::map<std::string, classify::IndexedCopies> by_root() const;
};

[[nodiscard]] std::string encrypted_index_path(const std::string& state_dir);

// Parses index text. Fails with Refused naming `source` and the line on anything that is
// not a valid line. A last line without its newline (an append cut short by a crash, never
// acknowledged) is ignored.
[[nodiscard]] Result<EncryptedIndex> parse_encrypted_index(std::string_view text,
                                                           const std::string& source);

// Reads `state_dir/encrypted.jsonl`; an absent file is the empty index.
[[nodiscard]] Result<EncryptedIndex> load_encrypted_index(const std::string& state_dir);

// Appends one entry, fdatasynced (the folder fsynced too when the file was created), after
// dropping what an append cut short by a crash left at the end. The caller holds the pass
// lock.
[[nodiscard]] Status append_encrypted(const std::string& state_dir, const EncryptedEntry& entry);

}  // namespace lethe::service

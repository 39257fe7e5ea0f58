#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "agent/util/error.hpp"
#include "agent/util/fd.hpp"

namespace lethe::service {

// A store in state_dir that must never silently become empty: the legal holds
// (holds.json) and the review queue (review.json). Its lock file does two jobs: writers
// flock it for one read-modify-write, and once the store has been written it holds one line
// saying that a store exists. lethe removes neither file, so a store missing beside a
// marked lock file was deleted by someone, and is refused as corrupt (restore it from
// backup) rather than read as "no holds" or "nothing to review".
struct MarkedStore {
    std::string path;       // state_dir/holds.json
    std::string lock_path;  // state_dir/holds.lock
    std::string mark;       // the lock file's line, e.g. "a hold store exists here"
    std::string corrupt;    // "holds file": how errors name the store
    std::string was_there;  // "holds were placed here": why a missing store is refused
};

// The store's text, or nullopt when there is none and none was ever written here. Any read
// error, and a store missing beside a marked lock file, fail as ErrorKind::Refused naming
// the store and saying that nothing will be disposed of until it is repaired or restored.
[[nodiscard]] Result<std::optional<std::string>> read_marked_store(const MarkedStore& store);

// The refusal for a store whose text is unusable (`what` says why): the same words as
// read_marked_store's refusals, so every problem with a store reads alike.
[[nodiscard]] Error corrupt_store(const MarkedStore& store, const std::string& source,
                                  std::string_view what);

// Replaces the store with `text` (temporary file, fsync, rename, fsync of the folder), then
// marks the lock file if it is not marked yet. The caller holds the store's lock.
[[nodiscard]] Status write_marked_store(const MarkedStore& store, std::string_view text);

// An exclusive flock on the store's lock file (created 0600 in a 0700 state_dir as needed),
// blocking until it is free: writers hold it for milliseconds.
[[nodiscard]] Result<UniqueFd> lock_marked_store(const std::string& state_dir,
                                                 const MarkedStore& store);

}  // namespace lethe::service

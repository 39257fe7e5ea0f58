#pragma once

// Legal holds: the store in `state_dir/holds.json`, what a hold covers, and the ledger
// entries that record every change.
//
// Writers (the `lethe hold` commands) take `state_dir/holds.lock` for the read-modify-write
// and replace the file atomically; readers never lock, they read whichever whole version
// the last rename left. A hold command appends its ledger entry (under the ledger's own
// lock) before it writes the store, with the entry's seq (`placed_seq`, `released_seq`).
// The ledger is the authority: each pass's state check (state_check.hpp) puts a store that
// differs back to what the ledger says, and no pass ever enters a store change in the
// ledger. A hold only in the store stays in force (fail closed) but is reported until a
// records manager places or releases it with `lethe hold`.

#include <sys/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/ledger/ledger.hpp"
#include "agent/util/error.hpp"
#include "agent/util/fd.hpp"
#include "agent/util/glob.hpp"
#include "agent/util/time.hpp"

namespace lethe::service {

// One path scope of a hold, relative to a root, in the named root or in every root. It
// covers a file when it names the file or one of its folders, so "acme/2010-001" holds
// everything below that folder. Two kinds:
//   - a path (`lethe hold add --path`): `literal` is the name exactly as given, with no
//     pattern characters ("Smith [Draft] brief.docx" is that file); `glob` is its escaped
//     form (util::glob_escape), which is all that lethe 0.2 and earlier read, so they
//     honor the hold exactly the same way. Stored as {"path": ..., "glob": ...}.
//   - a pattern (`--glob`, and every path scope of a hold placed by lethe 0.2 or earlier,
//     whose --path was a pattern): `glob` only, stored as {"glob": ...}.
struct HoldPath {
    std::optional<std::string> root;
    std::string glob;
    std::optional<std::string> literal;

    // "path acme/x", "glob acme/** in root clients"
    [[nodiscard]] std::string text() const;
};

// One legal hold. While active, no file it covers is disposed of, whatever the schedules
// say. Value type; `compiled` mirrors `paths`.
struct Hold {
    std::string id;
    std::string reason;
    std::vector<HoldPath> paths;
    std::optional<std::string> client;  // with `matter`, both must match
    std::optional<std::string> matter;
    std::optional<util::Date> until;  // lapses after this day
    std::string placed_by;
    std::string placed_at;               // ISO timestamp
    std::optional<uint64_t> placed_seq;  // ledger entry; none: not in the ledger
    bool released = false;
    std::string released_by;
    std::string released_at;
    std::string release_reason;
    std::optional<uint64_t> released_seq;
    std::vector<util::Glob> compiled;

    [[nodiscard]] bool active_on(util::Date day) const {
        return !released && (!until || day <= *until);
    }
    [[nodiscard]] bool covers(const std::string& root, std::string_view path,
                              const std::optional<std::string>& file_client,
                              const std::optional<std::string>& file_matter) const;
    // Whether paths[i] alone covers the file `path` of `root` (the file or a folder above it).
    [[nodiscard]] bool path_covers(size_t i, const std::string& root, std::string_view path) const;
    // "client acme, matter 2010-001", "path acme/** in clients", ...
    [[nodiscard]] std::string scope_text() const;
    [[nodiscard]] nlohmann::json to_json() const;
    [[nodiscard]] static Result<Hold> from_json(const nlohmann::json& j);
};

// One version of the hold store. Immutable once loaded; safe to share between threads.
struct HoldSet {
    uint64_t version = 0;     // bumped by every write; 0 = no store yet
    std::string sha256;       // of the file's bytes ("" when there is no file)
    std::vector<Hold> holds;  // active, lapsed and released

    // Ids of the holds active on `day` that cover the file.
    [[nodiscard]] std::vector<std::string> covering(const std::string& root, std::string_view path,
                                                    const std::optional<std::string>& client,
                                                    const std::optional<std::string>& matter,
                                                    util::Date day) const;
    [[nodiscard]] const Hold* find(std::string_view id) const;
    [[nodiscard]] Hold* find(std::string_view id);

    // What a disposal certificate records about the holds checked just before the act.
    [[nodiscard]] nlohmann::json certificate_fields() const;
};

[[nodiscard]] std::string holds_path(const std::string& state_dir);

// Parses a store. Fails with Refused, naming the file, on anything that is not a valid
// store: a corrupt store must stop all disposal, never read as "no holds".
[[nodiscard]] Result<HoldSet> parse_holds(std::string_view text, const std::string& source);

// Reads `state_dir/holds.json`; an absent file is the empty store (version 0) unless
// `state_dir/holds.lock` is marked (non-empty), which shows a store was written here: then,
// as for an unreadable or corrupt file, it fails with Refused.
[[nodiscard]] Result<HoldSet> load_holds(const std::string& state_dir);

// Re-reads the store only when the file changed (device, inode, size, mtime, ctime), so the pass
// can check it before every file for the price of one stat. Not thread safe.
class HoldWatch {
  public:
    explicit HoldWatch(std::string state_dir) : m_state_dir(std::move(state_dir)) {}
    // The current store; an error when it cannot be read or parsed (then disposal stops).
    [[nodiscard]] Result<const HoldSet*> current();

  private:
    std::string m_state_dir;
    bool m_loaded = false;
    struct Identity {
        bool present = false;
        dev_t device = 0;
        ino_t inode = 0;
        off_t size = 0;
        int64_t mtime_ns = 0;
        int64_t ctime_ns = 0;
        bool operator==(const Identity&) const = default;
    } m_identity;
    HoldSet m_set;
};

// An exclusive flock on `state_dir/holds.lock`, for one read-modify-write of the store.
// Blocks until the lock is free (writers hold it for milliseconds). Move-only.
class HoldStoreLock {
  public:
    [[nodiscard]] static Result<HoldStoreLock> acquire(const std::string& state_dir);

  private:
    explicit HoldStoreLock(UniqueFd fd) : m_fd(std::move(fd)) {}
    UniqueFd m_fd;
};

// Writes `set` as the next version of the store (version + 1, atomically, fsynced). The
// caller holds the HoldStoreLock and read `set` under it.
[[nodiscard]] Status save_holds(const std::string& state_dir, HoldSet& set);

// The ledger entries of a hold change, with the hold's full content (hold-placed: id,
// reason, paths, client, matter, until, who, when) or the release (who, when, why).
[[nodiscard]] nlohmann::json hold_placed_entry(const Hold& h, util::TimePoint now);
[[nodiscard]] nlohmann::json hold_released_entry(const Hold& h, util::TimePoint now);

}  // namespace lethe::service

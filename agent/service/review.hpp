#pragma once

// Disposition review: the queue in `state_dir/review.json` of due files whose category needs
// a records manager's approval before it is disposed of, their approvals and rejections,
// and the ledger entries that record each decision.
//
// Writers (passes, `lethe review approve/reject`) take `state_dir/review.lock` for each
// read-modify-write and replace the file atomically; readers never lock. A store that cannot
// be read or parsed stops every pass (fail closed): a corrupt queue never causes a disposal.
// A review command appends its decisions to the ledger (under the ledger's own lock) before
// it writes the queue, with each entry's seq. Only a decision in the ledger counts: each
// pass's state check undoes a decision the ledger lacks (the item goes back to pending),
// a pass never enters one in the ledger, and an approved file is disposed of only when its
// `review-approved` entry is in the ledger for that file and content.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/ledger/ledger.hpp"
#include "agent/policy/schedule.hpp"
#include "agent/scan/file_facts.hpp"
#include "agent/util/error.hpp"
#include "agent/util/fd.hpp"
#include "agent/util/stop.hpp"
#include "agent/util/time.hpp"

namespace lethe::service {

// pending: waits for a decision. approved: the next pass disposes of it, if it is still the
// same file version and no hold covers it. rejected: kept until `until`, then pending again.
// disposed: done (certificate `disposal_seq`). withdrawn: no longer due for review (removed,
// moved, or the schedule changed); a file that becomes due again gets a new item.
enum class ReviewState { Pending, Approved, Rejected, Disposed, Withdrawn };

std::string_view to_string(ReviewState state);

// One approval or rejection, as recorded in the store and (once `seq` is set) the ledger.
struct ReviewDecision {
    bool approved = false;
    std::string by;
    std::string at;                   // ISO timestamp
    std::string note;                 // approve: optional note; reject: the reason
    std::string extend;               // reject: the extension, e.g. "1y"
    std::optional<util::Date> until;  // reject: pending again on this day
    std::string sha256;               // the file version decided on
    std::optional<uint64_t> seq;      // ledger entry; none: not in the ledger (undone)

    [[nodiscard]] nlohmann::json to_json() const;
    [[nodiscard]] static Result<ReviewDecision> from_json(const nlohmann::json& j);
};

// One file in the queue: where it is, what approval carries out, the file version queued
// (identity facts and content hash), and its decisions, oldest first. Value type.
struct ReviewItem {
    std::string id;  // "R-<n>", never reused
    std::string root;
    std::string path;  // exact bytes, relative to the root
    std::string category;
    std::string schedule_id;
    int64_t schedule_version = 0;
    std::optional<std::string> client;
    std::optional<std::string> matter;
    std::optional<util::Date> expires;
    policy::Action action = policy::Action::Delete;  // what approval carries out
    uint64_t size = 0;
    uint64_t inode = 0;
    uint64_t device = 0;
    util::TimePoint mtime{};
    std::string sha256;     // content of the version queued
    std::string queued_at;  // when this version was queued (again)
    ReviewState state = ReviewState::Pending;
    std::string note;  // why it is pending again, or withdrawn
    std::vector<ReviewDecision> decisions;
    std::optional<uint64_t> disposal_seq;

    // The same file version as the walk found: device, inode, size and mtime.
    [[nodiscard]] bool same_version(const scan::FileFacts& facts) const;
    [[nodiscard]] bool open() const {
        return state == ReviewState::Pending || state == ReviewState::Approved ||
               state == ReviewState::Rejected;
    }
    [[nodiscard]] const ReviewDecision* last_decision() const {
        return decisions.empty() ? nullptr : &decisions.back();
    }
    // What a disposal certificate records about the approval (state approved only).
    [[nodiscard]] nlohmann::json approval_fields() const;
    // The file as queued, for ledger entries: root, path, category, facts, sha256...
    [[nodiscard]] nlohmann::json subject_fields() const;
    [[nodiscard]] nlohmann::json to_json() const;
    [[nodiscard]] static Result<ReviewItem> from_json(const nlohmann::json& j);
};

// One version of the queue. Value type.
struct ReviewQueue {
    uint64_t version = 0;  // bumped by every write; 0 = no store yet
    uint64_t next_id = 1;
    std::vector<ReviewItem> items;

    [[nodiscard]] ReviewItem* find(std::string_view id);
    [[nodiscard]] const ReviewItem* find(std::string_view id) const;
    // The open item (pending, approved or rejected) of a file, if any.
    [[nodiscard]] ReviewItem* find_open(const std::string& root, const std::string& path);
    [[nodiscard]] const ReviewItem* find_open(const std::string& root,
                                              const std::string& path) const;
    // Decisions without a ledger entry (the next pass undoes them).
    [[nodiscard]] uint64_t unrecorded() const;
};

[[nodiscard]] std::string review_path(const std::string& state_dir);

// Parses a store; fails with Refused, naming the file, on anything that is not a valid one.
[[nodiscard]] Result<ReviewQueue> parse_review_queue(std::string_view text,
                                                     const std::string& source);

// Reads `state_dir/review.json`. An absent file is the empty queue (version 0) unless
// `state_dir/review.lock` is marked, which shows that a queue was written here: then, as for
// an unreadable or corrupt file, it fails with Refused.
[[nodiscard]] Result<ReviewQueue> load_review_queue(const std::string& state_dir);

// An exclusive flock on `state_dir/review.lock` for one read-modify-write of the queue.
// Blocks until free. Move-only.
class ReviewStoreLock {
  public:
    [[nodiscard]] static Result<ReviewStoreLock> acquire(const std::string& state_dir);

  private:
    explicit ReviewStoreLock(UniqueFd fd) : m_fd(std::move(fd)) {}
    UniqueFd m_fd;
};

// Writes `queue` as its next version (atomically: temporary file, fsync, rename, fsync of
// the folder) and marks the lock file. The caller holds the ReviewStoreLock.
[[nodiscard]] Status save_review_queue(const std::string& state_dir, ReviewQueue& queue);

// The ledger entry of one decision on `item`, with its full content: the file as queued
// (root, path, device, inode, ...), the content hash decided on, who, when, the note.
[[nodiscard]] nlohmann::json decision_entry(const ReviewItem& item, const ReviewDecision& d,
                                            util::TimePoint now);

struct PlanEntry;

// For `lethe plan`: where an entry whose category needs review stands in the queue. Sets
// `entry.review` ({"state": "not queued" | "pending" | "approved" | "rejected", "id", ...})
// and, for status review, says it in `entry.reason`. Other entries are left alone. `today`
// is today in the zone of the entry's schedule (policy::LocalToday::of(entry.schedule_id)).
void describe_review(PlanEntry& entry, const ReviewQueue& queue, util::Date today);

// SHA-256 of `facts.path` below `root_fd`, opened without following symlinks; fails with
// Refused when the file is no longer the version the walk found, and with Stopped when
// `stop` says so between two blocks.
[[nodiscard]] Result<std::string> hash_file_version(int root_fd, const scan::FileFacts& facts,
                                                    const util::StopToken* stop = nullptr);

}  // namespace lethe::service

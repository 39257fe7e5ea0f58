#pragma once

// The review step of a disposal pass: brings the review queue up to date with what the
// walk found (queues due files that need review, sends changed files back to review,
// re-queues rejected files whose extension ended, withdraws files no longer due for review)
// and hands the pass the approved files to dispose of, re-checking each one just before it
// is acted on.

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "agent/ledger/ledger.hpp"
#include "agent/policy/local_today.hpp"
#include "agent/service/plan.hpp"
#include "agent/service/review.hpp"
#include "agent/util/error.hpp"
#include "agent/util/stop.hpp"
#include "agent/util/time.hpp"

namespace lethe::service {

struct ReviewCounts {
    uint64_t queued = 0;    // new in the queue this pass
    uint64_t requeued = 0;  // changed since queued or approved, or back from a rejection
    uint64_t waiting = 0;   // pending, rejected, or approved but not disposable this pass
    uint64_t approved = 0;  // handed to the pass for disposal
};

// Not thread safe; one per pass. The pass holds the pass lock (it is the ledger's writer).
class ReviewStage {
  public:
    // `today` is the pass's instant with each schedule's local date: a rejection's `until`
    // is compared with today in the zone of the file's schedule.
    ReviewStage(std::string state_dir, policy::LocalToday today,
                std::optional<std::string> only_root)
        : m_state_dir(std::move(state_dir)), m_now(today.now()), m_today(std::move(today)),
          m_only_root(std::move(only_root)) {}

    // Fails (Refused) when the queue cannot be read: the pass then disposes of nothing.
    [[nodiscard]] Status check() const;

    // A planned entry whose category needs review, due (status review) or held, under a
    // schedule in enforce mode. Called by the plan's sink, one call at a time.
    void seen(const PlanEntry& entry);

    // After the walk, under the review lock: updates the queue and returns the approved
    // files, as due plan entries whose `review` holds the approval. `root_fd` opens a root
    // by name (files are hashed when queued).
    //
    // Hashing stops when asked: between two files when `stop` is true, between two blocks
    // of a file when `interrupt` says so. It then fails with ErrorKind::Stopped and leaves
    // the queue as it was (nothing is queued, changed or withdrawn), for the next pass to
    // bring up to date.
    [[nodiscard]] Result<std::vector<PlanEntry>> sync(
        const std::function<Result<int>(const std::string&)>& root_fd,
        const std::atomic<bool>* stop = nullptr, const util::StopToken* interrupt = nullptr);

    // Just before acting: re-reads the queue, appends pending decisions to the ledger, and
    // tells whether the file is still approved in the version planned. On true, `entry.review`
    // is the approval with its ledger sequence number. On false the file is kept; the reason
    // is logged.
    [[nodiscard]] Result<bool> still_approved(PlanEntry& entry, ledger::Ledger& ledger);

    // The file's content is not the version approved: back to pending review.
    void changed(const PlanEntry& entry, const std::string& sha256_now);
    // Disposed of and certified with certificate `seq`.
    void disposed(const PlanEntry& entry, uint64_t seq);

    [[nodiscard]] const ReviewCounts& counts() const { return m_counts; }

  private:
    // Applies `change` to the open item of the entry under the lock; logs a failure.
    void update(const PlanEntry& entry, const std::function<void(ReviewItem&)>& change);

    std::string m_state_dir;
    util::TimePoint m_now;
    policy::LocalToday m_today;
    std::optional<std::string> m_only_root;
    std::vector<PlanEntry> m_seen;
    ReviewCounts m_counts;
};

}  // namespace lethe::service

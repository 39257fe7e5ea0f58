#include "agent/service/review_stage.hpp"

#include <fmt/format.h>

#include <map>
#include <set>

#include "agent/service/journal.hpp"
#include "agent/service/state_check.hpp"
#include "agent/util/encoding.hpp"
#include "agent/util/log.hpp"

namespace lethe::service {

namespace {

std::string shown(const std::string& root, const std::string& path) {
    return fmt::format("{}/{}", root, util::utf8_display(path));
}

ReviewItem item_of(const PlanEntry& e) {
    ReviewItem r;
    r.root = e.root;
    r.path = e.facts.path;
    return r;
}

// Copies what the walk and the schedules say now about the file into its item.
void refresh(ReviewItem& r, const PlanEntry& e) {
    r.category = e.category;
    r.schedule_id = e.schedule_id;
    r.schedule_version = e.schedule_version;
    r.client = e.client;
    r.matter = e.matter;
    r.expires = e.expires;
    r.action = e.action;
    r.size = e.facts.size;
    r.inode = e.facts.inode;
    r.device = e.facts.device;
    r.mtime = e.facts.mtime;
}

}  // namespace

Status ReviewStage::check() const {
    auto queue = load_review_queue(m_state_dir);
    if (!queue) return fail(queue.error());
    return {};
}

void ReviewStage::seen(const PlanEntry& entry) { m_seen.push_back(entry); }

Result<std::vector<PlanEntry>> ReviewStage::sync(
    const std::function<Result<int>(const std::string&)>& root_fd,
    const std::atomic<bool>* stop, const util::StopToken* interrupt) {
    std::string now_text = util::format_timestamp(m_now);

    // Hash what is new or changed before taking the lock, so review commands do not wait
    // for the reads; anything that changed in between is hashed under the lock.
    auto peek = load_review_queue(m_state_dir);
    if (!peek) return fail(peek.error());
    bool any_open = std::any_of(peek->items.begin(), peek->items.end(),
                                [](const ReviewItem& r) { return r.open(); });
    if (m_seen.empty() && !any_open) return std::vector<PlanEntry>{};

    std::map<size_t, std::string> hashes;
    std::set<size_t> unhashable;
    // Fails only when asked to stop; the queue is then saved by nobody.
    auto hash = [&](size_t i) -> Status {
        if (hashes.count(i) != 0 || unhashable.count(i) != 0) return {};
        const PlanEntry& e = m_seen[i];
        if (stop != nullptr && stop->load()) {
            return fail(ErrorKind::Stopped,
                        fmt::format("review: stopped on request before {} was hashed",
                                    shown(e.root, e.facts.path)));
        }
        auto fd = root_fd(e.root);
        auto sha = fd ? hash_file_version(*fd, e.facts, interrupt)
                      : Result<std::string>(fail(fd.error()));
        if (!sha && sha.error().kind() == ErrorKind::Stopped) {
            return fail(sha.error().with_context("review"));
        }
        if (!sha) {
            util::log_warning("{}: not queued for review this pass: {}",
                              shown(e.root, e.facts.path), sha.error().message());
            unhashable.insert(i);
            return {};
        }
        hashes[i] = *sha;
        return {};
    };
    for (size_t i = 0; i < m_seen.size(); ++i) {
        const PlanEntry& e = m_seen[i];
        if (e.status != classify::Status::Review) continue;
        const ReviewItem* item = peek->find_open(e.root, e.facts.path);
        if (item == nullptr || !item->same_version(e.facts)) {
            if (auto st = hash(i); !st) return fail(st.error());
        }
    }

    auto lock = ReviewStoreLock::acquire(m_state_dir);
    if (!lock) return fail(lock.error());
    auto queue = load_review_queue(m_state_dir);
    if (!queue) return fail(queue.error());
    bool dirty = false;
    std::set<std::string> seen_ids;
    std::vector<PlanEntry> approved;
    for (size_t i = 0; i < m_seen.size(); ++i) {
        const PlanEntry& e = m_seen[i];
        ReviewItem* item = queue->find_open(e.root, e.facts.path);
        if (item != nullptr) seen_ids.insert(item->id);
        if (e.status != classify::Status::Review) continue;  // held: the hold wins, unchanged
        if (item == nullptr) {
            if (auto st = hash(i); !st) return fail(st.error());
            if (unhashable.count(i) != 0) continue;
            ReviewItem r = item_of(e);
            refresh(r, e);
            r.id = fmt::format("R-{}", queue->next_id++);
            r.sha256 = hashes[i];
            r.queued_at = now_text;
            seen_ids.insert(r.id);
            util::log_info("queued for review as {}: {} (category {}; approval disposes with {})",
                           r.id, shown(e.root, e.facts.path), e.category,
                           policy::to_string(e.action));
            queue->items.push_back(std::move(r));
            ++m_counts.queued;
            ++m_counts.waiting;
            dirty = true;
            continue;
        }
        bool same_terms = item->category == e.category && item->action == e.action &&
                          item->schedule_id == e.schedule_id;
        if (!item->same_version(e.facts) || !same_terms) {
            if (auto st = hash(i); !st) return fail(st.error());
            if (unhashable.count(i) != 0) {
                ++m_counts.waiting;  // not disposable: it is not the version approved
                continue;
            }
            std::string why = !item->same_version(e.facts)
                                  ? std::string("the file changed since it was queued")
                                  : fmt::format(
                                        "its category or action changed since it was "
                                        "queued (now {}, {})",
                                        e.category, policy::to_string(e.action));
            const ReviewDecision* d = item->last_decision();
            if (item->state == ReviewState::Approved && d != nullptr) {
                item->note = fmt::format("{}; the approval by {} at {} no longer applies", why,
                                         d->by, d->at);
                util::log_warning("{} ({}) is back in review: {}", item->id,
                                  shown(e.root, e.facts.path), item->note);
                item->state = ReviewState::Pending;
                ++m_counts.requeued;
            } else if (item->state == ReviewState::Pending) {
                item->note = why + "; queued again";
                ++m_counts.requeued;
            } else {
                item->note = why;
            }
            refresh(*item, e);
            item->sha256 = hashes[i];
            item->queued_at = now_text;
            dirty = true;
        } else if (item->schedule_version != e.schedule_version || item->expires != e.expires ||
                   item->client != e.client || item->matter != e.matter) {
            refresh(*item, e);
            dirty = true;
        }
        if (item->state == ReviewState::Rejected) {
            const ReviewDecision* d = item->last_decision();
            if (d != nullptr && d->until && m_today.of(e.schedule_id) >= *d->until) {
                item->state = ReviewState::Pending;
                item->queued_at = now_text;
                item->note = fmt::format(
                    "back in review: the extension of the rejection by {} "
                    "ended on {}",
                    d->by, util::format_date(*d->until));
                util::log_info("{} ({}): {}", item->id, shown(e.root, e.facts.path), item->note);
                ++m_counts.requeued;
                dirty = true;
            }
        }
        if (item->state == ReviewState::Approved) {
            PlanEntry a = e;
            a.status = classify::Status::Due;
            a.reason.clear();
            a.review = item->approval_fields();
            approved.push_back(std::move(a));
            ++m_counts.approved;
        } else {
            ++m_counts.waiting;
        }
    }
    for (auto& r : queue->items) {
        if (!r.open() || seen_ids.count(r.id) != 0) continue;
        if (m_only_root && r.root != *m_only_root) continue;
        r.note = fmt::format(
            "withdrawn by the pass of {}: no longer due for review (removed, "
            "moved, its schedule changed, or the walk could not read it)",
            now_text);
        r.state = ReviewState::Withdrawn;
        util::log_info("{} ({}) {}", r.id, shown(r.root, r.path), r.note);
        dirty = true;
    }
    if (dirty) {
        if (auto st = save_review_queue(m_state_dir, *queue); !st) {
            return fail(st.error().with_context("review queue"));
        }
    }
    return approved;
}

Result<bool> ReviewStage::still_approved(PlanEntry& entry, ledger::Ledger& ledger) {
    auto queue = load_review_queue(m_state_dir);
    if (!queue) return fail(queue.error());
    std::string where = shown(entry.root, entry.facts.path);
    std::string id = entry.review.value("id", "");
    const ReviewItem* item = queue->find_open(entry.root, entry.facts.path);
    if (item == nullptr || item->id != id || item->state != ReviewState::Approved) {
        util::log_info(
            "kept {}: review {} is {} now", where, id,
            item == nullptr ? std::string("closed") : std::string(to_string(item->state)));
        return false;
    }
    if (!item->same_version(entry.facts) || item->sha256 != item->last_decision()->sha256) {
        util::log_info("kept {}: not the version approved in review {}", where, id);
        return false;
    }
    // The approval the certificate cites must be in the ledger before it, for this file and
    // this content: a review.json restored or edited ahead of the ledger approves nothing.
    auto recorded = approval_in_ledger(ledger.path(), *item);
    if (!recorded) return fail(recorded.error());
    if (!*recorded) {
        log_event(util::LogLevel::Warning, Event::StateRollback, {},
                  fmt::format("kept {}: the approval of review {} is not in the ledger", where,
                              id));
        return false;
    }
    entry.review = item->approval_fields();
    return true;
}

void ReviewStage::update(const PlanEntry& entry, const std::function<void(ReviewItem&)>& change) {
    std::string id = entry.review.value("id", "");
    auto lock = ReviewStoreLock::acquire(m_state_dir);
    auto queue = lock ? load_review_queue(m_state_dir) : Result<ReviewQueue>(fail(lock.error()));
    if (!queue) {
        util::log_error("review {}: {}", id, queue.error().message());
        return;
    }
    ReviewItem* item = queue->find_open(entry.root, entry.facts.path);
    if (item == nullptr || item->id != id) return;
    change(*item);
    if (auto st = save_review_queue(m_state_dir, *queue); !st) {
        util::log_error("review {}: {}", id, st.error().message());
    }
}

void ReviewStage::changed(const PlanEntry& entry, const std::string& sha256_now) {
    update(entry, [&](ReviewItem& r) {
        const ReviewDecision* d = r.last_decision();
        r.note = fmt::format("the file's content changed after it was approved{}; back in review",
                             d != nullptr ? fmt::format(" by {} at {}", d->by, d->at) : "");
        r.state = ReviewState::Pending;
        r.sha256 = sha256_now;
        r.queued_at = util::format_timestamp(m_now);
    });
    ++m_counts.requeued;
}

void ReviewStage::disposed(const PlanEntry& entry, uint64_t seq) {
    update(entry, [&](ReviewItem& r) {
        r.state = ReviewState::Disposed;
        r.disposal_seq = seq;
        r.note.clear();
    });
}

}  // namespace lethe::service

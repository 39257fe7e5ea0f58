#include "agent/service/review.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>

#include "agent/ledger/keys.hpp"
#include "agent/service/review_stage.hpp"
#include "agent/util/fs.hpp"
#include "agent/util/sha256.hpp"
#include "tests/support/temp_dir.hpp"

namespace lethe::service {
namespace {

util::TimePoint at(const char* text) { return *util::parse_timestamp(text); }

// A due file of a category that needs review, as the plan hands it to the pass.
PlanEntry review_entry(const testing::TempDir& dir, const std::string& path) {
    auto root = scan::open_root(dir / "share");
    EXPECT_TRUE(root);
    auto facts = scan::stat_beneath(root->get(), path);
    EXPECT_TRUE(facts) << facts.error().message();
    PlanEntry e;
    e.root = "clients";
    e.facts = *facts;
    e.status = classify::Status::Review;
    e.category = "originals";
    e.schedule_id = "firm";
    e.schedule_version = 1;
    e.mode = policy::Mode::Enforce;
    e.client = "acme";
    e.expires = *util::parse_date("2017-05-01");
    e.action = policy::Action::Sanitize;
    e.review = nlohmann::json::object();
    return e;
}

// Today at `now` with no schedule loaded: UTC for every file.
policy::LocalToday utc_today(util::TimePoint now) { return {{}, now}; }

// The schedule "firm" of review_entry(), in `zone`.
std::vector<policy::RetentionSchedule> firm_in(const char* zone) {
    policy::RetentionSchedule s;
    s.id = "firm";
    auto loaded = util::load_time_zone(zone);
    EXPECT_TRUE(loaded) << zone;
    if (loaded) s.zone = *loaded;
    return {s};
}

// One pass's review step over `entries`, under `schedules` (none: every date in UTC).
Result<std::vector<PlanEntry>> pass(const testing::TempDir& dir,
                                    const std::vector<PlanEntry>& entries, const char* now,
                                    ReviewCounts* counts = nullptr,
                                    const std::vector<policy::RetentionSchedule>& schedules = {}) {
    auto root = scan::open_root(dir / "share");
    EXPECT_TRUE(root);
    ReviewStage stage(dir / "state", policy::LocalToday(schedules, at(now)), std::nullopt);
    for (const auto& e : entries) stage.seen(e);
    auto out = stage.sync([&](const std::string&) -> Result<int> { return root->get(); });
    if (counts != nullptr) *counts = stage.counts();
    return out;
}

void decide(const testing::TempDir& dir, const std::string& id, bool approve,
            const char* until = nullptr) {
    auto lock = ReviewStoreLock::acquire(dir / "state");
    ASSERT_TRUE(lock);
    auto queue = load_review_queue(dir / "state");
    ASSERT_TRUE(queue) << queue.error().message();
    ReviewItem* item = queue->find(id);
    ASSERT_NE(item, nullptr);
    ReviewDecision d;
    d.approved = approve;
    d.by = "alice";
    d.at = "2026-11-26T10:00:00Z";
    d.sha256 = item->sha256;
    if (!approve) {
        d.note = "keep";
        d.extend = "6m";
        d.until = *util::parse_date(until);
    }
    item->decisions.push_back(d);
    item->state = approve ? ReviewState::Approved : ReviewState::Rejected;
    ASSERT_TRUE(save_review_queue(dir / "state", *queue));
}

TEST(ReviewQueue, ADueFileIsQueuedOnceWithItsVersionAndStaysPending) {
    testing::TempDir dir;
    dir.write("share/acme/will.pdf", "last will", "2010-05-01");
    PlanEntry e = review_entry(dir, "acme/will.pdf");
    ReviewCounts counts;
    auto first = pass(dir, {e}, "2026-11-26T00:00:00Z", &counts);
    ASSERT_TRUE(first) << first.error().message();
    EXPECT_TRUE(first->empty());  // nothing approved: nothing to dispose of
    EXPECT_EQ(counts.queued, 1u);
    ASSERT_TRUE(pass(dir, {e}, "2026-11-27T00:00:00Z", &counts));
    EXPECT_EQ(counts.queued, 0u);
    EXPECT_EQ(counts.waiting, 1u);

    auto queue = load_review_queue(dir / "state");
    ASSERT_TRUE(queue);
    ASSERT_EQ(queue->items.size(), 1u);
    const ReviewItem& r = queue->items[0];
    EXPECT_EQ(r.id, "R-1");
    EXPECT_EQ(r.state, ReviewState::Pending);
    EXPECT_EQ(r.sha256, util::sha256_hex("last will"));
    EXPECT_EQ(r.inode, e.facts.inode);
    EXPECT_EQ(r.size, 9u);
    EXPECT_EQ(r.queued_at, "2026-11-26T00:00:00Z");
    EXPECT_EQ(r.client, "acme");
}

TEST(ReviewQueue, AnApprovalAppliesOnlyToTheVersionApproved) {
    testing::TempDir dir;
    dir.write("share/acme/will.pdf", "last will", "2010-05-01");
    PlanEntry e = review_entry(dir, "acme/will.pdf");
    ASSERT_TRUE(pass(dir, {e}, "2026-11-26T00:00:00Z"));
    decide(dir, "R-1", true);
    auto approved = pass(dir, {e}, "2026-11-27T00:00:00Z");
    ASSERT_TRUE(approved);
    ASSERT_EQ(approved->size(), 1u);
    EXPECT_EQ((*approved)[0].status, classify::Status::Due);
    EXPECT_EQ((*approved)[0].review["approved_by"], "alice");
    EXPECT_EQ((*approved)[0].review["sha256"], util::sha256_hex("last will"));

    // The file changes after the approval: back to pending, nothing handed to the pass.
    dir.write("share/acme/will.pdf", "a codicil was added", "2011-01-01");
    PlanEntry changed = review_entry(dir, "acme/will.pdf");
    ReviewCounts counts;
    auto after = pass(dir, {changed}, "2026-11-28T00:00:00Z", &counts);
    ASSERT_TRUE(after);
    EXPECT_TRUE(after->empty());
    EXPECT_EQ(counts.requeued, 1u);
    auto queue = load_review_queue(dir / "state");
    ASSERT_TRUE(queue);
    const ReviewItem& r = queue->items[0];
    EXPECT_EQ(r.state, ReviewState::Pending);
    EXPECT_EQ(r.sha256, util::sha256_hex("a codicil was added"));
    EXPECT_NE(r.note.find("the approval by alice"), std::string::npos) << r.note;
    EXPECT_EQ(r.decisions.size(), 1u);  // the history stays

    // A plan entry from before the change is refused just before acting, too.
    ReviewStage stage(dir / "state", utc_today(at("2026-11-28T00:00:00Z")), std::nullopt);
    std::string key_path = dir / "keys/signing.pem";
    ASSERT_TRUE(ledger::SigningKey::generate(key_path));
    auto key = ledger::SigningKey::load(key_path);
    ASSERT_TRUE(key);
    auto ledger = ledger::Ledger::open(dir / "ledger.jsonl", *key);
    ASSERT_TRUE(ledger);
    PlanEntry stale = (*approved)[0];
    auto still = stage.still_approved(stale, *ledger);
    ASSERT_TRUE(still);
    EXPECT_FALSE(*still);
}

TEST(ReviewQueue, ARejectedFileComesBackOnTheDayItsExtensionEnds) {
    testing::TempDir dir;
    dir.write("share/acme/will.pdf", "last will", "2010-05-01");
    PlanEntry e = review_entry(dir, "acme/will.pdf");
    ASSERT_TRUE(pass(dir, {e}, "2026-01-10T00:00:00Z"));
    decide(dir, "R-1", false, "2026-07-10");
    ASSERT_TRUE(pass(dir, {e}, "2026-07-09T23:00:00Z"));
    EXPECT_EQ(load_review_queue(dir / "state")->items[0].state, ReviewState::Rejected);
    ReviewCounts counts;
    ASSERT_TRUE(pass(dir, {e}, "2026-07-10T00:00:00Z", &counts));
    EXPECT_EQ(counts.requeued, 1u);
    auto r = load_review_queue(dir / "state")->items[0];
    EXPECT_EQ(r.state, ReviewState::Pending);
    EXPECT_EQ(r.queued_at, "2026-07-10T00:00:00Z");
}

// The extension ends on a date of the file's schedule's zone: at 23:30 UTC on 9 July it is
// already 10 July in Auckland (the file is back in review) but still 9 July in UTC and Los
// Angeles (it stays rejected).
TEST(ReviewQueue, AnExtensionEndsOnTheDateInTheZoneOfTheFilesSchedule) {
    for (const char* zone : {"Pacific/Auckland", "America/Los_Angeles", "UTC"}) {
        testing::TempDir dir;
        dir.write("share/acme/will.pdf", "last will", "2010-05-01");
        PlanEntry e = review_entry(dir, "acme/will.pdf");
        auto schedules = firm_in(zone);
        ASSERT_TRUE(pass(dir, {e}, "2026-01-10T00:00:00Z", nullptr, schedules));
        decide(dir, "R-1", false, "2026-07-10");
        ReviewCounts counts;
        ASSERT_TRUE(pass(dir, {e}, "2026-07-09T23:30:00Z", &counts, schedules));
        bool auckland = std::string(zone) == "Pacific/Auckland";
        EXPECT_EQ(load_review_queue(dir / "state")->items[0].state,
                  auckland ? ReviewState::Pending : ReviewState::Rejected)
            << zone;
        EXPECT_EQ(counts.requeued, auckland ? 1u : 0u) << zone;
    }
    // And a plan says so: "back in review at the next pass" only where the date has come.
    testing::TempDir dir;
    dir.write("share/acme/will.pdf", "last will", "2010-05-01");
    PlanEntry e = review_entry(dir, "acme/will.pdf");
    ASSERT_TRUE(pass(dir, {e}, "2026-01-10T00:00:00Z"));
    decide(dir, "R-1", false, "2026-07-10");
    auto queue = load_review_queue(dir / "state");
    ASSERT_TRUE(queue);
    auto now = at("2026-07-09T23:30:00Z");
    PlanEntry in_utc = e;
    describe_review(in_utc, *queue, policy::LocalToday({}, now).of(e.schedule_id));
    EXPECT_EQ(in_utc.reason, "review R-1: rejected by alice, kept until 2026-07-10");
    PlanEntry in_auckland = e;
    describe_review(in_auckland, *queue,
                    policy::LocalToday(firm_in("Pacific/Auckland"), now).of(e.schedule_id));
    EXPECT_EQ(in_auckland.reason,
              "review R-1: rejected by alice until 2026-07-10; back in review at the next pass");
}

TEST(ReviewQueue, AFileNoLongerDueForReviewIsWithdrawnAndItsApprovalDiesWithIt) {
    testing::TempDir dir;
    dir.write("share/acme/will.pdf", "last will", "2010-05-01");
    PlanEntry e = review_entry(dir, "acme/will.pdf");
    ASSERT_TRUE(pass(dir, {e}, "2026-11-26T00:00:00Z"));
    decide(dir, "R-1", true);
    auto none = pass(dir, {}, "2026-11-27T00:00:00Z");
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->empty());
    EXPECT_EQ(load_review_queue(dir / "state")->items[0].state, ReviewState::Withdrawn);
    // Due again later: a new item, pending, not the old approval.
    auto again = pass(dir, {e}, "2026-11-28T00:00:00Z");
    ASSERT_TRUE(again);
    EXPECT_TRUE(again->empty());
    auto queue = load_review_queue(dir / "state");
    ASSERT_EQ(queue->items.size(), 2u);
    EXPECT_EQ(queue->items[1].id, "R-2");
    EXPECT_EQ(queue->items[1].state, ReviewState::Pending);
}

TEST(ReviewStore, ASaveReplacesTheFileWholeSoAReaderNeverSeesHalfOfIt) {
    testing::TempDir dir;
    ReviewQueue queue;
    ASSERT_TRUE(save_review_queue(dir.path(), queue));
    int old_fd = ::open((dir / "review.json").c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(old_fd, 0);
    queue.next_id = 42;
    ASSERT_TRUE(save_review_queue(dir.path(), queue));
    // The reader that opened version 1 still reads all of version 1: the new version was
    // written beside it and renamed over it, never written into it.
    std::string old_text(4096, '\0');
    ssize_t n = ::read(old_fd, old_text.data(), old_text.size());
    ::close(old_fd);
    ASSERT_GT(n, 0);
    old_text.resize(static_cast<size_t>(n));
    auto old_version = parse_review_queue(old_text, "old");
    ASSERT_TRUE(old_version) << old_version.error().message();
    EXPECT_EQ(old_version->version, 1u);
    EXPECT_EQ(old_version->next_id, 1u);
    auto now = load_review_queue(dir.path());
    ASSERT_TRUE(now);
    EXPECT_EQ(now->version, 2u);
    EXPECT_EQ(now->next_id, 42u);
    // No temporary file is left behind: only the queue and its lock.
    std::vector<std::string> names;
    DIR* d = ::opendir(dir.path().c_str());
    ASSERT_NE(d, nullptr);
    while (const dirent* ent = ::readdir(d)) {
        std::string name = ent->d_name;
        if (name != "." && name != "..") names.push_back(name);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, (std::vector<std::string>{"review.json", "review.lock"}));
}

TEST(ReviewStore, ACorruptOrDeletedQueueFailsClosed) {
    testing::TempDir dir;
    auto none = load_review_queue(dir.path());
    ASSERT_TRUE(none);
    EXPECT_EQ(none->version, 0u);
    EXPECT_FALSE(testing::exists(dir / "review.lock"));

    ReviewQueue empty;
    {
        auto lock = ReviewStoreLock::acquire(dir.path());
        ASSERT_TRUE(lock);
        ASSERT_TRUE(save_review_queue(dir.path(), empty));
    }
    ASSERT_EQ(::unlink((dir / "review.json").c_str()), 0);
    auto deleted = load_review_queue(dir.path());
    ASSERT_FALSE(deleted);
    EXPECT_EQ(deleted.error().kind(), ErrorKind::Refused);
    EXPECT_NE(deleted.error().message().find("restore it from backup"), std::string::npos);

    const std::string item =
        R"({"id":"R-1","root":"c","path":"a","category":"x","schedule":"s","schedule_version":1,)"
        R"("expires":"2017-01-01","action":"delete","size":1,"inode":2,"device":3,)"
        R"("mtime":"2010-01-01T00:00:00Z","sha256":")" +
        std::string(64, 'a') + R"(","queued_at":"t",)";
    for (const std::string& bad :
         {std::string(""), std::string("{"), std::string("[]"),
          std::string(R"({"schema":1,"version":1,"next_id":2})"),
          std::string(R"({"schema":2,"version":1,"next_id":2,"items":[]})"),
          // approved, but no approval on record: must never read as approved
          R"({"schema":1,"version":1,"next_id":2,"items":[)" + item +
              R"("state":"approved","decisions":[]}]})",
          R"({"schema":1,"version":1,"next_id":2,"items":[)" + item +
              R"("state":"approvd","decisions":[]}]})",
          R"({"schema":1,"version":1,"next_id":2,"items":[)" + item +
              R"("state":"pending","decisions":[]},)" + item +
              R"("state":"pending","decisions":[]}]})"}) {
        dir.write("review.json", bad);
        auto queue = load_review_queue(dir.path());
        ASSERT_FALSE(queue) << bad;
        EXPECT_EQ(queue.error().kind(), ErrorKind::Refused) << bad;
        EXPECT_NE(queue.error().message().find("no file will be disposed of"), std::string::npos);
    }
    // A pass refuses too, and hands nothing to dispose of.
    ReviewStage stage(dir.path(), utc_today(at("2026-11-26T00:00:00Z")), std::nullopt);
    EXPECT_FALSE(stage.check());
    auto synced = stage.sync([](const std::string&) -> Result<int> { return -1; });
    EXPECT_FALSE(synced);
}

// An approval counts only once it is in the ledger: the pass never enters one itself.
TEST(ReviewLedger, AnApprovalWithoutItsLedgerEntryApprovesNothing) {
    testing::TempDir dir;
    dir.write("share/acme/a.pdf", "a", "2010-05-01");
    ASSERT_TRUE(pass(dir, {review_entry(dir, "acme/a.pdf")}, "2026-11-26T00:00:00Z"));
    ReviewDecision approval{true, "bob", "2026-11-26T12:00:00Z", "ok", "", {}, "", {}};
    {
        auto lock = ReviewStoreLock::acquire(dir / "state");
        auto queue = load_review_queue(dir / "state");
        ASSERT_TRUE(queue);
        approval.sha256 = queue->items[0].sha256;
        queue->items[0].decisions.push_back(approval);
        queue->items[0].state = ReviewState::Approved;
        ASSERT_TRUE(save_review_queue(dir / "state", *queue));
    }
    std::string key_path = dir / "keys/signing.pem";
    ASSERT_TRUE(ledger::SigningKey::generate(key_path));
    auto key = ledger::SigningKey::load(key_path);
    auto ledger = ledger::Ledger::open(dir / "ledger.jsonl", *key);
    ASSERT_TRUE(ledger);
    auto now = at("2026-11-27T00:00:00Z");
    PlanEntry e = review_entry(dir, "acme/a.pdf");
    e.review = {{"id", "R-1"}};
    ReviewStage stage(dir / "state", utc_today(now), std::nullopt);
    auto still = stage.still_approved(e, *ledger);
    ASSERT_TRUE(still) << still.error().message();
    EXPECT_FALSE(*still);
    EXPECT_EQ(ledger->last_seq(), 0u);  // nothing was entered on the store's word
    EXPECT_EQ(load_review_queue(dir / "state")->unrecorded(), 1u);

    // As `lethe review approve` does it: the ledger first, then the store with the seq.
    {
        auto lock = ReviewStoreLock::acquire(dir / "state");
        auto queue = load_review_queue(dir / "state");
        ASSERT_TRUE(queue);
        auto seq = ledger->append(decision_entry(queue->items[0], approval, now));
        ASSERT_TRUE(seq);
        queue->items[0].decisions.back().seq = *seq;
        ASSERT_TRUE(save_review_queue(dir / "state", *queue));
    }
    e = review_entry(dir, "acme/a.pdf");
    e.review = {{"id", "R-1"}};
    still = stage.still_approved(e, *ledger);
    ASSERT_TRUE(still) << still.error().message();
    EXPECT_TRUE(*still);
    EXPECT_EQ(e.review["approval_seq"], 1);
    EXPECT_EQ(e.review["note"], "ok");
}

}  // namespace
}  // namespace lethe::service

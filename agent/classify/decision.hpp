#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/classify/mime.hpp"
#include "agent/policy/schedule.hpp"
#include "agent/scan/file_facts.hpp"
#include "agent/util/time.hpp"

namespace lethe::classify {

// Where a file stands against the schedules on a given day.
enum class Status {
    Unmatched,  // in no category: never touched, not listed
    NotDue,     // retention still running (or permanent, or its event has not happened)
    Due,        // retention has run out: the action applies
    Review,     // due, and the action is review: waits for a records manager
    Skipped,    // due (or undecidable), but lethe will not act on it; `reason` says why
    Held,       // due, but under a legal hold (set by the plan, which knows the holds)
};

std::string_view to_string(Status status);

// lethe's state-index record of one encrypted copy it wrote (NAME.age; the index is
// service/encrypted_index.hpp), as the classifier needs it: the copy's identity when it was
// written and the original's retention. The record applies to a file only while that file is
// still this copy: same device, inode, size and mtime (a later file under the same name, or
// an inode number reused, is not pinned by it).
struct IndexedCopy {
    uint64_t device = 0;
    uint64_t inode = 0;
    uint64_t size = 0;
    util::TimePoint mtime{};
    std::string category;
    std::string schedule;
    util::Date trigger_date{};
    std::optional<util::Date> expires;  // the original's; none = permanent
    util::Date encrypted{};             // when the copy was made, in the schedule's zone
    std::optional<std::string> client;  // the original's, where its category captured them
    std::optional<std::string> matter;

    [[nodiscard]] bool is(const scan::FileFacts& f) const {
        return device == f.device && inode == f.inode && size == f.size && mtime == f.mtime;
    }
};

// What the classifier may need beyond the walk's facts, asked only when a rule needs it.
// Paths are relative to the root being classified.
class FileLookups {
public:
    virtual ~FileLookups() = default;
    // The mtime of a file named `marker` in the folder holding `path` or the nearest
    // ancestor folder up to the root; none when there is no such marker.
    virtual std::optional<util::TimePoint> marker_time(std::string_view path,
                                                       const std::string& marker) = 0;
    // The value of the extended attribute `name` of the file; none when it has none.
    virtual std::optional<std::string> xattr(std::string_view path, const std::string& name) = 0;
    // The content type of the file, sniffed from its first bytes; asked at most once per
    // file, and only when a category with `mime` has every cheaper matcher holding.
    virtual ContentType content_type(const scan::FileFacts& facts) = 0;
    // lethe's state-index record of the encrypted copy that `facts` is (IndexedCopy::is);
    // none when the file is no copy the index knows. Asked only for names ending in ".age".
    virtual const IndexedCopy* indexed_copy(const scan::FileFacts& facts) {
        (void)facts;
        return nullptr;
    }
};

// One category that matched a file, and what it alone would decide.
struct Match {
    const policy::RetentionSchedule* schedule = nullptr;
    const policy::Category* category = nullptr;
    std::string why;                    // which matchers held
    policy::Trigger trigger = policy::Trigger::Modified;  // the trigger actually used
    std::optional<util::Date> trigger_date;  // none: the event has not happened or is unknown
    std::optional<util::Date> counted_from;  // trigger date after cutoff
    std::optional<util::Date> expires;  // none: kept indefinitely (permanent, no event yet)
    std::string note;                   // e.g. "no birth time: fell back to modified"
    std::string problem;                // the trigger date cannot be determined: never act
    std::optional<std::string> client;
    std::optional<std::string> matter;
    // lethe's encrypted copy of a file of this category: the dates above are the original's
    // trigger and the copy's own expiry, and the copy is sanitized, whatever the category's
    // action (which was `encrypt`).
    bool encrypted_copy = false;
};

// The verdict for one file. Points into the schedules it was made from: those must outlive
// it. Value type otherwise.
struct Decision {
    Status status = Status::Unmatched;
    const policy::RetentionSchedule* schedule = nullptr;
    const policy::Category* category = nullptr;
    std::optional<std::string> client;
    std::optional<std::string> matter;
    util::Date trigger_date{};
    std::optional<util::Date> expires;  // none when the retention is permanent (or pending)
    policy::Action action = policy::Action::Review;
    std::string reason;                 // for Skipped and Review
    size_t matched_categories = 0;      // how many categories matched
    // Filled only when classify() is asked to explain: every match and the deciding rule.
    std::vector<Match> matches;
    std::string rule;
    std::string trigger_note;           // how the trigger date was found, when not plain
    // Set when the file's content type was sniffed (a category with `mime` got that far).
    std::optional<ContentType> content;
    // Filled only when explaining: categories whose every matcher held except `mime`, and why
    // it did not (another type, or the content could not be sniffed).
    std::vector<std::pair<const policy::Category*, std::string>> mime_misses;
};

struct ClassifyOptions {
    FileLookups* lookups = nullptr;  // none: events, pins and birth-time rules are undecidable
    bool explain = false;            // fill Decision::matches and Decision::rule
};

// Classifies one file against every category of every schedule, at the instant `now`.
//
// Dates are calendar dates in each schedule's time zone (UTC unless it names one): the
// trigger instant (mtime, birth or access time, a marker's mtime) becomes the local date in
// the zone of the schedule whose category is being considered, and the file is due once the
// local date of `now` in the deciding schedule's zone has reached its expiry date, i.e. from
// local midnight. Event attributes holding an ISO date are dates already. Expiry dates of
// categories from schedules in different zones are compared by instant: the start of each
// date in its schedule's zone (util::TimeZone::start_of).
//
// Event marker files (e.g. `.matter-closed`) are Unmatched: never touched. A file pinned with the `user.lethe.category` extended attribute belongs to that category
// only. Otherwise, when several categories match, the one that keeps the file longest wins
// (latest expiry; permanent or a pending event beats any date); on an equal expiry the more
// protective action wins (review > archive > encrypt > sanitize > delete), then the
// category listed first. A file is due on its expiry date and after. A due file whose
// action lethe does not carry out (archive, encrypt in this version), or that would
// overwrite an inode with other hard links, is Skipped with a reason; never acted on.
// A category with `mime` holds only when the sniffed type is one of its types; a file whose
// content cannot be sniffed is in no such category, and when it would otherwise be due it
// is Skipped (the category it may belong to could keep it longer): fail closed.
[[nodiscard]] Decision classify(const scan::FileFacts& facts,
                                const std::vector<policy::RetentionSchedule>& schedules,
                                util::TimePoint now, const ClassifyOptions& options = {});

// classify() compiled for many files: the same verdict for every file, faster. The schedules
// are indexed by the literal first segment of their categories' path patterns, so a file is
// matched only against the categories whose patterns can match its first segment (and those
// that can match any), in the schedules' order. Borrows `schedules`, which must outlive it
// and not change. Immutable once built: one Classifier may serve every walker thread.
class Classifier {
public:
    explicit Classifier(const std::vector<policy::RetentionSchedule>& schedules);

    ~Classifier();
    Classifier(const Classifier&) = delete;
    Classifier& operator=(const Classifier&) = delete;

    [[nodiscard]] Decision classify(const scan::FileFacts& facts, util::TimePoint now,
                                    const ClassifyOptions& options = {}) const;

    // A category's matchers prepared for many files (decision.cpp).
    struct Compiled;
    struct Candidate {
        const policy::RetentionSchedule* schedule = nullptr;
        const policy::Category* category = nullptr;
        // The event of a category triggered by one, when its schedule defines it.
        const policy::Event* event = nullptr;
        const Compiled* compiled = nullptr;  // none on the plain path
    };
    // The categories a file at `path` is matched against, in order.
    [[nodiscard]] const std::vector<Candidate>& candidates(std::string_view path) const;

private:
    const std::vector<policy::RetentionSchedule>* m_schedules;
    std::vector<std::string> m_markers;  // event marker names: never classified
    // By first segment, ordered by length then bytes (searched with a binary search).
    std::vector<std::pair<std::string, std::vector<Candidate>>> m_by_segment;
    std::vector<Candidate> m_other;      // for a first segment no pattern names
    std::vector<Compiled> m_compiled;    // one per category, in schedule order
};

// Whether `category` matches the file; fills client/matter captures when it does, and
// `why` (when given) with the matchers that held. A `mime` matcher is tried last and needs
// `lookups` (without them it does not hold); the sniffed type is kept in `content` so that
// a file is sniffed at most once across categories.
[[nodiscard]] bool category_matches(const policy::Category& category, const scan::FileFacts& facts,
                                    std::optional<std::string>* client,
                                    std::optional<std::string>* matter, std::string* why = nullptr,
                                    FileLookups* lookups = nullptr,
                                    std::optional<ContentType>* content = nullptr);

}  // namespace lethe::classify

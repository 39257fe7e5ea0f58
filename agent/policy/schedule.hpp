#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "agent/policy/retention.hpp"
#include "agent/util/error.hpp"
#include "agent/util/glob.hpp"
#include "agent/util/tzif.hpp"

namespace lethe::policy {

// Where something is written in its schedule file, 1-based; 0 when not known.
struct SourcePosition {
    size_t line = 0;
    size_t column = 0;
};

// "<file>:<line>:<column>", or the file alone when the position is not known.
[[nodiscard]] std::string located(const std::string& file, SourcePosition at);

// What happens to a record when its retention has run out. Declared from least to most
// protective: when two categories give the same expiry, the later enumerator wins.
enum class Action { Delete = 0, Sanitize = 1, Encrypt = 2, Archive = 3, Review = 4 };

// What starts a record's retention clock: the file's modification, birth (statx btime) or
// access time, or a named event (a marker file in an ancestor folder, or an extended
// attribute holding an ISO date).
enum class Trigger { Modified, Created, Accessed, Event };

// Records-management cutoff: retention counts from the end of the period the trigger date
// fell in, not from the trigger date itself.
struct Cutoff {
    enum class Kind { None, YearEnd, FiscalYearEnd };
    Kind kind = Kind::None;
    unsigned month = 12;  // the last day of the fiscal year (FiscalYearEnd)
    unsigned day = 31;

    // The end of the period `date` lies in (the date itself when there is no cutoff).
    [[nodiscard]] util::Date apply(util::Date date) const;
    [[nodiscard]] std::string to_string() const;
    bool operator==(const Cutoff&) const = default;
};

// How an event is observed. Exactly one of marker / xattr is set.
struct Event {
    std::string name;
    std::string marker;  // file name looked up in the file's ancestor folders; its mtime
    std::string xattr;   // extended attribute on the file holding an ISO date
};

// observe: plan and report only. enforce: lethe run disposes. The default is observe.
enum class Mode { Observe, Enforce };

std::string_view to_string(Action action);
std::string_view to_string(Trigger trigger);
std::string_view to_string(Mode mode);

// One class of records in a retention schedule, with its matchers and disposition.
// A file belongs to the category when every matcher given holds.
struct Category {
    std::string id;
    std::string description;
    std::string mandate;                 // the legal authority for the period, if given
    std::vector<util::Glob> paths;       // any one must match; empty = every path
    std::vector<std::string> extensions; // lowercase, without the dot; empty = any
    // Content types sniffed from the file's first bytes (libmagic), lowercase "type/subtype"
    // or "type/*"; any one must match; empty = any (and nothing is read).
    std::vector<std::string> mime;
    std::optional<uint64_t> min_size;    // bytes, inclusive
    std::optional<uint64_t> max_size;    // bytes, inclusive
    std::vector<uint32_t> owners;        // uids (names resolved when loaded); empty = any
    std::vector<uint32_t> groups;        // gids; empty = any
    Retention retain;
    Cutoff cutoff;
    Trigger trigger = Trigger::Modified;
    std::string event;                   // the event name when trigger == Event
    // For trigger = created on a filesystem without birth times: the trigger to use instead
    // (Modified or Accessed); none means such files are skipped, with a reason.
    std::optional<Trigger> created_fallback;
    Action action = Action::Review;
    // Due files wait in the review queue until a records manager approves them; then
    // `action` applies. Always true for action = review.
    bool review = false;
    // For action = review: what an approval carries out (default delete).
    std::optional<Action> review_action;
    bool encrypt = false;  // archive: write .tar.zst.age to the [archive] recipients (issue 6)
    bool erasable = true;                // false: retention is mandated by law
    // archive / encrypt: how long the archived or encrypted copy is kept after it was made;
    // none = permanently (the default).
    std::optional<Retention> archive_for;
    size_t line = 0;                     // where the category starts in its file
    SourcePosition id_at;                // where its id is written

    [[nodiscard]] bool needs_review() const { return review || action == Action::Review; }
    // What disposes of a due file once a records manager approved it (or at once, when the
    // category needs no review).
    [[nodiscard]] Action approved_action() const {
        return action == Action::Review ? review_action.value_or(Action::Delete) : action;
    }
    // The action as ranked when categories tie: one that needs review ranks as review.
    [[nodiscard]] Action precedence() const { return needs_review() ? Action::Review : action; }
};

// Whether the sniffed content type `type` ("type/subtype") is one of `patterns` (as
// Category::mime holds them: lowercase, "type/subtype" or "type/*").
[[nodiscard]] bool mime_matches(const std::vector<std::string>& patterns, std::string_view type);

// How a file pins itself to a category regardless of the matchers.
inline constexpr std::string_view kPinXattr = "user.lethe.category";

// One schedule file as approved by the records committee. Immutable once loaded.
struct RetentionSchedule {
    std::string id;
    int64_t version = 0;
    std::string approved_by;
    std::optional<util::Date> approved;  // the approval date, when given
    int64_t schema = 1;
    Mode mode = Mode::Observe;
    // `timezone`: the zone in which trigger instants and "today" become calendar dates for
    // this schedule's categories (retention, cutoffs and expiry are arithmetic on those
    // local dates). UTC when the schedule names none.
    util::TimeZone zone = util::TimeZone::utc();
    std::vector<Category> categories;
    std::vector<Event> events;
    std::string source_path;  // the file it was loaded from
    std::string sha256;       // lowercase hex of the file's bytes, for certificates
    SourcePosition id_at;     // where [schedule] id is written
};

// Parses and validates one schedule from TOML text. Every error names
// `<source_name>:<line>:<column>` and what is wrong; unknown keys are errors (a typo must not
// silently widen or narrow what is disposed), and so are matchers that fail open: an empty
// matcher list (it would match every file, not none) and a path pattern no path can match
// ("./san/**", "../x", "a//b": the category would silently hold nothing it was meant to).
[[nodiscard]] Result<RetentionSchedule> parse_schedule(std::string_view toml_text,
                                                       const std::string& source_name);

// The newest schedule language version this lethe understands.
inline constexpr int64_t kSchemaVersion = 1;

// Everything `lethe policy check` reports about one file: every error found (not only the
// first), and warnings (categories that can never win). `schedule` is set when there are
// no errors.
struct ScheduleReport {
    std::string file;
    std::vector<std::string> errors;
    std::vector<std::string> warnings;
    std::optional<RetentionSchedule> schedule;
};
[[nodiscard]] ScheduleReport check_schedule(std::string_view toml_text,
                                            const std::string& source_name);

// Warnings for categories of `schedule` that another category always beats.
[[nodiscard]] std::vector<std::string> shadow_warnings(const RetentionSchedule& schedule);

// The rule across files: a schedule id, and a category id, names one thing among all the
// schedules in force. Give it the schedules in load order; add() returns the clashes of
// that schedule with the ones given before, each "<file>:<line>:<column>: ... already ...
// by <file>:<line>:<column>". Average constant time per id.
class IdRegister {
public:
    [[nodiscard]] std::vector<std::string> add(const RetentionSchedule& schedule);

private:
    std::unordered_map<std::string, std::string> m_schedules;   // id -> where it was defined
    std::unordered_map<std::string, std::string> m_categories;  // id -> where it was defined
};

// Loads schedules from files and folders (every `*.toml` directly in a folder, in name
// order). Fails on the first broken file; fails if two schedules share an id or two
// categories share an id (IdRegister). An empty result is an error: no schedule means
// nothing to enforce. Time linear in the size of the files.
// The error's message is one line: each problem (file:line:column: what) joined by "; ",
// so that it reads as one line in the journal and on stderr. With `problems`, the same
// problems are also given one by one, for a caller that lists them (`config check`).
[[nodiscard]] Result<std::vector<RetentionSchedule>> load_schedules(
    const std::vector<std::string>& paths, std::vector<std::string>* problems = nullptr);

// The schedule files `load_schedules` would read, in order.
[[nodiscard]] Result<std::vector<std::string>> schedule_files(const std::vector<std::string>& paths);

}  // namespace lethe::policy

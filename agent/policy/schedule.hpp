#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/policy/retention.hpp"
#include "agent/util/error.hpp"
#include "agent/util/glob.hpp"

namespace lethe::policy {

// What happens to a record when its retention has run out. Declared from least to most
// protective: when two categories give the same expiry, the later enumerator wins.
enum class Action { Delete = 0, Sanitize = 1, Encrypt = 2, Archive = 3, Review = 4 };

// What starts a record's retention clock.
enum class Trigger { Modified };

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
    Retention retain;
    Trigger trigger = Trigger::Modified;
    Action action = Action::Review;
    bool encrypt = false;  // archive: write .tar.zst.age to the [archive] recipients (issue 6)
};

// One schedule file as approved by the records committee. Immutable once loaded.
struct RetentionSchedule {
    std::string id;
    int64_t version = 0;
    std::string approved_by;
    Mode mode = Mode::Observe;
    std::vector<Category> categories;
    std::string source_path;  // the file it was loaded from
    std::string sha256;       // lowercase hex of the file's bytes, for certificates
};

// Parses and validates one schedule from TOML text. Every error names
// `<source_name>:<line>:<column>` and what is wrong; unknown keys are errors (a typo must not
// silently widen or narrow what is disposed).
[[nodiscard]] Result<RetentionSchedule> parse_schedule(std::string_view toml_text,
                                                       const std::string& source_name);

// Loads schedules from files and folders (every `*.toml` directly in a folder, in name
// order). Fails on the first broken file; fails if two schedules share an id or two
// categories share an id. An empty result is an error: no schedule means nothing to enforce.
[[nodiscard]] Result<std::vector<RetentionSchedule>> load_schedules(
    const std::vector<std::string>& paths);

// The schedule files `load_schedules` would read, in order.
[[nodiscard]] Result<std::vector<std::string>> schedule_files(const std::vector<std::string>& paths);

}  // namespace lethe::policy

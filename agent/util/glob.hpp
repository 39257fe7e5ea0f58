#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/util/error.hpp"

namespace lethe::util {

// A path glob over relative paths with '/' separators:
//   *        any characters within one path segment
//   ?        one character other than '/'
//   [abc] [a-z] [!x]   one character from (or not from) a set
//   **       as a whole segment: zero or more whole segments ("**/x", "a/**/b", "a/**")
//   {name}   one or more characters within a segment, captured under `name`
//   \c       the character c itself
// Matching is on bytes and case-sensitive. Immutable after compile; safe to share between
// threads.
class Glob {
public:
    using Captures = std::map<std::string, std::string>;

    // Fails with BadInput (and the offending column, 1-based) on an unclosed [ or {, an empty
    // or invalid capture name, a capture name used twice, or a trailing backslash.
    [[nodiscard]] static Result<Glob> compile(std::string_view pattern);

    [[nodiscard]] bool matches(std::string_view path, Captures* captures = nullptr) const;
    // Same match, with no allocation: on success spans[i] is the part of `path` captured by
    // capture_names()[i]. `spans` must hold at least capture_names().size() entries; on
    // failure their contents are unspecified.
    [[nodiscard]] bool matches(std::string_view path, std::string_view* spans) const;
    [[nodiscard]] const std::string& pattern() const { return m_pattern; }
    [[nodiscard]] const std::vector<std::string>& capture_names() const { return m_names; }
    // The bytes every matching path starts with (the pattern up to its first wildcard,
    // capture or escape); empty when the pattern starts with one.
    [[nodiscard]] std::string_view literal_prefix() const {
        return std::string_view(m_pattern).substr(0, m_prefix);
    }

private:
    explicit Glob(std::string pattern, std::vector<std::string> names);

    std::string m_pattern;
    std::vector<std::string> m_names;
    size_t m_prefix = 0;
};

// A pattern that matches exactly `literal` and nothing else: each of * ? [ ] { } \ escaped
// with a backslash. For a name given as a name (a file a hold covers), never as a pattern.
[[nodiscard]] std::string glob_escape(std::string_view literal);

// `pattern` without its "." and empty segments ("./san" and "san//x" give "san" and
// "san/x"); fails with BadInput when a segment is "..". A path relative to a root has no
// such segments, so a pattern that has one can never match: callers refuse it (a rule or a
// hold that silently covers nothing is the failure to avoid) and show this form as what to
// write instead. Only whole segments count: ".*" and "..x" are ordinary.
[[nodiscard]] Result<std::string> without_dot_segments(std::string_view pattern);

// Why no path that a walk of a root produces (relative, '/' between names, never an empty,
// '.' or '..' name, never a trailing '/') can match `pattern`, or nullopt when one may.
// `column` (1-based) is where in the pattern the trouble starts; `instead` is the pattern
// the writer most likely meant ("./san/**" -> "san/**"), empty when there is none (a
// pattern that climbs out of the root with "..").
struct Unmatchable {
    size_t column = 0;
    std::string why;
    std::string instead;
};
[[nodiscard]] std::optional<Unmatchable> unmatchable(std::string_view pattern);

}  // namespace lethe::util

#pragma once

// Internal to policy/: typed, located access to a TOML table with unknown-key detection.
// Only policy/ includes toml++.

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "agent/util/error.hpp"

namespace lethe::policy::detail {

// "<file>:<line>:<column>" of a node, or just the file when the node has no position.
std::string location(const std::string& file, const toml::source_region& where);

// Reads keys from one table, remembers which were read, and reports the first key that
// was not read. Holds a reference to the table: it must outlive the reader.
class TableReader {
public:
    TableReader(const toml::table& table, const std::string& file, std::string context)
        : m_table(table), m_file(file), m_context(std::move(context)) {}

    [[nodiscard]] Result<std::optional<std::string>> string(std::string_view key);
    [[nodiscard]] Result<std::string> required_string(std::string_view key);
    [[nodiscard]] Result<std::optional<int64_t>> integer(std::string_view key);
    [[nodiscard]] Result<std::optional<double>> number(std::string_view key);
    [[nodiscard]] Result<std::optional<bool>> boolean(std::string_view key);
    [[nodiscard]] Result<std::vector<std::string>> string_array(std::string_view key);
    // The node under key (marked as read), or nullptr.
    const toml::node* node(std::string_view key);

    // An Error located at `key` (or at the table when the key is absent).
    [[nodiscard]] Error error_at(std::string_view key, std::string_view message) const;
    [[nodiscard]] Error error_at_node(const toml::node& node, std::string_view message) const;
    // The first key that was never looked up, with a did-you-mean suggestion.
    [[nodiscard]] Status check_no_unknown_keys() const;
    // Every such key.
    [[nodiscard]] std::vector<Error> unknown_keys() const;

    const std::string& file() const { return m_file; }

private:
    const toml::table& m_table;
    const std::string& m_file;
    std::string m_context;
    std::set<std::string, std::less<>> m_read;
    std::set<std::string, std::less<>> m_asked;  // every key looked up: the known keys
};

// The candidate closest to `word` by edit distance, when it is close enough to be a typo.
[[nodiscard]] std::optional<std::string> did_you_mean(std::string_view word,
                                                      const std::set<std::string, std::less<>>& candidates);

// Parses TOML text, mapping a syntax error to "file:line:column: message".
[[nodiscard]] Result<toml::table> parse_toml(std::string_view text, const std::string& file);

}  // namespace lethe::policy::detail

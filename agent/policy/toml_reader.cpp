#include "agent/policy/toml_reader.hpp"

#include <algorithm>
#include <vector>

#include <fmt/format.h>

namespace lethe::policy::detail {

std::string location(const std::string& file, const toml::source_region& where) {
    if (where.begin.line == 0) {
        return file;
    }
    return fmt::format("{}:{}:{}", file, where.begin.line, where.begin.column);
}

Error TableReader::error_at_node(const toml::node& node, std::string_view message) const {
    return Error(ErrorKind::BadInput,
                 fmt::format("{}: {}: {}", location(m_file, node.source()), m_context, message));
}

Error TableReader::error_at(std::string_view key, std::string_view message) const {
    if (const toml::node* n = m_table.get(key)) {
        return error_at_node(*n, message);
    }
    return Error(ErrorKind::BadInput, fmt::format("{}: {}: {}", location(m_file, m_table.source()),
                                                  m_context, message));
}

const toml::node* TableReader::node(std::string_view key) {
    m_asked.emplace(key);
    const toml::node* n = m_table.get(key);
    if (n != nullptr) {
        m_read.emplace(key);
    }
    return n;
}

Result<std::optional<std::string>> TableReader::string(std::string_view key) {
    const toml::node* n = node(key);
    if (n == nullptr) return std::optional<std::string>{};
    if (!n->is_string()) {
        return fail(error_at(key, fmt::format("'{}' must be a string", key)));
    }
    return std::optional<std::string>{std::string(*n->value<std::string_view>())};
}

Result<std::string> TableReader::required_string(std::string_view key) {
    auto v = string(key);
    if (!v) return fail(v.error());
    if (!v->has_value() || (*v)->empty()) {
        return fail(error_at(key, fmt::format("'{}' is required", key)));
    }
    return **v;
}

Result<std::optional<int64_t>> TableReader::integer(std::string_view key) {
    const toml::node* n = node(key);
    if (n == nullptr) return std::optional<int64_t>{};
    if (!n->is_integer()) {
        return fail(error_at(key, fmt::format("'{}' must be an integer", key)));
    }
    return std::optional<int64_t>{*n->value<int64_t>()};
}

Result<std::optional<double>> TableReader::number(std::string_view key) {
    const toml::node* n = node(key);
    if (n == nullptr) return std::optional<double>{};
    if (!n->is_number()) {
        return fail(error_at(key, fmt::format("'{}' must be a number", key)));
    }
    return std::optional<double>{*n->value<double>()};
}

Result<std::optional<bool>> TableReader::boolean(std::string_view key) {
    const toml::node* n = node(key);
    if (n == nullptr) return std::optional<bool>{};
    if (!n->is_boolean()) {
        return fail(error_at(key, fmt::format("'{}' must be true or false", key)));
    }
    return std::optional<bool>{*n->value<bool>()};
}

Result<std::vector<std::string>> TableReader::string_array(std::string_view key) {
    std::vector<std::string> out;
    const toml::node* n = node(key);
    if (n == nullptr) return out;
    const toml::array* arr = n->as_array();
    if (arr == nullptr) {
        return fail(error_at(key, fmt::format("'{}' must be an array of strings", key)));
    }
    for (const toml::node& item : *arr) {
        if (!item.is_string()) {
            return fail(error_at_node(item, fmt::format("'{}' must contain only strings", key)));
        }
        out.emplace_back(*item.value<std::string_view>());
    }
    return out;
}

std::optional<std::string> did_you_mean(std::string_view word,
                                        const std::set<std::string, std::less<>>& candidates) {
    std::optional<std::string> best;
    size_t best_distance = 0;
    for (const auto& c : candidates) {
        // Levenshtein distance, two rows.
        std::vector<size_t> prev(c.size() + 1);
        std::vector<size_t> cur(c.size() + 1);
        for (size_t j = 0; j <= c.size(); ++j) prev[j] = j;
        for (size_t i = 1; i <= word.size(); ++i) {
            cur[0] = i;
            for (size_t j = 1; j <= c.size(); ++j) {
                size_t cost = word[i - 1] == c[j - 1] ? 0 : 1;
                cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
            }
            std::swap(prev, cur);
        }
        size_t d = prev[c.size()];
        if (!best || d < best_distance) {
            best = c;
            best_distance = d;
        }
    }
    // A typo is at most two edits, and less than half the word.
    if (best && best_distance <= 2 && best_distance * 2 < std::max(word.size(), best->size())) {
        return best;
    }
    return std::nullopt;
}

std::vector<Error> TableReader::unknown_keys() const {
    std::vector<Error> out;
    for (auto&& [key, value] : m_table) {
        if (m_read.find(key.str()) != m_read.end()) continue;
        std::string hint;
        if (auto guess = did_you_mean(key.str(), m_asked)) {
            hint = fmt::format(" (did you mean '{}'?)", *guess);
        }
        out.emplace_back(ErrorKind::BadInput,
                         fmt::format("{}: {}: unknown key '{}'{}", location(m_file, key.source()),
                                     m_context, key.str(), hint));
    }
    return out;
}

Status TableReader::check_no_unknown_keys() const {
    auto unknown = unknown_keys();
    if (!unknown.empty()) return fail(unknown.front());
    return {};
}

Result<toml::table> parse_toml(std::string_view text, const std::string& file) {
    try {
        return toml::parse(text, file);
    } catch (const toml::parse_error& e) {
        return fail(ErrorKind::BadInput, fmt::format("{}: {}", location(file, e.source()),
                                                     e.description()));
    }
}

}  // namespace lethe::policy::detail

#include "agent/util/glob.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace lethe::util {

namespace {

bool is_name_char(char c, bool first) {
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    return first ? alpha : (alpha || (c >= '0' && c <= '9') || c == '-');
}

// Matches one [...] class at p[pi] (pi points at '['); returns whether c is in it and sets
// `end` to the index just past ']'.
bool match_class(std::string_view p, size_t pi, char c, size_t& end) {
    size_t i = pi + 1;
    bool negate = false;
    if (i < p.size() && (p[i] == '!' || p[i] == '^')) {
        negate = true;
        ++i;
    }
    bool found = false;
    bool first = true;
    while (i < p.size() && (p[i] != ']' || first)) {
        first = false;
        char lo = p[i];
        if (lo == '\\' && i + 1 < p.size()) {
            lo = p[++i];
        }
        char hi = lo;
        if (i + 2 < p.size() && p[i + 1] == '-' && p[i + 2] != ']') {
            hi = p[i + 2];
            i += 2;
        }
        if (static_cast<unsigned char>(c) >= static_cast<unsigned char>(lo) &&
            static_cast<unsigned char>(c) <= static_cast<unsigned char>(hi)) {
            found = true;
        }
        ++i;
    }
    end = i + 1;
    return c != '/' && found != negate;
}

bool is_double_star(std::string_view p, size_t pi) {
    return pi + 1 < p.size() && p[pi] == '*' && p[pi + 1] == '*' &&
           (pi == 0 || p[pi - 1] == '/') && (pi + 2 == p.size() || p[pi + 2] == '/');
}

// Whether p[pi] is an ordinary character that must equal the path's next byte.
bool is_literal(std::string_view p, size_t pi) {
    return pi < p.size() && p[pi] != '*' && p[pi] != '?' && p[pi] != '[' && p[pi] != '{' &&
           p[pi] != '\\';
}

// Where captures go while matching: spans[i] for names[i]; none when not asked.
struct CaptureSlots {
    const std::vector<std::string>* names = nullptr;
    std::string_view* spans = nullptr;

    std::string_view* slot(std::string_view name) const {
        if (spans == nullptr) return nullptr;
        for (size_t i = 0; i < names->size(); ++i) {
            if ((*names)[i] == name) return &spans[i];
        }
        return nullptr;
    }
};

bool match_at(std::string_view p, size_t pi, std::string_view s, size_t si,
              const CaptureSlots& caps) {
    while (pi < p.size()) {
        char pc = p[pi];
        if (pc == '*') {
            if (is_double_star(p, pi)) {
                if (pi + 2 == p.size()) {
                    return true;  // trailing "**": everything below
                }
                // "**/": zero or more whole segments, then the rest.
                size_t rest = pi + 3;
                for (size_t k = si;; ) {
                    if (match_at(p, rest, s, k, caps)) return true;
                    size_t slash = s.find('/', k);
                    if (slash == std::string_view::npos) return false;
                    k = slash + 1;
                }
            }
            size_t next = pi;
            while (next < p.size() && p[next] == '*') ++next;
            // Before a plain character, only the places holding it can end the star.
            bool literal_next = is_literal(p, next);
            for (size_t k = si;; ++k) {
                if ((!literal_next || (k < s.size() && s[k] == p[next])) &&
                    match_at(p, next, s, k, caps)) {
                    return true;
                }
                if (k >= s.size() || s[k] == '/') return false;
            }
        }
        if (pc == '{') {
            size_t close = p.find('}', pi);
            std::string_view* slot = caps.slot(p.substr(pi + 1, close - pi - 1));
            size_t seg_end = s.find('/', si);
            if (seg_end == std::string_view::npos) seg_end = s.size();
            // A plain character after the capture must be the one where the capture ends:
            // only those ends are tried (the walk classifies every file with these).
            size_t after = close + 1;
            bool literal_next = is_literal(p, after);
            // Longest first, so "{client}" takes the whole segment when it can. Every capture
            // lies on every successful path through the pattern, so a span left behind by a
            // failed attempt is always overwritten by the one that succeeds.
            for (size_t k = seg_end; k > si; --k) {
                if (literal_next && (k >= s.size() || s[k] != p[after])) continue;
                if (slot != nullptr) *slot = s.substr(si, k - si);
                if (match_at(p, after, s, k, caps)) return true;
            }
            return false;
        }
        if (si >= s.size()) return false;
        if (pc == '?') {
            if (s[si] == '/') return false;
        } else if (pc == '[') {
            size_t end = 0;
            if (!match_class(p, pi, s[si], end)) return false;
            pi = end;
            ++si;
            continue;
        } else {
            if (pc == '\\') pc = p[++pi];
            if (pc != s[si]) return false;
        }
        ++pi;
        ++si;
    }
    return si == s.size();
}

// One name of a pattern: where it starts, its text, and its value when it is a plain name
// (no wildcard, class or capture; escapes undone).
struct PatternName {
    size_t begin = 0;
    std::string_view text;
    std::optional<std::string> plain;
};

// The pattern's names, split at each '/' (an escaped "\/" matches the path's '/', so it
// separates too).
std::vector<PatternName> names_of(std::string_view p) {
    std::vector<PatternName> out;
    PatternName cur;
    cur.plain.emplace();
    auto finish = [&](size_t end, size_t next) {
        cur.text = p.substr(cur.begin, end - cur.begin);
        out.push_back(std::move(cur));
        cur = PatternName{next, {}, std::string()};
    };
    for (size_t i = 0; i < p.size(); ++i) {
        char c = p[i];
        if (c == '\\' && i + 1 < p.size()) {
            ++i;
            if (p[i] == '/') {
                finish(i - 1, i + 1);
            } else if (cur.plain) {
                cur.plain->push_back(p[i]);
            }
        } else if (c == '/') {
            finish(i, i + 1);
        } else if (c == '*' || c == '?' || c == '[' || c == '{') {
            cur.plain.reset();
        } else if (cur.plain) {
            cur.plain->push_back(c);
        }
    }
    finish(p.size(), p.size());
    return out;
}

// The pattern with the names no path has taken out, or "" when that cannot be done
// soundly ("..": climbing out of the root, or back over a wildcard).
std::string tidied(const std::vector<PatternName>& names) {
    std::vector<std::string_view> kept;
    for (size_t i = 0; i < names.size(); ++i) {
        const PatternName& n = names[i];
        bool last = i + 1 == names.size();
        if (n.text.empty()) {
            // "san/": the writer meant what is in the folder.
            if (last && i > 0 && (kept.empty() || kept.back() != "**")) kept.emplace_back("**");
            continue;
        }
        if (n.plain == ".") continue;
        if (n.plain == "..") {
            bool plain_before = !kept.empty() && kept.back() != "**" &&
                                kept.back().find_first_of("*?[{\\") == std::string_view::npos;
            if (!plain_before) return "";
            kept.pop_back();
            continue;
        }
        kept.push_back(n.text);
    }
    std::string out;
    for (std::string_view k : kept) {
        if (!out.empty()) out += '/';
        out += k;
    }
    return out;
}

}  // namespace

std::optional<Unmatchable> unmatchable(std::string_view pattern) {
    if (pattern.empty()) return std::nullopt;  // Glob::compile refuses it with its own words
    std::vector<PatternName> names = names_of(pattern);
    for (size_t i = 0; i < names.size(); ++i) {
        const PatternName& n = names[i];
        std::string_view why;
        if (n.text.empty() && i == 0) {
            why = "patterns are relative to the root and must not start with '/'";
        } else if (n.text.empty() && i + 1 == names.size()) {
            why = "no file's path ends in '/'";
        } else if (n.text.empty()) {
            why = "no path has an empty name between two '/'";
        } else if (n.plain == ".") {
            why = "paths relative to the root have no '.' folder";
        } else if (n.plain == "..") {
            why = "paths relative to the root have no '..' folder (a pattern cannot leave the root)";
        } else {
            continue;
        }
        Unmatchable out;
        out.column = std::min(n.begin, pattern.size() - 1) + 1;
        out.why = std::string(why);
        out.instead = tidied(names);
        return out;
    }
    return std::nullopt;
}

Result<Glob> Glob::compile(std::string_view pattern) {
    std::vector<std::string> names;
    auto error = [&](size_t column, std::string_view what) {
        return fail(ErrorKind::BadInput,
                    fmt::format("path pattern '{}', column {}: {}", pattern, column + 1, what));
    };
    if (pattern.empty()) {
        return error(0, "empty pattern");
    }
    if (pattern.front() == '/') {
        return error(0, "patterns are relative to the root and must not start with '/'");
    }
    for (size_t i = 0; i < pattern.size(); ++i) {
        char c = pattern[i];
        if (c == '\\') {
            if (i + 1 == pattern.size()) return error(i, "trailing backslash");
            ++i;
        } else if (c == '[') {
            size_t j = i + 1;
            if (j < pattern.size() && (pattern[j] == '!' || pattern[j] == '^')) ++j;
            if (j < pattern.size() && pattern[j] == ']') ++j;
            while (j < pattern.size() && pattern[j] != ']') {
                if (pattern[j] == '/') return error(i, "'/' inside [...]");
                ++j;
            }
            if (j >= pattern.size()) return error(i, "unclosed '['");
            i = j;
        } else if (c == '{') {
            size_t close = pattern.find('}', i);
            if (close == std::string_view::npos) return error(i, "unclosed '{'");
            std::string name(pattern.substr(i + 1, close - i - 1));
            if (name.empty()) return error(i, "empty capture name '{}'");
            for (size_t k = 0; k < name.size(); ++k) {
                if (!is_name_char(name[k], k == 0)) {
                    return error(i + 1 + k, fmt::format("invalid capture name '{}'", name));
                }
            }
            for (const auto& n : names) {
                if (n == name) return error(i, fmt::format("capture '{}' used twice", name));
            }
            names.push_back(name);
            i = close;
        } else if (c == '}') {
            return error(i, "'}' without '{'");
        }
    }
    return Glob(std::string(pattern), std::move(names));
}

Glob::Glob(std::string pattern, std::vector<std::string> names)
    : m_pattern(std::move(pattern)), m_names(std::move(names)) {
    while (m_prefix < m_pattern.size() && is_literal(m_pattern, m_prefix)) ++m_prefix;
}

bool Glob::matches(std::string_view path, std::string_view* spans) const {
    if (path.substr(0, m_prefix) != literal_prefix()) return false;
    return match_at(m_pattern, m_prefix, path, m_prefix, CaptureSlots{&m_names, spans});
}

bool Glob::matches(std::string_view path, Captures* captures) const {
    if (captures == nullptr || m_names.empty()) {
        bool ok = matches(path, static_cast<std::string_view*>(nullptr));
        if (ok && captures != nullptr) captures->clear();
        return ok;
    }
    std::vector<std::string_view> spans(m_names.size());
    if (!matches(path, spans.data())) return false;
    captures->clear();
    for (size_t i = 0; i < m_names.size(); ++i) captures->emplace(m_names[i], spans[i]);
    return true;
}

std::string glob_escape(std::string_view literal) {
    std::string out;
    out.reserve(literal.size());
    for (char c : literal) {
        if (c == '*' || c == '?' || c == '[' || c == ']' || c == '{' || c == '}' || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    return out;
}

Result<std::string> without_dot_segments(std::string_view pattern) {
    std::string out;
    size_t start = 0;
    while (start <= pattern.size()) {
        size_t end = std::min(pattern.find('/', start), pattern.size());
        std::string_view segment = pattern.substr(start, end - start);
        if (segment == "..") {
            return fail(ErrorKind::BadInput,
                        "'..' never matches: paths are relative to a root and never leave it");
        }
        if (!segment.empty() && segment != ".") {
            if (!out.empty()) out += '/';
            out += segment;
        }
        start = end + 1;
    }
    return out;
}

}  // namespace lethe::util

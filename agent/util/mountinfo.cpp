#include "agent/util/mountinfo.hpp"

#include <charconv>

#include <fmt/format.h>

#include "agent/util/fs.hpp"

namespace lethe::util {

namespace {

// Undoes the kernel's escapes of ' ', '\t', '\n' and '\\' (a backslash and three octal
// digits); anything else is kept as written.
std::string unescape(std::string_view field) {
    auto octal = [](char c) { return c >= '0' && c <= '7'; };
    std::string out;
    out.reserve(field.size());
    for (size_t i = 0; i < field.size(); ++i) {
        if (field[i] == '\\' && i + 3 < field.size() &&
            octal(field[i + 1]) && octal(field[i + 2]) && octal(field[i + 3])) {
            out += static_cast<char>(((field[i + 1] - '0') << 6) | ((field[i + 2] - '0') << 3) |
                                     (field[i + 3] - '0'));
            i += 3;
            continue;
        }
        out += field[i];
    }
    return out;
}

std::vector<std::string_view> split(std::string_view line) {
    std::vector<std::string_view> fields;
    size_t start = 0;
    while (start <= line.size()) {
        size_t space = line.find(' ', start);
        if (space == std::string_view::npos) space = line.size();
        fields.push_back(line.substr(start, space - start));
        start = space + 1;
    }
    return fields;
}

template <typename T>
bool number(std::string_view text, T& out) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

std::optional<MountEntry> parse_line(std::string_view line) {
    // id parent major:minor root mount_point options [optional...] - type source super
    auto f = split(line);
    if (f.size() < 10) return std::nullopt;
    MountEntry m;
    size_t colon = f[2].find(':');
    if (!number(f[0], m.id) || !number(f[1], m.parent) || colon == std::string_view::npos ||
        !number(f[2].substr(0, colon), m.major) || !number(f[2].substr(colon + 1), m.minor)) {
        return std::nullopt;
    }
    m.root = unescape(f[3]);
    m.mount_point = unescape(f[4]);
    size_t dash = 6;
    while (dash < f.size() && f[dash] != "-") ++dash;
    if (dash + 2 >= f.size()) return std::nullopt;
    m.fs_type = unescape(f[dash + 1]);
    m.source = unescape(f[dash + 2]);
    if (m.mount_point.empty() || m.mount_point.front() != '/') return std::nullopt;
    return m;
}

std::string joined(const std::string& folder, std::string_view rest) {
    while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
    if (rest.empty()) return folder;
    std::string out = folder;
    if (out.empty() || out.back() != '/') out += '/';
    out.append(rest);
    return out;
}

}  // namespace

std::string FsPlace::device() const { return fmt::format("{}:{}", major, minor); }

Result<std::vector<MountEntry>> parse_mountinfo(std::string_view text) {
    std::vector<MountEntry> out;
    size_t number = 0;
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(start, end - start);
        start = end + 1;
        ++number;
        if (line.empty()) continue;
        auto entry = parse_line(line);
        if (!entry) {
            return fail(ErrorKind::BadInput,
                        fmt::format("mountinfo line {} is not in the kernel's format: {}", number,
                                    line));
        }
        out.push_back(std::move(*entry));
    }
    if (out.empty()) return fail(ErrorKind::BadInput, "mountinfo lists no mounts");
    return out;
}

Result<std::vector<MountEntry>> read_mountinfo(const std::string& path) {
    auto text = read_file(path);
    if (!text) return fail(text.error());
    auto mounts = parse_mountinfo(*text);
    if (!mounts) return fail(mounts.error().with_context(path));
    return mounts;
}

bool path_within(std::string_view inner, std::string_view outer) {
    if (outer == "/" || inner == outer) return true;
    return inner.size() > outer.size() && inner.substr(0, outer.size()) == outer &&
           inner[outer.size()] == '/';
}

const MountEntry* mount_showing(const std::vector<MountEntry>& mounts,
                                std::string_view real_path) {
    const MountEntry* best = nullptr;
    for (const auto& m : mounts) {
        if (!path_within(real_path, m.mount_point)) continue;
        // Where mounts are stacked on one mount point, the one on top (mounted on the other,
        // or listed later) shows the path.
        const bool deeper = best == nullptr || m.mount_point.size() > best->mount_point.size();
        const bool on_top = best != nullptr && m.mount_point == best->mount_point &&
                            best->parent != m.id;
        if (deeper || on_top) best = &m;
    }
    return best;
}

std::optional<FsPlace> fs_place(const std::vector<MountEntry>& mounts,
                                std::string_view real_path) {
    const MountEntry* m = mount_showing(mounts, real_path);
    if (m == nullptr) return std::nullopt;
    std::string_view rest = m->mount_point == "/" ? real_path : real_path.substr(m->mount_point.size());
    return FsPlace{m->major, m->minor, joined(m->root, rest)};
}

FsPlace fs_place(const MountEntry& mount) { return FsPlace{mount.major, mount.minor, mount.root}; }

bool overlap(const FsPlace& a, const FsPlace& b) {
    return a.major == b.major && a.minor == b.minor &&
           (path_within(a.path, b.path) || path_within(b.path, a.path));
}

}  // namespace lethe::util

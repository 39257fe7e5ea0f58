#pragma once
// What the classifier's unit tests share: dates and instants from text, schedules parsed
// from TOML, file facts, and in-memory lookups (event markers and extended attributes).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "agent/classify/decision.hpp"
#include "agent/classify/lookups.hpp"
#include "agent/policy/schedule.hpp"
#include "agent/scan/file_facts.hpp"
#include "agent/util/time.hpp"

namespace lethe::classify::fixture {

inline util::Date date(std::string_view text) { return *util::parse_date(text); }
// "YYYY-MM-DD" (midnight UTC) or "YYYY-MM-DDThh:mm:ssZ".
inline util::TimePoint at(std::string_view text) { return *util::parse_timestamp(text); }

// The schedule `id` (version 1) whose text after its id and version is `body`: more
// [schedule] keys such as `timezone`, then categories and events. Fails the test when it
// does not parse.
inline policy::RetentionSchedule schedule(std::string_view id, std::string_view body) {
    std::string text = fmt::format("[schedule]\nid = \"{}\"\nversion = 1\n{}", id, body);
    auto s = policy::parse_schedule(text, std::string(id) + ".toml");
    EXPECT_TRUE(s) << s.error().message();
    return s ? *s : policy::RetentionSchedule{};
}
// The schedule "s".
inline policy::RetentionSchedule schedule(std::string_view body) { return schedule("s", body); }

// A regular file of 100 bytes at `path`, modified and last read at `modified`.
inline scan::FileFacts file(std::string path, std::string_view modified = "2015-03-01") {
    scan::FileFacts f;
    f.path = std::move(path);
    f.size = 100;
    f.nlink = 1;
    f.mtime = at(modified);
    f.atime = at(modified);
    return f;
}

// Markers by folder and attributes by file, in memory. Content is not in memory: tests of
// `mime` use real files through FsLookups.
struct MemoryDisk {
    std::map<std::string, util::TimePoint> markers;  // "folder/.marker" -> mtime
    std::map<std::string, std::string> attributes;   // "path\0name" -> value

    void set_xattr(std::string_view path, std::string_view name, std::string value) {
        attributes[std::string(path) + '\0' + std::string(name)] = std::move(value);
    }
    [[nodiscard]] std::optional<util::TimePoint> marker_in(const std::string& folder,
                                                           const std::string& marker) const {
        auto it = markers.find(folder.empty() ? marker : folder + "/" + marker);
        if (it == markers.end()) return std::nullopt;
        return it->second;
    }
    [[nodiscard]] std::optional<std::string> xattr(std::string_view path,
                                                   const std::string& name) const {
        auto it = attributes.find(std::string(path) + '\0' + name);
        if (it == attributes.end()) return std::nullopt;
        return it->second;
    }
};

// FileLookups over a MemoryDisk, without caches: every marker question walks up the folders,
// so a test may change the disk between two classifications.
class MemoryLookups final : public FileLookups, public MemoryDisk {
public:
    std::optional<util::TimePoint> marker_time(std::string_view path,
                                               const std::string& marker) override {
        std::string folder(path);
        while (true) {
            auto slash = folder.rfind('/');
            folder.resize(slash == std::string::npos ? 0 : slash);
            if (auto found = marker_in(folder, marker)) return found;
            if (folder.empty()) return std::nullopt;
        }
    }
    std::optional<std::string> xattr(std::string_view path, const std::string& name) override {
        return MemoryDisk::xattr(path, name);
    }
    ContentType content_type(const scan::FileFacts&) override {
        return ContentType{std::nullopt, "no content in memory"};
    }
};

// The same disk behind the real per-folder marker caches (CachingMarkerLookups), counting
// how often each folder is asked.
class CachingMemoryLookups final : public CachingMarkerLookups, public MemoryDisk {
public:
    std::map<std::string, int> probes;  // marker_in calls per folder

    std::optional<std::string> xattr(std::string_view path, const std::string& name) override {
        return MemoryDisk::xattr(path, name);
    }
    ContentType content_type(const scan::FileFacts&) override {
        return ContentType{std::nullopt, "no content in memory"};
    }

protected:
    std::optional<util::TimePoint> marker_in(const std::string& folder,
                                             const std::string& marker) override {
        ++probes[folder];
        return MemoryDisk::marker_in(folder, marker);
    }
};

}  // namespace lethe::classify::fixture

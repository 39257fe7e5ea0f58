#include "agent/scan/walker.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <memory>

#include <fmt/format.h>

#include "agent/util/fs.hpp"

namespace lethe::scan {

namespace {

bool is_excluded(const WalkOptions& options, const std::string& path, bool folder) {
    for (const auto& g : options.exclude) {
        if (g.matches(path)) return true;
        // A folder is excluded when the pattern covers what lies inside it ("**/.snapshot/**").
        if (folder && g.matches(path + "/")) return true;
    }
    return false;
}

struct DirCloser {
    void operator()(DIR* d) const { ::closedir(d); }
};

std::string join(const std::string& dir, const char* name) {
    return dir.empty() ? std::string(name) : fmt::format("{}/{}", dir, name);
}

}  // namespace

Result<WalkStats> walk(int root_fd, const WalkOptions& options,
                       const std::function<void(const FileFacts&)>& on_file,
                       const std::function<void(std::string_view, const Error&)>& on_problem) {
    WalkStats stats;
    // Depth-first with an explicit stack of relative folder paths: memory grows with the
    // number of pending folders, never with the number of files.
    std::vector<std::string> pending{""};
    bool first = true;
    while (!pending.empty()) {
        std::string dir_path = std::move(pending.back());
        pending.pop_back();

        auto dir_fd = util::open_beneath(root_fd, dir_path, O_RDONLY | O_DIRECTORY, 0,
                                         options.one_filesystem);
        if (!dir_fd) {
            if (first) return fail(dir_fd.error().with_context("root"));
            if (dir_fd.error().sys_errno() == EXDEV) {
                ++stats.mount_points;  // another filesystem: not entered
            } else {
                ++stats.errors;
                on_problem(dir_path, dir_fd.error());
            }
            continue;
        }
        first = false;
        ++stats.folders;

        int fd = dir_fd->release();
        std::unique_ptr<DIR, DirCloser> dir(::fdopendir(fd));
        if (!dir) {
            ::close(fd);
            ++stats.errors;
            on_problem(dir_path, errno_error(fmt::format("read folder {}", dir_path), errno));
            continue;
        }
        for (;;) {
            errno = 0;
            struct dirent* entry = ::readdir(dir.get());
            if (entry == nullptr) {
                if (errno != 0) {
                    ++stats.errors;
                    on_problem(dir_path, errno_error(fmt::format("read folder {}", dir_path), errno));
                }
                break;
            }
            std::string_view name(entry->d_name);
            if (name == "." || name == "..") continue;
            std::string rel = join(dir_path, entry->d_name);

            auto facts = stat_at(::dirfd(dir.get()), entry->d_name, rel);
            if (!facts) {
                ++stats.errors;  // vanished or unreadable since readdir
                on_problem(rel, facts.error());
                continue;
            }
            mode_t type = facts->mode & S_IFMT;
            if (type == S_IFLNK) {
                ++stats.symlinks;
            } else if (type == S_IFDIR) {
                if (is_excluded(options, rel, true)) {
                    ++stats.excluded;
                } else {
                    pending.push_back(std::move(rel));
                }
            } else if (type == S_IFREG) {
                if (is_excluded(options, rel, false)) {
                    ++stats.excluded;
                    continue;
                }
                ++stats.files;
                stats.bytes += facts->size;
                on_file(*facts);
            } else {
                ++stats.special;
            }
        }
    }
    return stats;
}

}  // namespace lethe::scan

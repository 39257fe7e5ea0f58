#include "agent/act/disposal_folder.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "agent/act/disposal.hpp"
#include "agent/util/fs.hpp"

namespace lethe::act {

namespace {

std::string joined(std::string_view folder, std::string_view name) {
    return folder.empty() ? std::string(name) : fmt::format("{}/{}", folder, name);
}

// What is wrong with the open folder `fd` as lethe's disposal folder, or "" when nothing is.
std::string not_lethes(const struct stat& st, dev_t device) {
    if (!S_ISDIR(st.st_mode)) return "is not a folder";
    if (st.st_uid != ::geteuid()) {
        return fmt::format("is owned by uid {}, not by lethe (uid {})", st.st_uid, ::geteuid());
    }
    if ((st.st_mode & 07777) != 0700) {
        return fmt::format("has mode {:04o}, not 0700", st.st_mode & 07777);
    }
    if (device != 0 && st.st_dev != device) return "is on another filesystem than the file";
    return {};
}

Error refused_folder(const std::string& path, const std::string& what) {
    return Error(ErrorKind::Refused,
                 fmt::format("lethe's disposal folder {} {}; no file on its filesystem is "
                             "disposed of until it is fixed (remove it: lethe creates it again)",
                             path, what));
}

// Opens `kDisposalFolder` in `parent` (path `path`), never through a symlink.
Result<UniqueFd> open_in(int parent, const std::string& path, dev_t device, bool create,
                         UnusableFolder* unusable) {
    auto unusable_as = [&](std::string why, bool foreign) {
        if (unusable != nullptr) *unusable = UnusableFolder{path, std::move(why), foreign};
    };
    const std::string name(kDisposalFolder);
    UniqueFd fd(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd && errno == ENOENT && create) {
        if (::mkdirat(parent, name.c_str(), 0700) != 0 && errno != EEXIST) {
            const Error e = errno_error(fmt::format("create lethe's disposal folder {}", path), errno);
            unusable_as(fmt::format("cannot be created ({})", std::strerror(e.sys_errno())), false);
            return fail(Error(ErrorKind::Refused, e.message()));
        }
        if (auto st = util::fsync_fd(parent, fmt::format("folder of {}", path)); !st) {
            return fail(st.error());
        }
        fd.reset(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    }
    if (!fd) {
        const int err = errno;
        if (err == ELOOP || err == ENOTDIR) {
            unusable_as("is not lethe's folder: it is a symlink or not a folder", true);
            return fail(ErrorKind::Refused,
                        fmt::format("lethe's disposal folder {} is a symlink or not a folder (not "
                                    "followed); no file on its filesystem is disposed of until it "
                                    "is removed", path));
        }
        unusable_as(fmt::format("cannot be opened ({})", std::strerror(err)), false);
        return fail(Error(ErrorKind::Refused,
                          errno_error(fmt::format("open lethe's disposal folder {}", path), err)
                              .message()));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return fail(errno_error(fmt::format("stat {}", path), errno));
    if (std::string what = not_lethes(st, device); !what.empty()) {
        unusable_as(fmt::format("is not lethe's folder: it {}", what), true);
        return fail(refused_folder(path, what));
    }
    return fd;
}

}  // namespace

Result<DisposalFolder> find_disposal_folder(int root_fd, std::string_view planned_path,
                                            dev_t device, bool create, UnusableFolder* unusable) {
    struct stat root {};
    if (::fstat(root_fd, &root) != 0) return fail(errno_error("stat root", errno));
    std::string top;  // "" = the root
    UniqueFd top_fd;
    if (root.st_dev != device) {
        // Another filesystem inside the root: its top is the folder where the device changes.
        const std::string_view parent = util::parent_of(planned_path);
        dev_t above = root.st_dev;
        bool found = false;
        for (size_t end = 0; end != std::string_view::npos && !parent.empty() && parent != ".";) {
            end = parent.find('/', end + 1);
            const std::string_view prefix = parent.substr(0, end);
            auto fd = util::open_beneath(root_fd, prefix, O_RDONLY | O_DIRECTORY);
            if (!fd) return fail(Error(ErrorKind::Refused, fd.error().message()));
            struct stat st {};
            if (::fstat(fd->get(), &st) != 0) {
                return fail(errno_error(fmt::format("stat {}", prefix), errno));
            }
            if (st.st_dev == device && above != device) {
                top = std::string(prefix);
                top_fd = std::move(*fd);
                found = true;
            }
            above = st.st_dev;
        }
        if (!found) {
            return fail(ErrorKind::Refused,
                        fmt::format("{}: no folder of its filesystem found inside the root for "
                                    "lethe's disposal folder", planned_path));
        }
    }
    DisposalFolder out;
    out.path = joined(top, kDisposalFolder);
    auto fd = open_in(top_fd ? top_fd.get() : root_fd, out.path, device, create, unusable);
    if (!fd) return fail(fd.error());
    out.fd = std::move(*fd);
    return out;
}

Result<UniqueFd> open_disposal_folder(int root_fd, const std::string& path, dev_t device) {
    if (util::name_of(path) != kDisposalFolder) {
        return fail(ErrorKind::Refused, fmt::format("{} is not a disposal folder of lethe's", path));
    }
    const std::string_view parent = util::parent_of(path);
    UniqueFd parent_fd;
    if (!parent.empty() && parent != ".") {
        auto fd = util::open_beneath(root_fd, parent, O_RDONLY | O_DIRECTORY);
        if (!fd) return fail(Error(ErrorKind::Refused, fd.error().message()));
        parent_fd = std::move(*fd);
    }
    return open_in(parent_fd ? parent_fd.get() : root_fd, path, device, false, nullptr);
}

Result<std::optional<std::string>> moved_disposal_folder(int root_fd, const std::string& path,
                                                         int dir_fd) {
    struct stat held {};
    if (::fstat(dir_fd, &held) != 0) return fail(errno_error(fmt::format("stat {}", path), errno));
    if (auto at = open_disposal_folder(root_fd, path, 0)) {
        struct stat st {};
        if (::fstat(at->get(), &st) == 0 && st.st_dev == held.st_dev && st.st_ino == held.st_ino) {
            return std::optional<std::string>();
        }
    }
    std::string link = fmt::format("/proc/self/fd/{}", dir_fd);
    std::string now(4096, '\0');
    ssize_t n = ::readlink(link.c_str(), now.data(), now.size());
    if (n <= 0 || static_cast<size_t>(n) >= now.size()) {
        return std::optional<std::string>("an unknown place (the kernel does not say)");
    }
    now.resize(static_cast<size_t>(n));
    if (held.st_nlink == 0 || now.ends_with(" (deleted)")) {
        return std::optional<std::string>("nowhere: it was removed");
    }
    return std::optional<std::string>(now);
}

Result<std::vector<std::string>> entries_in(int dir_fd) {
    UniqueFd own(::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!own) return fail(errno_error("open the disposal folder", errno));
    DIR* dir = ::fdopendir(own.get());
    if (dir == nullptr) return fail(errno_error("read the disposal folder", errno));
    (void)own.release();
    std::vector<std::string> names;
    while (const struct dirent* e = ::readdir(dir)) {
        const std::string_view name = e->d_name;
        if (name != "." && name != "..") names.emplace_back(name);
    }
    ::closedir(dir);
    std::sort(names.begin(), names.end());
    return names;
}

Result<std::string> return_entry(int from_dir, const std::string& from_name, int to_dir,
                                 const std::string& to_name) {
    if (::renameat2(from_dir, from_name.c_str(), to_dir, to_name.c_str(), RENAME_NOREPLACE) == 0) {
        return to_name;
    }
    if (errno != EEXIST) return fail(errno_error(fmt::format("put back {}", to_name), errno));
    // A newer entry took the name meanwhile (an editor's save): never replaced.
    for (int attempt = 0; attempt < 8; ++attempt) {
        std::string beside = fmt::format("{}.lethe-returned-{}", to_name, util::random_suffix(4));
        if (::renameat2(from_dir, from_name.c_str(), to_dir, beside.c_str(), RENAME_NOREPLACE) ==
            0) {
            return beside;
        }
        if (errno != EEXIST) return fail(errno_error(fmt::format("put back {}", beside), errno));
    }
    return fail(ErrorKind::Io, fmt::format("put back {}: every name tried is taken", to_name));
}

}  // namespace lethe::act

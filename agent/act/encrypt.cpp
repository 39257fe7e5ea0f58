#include "agent/act/encrypt.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fmt/format.h>

#include "agent/util/encoding.hpp"
#include "agent/util/fault.hpp"
#include "agent/util/fs.hpp"
#include "agent/util/sha256.hpp"

namespace lethe::act {

namespace {

// Removes the temporary file unless released.
class TempGuard {
public:
    TempGuard(int dir, std::string name) : m_dir(dir), m_name(std::move(name)) {}
    ~TempGuard() {
        if (!m_name.empty()) ::unlinkat(m_dir, m_name.c_str(), 0);
    }
    TempGuard(const TempGuard&) = delete;
    TempGuard& operator=(const TempGuard&) = delete;
    void release() { m_name.clear(); }

private:
    int m_dir;
    std::string m_name;
};

}  // namespace

Result<EncryptedCopy> encrypt_beside(const PreparedFile& file,
                                     const std::vector<age::Recipient>& recipients,
                                     const std::map<std::string, std::string>& attributes,
                                     const std::string& temp_name,
                                     const util::StopToken* stop,
                                     const BeforeRename& before_rename) {
    const std::string& path = file.planned().path;
    const std::string& name = file.name();
    if (name.size() >= 4 && name.compare(name.size() - 4, 4, ".age") == 0) {
        return fail(ErrorKind::Refused,
                    fmt::format("{}: already an age file; never encrypted twice", path));
    }
    EncryptedCopy copy;
    copy.name = name + ".age";
    int dir = file.folder_fd();
    struct stat existing {};
    if (::fstatat(dir, copy.name.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0) {
        return fail(ErrorKind::Refused,
                    fmt::format("{}.age already exists; {} left alone", path, path));
    }
    const std::string& temp = temp_name;
    if (::unlinkat(dir, temp.c_str(), 0) != 0 && errno != ENOENT) {
        return fail(errno_error(fmt::format("remove the leftover {}", temp), errno));
    }
    UniqueFd out(::openat(dir, temp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                          0600));
    if (!out) return fail(errno_error(fmt::format("create the encrypted copy of {}", path), errno));
    TempGuard guard(dir, temp);

    util::Sha256 written;
    auto enc = age::Encryptor::start(recipients, [&](std::string_view d) -> Status {
        written.update(d);
        copy.bytes += d.size();
        return util::write_all(out.get(), d, temp);
    });
    if (!enc) return fail(enc.error());
    age::FileKey key = enc->file_key();
    if (::lseek(file.content_fd(), 0, SEEK_SET) < 0) {
        return fail(errno_error(fmt::format("seek {}", path), errno));
    }
    std::string buf(size_t{256} * 1024, '\0');
    for (;;) {
        ssize_t n = ::read(file.content_fd(), buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(errno_error(fmt::format("read {}", path), errno));
        if (n == 0) break;
        if (auto st = enc->write(std::string_view(buf.data(), static_cast<size_t>(n))); !st) {
            return fail(st.error());
        }
        if (stop != nullptr && stop->stop_requested()) {
            return fail(util::stopped(fmt::format("encrypt {}", path)));
        }
    }
    if (auto st = enc->finish(); !st) return fail(st.error());
    for (const auto& [k, v] : attributes) {
        std::string attr = kXattrPrefix + k;
        if (::fsetxattr(out.get(), attr.c_str(), v.data(), v.size(), 0) != 0) {
            if (errno == ENOTSUP) break;
            return fail(errno_error(fmt::format("set {} on {}", attr, copy.name), errno));
        }
        copy.attributes_kept = true;
    }
    if (auto st = util::fsync_fd(out.get(), temp); !st) return fail(st.error());
    util::fault_point("encrypt-written");

    // Re-read from the disk and decrypt into a hash: the copy must hold exactly the original.
    ::posix_fadvise(out.get(), 0, 0, POSIX_FADV_DONTNEED);
    UniqueFd in(::openat(dir, temp.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!in) return fail(errno_error(fmt::format("re-read {}", temp), errno));
    util::Sha256 reread;
    age::Source raw = age::fd_source(in.get(), temp);
    age::Source hashing = [&](char* b, size_t n) -> Result<size_t> {
        auto got = raw(b, n);
        if (got) reread.update(b, *got);
        return got;
    };
    util::Sha256 plain;
    auto back = age::Decryptor::start_with_file_key(key, hashing);
    Status decrypted = back ? Status{} : Status(fail(back.error()));
    while (decrypted) {
        auto n = back->read(buf.data(), buf.size());
        if (!n) {
            decrypted = fail(n.error());
            break;
        }
        if (*n == 0) break;
        plain.update(buf.data(), *n);
        if (stop != nullptr && stop->stop_requested()) {
            return fail(util::stopped(fmt::format("re-read the encrypted copy of {}", path)));
        }
    }
    if (!decrypted || plain.finish_hex() != file.record().sha256_before) {
        return fail(ErrorKind::Verification,
                    fmt::format("{}: the encrypted copy did not decrypt to the original{}; "
                                "removed, original kept", path,
                                decrypted ? "" : " (" + decrypted.error().message() + ")"));
    }
    copy.sha256 = written.finish_hex();
    if (reread.finish_hex() != copy.sha256) {
        return fail(ErrorKind::Verification,
                    fmt::format("{}: the encrypted copy read back differs from what was written; "
                                "removed, original kept", path));
    }
    util::fault_point("encrypt-verified");
    // As the walk will see it under its final name (scan::facts_from_statx).
    struct statx stx {};
    if (::statx(in.get(), "", AT_EMPTY_PATH, STATX_BASIC_STATS, &stx) != 0) {
        return fail(errno_error(fmt::format("stat {}", temp), errno));
    }
    copy.device = makedev(stx.stx_dev_major, stx.stx_dev_minor);
    copy.inode = stx.stx_ino;
    copy.mtime = util::from_timespec(stx.stx_mtime.tv_sec, stx.stx_mtime.tv_nsec);
    if (before_rename) {
        if (auto recorded = before_rename(copy); !recorded) return fail(recorded.error());
        util::fault_point("encrypt-indexed");
    }
    if (::renameat2(dir, temp.c_str(), dir, copy.name.c_str(), RENAME_NOREPLACE) != 0) {
        return fail(errno_error(fmt::format("rename the encrypted copy to {}.age", path), errno));
    }
    guard.release();
    if (auto st = util::fsync_fd(dir, path); !st) return fail(st.error());
    util::fault_point("encrypt-renamed");
    return copy;
}

Result<std::optional<EncryptedCopy>> find_encrypted_copy(int root_fd,
                                                        const std::string& planned_path,
                                                        const std::string& intent_id,
                                                        const classify::IndexedCopy* indexed,
                                                        const util::StopToken* stop) {
    auto dir = util::open_beneath(root_fd, util::parent_of(planned_path), O_RDONLY | O_DIRECTORY);
    if (!dir) return fail(dir.error());
    EncryptedCopy copy;
    copy.name = std::string(util::name_of(planned_path)) + ".age";
    UniqueFd fd(::openat(dir->get(), copy.name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) {
        if (errno == ENOENT) return std::optional<EncryptedCopy>();
        return fail(errno_error(fmt::format("open {}.age", planned_path), errno));
    }
    std::string attr = std::string(kXattrPrefix) + "intent";
    char value[128] = {};
    ssize_t n = ::fgetxattr(fd.get(), attr.c_str(), value, sizeof value);
    copy.attributes_kept = n >= 0 && std::string_view(value, static_cast<size_t>(n)) == intent_id;
    struct statx stx {};
    if (::statx(fd.get(), "", AT_EMPTY_PATH, STATX_BASIC_STATS, &stx) != 0) {
        return fail(errno_error(fmt::format("stat {}.age", planned_path), errno));
    }
    copy.bytes = stx.stx_size;
    copy.device = makedev(stx.stx_dev_major, stx.stx_dev_minor);
    copy.inode = stx.stx_ino;
    copy.mtime = util::from_timespec(stx.stx_mtime.tv_sec, stx.stx_mtime.tv_nsec);
    bool indexed_match = indexed != nullptr && indexed->device == copy.device &&
                         indexed->inode == copy.inode && indexed->size == copy.bytes &&
                         indexed->mtime == copy.mtime;
    if (!copy.attributes_kept && !indexed_match) {
        return fail(ErrorKind::Refused,
                    fmt::format("{}.age exists but lethe cannot show it wrote it for this "
                                "disposal (neither its {} attribute nor the index of encrypted "
                                "copies says so); the original is left alone",
                                planned_path, attr));
    }
    auto hash = util::sha256_fd_hex(fd.get(), copy.name, stop);
    if (!hash) return fail(hash.error());
    copy.sha256 = *hash;
    return std::optional<EncryptedCopy>(copy);
}

Result<bool> remove_partial_copy(int root_fd, const std::string& planned_path,
                                 const std::string& temp_name) {
    auto dir = util::open_beneath(root_fd, util::parent_of(planned_path), O_RDONLY | O_DIRECTORY);
    if (!dir) return fail(dir.error());
    struct stat st {};
    if (::fstatat(dir->get(), temp_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) return false;
        return fail(errno_error(fmt::format("stat {} beside {}", temp_name, planned_path), errno));
    }
    if (!S_ISREG(st.st_mode)) return false;
    if (::unlinkat(dir->get(), temp_name.c_str(), 0) != 0) {
        return fail(errno_error(fmt::format("remove {} beside {}", temp_name, planned_path), errno));
    }
    if (auto st_sync = util::fsync_fd(dir->get(), planned_path); !st_sync) {
        return fail(st_sync.error());
    }
    return true;
}

}  // namespace lethe::act

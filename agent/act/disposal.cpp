#include "agent/act/disposal.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <memory>
#include <new>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "agent/act/disposal_folder.hpp"
#include "agent/act/hash_ahead.hpp"
#include "agent/util/fault.hpp"
#include "agent/util/fs.hpp"
#include "agent/util/sha256.hpp"
#include "agent/util/sha256_state.hpp"

namespace lethe::act {

namespace {

using util::fault_point;

constexpr size_t kBlock = size_t{4} << 20;  // 4 MiB: a multiple of every direct-I/O alignment
constexpr size_t kDirectAlign = 4096;       // the largest logical block size of a device

struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<char, FreeDeleter>;

// A buffer of `size` bytes (a multiple of 4096) aligned for direct I/O.
AlignedBuffer aligned_buffer(size_t size) {
    void* p = nullptr;
    if (::posix_memalign(&p, 4096, size) != 0) return AlignedBuffer(nullptr);
    return AlignedBuffer(static_cast<char*>(p));
}

struct Target {
    UniqueFd dir;      // the folder the entry is in now (the disposal folder once detached)
    std::string name;  // its name there
    UniqueFd home;     // once detached: the folder it was moved from, and its name there
    std::string home_name;
    UniqueFd disposal;         // the disposal folder, checked (use_disposal_folder)
    std::string disposal_path;  // its path below the root
    bool detached = false;
    UniqueFd reader;  // read-only; holds lethe's flock while the file is prepared
    UniqueFd file;    // read-write for an overwrite, else unset
    struct stat st {};

    [[nodiscard]] int fd() const { return file ? file.get() : reader.get(); }
};

}  // namespace

namespace {

int open_at(int dir_fd, const std::string& name, int flags) {
    // O_NOATIME keeps lethe's own reads from refreshing the access time it may judge by;
    // the kernel allows it only to the owner or CAP_FOWNER, so fall back without it.
    int fd = ::openat(dir_fd, name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
    if (fd < 0 && errno == EPERM) fd = ::openat(dir_fd, name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC);
    return fd;
}

bool same_inode(const struct stat& st, const scan::FileFacts& planned) {
    return st.st_ino == planned.inode && st.st_dev == planned.device;
}

// Immutable and append-only files cannot be overwritten or unlinked; lethe does not lift
// an attribute someone set on purpose.
Status check_attributes(int fd, const std::string& path) {
    int flags = 0;
    if (::ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0) return {};  // no attributes on this fs
    if ((flags & FS_IMMUTABLE_FL) != 0) {
        return fail(ErrorKind::Refused,
                    fmt::format("{}: has the immutable attribute (chattr +i); left alone", path));
    }
    if ((flags & FS_APPEND_FL) != 0) {
        return fail(ErrorKind::Refused,
                    fmt::format("{}: has the append-only attribute (chattr +a); left alone", path));
    }
    return {};
}

// A file another process has locked is in use: skipped, as systemd-tmpfiles does. Takes an
// exclusive flock that lasts as long as `fd` is open, so cooperating programs wait for us.
Status check_not_in_use(int fd, const std::string& path) {
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            return fail(ErrorKind::Refused,
                        fmt::format("{}: in use (another process holds a flock); left alone", path));
        }
        // Filesystems without flock support (some network ones) fall through to record locks.
    }
    struct flock lk {};
    lk.l_type = F_WRLCK;
    lk.l_whence = SEEK_SET;
    lk.l_start = 0;
    lk.l_len = 0;
    if (::fcntl(fd, F_OFD_GETLK, &lk) == 0 && lk.l_type != F_UNLCK) {
        return fail(ErrorKind::Refused,
                    lk.l_pid > 0
                        ? fmt::format("{}: in use (process {} holds a POSIX record lock); left "
                                      "alone", path, lk.l_pid)
                        : fmt::format("{}: in use (another process holds an OFD lock); left alone",
                                      path));
    }
    return {};
}

// Opens the planned file and checks that it is still the file that was planned.
Result<Target> open_entry(Target t, const scan::FileFacts& planned, bool for_overwrite,
                          bool resuming, std::vector<std::string>& handling);

Result<Target> open_planned(int root_fd, const scan::FileFacts& planned, bool for_overwrite,
                            bool resuming, std::vector<std::string>& handling) {
    Target t;
    auto dir = util::open_beneath(root_fd, util::parent_of(planned.path), O_RDONLY | O_DIRECTORY);
    if (!dir) return fail(Error(ErrorKind::Refused, dir.error().message()));
    t.dir = std::move(*dir);
    t.name = std::string(util::name_of(planned.path));
    return open_entry(std::move(t), planned, for_overwrite, resuming, handling);
}

// `t.dir` and `t.name` set: opens and checks the entry there.
Result<Target> open_entry(Target t, const scan::FileFacts& planned, bool for_overwrite,
                          bool resuming, std::vector<std::string>& handling) {
    auto now = scan::stat_at(t.dir.get(), t.name, planned.path);
    if (!now) return fail(Error(ErrorKind::Refused, now.error().message()));
    if (!S_ISREG(now->mode)) {
        return fail(ErrorKind::Refused, fmt::format("{}: no longer a regular file", planned.path));
    }
    bool same = resuming ? (now->device == planned.device && now->inode == planned.inode)
                         : now->same_identity(planned);
    if (!same) {
        return fail(ErrorKind::Refused,
                    fmt::format("{}: changed since it was planned (device, inode, size or mtime)",
                                planned.path));
    }
    if (for_overwrite && now->nlink > 1) {
        return fail(ErrorKind::Refused,
                    fmt::format("{}: has {} hard links; overwriting would destroy the other "
                                "names' data", planned.path, now->nlink));
    }
    // Read-only first: it works on immutable and read-only files, whose state we check.
    t.reader.reset(open_at(t.dir.get(), t.name, O_RDONLY));
    if (!t.reader) return fail(errno_error(fmt::format("open {}", planned.path), errno));
    if (::fstat(t.reader.get(), &t.st) != 0) {
        return fail(errno_error(fmt::format("stat {}", planned.path), errno));
    }
    // The name could have been swapped between the statx and the open.
    if (!same_inode(t.st, planned) ||
        (!resuming && static_cast<uint64_t>(t.st.st_size) != planned.size)) {
        return fail(ErrorKind::Refused,
                    fmt::format("{}: replaced while being opened; left alone", planned.path));
    }
    if (auto st = check_attributes(t.reader.get(), planned.path); !st) return fail(st.error());
    if (auto st = check_not_in_use(t.reader.get(), planned.path); !st) return fail(st.error());
    if (!for_overwrite) return t;

    mode_t mode = t.st.st_mode & 07777;
    if ((mode & 0222) == 0) {
        handling.push_back(fmt::format("read-only file (mode {:04o})", mode));
    }
    int fd = open_at(t.dir.get(), t.name, O_RDWR);
    if (fd < 0 && errno == EACCES) {
        // Only the owner (or CAP_FOWNER) may do this; the file is about to be destroyed, so
        // the bit is not taken away again (a failed verification leaves it writable).
        if (::fchmod(t.reader.get(), mode | S_IWUSR) != 0) {
            return fail(errno_error(fmt::format("open {} for overwriting", planned.path), EACCES));
        }
        handling.push_back(fmt::format(
            "owner write permission added (mode {:04o} to {:04o}) to overwrite it; not restored",
            mode, mode | S_IWUSR));
        fd = open_at(t.dir.get(), t.name, O_RDWR);
    }
    if (fd < 0 && errno == EROFS) {
        return fail(ErrorKind::Refused,
                    fmt::format("{}: on a read-only filesystem; left alone", planned.path));
    }
    if (fd < 0) return fail(errno_error(fmt::format("open {} for overwriting", planned.path), errno));
    t.file.reset(fd);
    struct stat again {};
    if (::fstat(t.file.get(), &again) != 0 || !same_inode(again, planned)) {
        return fail(ErrorKind::Refused,
                    fmt::format("{}: replaced while being opened; left alone", planned.path));
    }
    return t;
}

std::string filesystem_name(int64_t type) {
    switch (static_cast<unsigned long>(type)) {
        case EXT4_SUPER_MAGIC: return "ext4";
        case XFS_SUPER_MAGIC: return "xfs";
        case BTRFS_SUPER_MAGIC: return "btrfs";
        case TMPFS_MAGIC: return "tmpfs";
        case OVERLAYFS_SUPER_MAGIC: return "overlayfs";
        case NFS_SUPER_MAGIC: return "nfs";
        case SMB_SUPER_MAGIC: return "smb";
        case 0xFE534D42UL: return "smb2";
        case 0xFF534D42UL: return "cifs";
        case 0xF2F52010UL: return "f2fs";
        case NILFS_SUPER_MAGIC: return "nilfs";
        case 0x2FC12FC1UL: return "zfs";
        case CEPH_SUPER_MAGIC: return "ceph";
        case 0x65735546UL: return "fuse";
        default: return fmt::format("0x{:x}", static_cast<unsigned long>(type));
    }
}

// Whether the block device behind `dev` is rotational: 1, 0, or -1 when unknown. Read from
// sysfs once per device and process (a pass asks for every file it disposes of).
int rotational(dev_t dev) {
    static std::mutex mutex;
    static std::map<dev_t, int> known;
    std::lock_guard<std::mutex> lock(mutex);
    if (auto it = known.find(dev); it != known.end()) return it->second;
    int found = -1;
    for (const char* rel : {"queue/rotational", "../queue/rotational"}) {
        std::ifstream in(fmt::format("/sys/dev/block/{}:{}/{}", major(dev), minor(dev), rel));
        int value = -1;
        if (in >> value) {
            found = value;
            break;
        }
    }
    known.emplace(dev, found);
    return found;
}

// Counts the file's extents and those shared with another file or a snapshot (reflinks,
// deduplication, btrfs/xfs snapshots): an overwrite cannot reach the other copy.
struct ExtentCount {
    uint64_t total = 0;
    uint64_t shared = 0;
    uint64_t inline_data = 0;
    bool known = false;
};

ExtentCount count_extents(int fd) {
    constexpr unsigned kBatch = 128;
    std::vector<char> buf(sizeof(struct fiemap) + kBatch * sizeof(struct fiemap_extent));
    auto* map = reinterpret_cast<struct fiemap*>(buf.data());
    ExtentCount count;
    uint64_t start = 0;
    for (;;) {
        std::fill(buf.begin(), buf.end(), '\0');
        map->fm_start = start;
        map->fm_length = FIEMAP_MAX_OFFSET - start;
        map->fm_flags = FIEMAP_FLAG_SYNC;
        map->fm_extent_count = kBatch;
        if (::ioctl(fd, FS_IOC_FIEMAP, map) != 0) return count;
        count.known = true;
        if (map->fm_mapped_extents == 0) return count;
        bool last = false;
        for (unsigned i = 0; i < map->fm_mapped_extents; ++i) {
            const struct fiemap_extent& e = map->fm_extents[i];
            ++count.total;
            if ((e.fe_flags & FIEMAP_EXTENT_SHARED) != 0) ++count.shared;
            if ((e.fe_flags & FIEMAP_EXTENT_DATA_INLINE) != 0) ++count.inline_data;
            if ((e.fe_flags & FIEMAP_EXTENT_LAST) != 0) last = true;
            start = e.fe_logical + e.fe_length;
        }
        if (last || map->fm_mapped_extents < kBatch) return count;
    }
}

// The ways old data of this file may survive a file-level overwrite, found for this file.
void describe_limits(int fd, dev_t dev, DisposalRecord& rec) {
    struct statfs fs {};
    if (::fstatfs(fd, &fs) != 0) {
        rec.filesystem = "unknown";
        rec.residual_risks.emplace_back("filesystem type unknown: overwrite in place not assured");
        return;
    }
    rec.filesystem = filesystem_name(fs.f_type);
    const std::string& name = rec.filesystem;
    if (name == "btrfs" || name == "zfs" || name == "f2fs" || name == "nilfs") {
        rec.residual_risks.push_back(fmt::format(
            "copy-on-write or log-structured filesystem ({}): the overwrite goes to new blocks "
            "and the old ones may survive until reused", name));
    } else if (name == "xfs") {
        rec.residual_risks.emplace_back(
            "xfs: reflinked copies of this file's extents would keep the old data");
    } else if (name == "overlayfs") {
        rec.residual_risks.emplace_back(
            "overlayfs: a copy in a lower layer is not overwritten");
    } else if (name == "tmpfs") {
        rec.residual_risks.emplace_back("tmpfs: pages may have been swapped out");
    } else if (name == "nfs" || name == "smb" || name == "smb2" || name == "cifs" ||
               name == "ceph" || name == "fuse") {
        rec.residual_risks.push_back(fmt::format(
            "network or user-space filesystem ({}): the server decides where data is written, "
            "and its snapshots are not visible here", name));
    }
    ExtentCount extents = count_extents(fd);
    if (extents.shared > 0) {
        rec.residual_risks.push_back(fmt::format(
            "{} of {} extents are shared with another file or a snapshot (reflink, "
            "deduplication or snapshot): that copy keeps the old data", extents.shared,
            extents.total));
    }
    if (extents.inline_data > 0) {
        rec.residual_risks.emplace_back(
            "data stored inline in filesystem metadata: the overwrite is written to new metadata "
            "blocks");
    }
    int rot = rotational(dev);
    if (rot == 0) {
        rec.residual_risks.emplace_back(
            "non-rotational device (SSD): wear levelling may keep old blocks");
    } else if (rot < 0 && name != "tmpfs") {
        rec.residual_risks.emplace_back("backing device type unknown (virtual or network)");
    }
}

// A byte range of the file that holds data (not a hole).
struct Range {
    uint64_t offset = 0;
    uint64_t length = 0;
};

// The data ranges of the file, found with SEEK_DATA/SEEK_HOLE (the whole file where the
// filesystem does not tell holes apart).
Result<std::vector<Range>> data_ranges(int fd, uint64_t size, const std::string& path) {
    std::vector<Range> out;
    uint64_t pos = 0;
    while (pos < size) {
        off_t data = ::lseek(fd, static_cast<off_t>(pos), SEEK_DATA);
        if (data < 0) {
            if (errno == ENXIO) break;  // only a hole remains
            if (errno == EINVAL || errno == EOPNOTSUPP) return std::vector<Range>{{0, size}};
            return fail(errno_error(fmt::format("find data in {}", path), errno));
        }
        off_t hole = ::lseek(fd, data, SEEK_HOLE);
        if (hole < 0) return fail(errno_error(fmt::format("find holes in {}", path), errno));
        uint64_t begin = static_cast<uint64_t>(data);
        uint64_t end = std::min<uint64_t>(static_cast<uint64_t>(hole), size);
        if (begin >= end) break;
        out.push_back({begin, end - begin});
        pos = end;
    }
    return out;
}

// The planned file opened again with O_DIRECT (O_RDONLY or O_WRONLY), or an unset descriptor
// where the filesystem refuses direct I/O or the name no longer leads to the same file.
UniqueFd open_direct(const Target& t, int mode) {
    UniqueFd direct(
        ::openat(t.dir.get(), t.name.c_str(), mode | O_DIRECT | O_NOFOLLOW | O_CLOEXEC));
    struct stat st {};
    if (!direct || ::fstat(direct.get(), &st) != 0 || st.st_ino != t.st.st_ino ||
        st.st_dev != t.st.st_dev) {
        return UniqueFd();
    }
    return direct;
}

// The overwrite pattern of one pass: zeros, or the AES-256-CTR keystream under a fresh key
// from OpenSSL's CSPRNG. The keystream can be produced again from the start, so the
// read-back compares block by block instead of hashing what was written and what was read.
class Pattern {
public:
    static Result<Pattern> create(bool zeros) {
        Pattern p;
        p.m_zeros = zeros;
        if (zeros) return p;
        if (RAND_bytes(p.m_key, sizeof p.m_key) != 1 || RAND_bytes(p.m_iv, sizeof p.m_iv) != 1) {
            return fail(ErrorKind::Internal, "OpenSSL RAND_bytes failed");
        }
        p.m_ctx.reset(EVP_CIPHER_CTX_new());
        if (!p.m_ctx) return fail(ErrorKind::Internal, "OpenSSL: out of memory");
        if (auto st = p.restart(); !st) return fail(st.error());
        return p;
    }
    Pattern(Pattern&&) noexcept = default;
    Pattern& operator=(Pattern&&) noexcept = default;
    ~Pattern() {
        OPENSSL_cleanse(m_key, sizeof m_key);
        OPENSSL_cleanse(m_iv, sizeof m_iv);
    }

    // The same pattern from its first byte, for a second reader.
    [[nodiscard]] Result<Pattern> replica() const {
        Pattern p;
        p.m_zeros = m_zeros;
        if (m_zeros) return p;
        std::memcpy(p.m_key, m_key, sizeof m_key);
        std::memcpy(p.m_iv, m_iv, sizeof m_iv);
        p.m_ctx.reset(EVP_CIPHER_CTX_new());
        if (!p.m_ctx) return fail(ErrorKind::Internal, "OpenSSL: out of memory");
        if (auto st = p.restart(); !st) return fail(st.error());
        return p;
    }

    // Back to the first byte of the pattern.
    Status restart() {
        if (m_zeros) return {};
        if (EVP_EncryptInit_ex(m_ctx.get(), EVP_aes_256_ctr(), nullptr, m_key, m_iv) != 1) {
            return fail(ErrorKind::Internal, "OpenSSL AES-256-CTR setup failed");
        }
        return {};
    }

    // The next `n` bytes of the pattern (n <= kBlock).
    Status fill(char* out, size_t n) {
        if (m_zeros) {
            std::memset(out, 0, n);
            return {};
        }
        static const std::vector<unsigned char> kZeros(kBlock, 0);
        int len = 0;
        if (EVP_EncryptUpdate(m_ctx.get(), reinterpret_cast<unsigned char*>(out), &len,
                              kZeros.data(), static_cast<int>(n)) != 1 ||
            static_cast<size_t>(len) != n) {
            return fail(ErrorKind::Internal, "OpenSSL AES-256-CTR failed");
        }
        return {};
    }

private:
    Pattern() = default;
    struct CtxDeleter {
        void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
    };
    bool m_zeros = false;
    unsigned char m_key[32] = {};
    unsigned char m_iv[16] = {};
    std::unique_ptr<EVP_CIPHER_CTX, CtxDeleter> m_ctx;
};

// The mismatch found in `n` bytes read back from byte `start` of the file (`got`) that
// differ from what was written there (`expected`): their block, their range and the first
// byte that differs. Its `blocks` count is left to the caller.
ReadBackMismatch mismatch_at(uint64_t start, const char* got, const char* expected, size_t n) {
    const auto first = std::mismatch(got, got + n, expected).first - got;
    return ReadBackMismatch{start / kBlock, start, n, 0, start + static_cast<uint64_t>(first)};
}

// The read-back of a large file's last pass, done while that pass is being written: on a
// helper thread, each block once the writer has written it, after its writeback to the
// device has completed (sync_file_range with WAIT_AFTER), read from the device with O_DIRECT
// (never from the page cache) and compared with the pattern; then its pages are dropped from
// the page cache, so that the truncation has none of them left to free. With `read` false
// (verification off) it only waits for each block's writeback and drops its pages. The
// writer makes the file durable (fdatasync) before finish() is relied on, as for read_back().
class EarlyReadBack {
public:
    // Null when the file cannot be read with O_DIRECT (read_back() then drops the cache
    // after the sync instead) or a buffer cannot be had.
    static std::unique_ptr<EarlyReadBack> start(const Target& t, std::vector<Range> chunks,
                                                const Pattern& pattern, const std::string& path,
                                                bool read) {
        UniqueFd direct;
        if (read) {
            direct = open_direct(t, O_RDONLY);
            if (!direct) return nullptr;
        }
        auto replica = pattern.replica();
        if (!replica) return nullptr;
        auto early = std::unique_ptr<EarlyReadBack>(new EarlyReadBack(
            t.file.get(), std::move(direct), std::move(chunks), std::move(*replica), path));
        if (read && (!early->m_buffer || !early->m_expected)) return nullptr;
        early->m_thread = std::thread([e = early.get()] { e->run(); });
        return early;
    }
    EarlyReadBack(const EarlyReadBack&) = delete;
    EarlyReadBack& operator=(const EarlyReadBack&) = delete;
    ~EarlyReadBack() {
        {
            std::lock_guard lock(m_mutex);
            m_cancel = true;
            m_changed.notify_all();
        }
        if (m_thread.joinable()) m_thread.join();
    }

    // The first `n` blocks are written.
    void written(size_t n) {
        std::lock_guard lock(m_mutex);
        m_written = n;
        m_changed.notify_all();
    }
    // Waits until every block is read back; where they differ, or nothing.
    Result<std::optional<ReadBackMismatch>> finish() {
        written(m_chunks.size());
        if (m_thread.joinable()) m_thread.join();
        if (m_error) return fail(*m_error);
        return m_mismatch;
    }

private:
    EarlyReadBack(int write_fd, UniqueFd direct, std::vector<Range> chunks, Pattern pattern,
                  std::string path)
        : m_write_fd(write_fd),
          m_direct(std::move(direct)),
          m_chunks(std::move(chunks)),
          m_pattern(std::move(pattern)),
          m_path(std::move(path)),
          m_buffer(m_direct ? aligned_buffer(kBlock) : AlignedBuffer(nullptr)),
          m_expected(m_direct ? aligned_buffer(kBlock) : AlignedBuffer(nullptr)) {}

    void run() {
        for (size_t i = 0; i < m_chunks.size(); ++i) {
            {
                std::unique_lock lock(m_mutex);
                m_changed.wait(lock, [&] { return m_cancel || m_written > i; });
                if (m_cancel) return;
            }
            const Range c = m_chunks[i];
            // Its writeback has completed, so the read below comes from the device.
            if (::sync_file_range(m_write_fd, static_cast<off_t>(c.offset),
                                  static_cast<off_t>(c.length),
                                  SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                      SYNC_FILE_RANGE_WAIT_AFTER) != 0) {
                m_error = errno_error(fmt::format("write back {}", m_path), errno);
                return;
            }
            uint64_t done = m_direct ? 0 : c.length;
            while (done < c.length) {
                ssize_t got = ::pread(m_direct.get(), m_buffer.get(), kBlock,
                                      static_cast<off_t>(c.offset + done));
                if (got < 0 && errno == EINTR) continue;
                if (got < 0) {
                    m_error = errno_error(fmt::format("read back {}", m_path), errno);
                    return;
                }
                if (got == 0) {
                    m_error = Error(ErrorKind::Verification,
                                    fmt::format("{}: read back ended at byte {} of {}", m_path,
                                                c.offset + done, c.offset + c.length));
                    return;
                }
                size_t n = static_cast<size_t>(
                    std::min<uint64_t>(static_cast<uint64_t>(got), c.length - done));
                if (auto st = m_pattern.fill(m_expected.get(), n); !st) {
                    m_error = st.error();
                    return;
                }
                if (std::memcmp(m_buffer.get(), m_expected.get(), n) != 0) {
                    if (!m_mismatch) {
                        m_mismatch = mismatch_at(c.offset + done, m_buffer.get(),
                                                 m_expected.get(), n);
                    }
                    ++m_mismatch->blocks;
                }
                done += n;
            }
            // Written back (and read back): its pages are clean and no longer needed.
            ::posix_fadvise(m_write_fd, static_cast<off_t>(c.offset), static_cast<off_t>(c.length),
                            POSIX_FADV_DONTNEED);
        }
    }

    const int m_write_fd;
    UniqueFd m_direct;
    const std::vector<Range> m_chunks;
    Pattern m_pattern;
    const std::string m_path;
    AlignedBuffer m_buffer;
    AlignedBuffer m_expected;
    std::optional<Error> m_error;                 // the thread's, read after join
    std::optional<ReadBackMismatch> m_mismatch;   // the thread's, read after join
    std::mutex m_mutex;
    std::condition_variable m_changed;
    size_t m_written = 0;  // guarded
    bool m_cancel = false;  // guarded
    std::thread m_thread;
};

}  // namespace

// What an overwrite begun with overwrite() leaves for sync_overwrite() and finish_sanitize().
struct PreparedFile::Impl {
    Target target;
    std::vector<Range> ranges;          // the data ranges overwritten
    uint64_t data_bytes = 0;
    std::optional<Pattern> last_pattern;  // regenerated for the read-back
    DisposalRecord record;              // the record so far
    bool overwritten = false;           // every pass written
    bool synced = false;                // and the last one fdatasynced
    bool hash_pending = false;          // ContentHash::Overlap: hashed by the first pass
    std::unique_ptr<EarlyReadBack> early;  // a large file's last pass, read back as written
};

PreparedFile::PreparedFile(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
PreparedFile::PreparedFile(PreparedFile&&) noexcept = default;
PreparedFile& PreparedFile::operator=(PreparedFile&&) noexcept = default;
PreparedFile::~PreparedFile() = default;
int PreparedFile::folder_fd() const { return m_impl->target.dir.get(); }
const std::string& PreparedFile::name() const { return m_impl->target.name; }
int PreparedFile::content_fd() const { return m_impl->target.reader.get(); }
const std::string& PreparedFile::disposal_folder() const { return m_impl->target.disposal_path; }
bool PreparedFile::detached() const { return m_impl->target.detached; }

namespace {

bool asked_to_stop(const util::StopToken* stop) {
    return stop != nullptr && stop->stop_requested();
}

// The data ranges in blocks of at most kBlock.
std::vector<Range> blocks_of(const std::vector<Range>& ranges) {
    std::vector<Range> out;
    for (const Range& r : ranges) {
        for (uint64_t offset = r.offset; offset < r.offset + r.length; offset += kBlock) {
            out.push_back({offset, std::min<uint64_t>(kBlock, r.offset + r.length - offset)});
        }
    }
    return out;
}

// The largest block of `chunks`, rounded up to the direct-I/O alignment: the size of the
// buffers (4 MiB for a large file, a few KiB for a small one).
size_t buffer_size(const std::vector<Range>& chunks) {
    uint64_t largest = 4096;
    for (const Range& c : chunks) largest = std::max(largest, c.length);
    return static_cast<size_t>(std::min<uint64_t>(kBlock, (largest + 4095) / 4096 * 4096));
}

// Starts writing back to the device what was written since `from` (without waiting), so that
// the device works while the next blocks are made and the final fdatasync has little left.
constexpr uint64_t kWritebackEvery = uint64_t{32} << 20;

#ifdef LETHE_TEST_HOOKS
void maybe_inject_corruption(int fd, uint64_t size, uint64_t from = 0);
#endif

// Writes one pass over the data ranges, and starts the writeback of all of it; the caller
// makes it durable (fdatasync). The pattern of the next block is made on a helper thread
// while this one is written (`block` and `spare` take turns); a file of one block is done on
// this thread.
//
// With `ahead` (the first pass over a file whose original content is still being hashed),
// no block is written before a durable checkpoint of the hash covers it.
//
// With `direct` (an O_DIRECT descriptor of the same file, for a large file) the blocks go
// from the buffer to the device without a copy into the page cache; the unaligned end of
// the file goes through `fd`. A filesystem that refuses a direct write (EINVAL) gets the
// rest through `fd`.
Status write_pass(int fd, int direct, const std::vector<Range>& ranges, Pattern& pattern,
                  char* block, char* spare, const std::string& path, const util::StopToken* stop,
                  HashAhead* ahead, EarlyReadBack* early) {
    const std::vector<Range> chunks = blocks_of(ranges);
    char* buffers[2] = {block, spare};
    const auto launch = chunks.size() > 1 ? std::launch::async : std::launch::deferred;
    auto start_fill = [&pattern, launch](char* buffer, uint64_t n) {
        return std::async(launch, [&pattern, buffer, n] {
            return pattern.fill(buffer, static_cast<size_t>(n));
        });
    };
    std::future<Status> next;
    if (!chunks.empty()) next = start_fill(buffers[0], chunks[0].length);
    uint64_t unsent = 0;  // where the bytes not yet sent to writeback begin
    for (size_t i = 0; i < chunks.size(); ++i) {
        if (auto st = next.get(); !st) return st;
        if (i + 1 < chunks.size()) next = start_fill(buffers[(i + 1) % 2], chunks[i + 1].length);
        const char* data = buffers[i % 2];
        const uint64_t offset = chunks[i].offset;
        const size_t n = static_cast<size_t>(chunks[i].length);
        if (ahead != nullptr) {
            if (auto st = ahead->cover(offset + n); !st) return st;
        }
        size_t done = 0;
        while (done < n) {
            // Direct I/O takes whole 4 KiB blocks at aligned offsets.
            const size_t aligned = (n - done) / kDirectAlign * kDirectAlign;
            const bool use_direct =
                direct >= 0 && aligned > 0 && (offset + done) % kDirectAlign == 0;
            const off_t at = static_cast<off_t>(offset + done);
            ssize_t w = use_direct ? ::pwrite(direct, data + done, aligned, at)
                                   : ::pwrite(fd, data + done, n - done, at);
            if (w < 0) {
                if (errno == EINTR) continue;
                if (use_direct && errno == EINVAL) {
                    direct = -1;
                    continue;
                }
                return fail(errno_error(fmt::format("overwrite {}", path), errno));
            }
            done += static_cast<size_t>(w);
        }
        if (ahead != nullptr) fault_point("overwrite-block");
        if (early != nullptr) {
#ifdef LETHE_TEST_HOOKS
            // The test-only corruption "after the write", before this block is read back.
            maybe_inject_corruption(fd, offset + n, offset);
#endif
            early->written(i + 1);
        }
        if (offset + n >= unsent + kWritebackEvery) {
            // Advisory: an error here is found again by the fdatasync that follows.
            ::sync_file_range(fd, static_cast<off_t>(unsent), static_cast<off_t>(offset + n - unsent),
                              SYNC_FILE_RANGE_WRITE);
            unsent = offset + n;
        }
        if (asked_to_stop(stop)) return fail(util::stopped(fmt::format("overwrite {}", path)));
    }
    // The rest (all of a small file): the writeback of a group's files then runs together,
    // and each one's fdatasync finds its data written or on its way.
    ::sync_file_range(fd, static_cast<off_t>(unsent), 0, SYNC_FILE_RANGE_WRITE);
    return {};
}

Status sync_data(int fd, const std::string& path) {
    if (::fdatasync(fd) != 0) return fail(errno_error(fmt::format("fdatasync {}", path), errno));
    return {};
}

// Reads the data ranges back from the device, not from the page cache, and compares them
// with the pattern of the last pass. Returns where they differ, or nothing when every byte
// matched.
Result<std::optional<ReadBackMismatch>> read_back(Target& t, const std::vector<Range>& ranges,
                                                  Pattern& pattern, std::string& how,
                                                  const std::string& path,
                                                  const util::StopToken* stop) {
    UniqueFd direct_fd = open_direct(t, O_RDONLY);
    int fd = t.file.get();
    if (direct_fd) {
        fd = direct_fd.get();
        how = "direct I/O (O_DIRECT)";
    } else {
        ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        how = "page cache dropped after sync (POSIX_FADV_DONTNEED); O_DIRECT unavailable";
    }
    if (auto st = pattern.restart(); !st) return fail(st.error());
    // The blocks to read: each data range in blocks of kBlock. Direct I/O needs aligned
    // offsets and lengths: data ranges start on block boundaries, and a short read at the
    // end of the file is allowed.
    const std::vector<Range> chunks = blocks_of(ranges);
    const size_t capacity = buffer_size(chunks);
    // Up to kDepth - 1 blocks are read on helper threads while this one is compared, so the
    // device has several reads queued (a file of one block is read on this thread).
    constexpr size_t kDepth = 4;
    const size_t depth = std::min(kDepth, std::max<size_t>(chunks.size(), 1));
    std::vector<AlignedBuffer> buffers;
    for (size_t i = 0; i < depth; ++i) {
        buffers.push_back(aligned_buffer(capacity));
        if (!buffers.back()) return fail(ErrorKind::Internal, "out of memory for the read-back buffer");
    }
    AlignedBuffer expected = aligned_buffer(capacity);
    if (!expected) return fail(ErrorKind::Internal, "out of memory for the read-back buffer");
    const auto launch = chunks.size() > 1 ? std::launch::async : std::launch::deferred;
    auto start_read = [fd, launch, capacity](char* buffer, uint64_t offset) {
        return std::async(launch, [fd, buffer, offset, capacity]() -> ssize_t {
            for (;;) {
                ssize_t got = ::pread(fd, buffer, capacity, static_cast<off_t>(offset));
                if (got < 0 && errno == EINTR) continue;
                return got < 0 ? -errno : got;
            }
        });
    };
    // Declared after the buffers, so destroyed (and waited for) before them.
    std::vector<std::future<ssize_t>> reads(depth);
    for (size_t i = 0; i < depth && i < chunks.size(); ++i) {
        reads[i] = start_read(buffers[i].get(), chunks[i].offset);
    }
    std::optional<ReadBackMismatch> mismatch;
    for (size_t i = 0; i < chunks.size(); ++i) {
        char* buffer = buffers[i % depth].get();
        const uint64_t offset = chunks[i].offset;
        const uint64_t need = chunks[i].length;
        ssize_t got = reads[i % depth].get();
        uint64_t done = 0;
        while (true) {
            if (got < 0) {
                return fail(errno_error(fmt::format("read back {}", path), static_cast<int>(-got)));
            }
            if (got == 0) {
                return fail(ErrorKind::Verification,
                            fmt::format("{}: read back ended at byte {} of {}", path,
                                        offset + done, offset + need));
            }
            size_t n = static_cast<size_t>(std::min<uint64_t>(static_cast<uint64_t>(got),
                                                              need - done));
            if (auto st = pattern.fill(expected.get(), n); !st) return fail(st.error());
            if (std::memcmp(buffer, expected.get(), n) != 0) {
                if (!mismatch) mismatch = mismatch_at(offset + done, buffer, expected.get(), n);
                ++mismatch->blocks;
            }
            done += n;
            if (done >= need) break;
            // A short read before the end of the block: read the rest here.
            do {
                got = ::pread(fd, buffer, capacity, static_cast<off_t>(offset + done));
            } while (got < 0 && errno == EINTR);
            if (got < 0) got = -errno;
        }
        // The buffer is compared: it takes the block `depth` further on.
        if (i + depth < chunks.size()) {
            reads[i % depth] = start_read(buffer, chunks[i + depth].offset);
        }
        if (asked_to_stop(stop)) return fail(util::stopped(fmt::format("read back {}", path)));
    }
    return mismatch;
}

#ifdef LETHE_TEST_HOOKS
// Test-only fault: corrupt up to 4 KiB after the last pass, to prove that a failed
// read-back keeps the file and writes no certificate. LETHE_TEST_CORRUPT_AFTER_WRITE=1
// corrupts the start of the file, =at:<byte> the bytes from that offset.
// (A large file read back while written is corrupted block by block, in [from, size), just
// after the block is written and before it is read back.)
void maybe_inject_corruption(int fd, uint64_t size, uint64_t from) {
    const char* hook = std::getenv("LETHE_TEST_CORRUPT_AFTER_WRITE");
    if (hook == nullptr || size == 0) return;
    uint64_t at = std::strncmp(hook, "at:", 3) == 0 ? std::strtoull(hook + 3, nullptr, 10) : 0;
    if (at >= size || at < from) return;
    // Every byte inverted, so each one differs from what was written and a test can name
    // the first byte that differs exactly.
    std::string junk(static_cast<size_t>(std::min<uint64_t>(size - at, 4096)), 'X');
    if (::pread(fd, junk.data(), junk.size(), static_cast<off_t>(at)) ==
        static_cast<ssize_t>(junk.size())) {
        for (char& c : junk) c = static_cast<char>(~c);
    }
    [[maybe_unused]] auto n = ::pwrite(fd, junk.data(), junk.size(), static_cast<off_t>(at));
    ::fdatasync(fd);
}

// Test-only: with LETHE_TEST_PAUSE_DETACH_DIR=DIR, stops at `step` of every disposal:
// "before-detach" (the default: its checks done, its intent durable, not yet moved into the
// disposal folder), "after-detach" (moved and checked, nothing overwritten yet) or
// "overwritten" (every pass written, not yet synced, read back or renamed), as
// LETHE_TEST_PAUSE_STEP says: writes its path to the FIFO DIR/paused and waits for a line on
// the FIFO DIR/resume, so that a test can change the file at that exact point without
// sleeping.
void test_pause_at(const char* step, const std::string& path) {
    const char* dir = std::getenv("LETHE_TEST_PAUSE_DETACH_DIR");
    if (dir == nullptr) return;
    const char* wanted = std::getenv("LETHE_TEST_PAUSE_STEP");
    if (std::strcmp(wanted == nullptr ? "before-detach" : wanted, step) != 0) return;
    const std::string paused = std::string(dir) + "/paused";
    const std::string resume = std::string(dir) + "/resume";
    {
        UniqueFd out(::open(paused.c_str(), O_WRONLY | O_CLOEXEC));
        if (!out) return;
        (void)util::write_all(out.get(), path + "\n", paused);
    }
    UniqueFd in(::open(resume.c_str(), O_RDONLY | O_CLOEXEC));
    if (!in) return;
    char c = 0;
    while (::read(in.get(), &c, 1) == 1 && c != '\n') {
    }
}

// Test-only crash points: LETHE_TEST_CRASH_AT=<point> ends the process there, as a power
// cut would, so tests can prove the next pass completes and certifies the disposal.
void crash_point(const char* point) {
    const char* at = std::getenv("LETHE_TEST_CRASH_AT");
    if (at != nullptr && std::strcmp(at, point) == 0) ::_exit(99);
    fault_point(point);
}
#else
void crash_point(const char* point) { fault_point(point); }
#endif

Status sync_dir(int dir_fd, const std::string& path) {
    return util::fsync_fd(dir_fd, fmt::format("folder of {}", path));
}

}  // namespace

struct PrepareAccess {
    static Result<PreparedFile> prepared_from(Result<Target> target, const scan::FileFacts& planned,
                                              std::vector<std::string> handling,
                                              const util::StopToken* stop, ContentHash hash);
};

Result<PreparedFile> prepare(int root_fd, const scan::FileFacts& planned, bool for_overwrite,
                             bool resuming, const util::StopToken* stop, ContentHash hash) {
    std::vector<std::string> handling;
    auto target = open_planned(root_fd, planned, for_overwrite, resuming, handling);
    return PrepareAccess::prepared_from(std::move(target), planned, std::move(handling), stop,
                                        hash);
}

Result<PreparedFile> prepare_detached(int root_fd, const std::string& folder,
                                      const std::string& temp_name, const scan::FileFacts& planned,
                                      bool for_overwrite, const util::StopToken* stop,
                                      ContentHash hash) {
    auto dir = open_disposal_folder(root_fd, folder, static_cast<dev_t>(planned.device));
    if (!dir) return fail(dir.error());
    Target t;
    t.dir = std::move(*dir);
    t.name = temp_name;
    t.detached = true;
    t.disposal_path = folder;
    std::vector<std::string> handling;
    auto target = open_entry(std::move(t), planned, for_overwrite, true, handling);
    return PrepareAccess::prepared_from(std::move(target), planned, std::move(handling), stop,
                                        hash);
}

Result<PreparedFile> PrepareAccess::prepared_from(Result<Target> target,
                                                  const scan::FileFacts& planned,
                                                  std::vector<std::string> handling,
                                                  const util::StopToken* stop, ContentHash hash) {
    if (!target) return fail(target.error());
    auto impl = std::make_unique<PreparedFile::Impl>();
    impl->target = std::move(*target);
    PreparedFile file(std::move(impl));
    file.m_planned = planned;
    DisposalRecord& rec = file.m_record;
    rec.handling = std::move(handling);
    Target& t = file.m_impl->target;
    rec.size = static_cast<uint64_t>(t.st.st_size);
    if (hash == ContentHash::Read) {
        auto before = util::sha256_fd_hex(t.reader.get(), planned.path, stop);
        if (!before) return fail(before.error());
        rec.sha256_before = *before;
    }
    file.m_impl->hash_pending = hash == ContentHash::Overlap;
    describe_limits(t.fd(), t.st.st_dev, rec);
    return file;
}

Status use_disposal_folder(PreparedFile& file, int root_fd, UnusableFolder* unusable) {
    Target& t = file.m_impl->target;
    if (t.disposal) return {};
    auto folder = find_disposal_folder(root_fd, file.m_planned.path, t.st.st_dev, true, unusable);
    if (!folder) return fail(folder.error().with_context(file.m_planned.path));
    t.disposal = std::move(folder->fd);
    t.disposal_path = std::move(folder->path);
    return {};
}

Status detach(PreparedFile& file, const std::string& temp_name) {
    Target& t = file.m_impl->target;
    const std::string& path = file.m_planned.path;
    if (t.detached) return {};
    if (!t.disposal) {
        return fail(ErrorKind::Internal, fmt::format("{}: no disposal folder to move it to", path));
    }
    fault_point("before-detach");
#ifdef LETHE_TEST_HOOKS
    test_pause_at("before-detach", path);
#endif
    if (::renameat2(t.dir.get(), t.name.c_str(), t.disposal.get(), temp_name.c_str(),
                    RENAME_NOREPLACE) != 0) {
        const int err = errno;
        // Nothing was moved, so nothing is destroyed: the file is skipped with the reason.
        if (err == EXDEV) {
            return fail(ErrorKind::Refused,
                        fmt::format("{}: on another filesystem or mount than lethe's disposal "
                                    "folder {} (a bind mount?); left alone", path, t.disposal_path));
        }
        if (err == EACCES || err == EPERM || err == EROFS) {
            return fail(ErrorKind::Refused,
                        fmt::format("{}: its folder cannot be changed ({}: {}); left alone, "
                                    "nothing overwritten", path,
                                    err == EROFS ? "read-only filesystem" : "not writable or immutable",
                                    std::strerror(err)));
        }
        if (err == ENOENT) {
            return fail(ErrorKind::Refused,
                        fmt::format("{}: removed or renamed since it was checked; left alone", path));
        }
        return fail(Error(ErrorKind::Refused,
                          errno_error(fmt::format("move {} into {}", path, t.disposal_path), err)
                              .message() + "; left alone"));
    }
    fault_point("detached");
    struct stat moved {};
    std::string wrong;
    if (::fstatat(t.disposal.get(), temp_name.c_str(), &moved, AT_SYMLINK_NOFOLLOW) != 0) {
        wrong = fmt::format("cannot be checked after the move ({})", std::strerror(errno));
    } else if (moved.st_dev != t.st.st_dev || moved.st_ino != t.st.st_ino) {
        wrong = "was replaced (saved under the same name?) after it was checked";
    } else if (t.file && moved.st_nlink > 1) {
        wrong = fmt::format("has {} hard links now; overwriting would destroy the other names' "
                            "data", moved.st_nlink);
    }
    if (!wrong.empty()) {
        auto back = return_entry(t.disposal.get(), temp_name, t.dir.get(), t.name);
        if (!back) {
            return fail(ErrorKind::Io,
                        fmt::format("{}: {}, and it could not be put back ({}): it is in {} as "
                                    "{}; nothing of it was overwritten", path, wrong,
                                    back.error().message(), t.disposal_path, temp_name));
        }
        (void)util::fsync_fd(t.dir.get(), path);  // the rename back is what matters
        if (*back != t.name) {
            return fail(ErrorKind::Refused,
                        fmt::format("{}: {}; the entry lethe moved was put back as {} beside the "
                                    "newer one, untouched (rename it back by hand if it is "
                                    "wanted); left alone", path, wrong, *back));
        }
        return fail(ErrorKind::Refused,
                    fmt::format("{}: {}; put back untouched and left alone", path, wrong));
    }
    t.home = std::move(t.dir);
    t.home_name = std::move(t.name);
    t.dir = UniqueFd(::fcntl(t.disposal.get(), F_DUPFD_CLOEXEC, 0));
    if (!t.dir) return fail(errno_error("dup disposal folder", errno));
    t.name = temp_name;
    t.detached = true;
#ifdef LETHE_TEST_HOOKS
    test_pause_at("after-detach", path);
#endif
    return {};
}

Status overwrite(PreparedFile& file, const SanitizeOptions& options) {
    PreparedFile::Impl& impl = *file.m_impl;
    Target& t = impl.target;
    const std::string& path = file.m_planned.path;
    DisposalRecord& rec = impl.record;
    rec = file.m_record;
    if (!t.file) return fail(ErrorKind::Internal, fmt::format("{}: not prepared for overwrite", path));
    if (t.disposal && !t.detached) {
        return fail(ErrorKind::Internal, fmt::format("{}: not moved to the disposal folder", path));
    }
    if (options.passes < 1 || options.passes > 10) {
        return fail(ErrorKind::BadInput, "sanitize passes must be between 1 and 10");
    }
    const uint64_t size = static_cast<uint64_t>(t.st.st_size);
    struct stat now {};
    if (::fstat(t.file.get(), &now) != 0) return fail(errno_error(fmt::format("stat {}", path), errno));
    if (static_cast<uint64_t>(now.st_size) != size) {
        return fail(ErrorKind::Refused,
                    fmt::format("{}: size changed from {} to {} bytes since it was prepared "
                                "(in use); left alone", path, size, now.st_size));
    }
    rec.method = "file overwrite";
    rec.passes = options.passes + (options.final_zero ? 1 : 0);
    rec.pattern = options.final_zero ? "random+zero" : "random";

    auto ranges = data_ranges(t.file.get(), size, path);
    if (!ranges) return fail(ranges.error());
    impl.ranges = std::move(*ranges);
    impl.data_bytes = 0;
    for (const Range& r : impl.ranges) impl.data_bytes += r.length;
    if (impl.data_bytes < size) {
        rec.handling.push_back(fmt::format(
            "sparse file: {} of {} bytes are data in {} extents and were overwritten; the holes "
            "hold no data and were left as holes", impl.data_bytes, size, impl.ranges.size()));
    }

    const size_t capacity = buffer_size(blocks_of(impl.ranges));
    AlignedBuffer block = aligned_buffer(capacity);
    AlignedBuffer spare = aligned_buffer(capacity);
    if (!block || !spare) {
        return fail(ErrorKind::Internal, "out of memory for the overwrite buffer");
    }
    // The original content not hashed yet: hashed ahead of the first pass, which writes
    // nothing that a durable checkpoint of the hash does not cover.
    std::optional<HashAhead> ahead;
    if (impl.hash_pending) {
        if (!options.checkpoint) {
            return fail(ErrorKind::Internal,
                        fmt::format("{}: not hashed, and nowhere to record the hash", path));
        }
        ahead.emplace(t.reader.get(), size, path, options.checkpoint, hash_segment());
    }
    // A large file is written with direct I/O where the filesystem allows it: no copy of
    // every block into the page cache, and nothing left there for the truncation to free.
    UniqueFd direct;
    if (impl.data_bytes > hash_ahead_above()) direct = open_direct(t, O_WRONLY);
    for (int pass = 0; pass < rec.passes; ++pass) {
        bool zeros = options.final_zero && pass + 1 == rec.passes;
        auto pattern = Pattern::create(zeros);
        if (!pattern) return fail(pattern.error());
        if (impl.last_pattern) {
            // The pass before is durable before this one overwrites it.
            if (auto st = sync_data(t.file.get(), path); !st) return st;
        }
        // A large file's last pass is read back while it is written (O_DIRECT, each block
        // once its writeback completed; with verification off, only the writeback is waited
        // for), its pages dropped as it goes; a smaller one after the sync, by read_back().
        impl.early.reset();
        if (pass + 1 == rec.passes && impl.data_bytes > hash_ahead_above()) {
            impl.early = EarlyReadBack::start(t, blocks_of(impl.ranges), *pattern, path,
                                              options.verify);
        }
        if (auto st = write_pass(t.file.get(), direct.get(), impl.ranges, *pattern, block.get(),
                                 spare.get(), path, options.stop, ahead ? &*ahead : nullptr,
                                 impl.early.get());
            !st) {
            return fail(st.error());
        }
        if (ahead) {
            // Past the last data range (a trailing hole) is hashed too, and the digest is
            // durable in a final checkpoint before the file is truncated.
            auto digest = ahead->finish();
            if (!digest) return fail(digest.error());
            ahead.reset();
            rec.sha256_before = *digest;
            file.m_record.sha256_before = *digest;
            impl.hash_pending = false;
        }
        impl.last_pattern.emplace(std::move(*pattern));
        fault_point("overwrite-pass");
    }
#ifdef LETHE_TEST_HOOKS
    test_pause_at("overwritten", path);
#endif
    impl.overwritten = true;
    return {};
}

Result<std::string> finish_hash(const PreparedFile& file, const HashCheckpoint& from,
                                uint64_t size, const util::StopToken* stop) {
    if (!from.sha256.empty()) return from.sha256;
    const std::string& path = file.m_planned.path;
    auto hash = from.bytes == 0 ? Result<util::Sha256State>(util::Sha256State())
                                : util::Sha256State::import_state(from.state, from.bytes);
    if (!hash) return fail(hash.error().with_context(path));
    if (from.bytes > size) {
        return fail(ErrorKind::Refused,
                    fmt::format("{}: its hash checkpoint is past its size ({} > {} bytes)", path,
                                from.bytes, size));
    }
    const int fd = file.content_fd();
    ::posix_fadvise(fd, static_cast<off_t>(from.bytes), 0, POSIX_FADV_SEQUENTIAL);
    std::unique_ptr<char[]> block(new (std::nothrow) char[kBlock]);
    if (!block) return fail(ErrorKind::Internal, "out of memory for the hash buffer");
    uint64_t offset = from.bytes;
    while (offset < size) {
        ssize_t n = ::pread(fd, block.get(), static_cast<size_t>(std::min<uint64_t>(kBlock, size - offset)),
                            static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(errno_error(fmt::format("read {}", path), errno));
        if (n == 0) {
            return fail(ErrorKind::Refused,
                        fmt::format("{}: shorter ({} bytes) than when its overwrite began ({} "
                                    "bytes)", path, offset, size));
        }
        hash->update(block.get(), static_cast<size_t>(n));
        offset += static_cast<uint64_t>(n);
        if (asked_to_stop(stop)) return fail(util::stopped(fmt::format("hash {}", path)));
    }
    return hash->finish_hex();
}

Status sync_overwrite(PreparedFile& file) {
    PreparedFile::Impl& impl = *file.m_impl;
    if (!impl.overwritten) {
        return fail(ErrorKind::Internal, fmt::format("{}: not overwritten", file.m_planned.path));
    }
    if (auto st = sync_data(impl.target.file.get(), file.m_planned.path); !st) return st;
    impl.synced = true;
    return {};
}

Result<DisposalRecord> sanitize(PreparedFile& file, const std::string& temp_name,
                                const SanitizeOptions& options) {
    if (!file.disposal_folder().empty()) {
        if (auto st = detach(file, temp_name); !st) return fail(st.error());
    }
    if (auto st = overwrite(file, options); !st) return fail(st.error());
    if (auto st = sync_overwrite(file); !st) return fail(st.error());
    return complete_sanitize(file, temp_name, options);
}

namespace {

// The end of a detached file's sanitize: the verified, truncated entry takes its verified
// name in the disposal folder (the durable proof of the verified overwrite), then goes.
Result<DisposalRecord> finish_detached_sanitize(Target& t, const std::string& path,
                                                const std::string& temp_name,
                                                const SanitizeOptions& options,
                                                DisposalRecord rec) {
    const std::string verified = temp_name + std::string(kVerifiedSuffix);
    if (::renameat2(t.dir.get(), t.name.c_str(), t.dir.get(), verified.c_str(),
                    RENAME_NOREPLACE) != 0) {
        return fail(errno_error(fmt::format("rename {} (in {})", path, t.disposal_path), errno));
    }
    t.name = verified;
    if (options.sync_folder) {
        if (auto st = sync_dir(t.dir.get(), path); !st) return fail(st.error());
    }
    crash_point("after-rename");
    if (options.defer_unlink) return rec;
    if (::unlinkat(t.dir.get(), verified.c_str(), 0) != 0) {
        return fail(errno_error(fmt::format("unlink {} (moved to {})", path, t.disposal_path), errno));
    }
    if (auto st = sync_dir(t.dir.get(), path); !st) return fail(st.error());
    crash_point("after-unlink");
    return rec;
}

}  // namespace

Result<DisposalRecord> complete_sanitize(PreparedFile& file, const std::string& temp_name,
                                         const SanitizeOptions& options) {
    PreparedFile::Impl& impl = *file.m_impl;
    Target& t = impl.target;
    const std::string& path = file.m_planned.path;
    if (!impl.synced) {
        return fail(ErrorKind::Internal, fmt::format("{}: overwrite not synced", path));
    }
    DisposalRecord rec = impl.record;
    const uint64_t size = static_cast<uint64_t>(t.st.st_size);
    struct stat now {};
#ifdef LETHE_TEST_HOOKS
    if (!impl.early) maybe_inject_corruption(t.file.get(), size);
#endif
    Result<std::optional<ReadBackMismatch>> matched = std::nullopt;
    if (impl.early) {
        matched = impl.early->finish();
        impl.early.reset();
        if (options.verify) rec.read_back = "direct I/O (O_DIRECT)";
    } else if (options.verify) {
        matched = read_back(t, impl.ranges, *impl.last_pattern, rec.read_back, path, options.stop);
    }
    if (!matched) return fail(matched.error());
    if (*matched) {
        const ReadBackMismatch& m = **matched;
        file.m_mismatch = m;
        return fail(ErrorKind::Verification,
                    fmt::format("{}: read-back does not match what was written: first "
                                "difference at byte {}, in block {}; {} block(s) of 4 MiB differ; "
                                "the file is left in place (overwritten, not removed) and no "
                                "certificate is written",
                                path, m.first_difference, m.block, m.blocks));
    }
    // Another writer (one that ignores flocks) may have extended or cut the file meanwhile:
    // then what lies past the overwritten range was never overwritten.
    if (::fstat(t.file.get(), &now) != 0) return fail(errno_error(fmt::format("stat {}", path), errno));
    if (static_cast<uint64_t>(now.st_size) != size) {
        return fail(ErrorKind::Verification,
                    fmt::format("{}: its size changed from {} to {} bytes while it was being "
                                "overwritten (another process writes to it); left in place and "
                                "not certified", path, size, now.st_size));
    }
    rec.verified = options.verify;
    if (!options.verify) rec.read_back = std::string(kNoReadBack);
    if (size == 0 || impl.data_bytes == 0) {
        rec.verified = true;
        rec.read_back = size == 0 ? "nothing to overwrite: empty file"
                                  : "nothing to overwrite: the file is all holes";
    }
    // A link made meanwhile through a descriptor opened before the move (linkat of
    // /proc/PID/fd/N) cannot be prevented; the certificate says so.
    if (now.st_nlink > 1) rec.links_after_overwrite = now.st_nlink - 1;
    crash_point("after-overwrite");

    // Not synced on its own: the overwrite is durable and verified already, and what a crash
    // could undo here is only the emptying of a file of random bytes.
    if (::ftruncate(t.file.get(), 0) != 0) {
        return fail(errno_error(fmt::format("truncate {}", path), errno));
    }
    fault_point("truncate");
    if (t.detached) return finish_detached_sanitize(t, path, temp_name, options, rec);
    // The rename hides the original name (file names can themselves be confidential).
    if (::renameat2(t.dir.get(), t.name.c_str(), t.dir.get(), temp_name.c_str(),
                    RENAME_NOREPLACE) != 0) {
        return fail(errno_error(fmt::format("rename {}", path), errno));
    }
    if (options.sync_folder) {
        if (auto st = sync_dir(t.dir.get(), path); !st) return fail(st.error());
    }
    crash_point("after-rename");
    if (options.defer_unlink) return rec;
    if (::unlinkat(t.dir.get(), temp_name.c_str(), 0) != 0) {
        return fail(errno_error(fmt::format("unlink {} (renamed {})", path, temp_name), errno));
    }
    if (auto st = sync_dir(t.dir.get(), path); !st) return fail(st.error());
    crash_point("after-unlink");
    return rec;
}

Result<DisposalRecord> remove(PreparedFile& file) {
    Target& t = file.m_impl->target;
    const std::string& path = file.m_planned.path;
    DisposalRecord rec = file.m_record;
    rec.method = "unlink";
    rec.pattern = "none";
    rec.residual_risks.insert(rec.residual_risks.begin(),
                              "not overwritten: the data blocks are freed and remain on the "
                              "device until reused");
    if (t.st.st_nlink > 1) {
        rec.residual_risks.push_back(
            fmt::format("{} other hard links keep the content", t.st.st_nlink - 1));
    }
    if (t.disposal && !t.detached) {
        return fail(ErrorKind::Internal, fmt::format("{}: not moved to the disposal folder", path));
    }
    if (::unlinkat(t.dir.get(), t.name.c_str(), 0) != 0) {
        return fail(errno_error(fmt::format("unlink {}", path), errno));
    }
    if (auto st = sync_dir(t.dir.get(), path); !st) return fail(st.error());
    fault_point("delete-unlinked");
    struct stat gone {};
    rec.verified = ::fstatat(t.dir.get(), t.name.c_str(), &gone, AT_SYMLINK_NOFOLLOW) != 0 &&
                   errno == ENOENT;
    rec.read_back = "name no longer present after unlink";
    return rec;
}

Result<bool> finish_detached(int root_fd, const std::string& folder, const std::string& temp_name,
                             bool sync) {
    auto dir = open_disposal_folder(root_fd, folder, 0);
    if (!dir) return fail(dir.error());
    return finish_detached_in(dir->get(), folder, temp_name, sync);
}

Result<bool> finish_detached_in(int dir_fd, const std::string& folder,
                                const std::string& temp_name, bool sync) {
    bool removed = false;
    for (const std::string& name : {temp_name + std::string(kVerifiedSuffix), temp_name}) {
        struct stat st {};
        if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT) continue;
            return fail(errno_error(fmt::format("stat {}/{}", folder, name), errno));
        }
        if (!S_ISREG(st.st_mode)) {
            return fail(ErrorKind::Refused, fmt::format("{}/{}: not a regular file", folder, name));
        }
        if (::unlinkat(dir_fd, name.c_str(), 0) != 0) {
            return fail(errno_error(fmt::format("unlink {}/{}", folder, name), errno));
        }
        removed = true;
    }
    if (sync) {
        if (auto s = util::fsync_fd(dir_fd, folder); !s) return fail(s.error());
    }
    crash_point("after-unlink");
    return removed;
}

Status sync_disposal_folder(int root_fd, const std::string& folder) {
    auto dir = open_disposal_folder(root_fd, folder, 0);
    if (!dir) return fail(dir.error());
    return util::fsync_fd(dir->get(), folder);
}

Result<Detached> find_detached(int root_fd, const std::string& folder,
                               const std::string& temp_name) {
    auto dir = open_disposal_folder(root_fd, folder, 0);
    if (!dir) return fail(dir.error());
    struct stat st {};
    const std::string verified = temp_name + std::string(kVerifiedSuffix);
    if (::fstatat(dir->get(), verified.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
        return Detached::Verified;
    }
    if (::fstatat(dir->get(), temp_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
        return Detached::Moved;
    }
    if (errno != ENOENT) return fail(errno_error(fmt::format("stat {}/{}", folder, temp_name), errno));
    return Detached::Absent;
}

Result<std::string> put_back(int root_fd, const std::string& folder, const std::string& temp_name,
                             const std::string& planned_path) {
    auto dir = open_disposal_folder(root_fd, folder, 0);
    if (!dir) return fail(dir.error());
    auto home = util::open_beneath(root_fd, util::parent_of(planned_path), O_RDONLY | O_DIRECTORY);
    if (!home) return fail(home.error());
    auto name = return_entry(dir->get(), temp_name, home->get(),
                             std::string(util::name_of(planned_path)));
    if (!name) return fail(name.error().with_context(planned_path));
    if (auto st = util::fsync_fd(home->get(), planned_path); !st) return fail(st.error());
    if (auto st = util::fsync_fd(dir->get(), folder); !st) return fail(st.error());
    const std::string_view parent = util::parent_of(planned_path);
    return parent.empty() ? *name : fmt::format("{}/{}", parent, *name);
}

Status sync_folder(int root_fd, const std::string& planned_path) {
    auto dir = util::open_beneath(root_fd, util::parent_of(planned_path), O_RDONLY | O_DIRECTORY);
    if (!dir) return fail(dir.error());
    return sync_dir(dir->get(), planned_path);
}

Result<bool> finish_interrupted(int root_fd, const std::string& planned_path,
                                const std::string& temp_name, bool sync) {
    auto dir = util::open_beneath(root_fd, util::parent_of(planned_path), O_RDONLY | O_DIRECTORY);
    if (!dir) return fail(dir.error());
    struct stat st {};
    if (::fstatat(dir->get(), temp_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) return false;
        return fail(errno_error(fmt::format("stat {}", temp_name), errno));
    }
    if (!S_ISREG(st.st_mode)) {
        return fail(ErrorKind::Refused, fmt::format("{}: not a regular file", temp_name));
    }
    if (::unlinkat(dir->get(), temp_name.c_str(), 0) != 0) {
        return fail(errno_error(fmt::format("unlink {}", temp_name), errno));
    }
    if (sync) {
        if (auto s = util::fsync_fd(dir->get(), planned_path); !s) return fail(s.error());
    }
    crash_point("after-unlink");
    return true;
}

}  // namespace lethe::act

#include "agent/act/archive.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "agent/act/archive_pipe.hpp"
#include "agent/util/encoding.hpp"
#include "agent/util/fault.hpp"
#include "agent/util/fs.hpp"
#include "agent/util/sha256.hpp"

namespace lethe::act {

namespace {

constexpr size_t kBuffer = size_t{256} * 1024;
constexpr size_t kMaxManifest = size_t{256} << 20;
// The errno libarchive sets when no format it reads recognizes a stream ("Unrecognized
// archive format"): its ARCHIVE_ERRNO_FILE_FORMAT, which is EILSEQ where EFTYPE does not
// exist (Linux); that macro is not in its public headers.
constexpr int kNotThisFormat = EILSEQ;

struct ArchiveWriteDeleter {
    void operator()(struct archive* a) const { archive_write_free(a); }
};
struct ArchiveReadDeleter {
    void operator()(struct archive* a) const { archive_read_free(a); }
};
struct EntryDeleter {
    void operator()(struct archive_entry* e) const { archive_entry_free(e); }
};
using WritePtr = std::unique_ptr<struct archive, ArchiveWriteDeleter>;
using ReadPtr = std::unique_ptr<struct archive, ArchiveReadDeleter>;
using EntryPtr = std::unique_ptr<struct archive_entry, EntryDeleter>;

std::string archive_message(struct archive* a) {
    const char* m = archive_error_string(a);
    return m != nullptr ? m : "unknown libarchive error";
}

// A file given to read as an archive that lethe did not write: bad input, not a finding.
Error not_lethe_archive(const std::string& path, const std::string& why) {
    return Error(ErrorKind::BadInput, fmt::format("{} is not a lethe archive: {}", path, why));
}

// A name component that is safe in any filesystem: [A-Za-z0-9._-], the rest as '_'.
std::string safe_component(std::string_view s) {
    std::string out;
    for (char c : s.substr(0, 40)) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '_';
        out += ok ? c : '_';
    }
    if (out.empty() || out[0] == '.') return fmt::format("_{}", out);
    return out;
}

std::string archive_name(const ArchiveKey& key, const std::string& pass_id) {
    std::string name = fmt::format("lethe-{}", safe_component(key.root));
    if (key.client) name += fmt::format("-{}", safe_component(*key.client));
    if (key.matter) name += fmt::format("-{}", safe_component(*key.matter));
    // The exact key, hashed, keeps two clients whose names sanitize alike apart.
    std::string exact = key.root + '\0' + key.client.value_or("") + '\0' + key.matter.value_or("") +
                        '\0' + (key.client ? "c" : "") + (key.matter ? "m" : "");
    name += fmt::format("-{}-{}", util::sha256_hex(exact).substr(0, 8), safe_component(pass_id));
    name += key.encrypted ? ".tar.zst.age" : ".tar.zst";
    return name;
}

nlohmann::json member_json(const ArchiveMember& m) {
    nlohmann::json j = {{"sha256", m.sha256}, {"size", m.size}, {"mtime", m.mtime},
                        {"mode", m.mode},     {"uid", m.uid},   {"gid", m.gid}};
    j["path"] = util::utf8_display(m.path);
    if (!util::is_valid_utf8(m.path)) j["path_b64"] = util::base64_encode(m.path);
    return j;
}

Result<ArchiveMember> member_from_json(const nlohmann::json& j) {
    try {
        ArchiveMember m;
        if (j.contains("path_b64")) {
            auto raw = util::base64_decode(j.at("path_b64").get<std::string>());
            if (!raw) return fail(ErrorKind::Verification, "manifest: bad path_b64");
            m.path = *raw;
        } else {
            m.path = j.at("path").get<std::string>();
        }
        m.sha256 = j.at("sha256").get<std::string>();
        m.size = j.at("size").get<uint64_t>();
        m.mtime = j.at("mtime").get<int64_t>();
        m.mode = j.at("mode").get<uint32_t>();
        m.uid = j.at("uid").get<uint32_t>();
        m.gid = j.at("gid").get<uint32_t>();
        return m;
    } catch (const nlohmann::json::exception& e) {
        return fail(ErrorKind::Verification, fmt::format("manifest: {}", e.what()));
    }
}

// Reads an archive stream from `source` with libarchive: hashes each data member, hands it
// to `visit`, and checks everything against the manifest at the end.
class StreamReader {
public:
    explicit StreamReader(age::Source source) : m_source(std::move(source)), m_buf(kBuffer, '\0') {}
    // Reads blocks handed over without a copy: each valid until the next call, empty at the end.
    using BlockSource = std::function<Result<std::string_view>()>;
    explicit StreamReader(BlockSource blocks) : m_blocks(std::move(blocks)), m_buf(kBuffer, '\0') {}

    // `not_tar` says what the stream is when it turns out not to be a tar at all (e.g. "it
    // decrypts to something that is not a zstd-compressed tar"): then, and when it holds no
    // manifest, the file is not a lethe archive (ErrorKind::BadInput), not a damaged one.
    // Empty when the stream is known to be lethe's (the writer's read-back): any such
    // failure is then ErrorKind::Verification.
    Result<std::vector<ArchiveMember>> run(const std::string& what, const MemberVisitor& visit,
                                           const std::string& not_tar = {}) {
        ReadPtr a(archive_read_new());
        if (!a) return fail(ErrorKind::Internal, "libarchive: out of memory");
        archive_read_support_filter_zstd(a.get());
        archive_read_support_format_tar(a.get());
        if (archive_read_open(a.get(), this, nullptr, &StreamReader::read_cb, nullptr) != ARCHIVE_OK) {
            if (!not_tar.empty() && !m_error &&
                archive_errno(a.get()) == kNotThisFormat) {
                return fail(not_lethe_archive(what, not_tar));
            }
            return fail(stream_error(what, a.get()));
        }
        std::optional<std::vector<ArchiveMember>> manifest;
        std::vector<ArchiveMember> found;
        std::set<std::string> seen;
        bool any_header = false;
        for (;;) {
            struct archive_entry* entry = nullptr;
            int rc = archive_read_next_header(a.get(), &entry);
            if (rc == ARCHIVE_EOF) break;
            if (rc < ARCHIVE_WARN) {
                // The first header is where libarchive finds that the stream is no tar.
                if (!not_tar.empty() && !any_header && !m_error &&
                    archive_errno(a.get()) == kNotThisFormat) {
                    return fail(not_lethe_archive(what, not_tar));
                }
                return fail(stream_error(what, a.get()));
            }
            any_header = true;
            std::string path = archive_entry_pathname(entry) != nullptr
                                   ? archive_entry_pathname(entry) : "";
            // Folders (GNU tar writes them) carry no content; anything else is suspect.
            if (archive_entry_filetype(entry) == AE_IFDIR) continue;
            if (archive_entry_filetype(entry) != AE_IFREG) {
                return fail(ErrorKind::Verification,
                            fmt::format("{}: unexpected non-file member '{}'", what,
                                        util::utf8_display(path)));
            }
            if (!seen.insert(path).second) {
                return fail(ErrorKind::Verification,
                            fmt::format("{}: member '{}' appears twice", what,
                                        util::utf8_display(path)));
            }
            util::Sha256 hash;
            uint64_t size = 0;
            std::string manifest_text;
            bool is_manifest = path == kManifestMember;
            bool read_by_visitor = false;
            MemberContent content = [&](char* buf, size_t n) -> Result<size_t> {
                read_by_visitor = true;
                la_ssize_t got = archive_read_data(a.get(), buf, n);
                if (got < 0) return fail(stream_error(what, a.get()));
                hash.update(buf, static_cast<size_t>(got));
                size += static_cast<uint64_t>(got);
                return static_cast<size_t>(got);
            };
            ArchiveMember m;
            m.path = path;
            m.size = static_cast<uint64_t>(archive_entry_size(entry));
            m.mtime = archive_entry_mtime(entry);
            m.mode = static_cast<uint32_t>(archive_entry_perm(entry));
            m.uid = static_cast<uint32_t>(archive_entry_uid(entry));
            m.gid = static_cast<uint32_t>(archive_entry_gid(entry));
            if (!is_manifest && visit) {
                if (auto st = visit(m, content); !st) return fail(st.error());
            }
            // Whatever the visitor did not read is read and hashed here: in libarchive's own
            // blocks when nothing was read yet (no copy), else through content().
            for (;;) {
                std::string_view block;
                if (!read_by_visitor) {
                    const void* data = nullptr;
                    size_t n = 0;
                    la_int64_t offset = 0;
                    int got = archive_read_data_block(a.get(), &data, &n, &offset);
                    if (got == ARCHIVE_EOF) break;
                    if (got < ARCHIVE_WARN) return fail(stream_error(what, a.get()));
                    if (offset < 0 || static_cast<uint64_t>(offset) < size) {
                        return fail(ErrorKind::Verification,
                                    fmt::format("{}: member '{}' is malformed", what,
                                                util::utf8_display(path)));
                    }
                    // A hole (sparse member) reads as zeros, as archive_read_data() gives it.
                    for (uint64_t gap = static_cast<uint64_t>(offset) - size; gap > 0;) {
                        size_t z = static_cast<size_t>(std::min<uint64_t>(gap, m_zeros.size()));
                        hash.update(m_zeros.data(), z);
                        size += z;
                        gap -= z;
                        if (is_manifest) return fail(ErrorKind::Verification,
                                                     fmt::format("{}: sparse manifest", what));
                    }
                    block = std::string_view(static_cast<const char*>(data), n);
                    hash.update(block);
                    size += n;
                } else {
                    auto n = content(m_buf.data(), m_buf.size());
                    if (!n) return fail(n.error());
                    if (*n == 0) break;
                    block = std::string_view(m_buf.data(), *n);
                }
                if (is_manifest) {
                    if (manifest_text.size() + block.size() > kMaxManifest) {
                        return fail(ErrorKind::Verification, fmt::format("{}: manifest too large", what));
                    }
                    manifest_text.append(block);
                }
            }
            if (size != m.size) {
                return fail(ErrorKind::Verification,
                            fmt::format("{}: member '{}' is truncated", what, util::utf8_display(path)));
            }
            m.sha256 = hash.finish_hex();
            if (is_manifest) {
                auto parsed = parse_manifest(manifest_text, what);
                if (!parsed) return fail(parsed.error());
                manifest = std::move(*parsed);
            } else {
                found.push_back(std::move(m));
            }
        }
        if (!manifest) {
            if (not_tar.empty()) {
                return fail(ErrorKind::Verification,
                            fmt::format("{}: no manifest ({})", what, kManifestMember));
            }
            // The stream ended cleanly (a cut archive fails above): a tar lethe did not write.
            return fail(not_lethe_archive(
                what, any_header ? fmt::format("it is a tar without lethe's manifest ({})",
                                               kManifestMember)
                                 : "it is an empty tar (no manifest, no file)"));
        }
        std::map<std::string, const ArchiveMember*> listed;
        for (const auto& m : *manifest) listed[m.path] = &m;
        if (listed.size() != found.size()) {
            return fail(ErrorKind::Verification,
                        fmt::format("{}: the manifest lists {} files, the archive holds {}", what,
                                    listed.size(), found.size()));
        }
        for (const auto& m : found) {
            auto it = listed.find(m.path);
            if (it == listed.end() || it->second->sha256 != m.sha256 || it->second->size != m.size) {
                return fail(ErrorKind::Verification,
                            fmt::format("{}: member '{}' does not match the manifest's SHA-256", what,
                                        util::utf8_display(m.path)));
            }
        }
        return *manifest;
    }

private:
    static la_ssize_t read_cb(struct archive* a, void* self_ptr, const void** out) {
        auto* self = static_cast<StreamReader*>(self_ptr);
        if (self->m_blocks) {
            auto block = self->m_blocks();
            if (!block) {
                self->m_error = block.error();
                archive_set_error(a, EIO, "%s", block.error().message().c_str());
                return -1;
            }
            *out = block->data();
            return static_cast<la_ssize_t>(block->size());
        }
        auto n = self->m_source(self->m_buf_in.data(), self->m_buf_in.size());
        if (!n) {
            self->m_error = n.error();
            archive_set_error(a, EIO, "%s", n.error().message().c_str());
            return -1;
        }
        *out = self->m_buf_in.data();
        return static_cast<la_ssize_t>(*n);
    }

    Error stream_error(const std::string& what, struct archive* a) const {
        if (m_error) return m_error->with_context(what);
        return Error(ErrorKind::Verification, fmt::format("{}: {}", what, archive_message(a)));
    }

    static Result<std::vector<ArchiveMember>> parse_manifest(const std::string& text,
                                                            const std::string& what) {
        auto j = nlohmann::json::parse(text, nullptr, false);
        if (j.is_discarded() || !j.is_object() || !j.contains("members") ||
            !j["members"].is_array()) {
            return fail(ErrorKind::Verification, fmt::format("{}: the manifest is not valid", what));
        }
        std::vector<ArchiveMember> out;
        for (const auto& mj : j["members"]) {
            auto m = member_from_json(mj);
            if (!m) return fail(m.error().with_context(what));
            out.push_back(std::move(*m));
        }
        return out;
    }

    age::Source m_source;
    BlockSource m_blocks;
    std::string m_buf;
    std::string m_buf_in = std::string(kBuffer, '\0');
    std::string m_zeros = std::string(size_t{64} * 1024, '\0');
    std::optional<Error> m_error;
};

// A source that decrypts `inner` with a Decryptor created on first use.
age::Source decrypting_source(const std::shared_ptr<age::Decryptor>& dec) {
    return [dec](char* buf, size_t n) { return dec->read(buf, n); };
}

// zstd compresses on every CPU where libarchive allows it (a failure only costs speed).
bool set_compression_threads(struct archive* a) {
    long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
    std::string n = std::to_string(cpus > 0 ? cpus : 1);
    if (archive_write_set_filter_option(a, "zstd", "threads", n.c_str()) < ARCHIVE_WARN) {
        archive_clear_error(a);
    }
    return true;
}

#ifdef LETHE_TEST_HOOKS
// Test-only fault: LETHE_TEST_CORRUPT_ARCHIVE=at:<n> (or end:<n>, n bytes before the end)
// flips one byte of the archive on disk after it is written and before the last of it is
// read back, to prove that commit() then renames nothing.
void maybe_corrupt_archive(int dir_fd, const std::string& name) {
    const char* hook = std::getenv("LETHE_TEST_CORRUPT_ARCHIVE");
    if (hook == nullptr) return;
    UniqueFd fd(::openat(dir_fd, name.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) != 0) return;
    bool from_end = std::strncmp(hook, "end:", 4) == 0;
    uint64_t n = std::strtoull(hook + 4, nullptr, 10);
    uint64_t size = static_cast<uint64_t>(st.st_size);
    if (n >= size || (from_end && n == 0)) return;
    auto at = static_cast<off_t>(from_end ? size - n : n);
    char byte = 0;
    if (::pread(fd.get(), &byte, 1, at) != 1) return;
    byte = static_cast<char>(byte ^ 0x01);
    [[maybe_unused]] auto written = ::pwrite(fd.get(), &byte, 1, at);
}
#else
void maybe_corrupt_archive(int, const std::string&) {}
#endif

}  // namespace

// ---- Writer ----------------------------------------------------------------------------
//
// Four threads share the work, so that the two cores (and zstd's own workers) stay busy:
// - the caller's thread reads each source once, hashes it and feeds libarchive, whose zstd
//   filter compresses on its worker threads; the compressed bytes go to `compressed`;
// - the output thread encrypts them (age), hashes the archive bytes and writes the file,
//   with direct I/O where it can;
// - the read-back thread waits until a segment of the file is written, fdatasyncs it, reads
//   it back from the disk (O_DIRECT; else the segment's cached pages are dropped first),
//   hashes it (a plain archive only) and hands it to `read_back`;
// - the check thread decrypts and decompresses what was read back and hashes every member.
// commit() fsyncs the whole file, lets the read-back thread read the rest, and renames the
// archive only when every byte read back is proven to be what was written and every member
// has its hash. (The threads are named, for `top -H` and `perf`.)

namespace {

constexpr size_t kChunk = size_t{1} << 20;           // blocks between the threads
constexpr size_t kQueueDepth = 8;                     // blocks in flight per queue
constexpr uint64_t kSegment = uint64_t{8} << 20;      // fdatasync and read back this often
constexpr uint64_t kPage = pipe::kAlignment;


// What the output thread has written, for the read-back thread. Thread safe.
struct Progress {
    std::mutex mutex;
    std::condition_variable changed;
    uint64_t written = 0;       // bytes written to the file so far (all of them complete)
    bool output_done = false;   // the output thread wrote everything and stopped
    bool synced_all = false;    // commit() fsynced the whole file: read it to the end
    bool stop = false;          // the archive is being abandoned

    void update(const std::function<void(Progress&)>& change) {
        {
            std::lock_guard<std::mutex> lock(mutex);
            change(*this);
        }
        changed.notify_all();
    }
};

// The first error of a thread, kept for the caller. Thread safe.
class FirstError {
public:
    void set(const Error& e) {
        std::lock_guard<std::mutex> lock(m_mutex);
        if (!m_error) m_error = e;
    }
    [[nodiscard]] std::optional<Error> get() const {
        std::lock_guard<std::mutex> lock(m_mutex);
        return m_error;
    }

private:
    mutable std::mutex m_mutex;
    std::optional<Error> m_error;
};

}  // namespace

struct ArchiveWriter::Impl {
    UniqueFd dir;
    std::string destination;
    std::string name;
    std::string partial;
    UniqueFd out;
    WritePtr archive;
    std::optional<age::Encryptor> encryptor;
    std::optional<age::FileKey> file_key;
    std::vector<ArchiveMember> members;
    bool abandoned = false;
    bool committed = false;
    std::string buffer = std::string(kBuffer, '\0');
    std::atomic<const util::StopToken*> stop{nullptr};  // commit()'s, for the read-back thread

    // Caller's thread -> output thread: compressed bytes.
    pipe::ChunkQueue compressed{kQueueDepth, kChunk};
    pipe::Chunk filling;  // the block write_cb is filling
    // Output thread only (and create(), before it starts): archive bytes not yet written,
    // in a block aligned for direct I/O, and whether `out` still writes with O_DIRECT.
    std::unique_ptr<char, pipe::FreeDeleter> out_block;
    size_t out_len = 0;
    bool out_direct = false;
    util::Sha256 file_hash;  // of the archive bytes as written
    uint64_t bytes = 0;
    FirstError output_error;
    Progress progress;
    std::thread output_thread;

    // Read-back thread -> check thread: the file's bytes as read back from the disk.
    pipe::ChunkQueue read_back{kQueueDepth, kChunk};
    // Read-back thread only: the hash of the bytes read back, for a plain archive. An
    // encrypted one needs none (see commit()).
    std::optional<util::Sha256> reread_hash;
    uint64_t reread_bytes = 0;
    std::string read_back_how;
    FirstError read_back_error;
    std::thread read_back_thread;
    // Check thread.
    std::vector<ArchiveMember> checked;  // the members read back, once checked
    bool check_authenticated = false;    // every byte read back decrypted and authenticated
    std::optional<Error> check_error;
    std::thread check_thread;

    // Appends archive bytes to the output block, writing each full block out.
    Status to_disk(std::string_view data) {
        while (!data.empty()) {
            size_t take = std::min(data.size(), kChunk - out_len);
            std::memcpy(out_block.get() + out_len, data.data(), take);
            out_len += take;
            data.remove_prefix(take);
            if (out_len == kChunk) {
                if (auto st = flush(false); !st) return st;
            }
        }
        return {};
    }

    // Writes the whole pages of the output block (everything when `last`); the rest, less
    // than a page, moves to its front.
    Status flush(bool last) {
        size_t n = last ? out_len : out_len / kPage * kPage;
        if (n == 0) return {};
        if (auto st = write_out(out_block.get(), n); !st) return st;
        file_hash.update(out_block.get(), n);
        bytes += n;
        std::memmove(out_block.get(), out_block.get() + n, out_len - n);
        out_len -= n;
        uint64_t now = bytes;
        progress.update([now](Progress& p) { p.written = now; });
        return {};
    }

    // Direct I/O spares the copy of every byte into the page cache (the costliest part of
    // writing); the file's last partial page, a short write or a filesystem that refuses
    // a direct write goes through the page cache instead. Either way commit() fsyncs.
    Status write_out(const char* data, size_t n) {
        while (n > 0) {
            if (out_direct && (n % kPage != 0 || bytes % kPage != 0)) buffered_out();
            ssize_t got = ::write(out.get(), data, n);
            if (got < 0 && errno == EINTR) continue;
            if (got < 0 && errno == EINVAL && out_direct) {
                buffered_out();
                continue;
            }
            if (got < 0) return fail(errno_error(fmt::format("write {}", partial), errno));
            if (got == 0) return fail(ErrorKind::Io, fmt::format("write {}: no progress", partial));
            data += got;
            n -= static_cast<size_t>(got);
            if (n > 0) buffered_out();
        }
        return {};
    }

    void buffered_out() {
        int flags = ::fcntl(out.get(), F_GETFL);
        if (flags >= 0) ::fcntl(out.get(), F_SETFL, flags & ~O_DIRECT);
        out_direct = false;
    }

    void output_loop() {
        ::pthread_setname_np(::pthread_self(), "archive-output");
        for (;;) {
            pipe::Chunk c = compressed.pop();
            if (!c) break;
            Status st = encryptor ? encryptor->write(c.view()) : to_disk(c.view());
            compressed.release(std::move(c));
            if (!st) return output_failed(st.error());
        }
        if (compressed.aborted()) return;
        Status st = encryptor ? encryptor->finish() : Status{};
        if (st) st = flush(true);
        if (!st) return output_failed(st.error());
        progress.update([](Progress& p) { p.output_done = true; });
    }

    void output_failed(const Error& e) {
        output_error.set(e);
        compressed.abort();
        progress.update([](Progress& p) { p.stop = true; });
    }

    static la_ssize_t write_cb(struct archive*, void* self_ptr, const void* data, size_t n) {
        auto* self = static_cast<Impl*>(self_ptr);
        if (self->abandoned) return static_cast<la_ssize_t>(n);
        std::string_view bytes(static_cast<const char*>(data), n);
        while (!bytes.empty()) {
            if (!self->filling) {
                self->filling = self->compressed.acquire();
                if (!self->filling) {
                    self->output_failed(Error(ErrorKind::Internal, "out of memory"));
                    return -1;
                }
            }
            size_t take = std::min(bytes.size(), self->filling.room());
            std::memcpy(self->filling.data.get() + self->filling.size, bytes.data(), take);
            self->filling.size += take;
            bytes.remove_prefix(take);
            if (self->filling.room() == 0) {
                if (!self->compressed.push(std::move(self->filling))) return -1;
                self->filling = {};
            }
        }
        return static_cast<la_ssize_t>(n);
    }

    // The end of the compressed stream: the output thread then finishes the file.
    static int close_cb(struct archive*, void* self_ptr) {
        auto* self = static_cast<Impl*>(self_ptr);
        if (self->abandoned) return ARCHIVE_OK;
        if (self->filling && self->filling.size > 0 &&
            !self->compressed.push(std::move(self->filling))) {
            return ARCHIVE_FATAL;
        }
        self->filling = {};
        self->compressed.close();
        return ARCHIVE_OK;
    }

    // Reads the file back from the disk as it is written: each segment once it is synced,
    // the rest once commit() has fsynced the whole file.
    void read_back_loop() {
        ::pthread_setname_np(::pthread_self(), "archive-reread");
        UniqueFd direct(::openat(dir.get(), (name + ".partial").c_str(),
                                 O_RDONLY | O_DIRECT | O_CLOEXEC | O_NOFOLLOW));
        UniqueFd buffered;
        struct stat a {};
        struct stat b {};
        if (direct && (::fstat(direct.get(), &a) != 0 || ::fstat(out.get(), &b) != 0 ||
                       a.st_ino != b.st_ino || a.st_dev != b.st_dev)) {
            direct.reset();
        }
        int fd = direct.get();
        if (!direct) {
            buffered.reset(::openat(dir.get(), (name + ".partial").c_str(),
                                    O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
            if (!buffered) {
                return read_back_failed(errno_error(fmt::format("re-read {}", partial), errno));
            }
            fd = buffered.get();
        }
        read_back_how = direct ? "direct I/O (O_DIRECT)"
                               : "page cache dropped after sync (POSIX_FADV_DONTNEED)";
        uint64_t offset = 0;
        for (;;) {
            uint64_t upto = 0;
            bool last = false;
            {
                std::unique_lock<std::mutex> lock(progress.mutex);
                progress.changed.wait(lock, [&] {
                    return progress.stop || progress.synced_all ||
                           progress.written >= offset + kSegment;
                });
                if (progress.stop) return read_back.abort();
                last = progress.synced_all;
                upto = progress.written;
            }
            // Everything below `upto` is written; fdatasync makes it durable before it is
            // read back (commit() has fsynced the whole file before `synced_all`).
            if (!last && ::fdatasync(out.get()) != 0) {
                return read_back_failed(errno_error(fmt::format("fdatasync {}", partial), errno));
            }
            uint64_t end = last ? upto : upto / kPage * kPage;
            if (!direct) {
                ::posix_fadvise(fd, static_cast<off_t>(offset), static_cast<off_t>(end - offset),
                                POSIX_FADV_DONTNEED);
            }
            while (offset < end) {
                pipe::Chunk c = read_back.acquire();
                if (!c) return read_back_failed(Error(ErrorKind::Internal, "out of memory"));
                uint64_t want = std::min<uint64_t>(c.capacity, (end - offset + kPage - 1) / kPage * kPage);
                ssize_t got = ::pread(fd, c.data.get(), static_cast<size_t>(want),
                                      static_cast<off_t>(offset));
                if (got < 0 && errno == EINTR) continue;
                if (got < 0) {
                    return read_back_failed(errno_error(fmt::format("re-read {}", partial), errno));
                }
                uint64_t n = std::min<uint64_t>(static_cast<uint64_t>(got), end - offset);
                if (n == 0 || (n < end - offset && n % kPage != 0)) {
                    return read_back_failed(Error(
                        ErrorKind::Verification,
                        fmt::format("{}: read back {} bytes of {}", partial, offset + n, end)));
                }
                c.size = static_cast<size_t>(n);
                if (reread_hash) reread_hash->update(c.data.get(), c.size);
                offset += n;
                reread_bytes = offset;
                if (!read_back.push(std::move(c))) return;
                const util::StopToken* asked = stop.load();
                if (asked != nullptr && asked->stop_requested()) {
                    return read_back_failed(util::stopped(fmt::format("re-read {}", partial)));
                }
            }
            if (last) break;
        }
        // Nothing may follow what was written.
        struct stat now {};
        if (::fstat(fd, &now) != 0 || static_cast<uint64_t>(now.st_size) != offset) {
            return read_back_failed(Error(ErrorKind::Verification,
                                          fmt::format("{}: longer on disk than written", partial)));
        }
        read_back.close();
    }

    void read_back_failed(const Error& e) {
        read_back_error.set(e);
        read_back.abort();
    }

    // Decrypts and decompresses what is read back and checks every member.
    void check_loop() {
        ::pthread_setname_np(::pthread_self(), "archive-check");
        auto current = std::make_shared<pipe::Chunk>();
        auto pos = std::make_shared<size_t>(0);
        pipe::ChunkQueue* q = &read_back;
        // The blocks read back, in order, each kept until the next is asked for.
        auto next_block = [q, current]() -> std::string_view {
            q->release(std::move(*current));
            *current = q->pop();
            return current->view();
        };
        StreamReader::BlockSource blocks = [next_block]() -> Result<std::string_view> {
            return next_block();
        };
        std::shared_ptr<age::Decryptor> dec;
        if (file_key) {
            age::Source raw = [next_block, current, pos](char* buf, size_t n) -> Result<size_t> {
                while (*pos == current->size) {
                    *pos = 0;
                    if (next_block().empty() && !*current) return size_t{0};
                }
                size_t take = std::min(n, current->size - *pos);
                std::memcpy(buf, current->data.get() + *pos, take);
                *pos += take;
                return take;
            };
            auto started = age::Decryptor::start_with_file_key(*file_key, raw);
            if (!started) return check_failed(started.error());
            dec = std::make_shared<age::Decryptor>(std::move(*started));
            blocks = [dec]() { return dec->read_chunk(); };
        }
        StreamReader reader(blocks);
        auto listed = reader.run(partial, nullptr);
        if (!listed) return check_failed(listed.error());
        checked = std::move(*listed);
        // The rest of the stream (after the tar end) is read too: every age chunk up to the
        // final one must authenticate, and the read-back thread must not wait for a reader.
        for (;;) {
            auto block = blocks();
            if (!block) return check_failed(block.error());
            if (block->empty()) break;
        }
        q->release(std::move(*current));
        check_authenticated = dec != nullptr;
    }

    void check_failed(const Error& e) {
        check_error = e;
        read_back.abort();
    }

    // Stops and joins every thread (in any state).
    void stop_threads() {
        compressed.abort();
        read_back.abort();
        progress.update([](Progress& p) { p.stop = true; });
        for (std::thread* t : {&output_thread, &read_back_thread, &check_thread}) {
            if (t->joinable()) t->join();
        }
    }

    // The error to report for a failed libarchive call: a thread's, else libarchive's.
    Error archive_error(std::string_view what) {
        if (auto e = output_error.get()) return e->with_context(fmt::format("archive {}", partial));
        return Error(ErrorKind::Io, fmt::format("archive {}: {}: {}", partial, what,
                                                archive_message(archive.get())));
    }

    void abandon() {
        if (committed) return;
        abandoned = true;
        stop_threads();
        archive.reset();
        out.reset();
        if (dir && !name.empty()) {
            ::unlinkat(dir.get(), (name + ".partial").c_str(), 0);
            ::fsync(dir.get());
        }
    }
};

ArchiveWriter::ArchiveWriter(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
ArchiveWriter::ArchiveWriter(ArchiveWriter&&) noexcept = default;
ArchiveWriter& ArchiveWriter::operator=(ArchiveWriter&&) noexcept = default;
ArchiveWriter::~ArchiveWriter() {
    if (m_impl) {
        m_impl->abandon();
        m_impl->stop_threads();
    }
}

const std::string& ArchiveWriter::partial_path() const { return m_impl->partial; }
size_t ArchiveWriter::member_count() const { return m_impl->members.size(); }

Result<ArchiveWriter> ArchiveWriter::create(const std::string& destination, const ArchiveKey& key,
                                            const std::string& pass_id,
                                            const std::vector<age::Recipient>& recipients) {
    if (key.encrypted && recipients.empty()) {
        return fail(ErrorKind::Refused,
                    "an encrypted archive needs [archive] recipients in the config");
    }
    auto impl = std::make_unique<Impl>();
    impl->destination = destination;
    int dfd = ::open(destination.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        return fail(errno_error(fmt::format("archive destination {}", destination), errno));
    }
    impl->dir.reset(dfd);
    impl->name = archive_name(key, pass_id);
    impl->partial = destination + "/" + impl->name + ".partial";
    int fd = ::openat(impl->dir.get(), (impl->name + ".partial").c_str(),
                      O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return fail(errno_error(fmt::format("create {}", impl->partial), errno));
    impl->out.reset(fd);
    // Written with direct I/O where the filesystem takes it (see write_out()).
    int flags = ::fcntl(fd, F_GETFL);
    impl->out_direct = flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_DIRECT) == 0;
    impl->out_block.reset(static_cast<char*>(std::aligned_alloc(pipe::kAlignment, kChunk)));
    if (!impl->out_block) {
        impl->abandon();
        return fail(ErrorKind::Internal, "archive: out of memory");
    }
    if (!key.encrypted) impl->reread_hash.emplace();
    if (key.encrypted) {
        Impl* raw = impl.get();
        auto enc = age::Encryptor::start(recipients,
                                         [raw](std::string_view d) { return raw->to_disk(d); });
        if (!enc) {
            impl->abandon();
            return fail(enc.error());
        }
        impl->file_key.emplace(enc->file_key());
        impl->encryptor.emplace(std::move(*enc));
    }
    impl->archive.reset(archive_write_new());
    struct archive* a = impl->archive.get();
    if (a == nullptr || archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        archive_write_add_filter_zstd(a) != ARCHIVE_OK ||
        // Level 3, as `zstd -3` (libarchive's default too, set here so that it stays so).
        archive_write_set_filter_option(a, "zstd", "compression-level", "3") < ARCHIVE_WARN ||
        archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
        !set_compression_threads(a)) {
        Error e = a == nullptr ? Error(ErrorKind::Internal, "libarchive: out of memory")
                               : impl->archive_error("open");
        impl->abandon();
        return fail(e);
    }
    Impl* s = impl.get();
    try {
        s->output_thread = std::thread([s] { s->output_loop(); });
        s->read_back_thread = std::thread([s] { s->read_back_loop(); });
        s->check_thread = std::thread([s] { s->check_loop(); });
    } catch (const std::system_error& e) {
        impl->abandon();
        return fail(ErrorKind::Internal, fmt::format("archive {}: cannot start a thread: {}",
                                                     impl->partial, e.what()));
    }
    if (archive_write_open2(a, s, nullptr, &Impl::write_cb, &Impl::close_cb, nullptr) !=
        ARCHIVE_OK) {
        Error e = impl->archive_error("open");
        impl->abandon();
        return fail(e);
    }
    return ArchiveWriter(std::move(impl));
}

Status ArchiveWriter::add(int fd, const ArchiveMember& member, const util::StopToken* stop) {
    Impl& s = *m_impl;
    if (s.abandoned || s.committed) return fail(ErrorKind::Internal, "archive writer is closed");
    EntryPtr entry(archive_entry_new2(s.archive.get()));
    archive_entry_copy_pathname(entry.get(), member.path.c_str());
    archive_entry_set_filetype(entry.get(), AE_IFREG);
    archive_entry_set_perm(entry.get(), member.mode & 07777);
    archive_entry_set_size(entry.get(), static_cast<la_int64_t>(member.size));
    archive_entry_set_mtime(entry.get(), member.mtime, 0);
    archive_entry_set_uid(entry.get(), member.uid);
    archive_entry_set_gid(entry.get(), member.gid);
    if (archive_write_header(s.archive.get(), entry.get()) < ARCHIVE_WARN) {
        Error e = s.archive_error(fmt::format("add {}", util::utf8_display(member.path)));
        s.abandon();
        return fail(e);
    }
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    util::Sha256 hash;
    uint64_t offset = 0;
    while (offset < member.size) {
        size_t want = static_cast<size_t>(std::min<uint64_t>(s.buffer.size(), member.size - offset));
        ssize_t got = ::pread(fd, s.buffer.data(), want, static_cast<off_t>(offset));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            Error e = got < 0 ? errno_error(fmt::format("read {}", util::utf8_display(member.path)), errno)
                              : Error(ErrorKind::Verification,
                                      fmt::format("{}: shrank while being archived",
                                                  util::utf8_display(member.path)));
            s.abandon();
            return fail(e);
        }
        hash.update(s.buffer.data(), static_cast<size_t>(got));
        if (archive_write_data(s.archive.get(), s.buffer.data(), static_cast<size_t>(got)) < 0) {
            Error e = s.archive_error(fmt::format("write {}", util::utf8_display(member.path)));
            s.abandon();
            return fail(e);
        }
        offset += static_cast<uint64_t>(got);
        if (stop != nullptr && stop->stop_requested()) {
            s.abandon();
            return fail(util::stopped(fmt::format("archive {}", util::utf8_display(member.path))));
        }
    }
    std::string sha256 = hash.finish_hex();
    if (!member.sha256.empty() && sha256 != member.sha256) {
        s.abandon();
        return fail(ErrorKind::Verification,
                    fmt::format("{}: changed while being archived; the archive was abandoned and "
                                "no source was removed", util::utf8_display(member.path)));
    }
    s.members.push_back(member);
    s.members.back().sha256 = std::move(sha256);
    util::fault_point("archive-member");
    return {};
}

Result<ArchiveResult> ArchiveWriter::commit(const util::StopToken* stop,
                                            const BeforeRename& before_rename) {
    Impl& s = *m_impl;
    if (s.abandoned || s.committed) return fail(ErrorKind::Internal, "archive writer is closed");
    nlohmann::json manifest = {{"type", "lethe-archive-manifest"}, {"schema", 1},
                               {"members", nlohmann::json::array()}};
    for (const auto& m : s.members) manifest["members"].push_back(member_json(m));
    std::string text = manifest.dump(1);
    text += '\n';
    EntryPtr entry(archive_entry_new2(s.archive.get()));
    archive_entry_copy_pathname(entry.get(), kManifestMember);
    archive_entry_set_filetype(entry.get(), AE_IFREG);
    archive_entry_set_perm(entry.get(), 0444);
    archive_entry_set_size(entry.get(), static_cast<la_int64_t>(text.size()));
    archive_entry_set_mtime(entry.get(), 0, 0);
    if (archive_write_header(s.archive.get(), entry.get()) < ARCHIVE_WARN ||
        archive_write_data(s.archive.get(), text.data(), text.size()) < 0 ||
        archive_write_close(s.archive.get()) != ARCHIVE_OK) {
        Error e = s.archive_error("finish");
        s.abandon();
        return fail(e);
    }
    s.archive.reset();
    s.stop = stop;
    s.output_thread.join();
    if (auto e = s.output_error.get()) {
        s.abandon();
        return fail(e->with_context(fmt::format("archive {}", s.partial)));
    }
    maybe_corrupt_archive(s.dir.get(), s.name + ".partial");
    if (auto st = util::fsync_fd(s.out.get(), s.partial); !st) {
        s.abandon();
        return fail(st.error());
    }
    util::fault_point("archive-written");
    std::string written_hash = s.file_hash.finish_hex();

    // The whole file is durable: the read-back thread reads the rest from the disk and the
    // check thread finishes checking every member.
    s.progress.update([](Progress& p) { p.synced_all = true; });
    s.read_back_thread.join();
    s.check_thread.join();
    if (auto e = s.read_back_error.get()) {
        s.abandon();
        if (e->kind() == ErrorKind::Stopped) return fail(*e);
        return fail(Error(ErrorKind::Verification, e->message())
                        .with_context("the archive did not verify when re-read; sources kept"));
    }
    if (s.check_error) {
        Error e = *s.check_error;
        s.abandon();
        return fail(Error(ErrorKind::Verification, e.message())
                        .with_context("the archive did not verify when re-read; sources kept"));
    }
    // The manifest read back must be the one written, member for member, and the file read
    // back must be the bytes written, whose hash is the archive's. For a plain archive the
    // hash of the bytes read back proves the latter. An encrypted one is not hashed a second
    // time: the check thread authenticated every byte read back with the file key that only
    // this writer holds (the header MAC over the recipients' stanzas, the payload key derived
    // from the nonce, each 64 KiB chunk in order through the final one, nothing after it), and
    // the age parser accepts one encoding of a header only; so the bytes read back are the
    // ones written, short of a forged Poly1305 tag or header HMAC, which no corruption makes.
    const auto& listed = s.checked;
    bool same = listed.size() == s.members.size();
    for (size_t i = 0; same && i < listed.size(); ++i) {
        same = listed[i].path == s.members[i].path && listed[i].sha256 == s.members[i].sha256;
    }
    bool proven = s.encryptor ? s.check_authenticated
                              : s.reread_hash && s.reread_hash->finish_hex() == written_hash;
    if (!same || s.reread_bytes != s.bytes || !proven) {
        s.abandon();
        return fail(ErrorKind::Verification,
                    fmt::format("{}: the archive read back differs from what was written; "
                                "abandoned, sources kept", s.partial));
    }
    util::fault_point("archive-verified");
    ArchiveResult result;
    result.name = s.name;
    result.path = s.destination + "/" + s.name;
    result.sha256 = written_hash;
    result.bytes = s.bytes;
    result.members = s.members;
    if (before_rename) {
        if (auto st = before_rename(result); !st) {
            s.abandon();
            return fail(st.error());
        }
    }
    if (::renameat2(s.dir.get(), (s.name + ".partial").c_str(), s.dir.get(), s.name.c_str(),
                    RENAME_NOREPLACE) != 0) {
        Error e = errno_error(fmt::format("rename {}", s.partial), errno);
        s.abandon();
        return fail(e);
    }
    s.committed = true;
    if (auto st = util::fsync_fd(s.dir.get(), s.destination); !st) return fail(st.error());
    util::fault_point("archive-renamed");
    s.out.reset();
    return result;
}

// ---- Reading and restoring ---------------------------------------------------------------

Result<std::vector<ArchiveMember>> read_archive(const std::string& path,
                                                const ArchiveReadOptions& options,
                                                const MemberVisitor& on_member) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) return fail(errno_error(fmt::format("open {}", path), errno));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return fail(errno_error(fmt::format("stat {}", path), errno));
    if (!S_ISREG(st.st_mode)) return fail(not_lethe_archive(path, "it is not a regular file"));
    if (st.st_size == 0) return fail(not_lethe_archive(path, "the file is empty"));
    // What it is comes from its first bytes, not its name: a lethe archive is age-encrypted
    // (binary or, from other tools, armored) or zstd-compressed.
    std::string head(64, '\0');
    ssize_t got = ::pread(fd.get(), head.data(), head.size(), 0);
    if (got < 0) return fail(errno_error(fmt::format("read {}", path), errno));
    head.resize(static_cast<size_t>(got));
    const bool zstd = head.rfind(std::string_view("\x28\xb5\x2f\xfd", 4), 0) == 0;
    const bool encrypted = head.rfind("age-encryption.org/", 0) == 0 ||
                           head.rfind("-----BEGIN AGE ENCRYPTED FILE-----", 0) == 0;
    if (!zstd && !encrypted) {
        return fail(not_lethe_archive(path, "it is neither age-encrypted nor zstd-compressed"));
    }
    age::Source source = age::fd_source(fd.get(), path);
    if (encrypted) {
        if (options.identities.empty()) {
            return fail(ErrorKind::BadInput,
                        fmt::format("{} is encrypted: give the records manager's age identity "
                                    "(--identity FILE)", path));
        }
        auto dec = age::Decryptor::start(options.identities, source);
        if (!dec) return fail(dec.error().with_context(path));
        source = decrypting_source(std::make_shared<age::Decryptor>(std::move(*dec)));
    }
    StreamReader reader(source);
    return reader.run(path, on_member,
                      encrypted ? "it decrypts to something that is not a zstd-compressed tar"
                                : "it is zstd-compressed but not a tar");
}

namespace {

// Checks that a member path is relative and stays below the restore folder.
Status check_member_path(const std::string& path) {
    if (path.empty() || path.front() == '/') {
        return fail(ErrorKind::Verification, fmt::format("refusing member path '{}'",
                                                         util::utf8_display(path)));
    }
    size_t pos = 0;
    while (pos <= path.size()) {
        size_t end = path.find('/', pos);
        if (end == std::string::npos) end = path.size();
        std::string_view part(path.data() + pos, end - pos);
        if (part.empty() || part == "." || part == "..") {
            return fail(ErrorKind::Verification, fmt::format("refusing member path '{}'",
                                                             util::utf8_display(path)));
        }
        pos = end + 1;
    }
    return {};
}

// A folder a restore created: its parent (open) and its name there, so that a restore that
// fails removes it again if it is still empty.
struct CreatedFolder {
    UniqueFd parent;
    std::string name;
};

// Opens (creating as needed) the folder `relative` below `base_fd`, never through a symlink;
// each folder it creates is appended to `created`.
Result<UniqueFd> make_folder_beneath(int base_fd, std::string_view relative,
                                     std::vector<CreatedFolder>& created) {
    UniqueFd current(::fcntl(base_fd, F_DUPFD_CLOEXEC, 0));
    if (!current) return fail(errno_error("dup", errno));
    size_t pos = 0;
    while (pos < relative.size()) {
        size_t end = relative.find('/', pos);
        if (end == std::string_view::npos) end = relative.size();
        std::string part(relative.substr(pos, end - pos));
        if (::mkdirat(current.get(), part.c_str(), 0750) == 0) {
            UniqueFd parent(::fcntl(current.get(), F_DUPFD_CLOEXEC, 0));
            if (parent) created.push_back({std::move(parent), part});
        } else if (errno != EEXIST) {
            return fail(errno_error(fmt::format("create folder {}", part), errno));
        }
        auto next = util::open_beneath(current.get(), part, O_RDONLY | O_DIRECTORY);
        if (!next) return fail(next.error());
        current = std::move(*next);
        pos = end + 1;
    }
    return current;
}

struct Restored {
    UniqueFd dir;
    std::string temp;
    std::string name;
    ArchiveMember member;
};

}  // namespace

Result<std::vector<ArchiveMember>> restore_archive(const std::string& archive,
                                                   const ArchiveReadOptions& options,
                                                   const std::string& to,
                                                   const std::optional<std::string>& member) {
    // `to` and the folders below it are made only for a member to restore, and a restore
    // that fails removes every folder it made (when empty) with its temporary files: a file
    // that is no lethe archive, or one that fails its checks, leaves nothing behind.
    std::vector<std::string> missing;  // `to` and its ancestors that do not exist yet
    for (std::string p = to; !p.empty() && p != "/" && p != ".";) {
        struct stat st {};
        if (::lstat(p.c_str(), &st) == 0 || errno != ENOENT) break;
        missing.push_back(p);
        std::string parent(util::parent_of(p));
        if (parent == p) break;
        p = parent;
    }
    UniqueFd base;
    std::vector<CreatedFolder> created;
    std::vector<Restored> pending;
    auto cleanup = [&] {
        for (auto& r : pending) {
            if (!r.temp.empty()) ::unlinkat(r.dir.get(), r.temp.c_str(), 0);
        }
        for (auto it = created.rbegin(); it != created.rend(); ++it) {
            ::unlinkat(it->parent.get(), it->name.c_str(), AT_REMOVEDIR);
        }
        for (const auto& p : missing) ::rmdir(p.c_str());  // deepest first; only if empty
    };
    std::string buf(kBuffer, '\0');
    MemberVisitor visit = [&](const ArchiveMember& m, const MemberContent& content) -> Status {
        if (member && m.path != *member) return {};
        if (auto st = check_member_path(m.path); !st) return st;
        if (!base) {
            if (auto st = util::make_dirs(to, 0750); !st) return st;
            base = UniqueFd(::open(to.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
            if (!base) return fail(errno_error(fmt::format("open {}", to), errno));
        }
        auto dir = make_folder_beneath(base.get(), util::parent_of(m.path), created);
        if (!dir) return fail(dir.error());
        Restored r;
        r.dir = std::move(*dir);
        r.name = std::string(util::name_of(m.path));
        r.temp = ".lethe-restore-" + util::random_suffix(8);
        r.member = m;
        UniqueFd out(::openat(r.dir.get(), r.temp.c_str(),
                              O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
        if (!out) return fail(errno_error(fmt::format("create {}", r.temp), errno));
        pending.push_back(std::move(r));
        util::Sha256 hash;
        for (;;) {
            auto n = content(buf.data(), buf.size());
            if (!n) return fail(n.error());
            if (*n == 0) break;
            hash.update(buf.data(), *n);
            if (auto st = util::write_all(out.get(), std::string_view(buf.data(), *n), m.path); !st) {
                return st;
            }
        }
        pending.back().member.sha256 = hash.finish_hex();
        ::fchmod(out.get(), m.mode & 0777);
        struct timespec times[2] = {{m.mtime, 0}, {m.mtime, 0}};
        ::futimens(out.get(), times);
        return util::fsync_fd(out.get(), m.path);
    };
    auto listed = read_archive(archive, options, visit);
    if (!listed) {
        cleanup();
        return fail(listed.error());
    }
    // The whole archive verified; each restored file must match its manifest entry.
    std::map<std::string, std::string> expected;
    for (const auto& m : *listed) expected[m.path] = m.sha256;
    if (member && expected.find(*member) == expected.end()) {
        cleanup();
        return fail(ErrorKind::BadInput, fmt::format("{}: no member '{}'", archive, *member));
    }
    for (const auto& r : pending) {
        if (expected[r.member.path] != r.member.sha256) {
            cleanup();
            return fail(ErrorKind::Verification,
                        fmt::format("{}: restored '{}' does not match the manifest", archive,
                                    util::utf8_display(r.member.path)));
        }
    }
    std::vector<ArchiveMember> out;
    for (auto& r : pending) {
        if (::renameat2(r.dir.get(), r.temp.c_str(), r.dir.get(), r.name.c_str(),
                        RENAME_NOREPLACE) != 0) {
            Error e = errno_error(fmt::format("restore {} into {}", util::utf8_display(r.member.path), to),
                                  errno);
            cleanup();
            return fail(e);
        }
        r.temp.clear();
        if (auto st = util::fsync_fd(r.dir.get(), to); !st) return fail(st.error());
        out.push_back(r.member);
    }
    return out;
}

Result<size_t> remove_partial_archives(const std::string& destination) {
    UniqueFd dir(::open(destination.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir) {
        if (errno == ENOENT) return size_t{0};
        return fail(errno_error(fmt::format("open {}", destination), errno));
    }
    UniqueFd listing(::fcntl(dir.get(), F_DUPFD_CLOEXEC, 0));
    DIR* d = listing ? ::fdopendir(listing.get()) : nullptr;
    if (d == nullptr) return fail(errno_error(fmt::format("list {}", destination), errno));
    listing.release();
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
        std::string_view n(e->d_name);
        if (n.rfind("lethe-", 0) == 0 && n.size() > 8 && n.substr(n.size() - 8) == ".partial") {
            names.emplace_back(n);
        }
    }
    ::closedir(d);
    for (const auto& n : names) {
        if (::unlinkat(dir.get(), n.c_str(), 0) != 0 && errno != ENOENT) {
            return fail(errno_error(fmt::format("remove {}/{}", destination, n), errno));
        }
    }
    if (!names.empty()) {
        if (auto st = util::fsync_fd(dir.get(), destination); !st) return fail(st.error());
    }
    return names.size();
}

}  // namespace lethe::act

#include "agent/act/archive.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "agent/util/encoding.hpp"
#include "agent/util/fault.hpp"
#include "agent/util/fs.hpp"
#include "agent/util/sha256.hpp"

namespace lethe::act {

namespace {

constexpr size_t kBuffer = size_t{256} * 1024;
constexpr size_t kMaxManifest = size_t{256} << 20;

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

    Result<std::vector<ArchiveMember>> run(const std::string& what, const MemberVisitor& visit) {
        ReadPtr a(archive_read_new());
        if (!a) return fail(ErrorKind::Internal, "libarchive: out of memory");
        archive_read_support_filter_zstd(a.get());
        archive_read_support_format_tar(a.get());
        if (archive_read_open(a.get(), this, nullptr, &StreamReader::read_cb, nullptr) != ARCHIVE_OK) {
            return fail(stream_error(what, a.get()));
        }
        std::optional<std::vector<ArchiveMember>> manifest;
        std::vector<ArchiveMember> found;
        std::set<std::string> seen;
        for (;;) {
            struct archive_entry* entry = nullptr;
            int rc = archive_read_next_header(a.get(), &entry);
            if (rc == ARCHIVE_EOF) break;
            if (rc < ARCHIVE_WARN) return fail(stream_error(what, a.get()));
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
            MemberContent content = [&](char* buf, size_t n) -> Result<size_t> {
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
            // Whatever the visitor did not read is read and hashed here.
            for (;;) {
                auto n = content(m_buf.data(), m_buf.size());
                if (!n) return fail(n.error());
                if (*n == 0) break;
                if (is_manifest) {
                    if (manifest_text.size() + *n > kMaxManifest) {
                        return fail(ErrorKind::Verification, fmt::format("{}: manifest too large", what));
                    }
                    manifest_text.append(m_buf.data(), *n);
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
            return fail(ErrorKind::Verification,
                        fmt::format("{}: no manifest ({}): incomplete or not a lethe archive", what,
                                    kManifestMember));
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
    std::string m_buf;
    std::string m_buf_in = std::string(kBuffer, '\0');
    std::optional<Error> m_error;
};

// A source over a file that also hashes and counts the raw bytes it yields.
age::Source hashing_source(int fd, const std::string& what, util::Sha256& hash, uint64_t& bytes) {
    age::Source raw = age::fd_source(fd, what);
    return [raw, &hash, &bytes](char* buf, size_t n) -> Result<size_t> {
        auto got = raw(buf, n);
        if (got) {
            hash.update(buf, *got);
            bytes += *got;
        }
        return got;
    };
}

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

bool is_encrypted_name(std::string_view path) {
    return path.size() >= 4 && path.substr(path.size() - 4) == ".age";
}

}  // namespace

// ---- Writer ----------------------------------------------------------------------------

struct ArchiveWriter::Impl {
    UniqueFd dir;
    std::string destination;
    std::string name;
    std::string partial;
    UniqueFd out;
    WritePtr archive;
    std::optional<age::Encryptor> encryptor;
    std::optional<age::FileKey> file_key;
    util::Sha256 file_hash;
    uint64_t bytes = 0;
    std::vector<ArchiveMember> members;
    std::optional<Error> io_error;
    bool abandoned = false;
    bool committed = false;
    std::string buffer = std::string(kBuffer, '\0');

    Status to_disk(std::string_view data) {
        if (auto st = util::write_all(out.get(), data, partial); !st) return st;
        file_hash.update(data);
        bytes += data.size();
        return {};
    }

    static la_ssize_t write_cb(struct archive*, void* self_ptr, const void* data, size_t n) {
        auto* self = static_cast<Impl*>(self_ptr);
        if (self->abandoned) return static_cast<la_ssize_t>(n);
        std::string_view bytes(static_cast<const char*>(data), n);
        Status st = self->encryptor ? self->encryptor->write(bytes) : self->to_disk(bytes);
        if (!st) {
            self->io_error = st.error();
            return -1;
        }
        return static_cast<la_ssize_t>(n);
    }

    static int close_cb(struct archive*, void* self_ptr) {
        auto* self = static_cast<Impl*>(self_ptr);
        if (self->abandoned || !self->encryptor) return ARCHIVE_OK;
        if (auto st = self->encryptor->finish(); !st) {
            self->io_error = st.error();
            return ARCHIVE_FATAL;
        }
        return ARCHIVE_OK;
    }

    Error archive_error(std::string_view what) {
        if (io_error) return io_error->with_context(fmt::format("archive {}", partial));
        return Error(ErrorKind::Io, fmt::format("archive {}: {}: {}", partial, what,
                                                archive_message(archive.get())));
    }

    void abandon() {
        if (committed) return;
        abandoned = true;
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
    if (m_impl) m_impl->abandon();
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
        archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
        !set_compression_threads(a) ||
        archive_write_open2(a, impl.get(), nullptr, &Impl::write_cb, &Impl::close_cb, nullptr) !=
            ARCHIVE_OK) {
        Error e = a == nullptr ? Error(ErrorKind::Internal, "libarchive: out of memory")
                               : impl->archive_error("open");
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
    if (hash.finish_hex() != member.sha256) {
        s.abandon();
        return fail(ErrorKind::Verification,
                    fmt::format("{}: changed while being archived; the archive was abandoned and "
                                "no source was removed", util::utf8_display(member.path)));
    }
    s.members.push_back(member);
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
    if (auto st = util::fsync_fd(s.out.get(), s.partial); !st) {
        s.abandon();
        return fail(st.error());
    }
    util::fault_point("archive-written");
    std::string written_hash = s.file_hash.finish_hex();

    // Re-read from the disk (the cached pages are dropped first) and check every member.
    ::posix_fadvise(s.out.get(), 0, 0, POSIX_FADV_DONTNEED);
    UniqueFd in(::openat(s.dir.get(), (s.name + ".partial").c_str(),
                         O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!in) {
        Error e = errno_error(fmt::format("re-read {}", s.partial), errno);
        s.abandon();
        return fail(e);
    }
    util::Sha256 reread_hash;
    uint64_t reread_bytes = 0;
    age::Source raw = hashing_source(in.get(), s.partial, reread_hash, reread_bytes);
    age::Source source = raw;
    if (stop != nullptr) {
        source = [raw, stop, &s](char* buf, size_t n) -> Result<size_t> {
            if (stop->stop_requested()) {
                return fail(util::stopped(fmt::format("re-read {}", s.partial)));
            }
            return raw(buf, n);
        };
    }
    if (s.file_key) {
        auto dec = age::Decryptor::start_with_file_key(*s.file_key, source);
        if (!dec) {
            s.abandon();
            return fail(dec.error().with_context(fmt::format("re-read {}", s.partial)));
        }
        source = decrypting_source(std::make_shared<age::Decryptor>(std::move(*dec)));
    }
    StreamReader reader(source);
    auto listed = reader.run(s.partial, nullptr);
    if (!listed) {
        s.abandon();
        if (listed.error().kind() == ErrorKind::Stopped) return fail(listed.error());
        return fail(Error(ErrorKind::Verification, listed.error().message())
                        .with_context("the archive did not verify when re-read; sources kept"));
    }
    // The manifest read back must be the one written, member for member.
    bool same = listed->size() == s.members.size();
    for (size_t i = 0; same && i < listed->size(); ++i) {
        same = (*listed)[i].path == s.members[i].path && (*listed)[i].sha256 == s.members[i].sha256;
    }
    // Drain anything after the tar end marker, so the file hash covers every byte.
    std::string rest(kBuffer, '\0');
    for (;;) {
        auto n = raw(rest.data(), rest.size());
        if (!n || *n == 0) break;
    }
    if (!same || reread_hash.finish_hex() != written_hash) {
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
    age::Source source = age::fd_source(fd.get(), path);
    if (is_encrypted_name(path)) {
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
    return reader.run(path, on_member);
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

// Opens (creating as needed) the folder `relative` below `base_fd`, never through a symlink.
Result<UniqueFd> make_folder_beneath(int base_fd, std::string_view relative) {
    UniqueFd current(::fcntl(base_fd, F_DUPFD_CLOEXEC, 0));
    if (!current) return fail(errno_error("dup", errno));
    size_t pos = 0;
    while (pos < relative.size()) {
        size_t end = relative.find('/', pos);
        if (end == std::string_view::npos) end = relative.size();
        std::string part(relative.substr(pos, end - pos));
        if (::mkdirat(current.get(), part.c_str(), 0750) != 0 && errno != EEXIST) {
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
    if (auto st = util::make_dirs(to, 0750); !st) return fail(st.error());
    UniqueFd base(::open(to.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!base) return fail(errno_error(fmt::format("open {}", to), errno));
    std::vector<Restored> pending;
    auto cleanup = [&pending] {
        for (auto& r : pending) {
            if (!r.temp.empty()) ::unlinkat(r.dir.get(), r.temp.c_str(), 0);
        }
    };
    std::string buf(kBuffer, '\0');
    MemberVisitor visit = [&](const ArchiveMember& m, const MemberContent& content) -> Status {
        if (member && m.path != *member) return {};
        if (auto st = check_member_path(m.path); !st) return st;
        auto dir = make_folder_beneath(base.get(), util::parent_of(m.path));
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

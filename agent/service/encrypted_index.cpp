#include "agent/service/encrypted_index.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/service/plan.hpp"
#include "agent/util/fs.hpp"

namespace lethe::service {

namespace {

Result<util::Date> date_field(const nlohmann::json& j, const char* key) {
    auto d = util::parse_date(j.at(key).get<std::string>());
    if (!d) return fail(ErrorKind::BadInput, fmt::format("'{}': {}", key, d.error().message()));
    return *d;
}

}  // namespace

std::string encrypted_index_path(const std::string& state_dir) {
    return state_dir + "/encrypted.jsonl";
}

nlohmann::json EncryptedEntry::to_json() const {
    nlohmann::json j = {
        {"type", "encrypted"},
        {"root", root},
        {"device", copy.device},
        {"inode", copy.inode},
        {"size", copy.size},
        {"mtime", util::format_timestamp(copy.mtime, true)},
        {"category", copy.category},
        {"schedule", copy.schedule},
        {"trigger_date", util::format_date(copy.trigger_date)},
        {"expires", copy.expires ? util::format_date(*copy.expires) : "permanent"},
        {"encrypted", util::format_date(copy.encrypted)},
        {"time", time},
        {"intent", intent}};
    if (copy.client) j["client"] = *copy.client;
    if (copy.matter) j["matter"] = *copy.matter;
    put_path(j, path);
    return j;
}

Result<EncryptedEntry> EncryptedEntry::from_json(const nlohmann::json& j) {
    try {
        if (j.value("type", "") != "encrypted") {
            return fail(ErrorKind::BadInput,
                        fmt::format("unknown line type '{}'", j.value("type", "")));
        }
        EncryptedEntry e;
        e.root = j.at("root").get<std::string>();
        auto path = get_path(j);
        if (!path) return fail(path.error());
        e.path = *path;
        if (e.root.empty() || e.path.empty() || e.path.size() <= 4 ||
            e.path.compare(e.path.size() - 4, 4, ".age") != 0) {
            return fail(ErrorKind::BadInput, "'root' or 'path' (of a NAME.age) is missing");
        }
        e.copy.device = j.at("device").get<uint64_t>();
        e.copy.inode = j.at("inode").get<uint64_t>();
        e.copy.size = j.at("size").get<uint64_t>();
        auto mtime = util::parse_timestamp(j.at("mtime").get<std::string>());
        if (!mtime) return fail(ErrorKind::BadInput, "'mtime' is not a timestamp");
        e.copy.mtime = *mtime;
        e.copy.category = j.at("category").get<std::string>();
        e.copy.schedule = j.at("schedule").get<std::string>();
        if (e.copy.category.empty()) return fail(ErrorKind::BadInput, "'category' is empty");
        auto trigger = date_field(j, "trigger_date");
        if (!trigger) return fail(trigger.error());
        e.copy.trigger_date = *trigger;
        if (j.at("expires").get<std::string>() != "permanent") {
            auto expires = date_field(j, "expires");
            if (!expires) return fail(expires.error());
            e.copy.expires = *expires;
        }
        auto made = date_field(j, "encrypted");
        if (!made) return fail(made.error());
        e.copy.encrypted = *made;
        e.time = j.at("time").get<std::string>();
        if (!util::parse_timestamp(e.time)) {
            return fail(ErrorKind::BadInput, "'time' is not a timestamp");
        }
        e.intent = j.at("intent").get<std::string>();
        if (j.contains("client")) e.copy.client = j.at("client").get<std::string>();
        if (j.contains("matter")) e.copy.matter = j.at("matter").get<std::string>();
        return e;
    } catch (const nlohmann::json::exception& ex) {
        return fail(ErrorKind::BadInput, ex.what());
    }
}

const EncryptedEntry* EncryptedIndex::by_intent(std::string_view id) const {
    for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
        if (it->intent == id) return &*it;
    }
    return nullptr;
}

std::map<std::string, classify::IndexedCopies> EncryptedIndex::by_root() const {
    std::map<std::string, classify::IndexedCopies> out;
    for (const auto& e : entries) out[e.root][e.path].push_back(e.copy);
    return out;
}

Result<EncryptedIndex> parse_encrypted_index(std::string_view text, const std::string& source) {
    EncryptedIndex index;
    size_t line_no = 0;
    size_t pos = 0;
    auto corrupt = [&](const std::string& why) {
        return fail(ErrorKind::Refused,
                    fmt::format("index of encrypted copies {} line {}: {}; lethe classifies no "
                                "files until it is repaired (an encrypted copy it records could "
                                "otherwise lose its retention)",
                                source, line_no, why));
    };
    while (pos < text.size()) {
        ++line_no;
        size_t end = text.find('\n', pos);
        // A last line without its newline is an append cut short by a crash: its fdatasync
        // never returned, so the copy it describes never took its name (the line is written
        // before the rename). It is ignored, and the next append drops it.
        if (end == std::string_view::npos) break;
        std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_discarded() || !j.is_object()) return corrupt("not a JSON object");
        auto e = EncryptedEntry::from_json(j);
        if (!e) return corrupt(e.error().message());
        index.entries.push_back(std::move(*e));
    }
    return index;
}

Result<EncryptedIndex> load_encrypted_index(const std::string& state_dir) {
    std::string path = encrypted_index_path(state_dir);
    auto text = util::read_file(path);
    if (!text) {
        if (text.error().sys_errno() == ENOENT) return EncryptedIndex{};
        return fail(ErrorKind::Refused,
                    fmt::format("index of encrypted copies {} cannot be read ({}); lethe "
                                "classifies no files until it is repaired",
                                path, text.error().message()));
    }
    return parse_encrypted_index(*text, path);
}

namespace {

// The length of the file up to and including its last newline: what is left of an append
// cut short by a crash (a line without its newline) is not counted.
Result<uint64_t> complete_length(int fd, uint64_t size, const std::string& path) {
    constexpr uint64_t kStep = uint64_t{64} << 10;
    std::string buf;
    uint64_t end = size;
    while (end > 0) {
        uint64_t start = end > kStep ? end - kStep : 0;
        buf.resize(static_cast<size_t>(end - start));
        ssize_t n = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(start));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(errno_error(fmt::format("read {}", path), errno));
        if (static_cast<size_t>(n) != buf.size()) {
            return fail(ErrorKind::Io, fmt::format("read {}: the file shrank", path));
        }
        size_t nl = buf.rfind('\n');
        if (nl != std::string::npos) return start + nl + 1;
        end = start;
    }
    return uint64_t{0};
}

}  // namespace

Status append_encrypted(const std::string& state_dir, const EncryptedEntry& entry) {
    std::string path = encrypted_index_path(state_dir);
    struct stat st {};
    bool created = ::lstat(path.c_str(), &st) != 0;
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) return fail(errno_error(fmt::format("open {}", path), errno));
    if (::fstat(fd.get(), &st) != 0) return fail(errno_error(fmt::format("stat {}", path), errno));
    auto size = static_cast<uint64_t>(st.st_size);
    auto keep = complete_length(fd.get(), size, path);
    if (!keep) return fail(keep.error());
    if (*keep != size && ::ftruncate(fd.get(), static_cast<off_t>(*keep)) != 0) {
        return fail(errno_error(fmt::format("drop the incomplete last line of {}", path), errno));
    }
    if (::lseek(fd.get(), static_cast<off_t>(*keep), SEEK_SET) < 0) {
        return fail(errno_error(fmt::format("seek {}", path), errno));
    }
    if (auto w = util::write_all(fd.get(), entry.to_json().dump() + "\n", path); !w) return w;
    if (::fdatasync(fd.get()) != 0) return fail(errno_error(fmt::format("fdatasync {}", path), errno));
    if (created) return util::fsync_dir(state_dir);
    return {};
}

}  // namespace lethe::service

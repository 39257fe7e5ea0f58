#include "agent/service/archive_index.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include "agent/service/holds.hpp"
#include "agent/service/plan.hpp"
#include "agent/util/fs.hpp"
#include "agent/util/jsonl_file.hpp"
#include "agent/util/sha256.hpp"

namespace lethe::service {

namespace {

Result<util::Date> date_field(const nlohmann::json& j, const char* key) {
    auto d = util::parse_date(j.at(key).get<std::string>());
    if (!d) return fail(ErrorKind::BadInput, fmt::format("'{}': {}", key, d.error().message()));
    return *d;
}

Result<ArchivedMember> member_from_json(const nlohmann::json& j) {
    ArchivedMember m;
    auto path = get_path(j);
    if (!path) return fail(path.error());
    m.path = *path;
    m.sha256 = j.at("sha256").get<std::string>();
    m.size = j.at("size").get<uint64_t>();
    m.category = j.at("category").get<std::string>();
    m.schedule = j.at("schedule").get<std::string>();
    // Lines written before archive_for existed have no `archived` date: the copy was made
    // the day the archive was created, which the caller fills in.
    if (j.contains("archived")) {
        auto d = date_field(j, "archived");
        if (!d) return fail(d.error());
        m.archived = *d;
    }
    if (j.contains("inode")) {
        m.device = j.at("device").get<uint64_t>();
        m.inode = j.at("inode").get<uint64_t>();
        m.mtime = j.at("mtime").get<std::string>();
    }
    std::string expires = j.at("expires").get<std::string>();
    if (expires != "permanent") {
        auto d = date_field(j, "expires");
        if (!d) return fail(d.error());
        m.expires = *d;
    }
    return m;
}

// Lines are appended with O_APPEND and fsynced. A last line without its newline makes the
// index unreadable: someone looks at it before anything archived is disposed of again.
constexpr util::JsonlFormat kFormat{.what = "archive index",
                                    .stops =
                                        "archive expiry and erasure stop until it is "
                                        "repaired",
                                    .risk = "(nothing archived is disposed of)",
                                    .torn_tail = util::TornTail::Refuse,
                                    .sync = util::AppendSync::Fsync};

}  // namespace

std::string archive_index_path(const std::string& state_dir) {
    return state_dir + "/archives.jsonl";
}

nlohmann::json IndexedArchive::to_json() const {
    nlohmann::json ms = nlohmann::json::array();
    for (const auto& m : members) {
        nlohmann::json j = {{"sha256", m.sha256},
                            {"size", m.size},
                            {"category", m.category},
                            {"schedule", m.schedule},
                            {"archived", util::format_date(m.archived)},
                            {"expires", m.expires ? util::format_date(*m.expires) : "permanent"}};
        if (m.device && m.inode && m.mtime) {
            j["device"] = *m.device;
            j["inode"] = *m.inode;
            j["mtime"] = *m.mtime;
        }
        put_path(j, m.path);
        ms.push_back(std::move(j));
    }
    nlohmann::json line = {
        {"type", "archive"}, {"name", name},           {"path", path},
        {"sha256", sha256},  {"bytes", bytes},         {"created", created},
        {"root", root},      {"encrypted", encrypted}, {"members", std::move(ms)}};
    if (client) line["client"] = *client;
    if (matter) line["matter"] = *matter;
    return line;
}

Result<IndexedArchive> IndexedArchive::from_json(const nlohmann::json& j) {
    try {
        IndexedArchive a;
        a.name = j.at("name").get<std::string>();
        a.path = j.at("path").get<std::string>();
        a.sha256 = j.at("sha256").get<std::string>();
        a.bytes = j.at("bytes").get<uint64_t>();
        a.created = j.at("created").get<std::string>();
        a.root = j.at("root").get<std::string>();
        if (j.contains("client")) a.client = j.at("client").get<std::string>();
        if (j.contains("matter")) a.matter = j.at("matter").get<std::string>();
        a.encrypted = j.at("encrypted").get<bool>();
        if (a.name.empty() || a.name.find('/') != std::string::npos || a.sha256.size() != 64) {
            return fail(ErrorKind::BadInput, "bad archive name or sha256");
        }
        auto created = util::parse_timestamp(a.created);
        if (!created) return fail(ErrorKind::BadInput, "'created' is not a timestamp");
        const auto& members = j.at("members");
        if (!members.is_array() || members.empty()) {
            return fail(ErrorKind::BadInput, "'members' must be a non-empty array");
        }
        for (const auto& mj : members) {
            auto m = member_from_json(mj);
            if (!m) return fail(m.error());
            if (!mj.contains("archived")) m->archived = util::date_of(*created);
            a.members.push_back(std::move(*m));
        }
        return a;
    } catch (const nlohmann::json::exception& e) {
        return fail(ErrorKind::BadInput, e.what());
    }
}

const IndexedArchive* ArchiveIndex::find(const std::string& name) const {
    for (const auto& a : archives) {
        if (a.name == name) return &a;
    }
    return nullptr;
}

std::vector<const IndexedArchive*> ArchiveIndex::live() const {
    std::vector<const IndexedArchive*> out;
    for (const auto& a : archives) {
        if (!a.disposed) out.push_back(&a);
    }
    return out;
}

Result<ArchiveIndex> parse_archive_index(std::string_view text, const std::string& source) {
    ArchiveIndex index;
    std::map<std::string, size_t> by_name;
    auto add = [&](const nlohmann::json& j) -> Status {
        std::string type = j.value("type", "");
        if (type == "archive") {
            auto a = IndexedArchive::from_json(j);
            if (!a) return fail(a.error());
            if (by_name.contains(a->name)) {
                return fail(ErrorKind::BadInput,
                            fmt::format("archive {} is indexed twice", a->name));
            }
            by_name[a->name] = index.archives.size();
            index.archives.push_back(std::move(*a));
        } else if (type == "archive-disposed") {
            try {
                std::string name = j.at("name").get<std::string>();
                auto it = by_name.find(name);
                if (it == by_name.end()) {
                    return fail(ErrorKind::BadInput,
                                fmt::format("disposal of {}, which is not indexed", name));
                }
                IndexedArchive& a = index.archives[it->second];
                if (a.disposed) {
                    return fail(ErrorKind::BadInput, fmt::format("{} is disposed of twice", name));
                }
                a.disposed = true;
                a.disposed_at = j.at("time").get<std::string>();
                a.disposed_reason = j.at("reason").get<std::string>();
                a.disposed_certificate = j.at("certificate").get<uint64_t>();
            } catch (const nlohmann::json::exception& e) {
                return fail(ErrorKind::BadInput, e.what());
            }
        } else {
            return fail(ErrorKind::BadInput, fmt::format("unknown line type '{}'", type));
        }
        return {};
    };
    if (auto read = util::parse_jsonl(text, source, kFormat, add); !read) {
        return fail(read.error());
    }
    return index;
}

Result<ArchiveIndex> load_archive_index(const std::string& state_dir) {
    return util::load_jsonl(archive_index_path(state_dir), kFormat, parse_archive_index);
}

Status append_archive(const std::string& state_dir, const IndexedArchive& archive) {
    return util::append_jsonl(archive_index_path(state_dir), kFormat, archive.to_json());
}

Status append_archive_disposed(const std::string& state_dir, const ArchiveDisposal& d) {
    nlohmann::json line = {{"type", "archive-disposed"},
                           {"name", d.name},
                           {"time", d.time},
                           {"reason", d.reason},
                           {"certificate", d.certificate}};
    if (d.request) line["request"] = *d.request;
    return util::append_jsonl(archive_index_path(state_dir), kFormat, line);
}

namespace {

std::string commit_record_path(const std::string& state_dir) {
    return state_dir + "/archive-commit.json";
}

}  // namespace

Status record_archive_commit(const std::string& state_dir, const IndexedArchive& archive) {
    return util::write_file_atomic(commit_record_path(state_dir), archive.to_json().dump(), 0600);
}

Status clear_archive_commit(const std::string& state_dir) {
    if (::unlink(commit_record_path(state_dir).c_str()) != 0 && errno != ENOENT) {
        return fail(errno_error(fmt::format("remove {}", commit_record_path(state_dir)), errno));
    }
    return {};
}

Result<std::optional<std::string>> recover_archive_commit(const std::string& state_dir,
                                                          const util::StopToken* stop) {
    const std::string record = commit_record_path(state_dir);
    auto text = util::read_file(record);
    if (!text) {
        if (text.error().sys_errno() == ENOENT) return std::nullopt;
        return fail(text.error());
    }
    auto j = nlohmann::json::parse(*text, nullptr, false);
    auto archive = j.is_discarded() ? Result<IndexedArchive>(fail(ErrorKind::BadInput, "not JSON"))
                                    : IndexedArchive::from_json(j);
    if (!archive) {
        return fail(ErrorKind::Refused,
                    fmt::format("{} is unreadable ({}); refusing to archive until it is inspected",
                                record, archive.error().message()));
    }
    auto index = load_archive_index(state_dir);
    if (!index) return fail(index.error());
    std::string what;
    if (index->find(archive->name) != nullptr) {
        what = fmt::format("archive {} was already indexed", archive->name);
    } else {
        UniqueFd fd(::open(archive->path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
        if (!fd && errno != ENOENT) {
            return fail(errno_error(fmt::format("open {}", archive->path), errno));
        }
        auto hash = fd ? util::sha256_fd_hex(fd.get(), archive->path, stop)
                       : Result<std::string>(std::string());
        if (!hash) return fail(hash.error());
        if (*hash == archive->sha256) {
            if (auto st = append_archive(state_dir, *archive); !st) return fail(st.error());
            what = fmt::format("archive {} was renamed into place by an interrupted pass; it is "
                               "now in the archive index", archive->path);
        } else if (hash->empty()) {
            what = fmt::format("archive {} was never renamed into place; its sources are "
                               "archived again", archive->path);
        } else {
            what = fmt::format("archive {} does not have the SHA-256 recorded before its rename; "
                               "it is not indexed and its sources are archived again",
                               archive->path);
        }
    }
    if (auto st = clear_archive_commit(state_dir); !st) return fail(st.error());
    return what;
}

std::vector<std::string> holds_on_archive(const IndexedArchive& archive, const HoldSet& holds,
                                          const policy::LocalToday& today) {
    std::vector<std::string> ids;
    for (const auto& m : archive.members) {
        for (auto& id : holds.covering(archive.root, m.path, archive.client, archive.matter,
                                       today.of(m.schedule))) {
            if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(std::move(id));
        }
    }
    return ids;
}

}  // namespace lethe::service

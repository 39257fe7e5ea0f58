#include "agent/service/holds.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "agent/service/marked_store.hpp"
#include "agent/util/fs.hpp"
#include "agent/util/sha256.hpp"

namespace lethe::service {

namespace {

constexpr int kStoreSchema = 1;

MarkedStore hold_store(const std::string& state_dir) {
    return {holds_path(state_dir), state_dir + "/holds.lock", "a hold store exists here",
            "holds file", "holds were placed here"};
}

Error corrupt(const std::string& source, std::string_view what) {
    return corrupt_store(hold_store(""), source, what);
}

template <typename T>
std::optional<T> optional_field(const nlohmann::json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::nullopt;
    return it->get<T>();
}

}  // namespace

std::string HoldPath::text() const {
    std::string what = literal ? fmt::format("path {}", *literal) : fmt::format("glob {}", glob);
    return root ? fmt::format("{} in root {}", what, *root) : what;
}

bool Hold::path_covers(size_t i, const std::string& root, std::string_view path) const {
    if (i >= paths.size() || i >= compiled.size()) return false;
    const HoldPath& p = paths[i];
    if (p.root && *p.root != root) return false;
    if (p.literal) {
        const std::string& name = *p.literal;
        return path.substr(0, name.size()) == name &&
               (path.size() == name.size() || path[name.size()] == '/');
    }
    // The file itself, or any folder above it.
    std::string_view candidate = path;
    for (;;) {
        if (compiled[i].matches(candidate)) return true;
        auto slash = candidate.rfind('/');
        if (slash == std::string_view::npos) return false;
        candidate = candidate.substr(0, slash);
    }
}

bool Hold::covers(const std::string& root, std::string_view path,
                  const std::optional<std::string>& file_client,
                  const std::optional<std::string>& file_matter) const {
    if (client || matter) {
        if (client && file_client != client) return false;
        if (matter && file_matter != matter) return false;
        if (paths.empty()) return true;
    }
    for (size_t i = 0; i < paths.size(); ++i) {
        if (path_covers(i, root, path)) return true;
    }
    return false;
}

std::string Hold::scope_text() const {
    std::vector<std::string> parts;
    if (client) parts.push_back(fmt::format("client {}", *client));
    if (matter) parts.push_back(fmt::format("matter {}", *matter));
    for (const auto& p : paths) parts.push_back(p.text());
    return fmt::format("{}", fmt::join(parts, ", "));
}

nlohmann::json Hold::to_json() const {
    nlohmann::json j = {{"id", id},
                        {"reason", reason},
                        {"placed_by", placed_by},
                        {"placed_at", placed_at},
                        {"released", released}};
    nlohmann::json ps = nlohmann::json::array();
    for (const auto& p : paths) {
        nlohmann::json pj = {{"glob", p.glob}};
        if (p.literal) pj["path"] = *p.literal;
        if (p.root) pj["root"] = *p.root;
        ps.push_back(pj);
    }
    j["paths"] = ps;
    if (client) j["client"] = *client;
    if (matter) j["matter"] = *matter;
    if (until) j["until"] = util::format_date(*until);
    if (placed_seq) j["placed_seq"] = *placed_seq;
    if (released) {
        j["released_by"] = released_by;
        j["released_at"] = released_at;
        j["release_reason"] = release_reason;
        if (released_seq) j["released_seq"] = *released_seq;
    }
    return j;
}

Result<Hold> Hold::from_json(const nlohmann::json& j) {
    try {
        Hold h;
        h.id = j.at("id").get<std::string>();
        h.reason = j.at("reason").get<std::string>();
        h.placed_by = j.at("placed_by").get<std::string>();
        h.placed_at = j.at("placed_at").get<std::string>();
        h.released = j.at("released").get<bool>();
        for (const auto& pj : j.at("paths")) {
            HoldPath p;
            p.glob = pj.at("glob").get<std::string>();
            p.root = optional_field<std::string>(pj, "root");
            p.literal = optional_field<std::string>(pj, "path");
            if (p.literal && util::glob_escape(*p.literal) != p.glob) {
                return fail(ErrorKind::BadInput,
                            fmt::format("hold {}: path '{}' and its glob '{}' disagree", h.id,
                                        *p.literal, p.glob));
            }
            auto glob = util::Glob::compile(p.glob);
            if (!glob) return fail(glob.error().with_context(fmt::format("hold {}", h.id)));
            h.compiled.push_back(std::move(*glob));
            h.paths.push_back(std::move(p));
        }
        h.client = optional_field<std::string>(j, "client");
        h.matter = optional_field<std::string>(j, "matter");
        if (auto until = optional_field<std::string>(j, "until")) {
            auto d = util::parse_date(*until);
            if (!d) return fail(d.error().with_context(fmt::format("hold {}: until", h.id)));
            h.until = *d;
        }
        h.placed_seq = optional_field<uint64_t>(j, "placed_seq");
        if (h.released) {
            h.released_by = j.at("released_by").get<std::string>();
            h.released_at = j.at("released_at").get<std::string>();
            h.release_reason = j.at("release_reason").get<std::string>();
            h.released_seq = optional_field<uint64_t>(j, "released_seq");
        }
        if (h.id.empty()) return fail(ErrorKind::BadInput, "a hold has an empty id");
        if (h.paths.empty() && !h.client && !h.matter) {
            return fail(ErrorKind::BadInput, fmt::format("hold {} covers nothing", h.id));
        }
        return h;
    } catch (const nlohmann::json::exception& e) {
        return fail(ErrorKind::BadInput, e.what());
    }
}

std::vector<std::string> HoldSet::covering(const std::string& root, std::string_view path,
                                           const std::optional<std::string>& client,
                                           const std::optional<std::string>& matter,
                                           util::Date day) const {
    std::vector<std::string> ids;
    for (const auto& h : holds) {
        if (h.active_on(day) && h.covers(root, path, client, matter)) ids.push_back(h.id);
    }
    return ids;
}

const Hold* HoldSet::find(std::string_view id) const {
    auto it = std::find_if(holds.begin(), holds.end(), [&](const Hold& h) { return h.id == id; });
    return it == holds.end() ? nullptr : &*it;
}

Hold* HoldSet::find(std::string_view id) {
    auto it = std::find_if(holds.begin(), holds.end(), [&](const Hold& h) { return h.id == id; });
    return it == holds.end() ? nullptr : &*it;
}

nlohmann::json HoldSet::certificate_fields() const {
    uint64_t unreleased = 0;
    for (const auto& h : holds) {
        if (!h.released) ++unreleased;
    }
    return {{"store_version", version},
            {"store_sha256", sha256.empty() ? "none (no hold has ever been placed)" : sha256},
            {"unreleased", unreleased},
            {"applied", "none"}};
}

std::string holds_path(const std::string& state_dir) { return state_dir + "/holds.json"; }

Result<HoldSet> parse_holds(std::string_view text, const std::string& source) {
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return fail(corrupt(source, "not a JSON object"));
    HoldSet set;
    try {
        if (j.at("schema").get<int>() != kStoreSchema) {
            return fail(corrupt(source, fmt::format("unknown schema {}", j.at("schema").dump())));
        }
        set.version = j.at("version").get<uint64_t>();
        for (const auto& hj : j.at("holds")) {
            auto hold = Hold::from_json(hj);
            if (!hold) return fail(corrupt(source, hold.error().message()));
            if (set.find(hold->id) != nullptr) {
                return fail(corrupt(source, fmt::format("hold {} appears twice", hold->id)));
            }
            set.holds.push_back(std::move(*hold));
        }
    } catch (const nlohmann::json::exception& e) {
        return fail(corrupt(source, e.what()));
    }
    set.sha256 = util::sha256_hex(text);
    return set;
}

Result<HoldSet> load_holds(const std::string& state_dir) {
    auto text = read_marked_store(hold_store(state_dir));
    if (!text) return fail(text.error());
    if (!*text) return HoldSet{};
    return parse_holds(**text, holds_path(state_dir));
}

Result<const HoldSet*> HoldWatch::current() {
    std::string path = holds_path(m_state_dir);
    Identity now;
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        now.present = true;
        now.device = st.st_dev;
        now.inode = st.st_ino;
        now.size = st.st_size;
        now.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
        now.ctime_ns = static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
    } else if (errno != ENOENT) {
        return fail(corrupt(path, errno_error("stat", errno).message()));
    }
    if (m_loaded && now == m_identity) return &m_set;
    auto set = load_holds(m_state_dir);
    if (!set) {
        m_loaded = false;  // try again next time, never fall back to the old version
        return fail(set.error());
    }
    m_set = std::move(*set);
    m_identity = now;
    m_loaded = true;
    return &m_set;
}

Result<HoldStoreLock> HoldStoreLock::acquire(const std::string& state_dir) {
    auto fd = lock_marked_store(state_dir, hold_store(state_dir));
    if (!fd) return fail(fd.error());
    return HoldStoreLock(std::move(*fd));
}

Status save_holds(const std::string& state_dir, HoldSet& set) {
    nlohmann::json holds = nlohmann::json::array();
    for (const auto& h : set.holds) holds.push_back(h.to_json());
    nlohmann::json j = {{"schema", kStoreSchema}, {"version", set.version + 1}, {"holds", holds}};
    std::string text = j.dump(2) + "\n";
    if (auto st = write_marked_store(hold_store(state_dir), text); !st) return st;
    ++set.version;
    set.sha256 = util::sha256_hex(text);
    return {};
}

nlohmann::json hold_placed_entry(const Hold& h, util::TimePoint now) {
    nlohmann::json hold = h.to_json();
    for (const char* k :
         {"placed_seq", "released", "released_by", "released_at", "release_reason", "released_seq"}) {
        hold.erase(k);
    }
    return {{"type", "hold-placed"},
            {"time", h.placed_at},
            {"hold", hold},
            {"recorded", util::format_timestamp(now)}};
}

nlohmann::json hold_released_entry(const Hold& h, util::TimePoint now) {
    return {{"type", "hold-released"},
            {"time", h.released_at},
            {"hold", {{"id", h.id}, {"placed_seq", h.placed_seq.value_or(0)}}},
            {"released_by", h.released_by},
            {"reason", h.release_reason},
            {"recorded", util::format_timestamp(now)}};
}

}  // namespace lethe::service

#include "agent/service/encrypted_index.hpp"

#include <fmt/format.h>

#include "agent/service/plan.hpp"
#include "agent/util/jsonl_file.hpp"

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

namespace {

// Writers append a line before the copy it describes takes its name, and fdatasync it: a
// last line without its newline never returned from its fdatasync, so its copy never took
// its name. It is ignored, and the next append drops it.
constexpr util::JsonlFormat kFormat{
    .what = "index of encrypted copies",
    .stops = "lethe classifies no files until it is repaired",
    .risk = "(an encrypted copy it records could otherwise lose its retention)",
    .torn_tail = util::TornTail::Ignore,
    .sync = util::AppendSync::Fdatasync};

}  // namespace

Result<EncryptedIndex> parse_encrypted_index(std::string_view text, const std::string& source) {
    EncryptedIndex index;
    auto read = util::parse_jsonl(text, source, kFormat, [&](const nlohmann::json& j) -> Status {
        auto e = EncryptedEntry::from_json(j);
        if (!e) return fail(e.error());
        index.entries.push_back(std::move(*e));
        return {};
    });
    if (!read) return fail(read.error());
    return index;
}

Result<EncryptedIndex> load_encrypted_index(const std::string& state_dir) {
    return util::load_jsonl(encrypted_index_path(state_dir), kFormat, parse_encrypted_index);
}

Status append_encrypted(const std::string& state_dir, const EncryptedEntry& entry) {
    return util::append_jsonl(encrypted_index_path(state_dir), kFormat, entry.to_json());
}

}  // namespace lethe::service

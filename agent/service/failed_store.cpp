#include "agent/service/failed_store.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <nlohmann/json.hpp>

#include "agent/service/plan.hpp"
#include "agent/util/encoding.hpp"
#include "agent/util/fs.hpp"
#include "agent/util/log.hpp"

namespace lethe::service {

namespace {

std::string store_path(const std::string& state_dir) { return state_dir + "/failed.json"; }

int64_t nanos(util::TimePoint t) { return t.time_since_epoch().count(); }

nlohmann::json to_json(const FailedFile& f) {
    nlohmann::json j = {{"root", f.root},
                        {"device", f.device},
                        {"inode", f.inode},
                        {"size", f.size},
                        {"mtime", util::format_timestamp(f.mtime, true)},
                        {"mtime_ns", nanos(f.mtime)},
                        {"reason", f.reason},
                        {"seq", f.seq},
                        {"time", f.time}};
    put_path(j, f.path);
    return j;
}

Result<FailedFile> from_json(const nlohmann::json& j) {
    FailedFile f;
    f.root = j.at("root").get<std::string>();
    auto path = get_path(j);
    if (!path) return fail(path.error());
    f.path = *path;
    f.device = j.at("device").get<uint64_t>();
    f.inode = j.at("inode").get<uint64_t>();
    f.size = j.at("size").get<uint64_t>();
    f.mtime = util::TimePoint{std::chrono::nanoseconds{j.at("mtime_ns").get<int64_t>()}};
    f.reason = j.value("reason", "");
    f.seq = j.value("seq", uint64_t{0});
    f.time = j.value("time", "");
    return f;
}

}  // namespace

const FailedFile* FailedFiles::find(const std::string& root, const std::string& path) const {
    for (const auto& f : files) {
        if (f.root == root && f.path == path) return &f;
    }
    return nullptr;
}

Result<FailedFiles> load_failed(const std::string& state_dir) {
    const std::string path = store_path(state_dir);
    auto text = util::read_file(path);
    if (!text && text.error().sys_errno() == ENOENT) return FailedFiles{};
    if (!text) return fail(text.error());
    auto refuse = [&path](const std::string& why) {
        return fail(ErrorKind::Refused,
                    fmt::format("{} is unreadable ({}); refusing to dispose until it is "
                                "inspected (remove it to let every pass try those files again)",
                                path, why));
    };
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (!j.is_object() || !j.contains("files") || !j["files"].is_array()) {
        return refuse("not a JSON object with a list \"files\"");
    }
    FailedFiles out;
    try {
        for (const auto& item : j["files"]) {
            auto f = from_json(item);
            if (!f) return refuse(f.error().message());
            out.files.push_back(std::move(*f));
        }
    } catch (const nlohmann::json::exception& e) {
        return refuse(e.what());
    }
    return out;
}

Status save_failed(const std::string& state_dir, const FailedFiles& failed) {
    nlohmann::json files = nlohmann::json::array();
    for (const auto& f : failed.files) files.push_back(to_json(f));
    // write_file_atomic writes a temporary file, fsyncs it, renames it and fsyncs the folder.
    if (auto st = util::write_file_atomic(store_path(state_dir),
                                          nlohmann::json{{"files", files}}.dump(1) + "\n", 0600);
        !st) {
        return fail(st.error().with_context("store of failed disposals"));
    }
    return {};
}

Status add_failed(const std::string& state_dir, FailedFile file) {
    auto failed = load_failed(state_dir);
    if (!failed) return fail(failed.error());
    std::erase_if(failed->files, [&file](const FailedFile& f) {
        return f.root == file.root && f.path == file.path;
    });
    failed->files.push_back(std::move(file));
    return save_failed(state_dir, *failed);
}

Status record_failed(const std::string& state_dir, int root_fd, const std::string& root,
                     const std::string& path, uint64_t device, uint64_t inode,
                     const std::string& reason, uint64_t seq, const std::string& time) {
    auto now = scan::stat_beneath(root_fd, path);
    if (!now || now->device != device || now->inode != inode) return {};
    FailedFile f;
    f.root = root;
    f.path = path;
    f.device = now->device;
    f.inode = now->inode;
    f.size = now->size;
    f.mtime = now->mtime;
    f.reason = reason;
    f.seq = seq;
    f.time = time;
    return add_failed(state_dir, std::move(f));
}

Result<FailedFiles> load_failed_for_pass(
    const std::string& state_dir, const std::function<Result<int>(const std::string&)>& root_fd,
    const std::optional<std::string>& only_root) {
    auto failed = load_failed(state_dir);
    if (!failed) return failed;
    const size_t before = failed->files.size();
    std::erase_if(failed->files, [&](const FailedFile& f) {
        if (only_root && *only_root != f.root) return false;
        const std::string shown = fmt::format("{}/{}", f.root, util::utf8_display(f.path));
        auto fd = root_fd(f.root);
        if (!fd) {
            util::log_info("{}: its disposal failed earlier; {}: no longer kept out of passes",
                           shown, fd.error().message());
            return true;
        }
        auto now = scan::stat_beneath(*fd, f.path);
        if (now && f.same_version(*now)) return false;
        util::log_info(
            "{}: its disposal failed earlier (ledger entry {}); it is {} since, so "
            "passes consider it again",
            shown, f.seq, now ? "changed" : "gone");
        return true;
    });
    if (failed->files.size() != before) {
        if (auto st = save_failed(state_dir, *failed); !st) return fail(st.error());
    }
    return failed;
}

}  // namespace lethe::service

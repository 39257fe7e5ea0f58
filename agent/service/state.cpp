#include "agent/service/state.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "agent/util/fs.hpp"
#include "agent/util/log.hpp"

namespace lethe::service {

namespace {

constexpr const char* kFormatName = "/format";

struct StateFormat {
    int64_t format = 1;  // a state_dir without the file: lethe 0.1's layout
    std::string written_by;
    bool recorded = false;
};

Result<StateFormat> read_state_format(const std::string& state_dir) {
    std::string path = state_dir + kFormatName;
    auto text = util::read_file(path);
    if (!text) {
        if (text.error().sys_errno() == ENOENT) return StateFormat{};
        return fail(ErrorKind::Refused,
                    fmt::format("{} (the format of state_dir): {}", path, text.error().message()));
    }
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (!j.is_object() || !j.contains("format") || !j["format"].is_number_integer() ||
        j["format"].get<int64_t>() < 1) {
        return fail(ErrorKind::Refused,
                    fmt::format("{} is not a state_dir format record ({{\"format\": N, ...}}); "
                                "lethe will not guess which layout state_dir has",
                                path));
    }
    StateFormat f;
    f.format = j["format"].get<int64_t>();
    if (j.contains("written_by") && j["written_by"].is_string()) {
        f.written_by = j["written_by"].get<std::string>();
    }
    f.recorded = true;
    return f;
}

}  // namespace

Status check_state_format(const std::string& state_dir) {
    auto f = read_state_format(state_dir);
    if (!f) return fail(f.error());
    if (f->format > kStateFormat) {
        return fail(ErrorKind::Refused,
                    fmt::format("state_dir {} has format {}{}, newer than format {} that lethe "
                                "{} knows: this lethe could misread its ledger, holds and "
                                "reviews; run the newer lethe (see Upgrading in the operator "
                                "guide)",
                                state_dir, f->format,
                                f->written_by.empty() ? "" : " (written by " + f->written_by + ")",
                                kStateFormat, LETHE_VERSION));
    }
    return {};
}

Status write_state_format(const std::string& state_dir) {
    auto f = read_state_format(state_dir);
    if (!f) return fail(f.error());
    if (f->format > kStateFormat) return check_state_format(state_dir);
    if (f->recorded && f->format == kStateFormat) return {};
    nlohmann::json j = {{"format", kStateFormat},
                        {"written_by", fmt::format("lethe {}", LETHE_VERSION)}};
    if (auto st = util::write_file_atomic(state_dir + kFormatName, j.dump() + "\n", 0600); !st) {
        return st;
    }
    struct stat st {};
    if (::lstat((state_dir + "/ledger.jsonl").c_str(), &st) == 0) {
        util::log_info("state_dir {} was written by an earlier lethe: recorded format {} "
                       "(lethe {})",
                       state_dir, kStateFormat, LETHE_VERSION);
    }
    return {};
}

Result<StateLock> StateLock::acquire(const std::string& state_dir) {
    if (auto st = util::make_dirs(state_dir, 0700); !st) return fail(st.error());
    std::string path = state_dir + "/lock";
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) return fail(errno_error(fmt::format("open lock {}", path), errno));
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            return fail(ErrorKind::Refused,
                        fmt::format("another lethe pass holds {}; try again when it ends", path));
        }
        return fail(errno_error(fmt::format("lock {}", path), errno));
    }
    // Under the lock, so that two lethes never both write it.
    if (auto st = write_state_format(state_dir); !st) return fail(st.error());
    return StateLock(std::move(fd));
}

}  // namespace lethe::service

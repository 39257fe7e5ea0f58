#include "agent/service/config_safety.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "agent/act/age.hpp"
#include "agent/service/mount_safety.hpp"
#include "agent/util/mountinfo.hpp"

namespace lethe::service {

namespace {

using FolderId = std::pair<dev_t, ino_t>;

// Where a configured path really is.
struct Place {
    std::string path;  // as configured (absolute, normalized by policy/)
    std::string real;  // symlinks resolved up to the nearest existing parent, the rest as written
    // Device and inode of the nearest existing entry and of each folder above it up to `/`.
    std::vector<FolderId> ids;
    bool exists = false;  // the whole path exists: ids.front() is the entry itself
};

std::string parent_path(const std::string& path) {
    size_t slash = path.rfind('/');
    return slash == 0 || slash == std::string::npos ? std::string("/") : path.substr(0, slash);
}

std::string join(const std::string& folder, const std::string& rest) {
    if (rest.empty()) return folder;
    return folder == "/" ? "/" + rest : folder + "/" + rest;
}

std::string absolute(const std::string& path) {
    if (!path.empty() && path.front() == '/') return path;
    std::unique_ptr<char, decltype(&::free)> cwd(::realpath(".", nullptr), &::free);
    return cwd ? join(cwd.get(), path) : path;
}

Place locate(const std::string& configured) {
    Place place;
    // The config's own path is as given on the command line; every other path is absolute.
    std::string path = absolute(configured);
    place.path = path;
    std::string head = path;
    std::string tail;
    std::unique_ptr<char, decltype(&::free)> real(nullptr, &::free);
    for (;;) {
        real.reset(::realpath(head.c_str(), nullptr));
        if (real || head == "/" || head.empty()) break;
        size_t slash = head.rfind('/');
        std::string last = slash == std::string::npos ? head : head.substr(slash + 1);
        if (!tail.empty()) last.append("/").append(tail);
        tail = std::move(last);
        head = parent_path(head);
    }
    if (!real) {
        place.real = path;
        return place;
    }
    place.exists = tail.empty();
    std::string folder(real.get());
    place.real = join(folder, tail);
    for (std::string cur = folder;; cur = parent_path(cur)) {
        struct stat st {};
        if (::stat(cur.c_str(), &st) == 0) place.ids.emplace_back(st.st_dev, st.st_ino);
        if (cur == "/") break;
    }
    return place;
}

bool text_within(const std::string& inner, const std::string& outer) {
    if (inner == outer || outer == "/") return true;
    return inner.size() > outer.size() && inner.compare(0, outer.size(), outer) == 0 &&
           inner[outer.size()] == '/';
}

// Empty when `inner` is not `outer` or inside it; else how it was found (empty text for a
// path written inside the other, which needs no explanation).
std::optional<std::string> within(const Place& inner, const Place& outer) {
    if (text_within(inner.path, outer.path)) return std::string();
    if (text_within(inner.real, outer.real)) {
        return fmt::format(" (by its real path {} in {})", inner.real, outer.real);
    }
    if (outer.exists && !outer.ids.empty() &&
        std::find(inner.ids.begin(), inner.ids.end(), outer.ids.front()) != inner.ids.end()) {
        return std::string(" (the same folder by device and inode: a bind mount or another "
                           "spelling of it)");
    }
    return std::nullopt;
}

// lethe's own files and folders, none of which may lie inside a root.
struct OwnPath {
    std::string setting;
    Place place;
    std::string harm;  // what a category could do to it
};

std::vector<OwnPath> own_paths(const policy::AgentConfig& config,
                               const std::vector<policy::RetentionSchedule>* schedules) {
    std::vector<OwnPath> out;
    auto add = [&out](std::string setting, const std::string& path, std::string harm) {
        if (!path.empty()) out.push_back({std::move(setting), locate(path), std::move(harm)});
    };
    add("state_dir", config.state_dir,
        "a category could dispose of lethe's own ledger and key");
    add("the config", config.source_path, "a category could dispose of lethe's own config");
    add("policies", config.policies, "a category could dispose of the retention schedules");
    if (schedules != nullptr) {
        const std::string policies_real = locate(config.policies).real;
        for (const auto& s : *schedules) {
            // Already covered by `policies`, unless a symlink leads elsewhere.
            if (text_within(s.source_path, config.policies) &&
                text_within(locate(s.source_path).real, policies_real)) {
                continue;
            }
            add(fmt::format("schedule '{}'", s.id), s.source_path,
                "a category could dispose of the retention schedule");
        }
    }
    add("[signing] key", config.signing_key, "a category could dispose of the signing key");
    add("[archive] destination", config.archive_destination,
        "a category could dispose of the archives, and each pass would archive earlier "
        "archives");
    add("metrics_file", config.metrics_file,
        "a category could dispose of it, and every pass would change the share it walks");
    return out;
}

void check_roots(const policy::AgentConfig& config, const std::vector<Place>& roots,
                 std::vector<ConfigRefusal>& out) {
    for (size_t i = 0; i < roots.size(); ++i) {
        const auto& root = config.roots[i];
        std::string setting = fmt::format("root '{}'", root.name);
        if (roots[i].real == "/") {
            out.push_back({setting, fmt::format("root '{}' {} is the whole filesystem (real path "
                                                "/): lethe's own files and the system would be "
                                                "in it; name the share's folder",
                                                root.name, root.path)});
        }
        for (size_t j = 0; j < i; ++j) {
            const auto& other = config.roots[j];
            auto inner = within(roots[i], roots[j]);
            auto outer = within(roots[j], roots[i]);
            if (inner && outer) {
                out.push_back({setting, fmt::format(
                    "root '{}' {} is the same folder as root '{}' {}{}: a hold through one "
                    "root would not protect a file disposed of through the other; list each "
                    "folder once", root.name, root.path, other.name, other.path, *inner)});
            } else if (inner || outer) {
                const auto& in = inner ? root : other;
                const auto& out_root = inner ? other : root;
                out.push_back({setting, fmt::format(
                    "root '{}' {} is inside root '{}' {}{}: a file held through one root could "
                    "be disposed of through the other, and the longest retention would not "
                    "win; remove one of them or make them separate folders",
                    in.name, in.path, out_root.name, out_root.path, inner ? *inner : *outer)});
            }
        }
    }
}

void check_state_dir(const policy::AgentConfig& config, const std::vector<Place>& roots,
                     const Place& state, std::vector<ConfigRefusal>& out) {
    for (size_t i = 0; i < roots.size(); ++i) {
        const auto& root = config.roots[i];
        if (within(state, roots[i])) continue;  // already refused as state_dir inside the root
        if (auto how = within(roots[i], state)) {
            out.push_back({fmt::format("root '{}'", root.name), fmt::format(
                "root '{}' {} is inside state_dir {}{}: a category could dispose of lethe's "
                "own ledger and key; move the root or state_dir so that neither holds the "
                "other", root.name, root.path, config.state_dir, *how)});
        }
    }
    auto not_in_state = [&](const std::string& setting, const std::string& path,
                            const std::string& why) {
        if (path.empty()) return;
        if (auto how = within(locate(path), state)) {
            out.push_back({setting, fmt::format("{} {} is inside state_dir {}{}: {}; move {} "
                                                "outside state_dir",
                                                setting, path, config.state_dir, *how, why,
                                                setting)});
        }
    };
    not_in_state("[archive] destination", config.archive_destination,
                 "archives would live among lethe's private state, and a state_dir restored "
                 "from a backup would roll them back");
    not_in_state("metrics_file", config.metrics_file,
                 "node_exporter would need to read lethe's private state folder (mode 0700)");
}

void check_archive(const policy::AgentConfig& config,
                   const std::vector<policy::RetentionSchedule>* schedules,
                   std::vector<ConfigRefusal>& out) {
    for (size_t i = 0; i < config.archive_recipients.size(); ++i) {
        if (auto r = act::age::Recipient::parse(config.archive_recipients[i]); !r) {
            out.push_back({"[archive] recipients", fmt::format(
                "[archive] recipients entry {}: {}: nothing could be archived or encrypted to "
                "it; write the public key that `lethe keygen --age-identity` or `age-keygen "
                "-y` prints", i + 1, r.error().message())});
        }
    }
    if (schedules == nullptr) return;
    for (const auto& s : *schedules) {
        for (const auto& c : s.categories) {
            policy::Action action = c.approved_action();
            std::string where = fmt::format("category '{}' of schedule '{}' ({}:{})", c.id, s.id,
                                            s.source_path, c.line);
            if (action == policy::Action::Archive && config.archive_destination.empty()) {
                out.push_back({"[archive] destination", fmt::format(
                    "{} archives files, but the config has no [archive] destination: every "
                    "due file would fail; set [archive] destination", where)});
            }
            bool encrypts = action == policy::Action::Encrypt ||
                            (action == policy::Action::Archive && c.encrypt);
            if (encrypts && config.archive_recipients.empty()) {
                out.push_back({"[archive] recipients", fmt::format(
                    "{} encrypts files, but the config has no [archive] recipients: every due "
                    "file would fail; set [archive] recipients", where)});
            }
        }
    }
}

// The guarded paths with where they are, state_dir first, then lethe's other files outside
// state_dir, then the roots.
struct Guarded {
    std::vector<GuardedPath> paths;
    std::vector<Place> places;
};

Guarded guarded(const policy::AgentConfig& config,
                const std::vector<policy::RetentionSchedule>* schedules) {
    Guarded out;
    auto add = [&out](GuardedPath path, Place place) {
        path.real = place.real;
        out.paths.push_back(std::move(path));
        out.places.push_back(std::move(place));
    };
    auto own = own_paths(config, schedules);
    const Place& state = own.front().place;  // state_dir is always first
    for (auto& o : own) {
        if (o.setting != "state_dir" && (text_within(o.place.path, state.path) ||
                                         text_within(o.place.real, state.real))) {
            continue;  // covered by state_dir
        }
        add({o.setting, o.place.path, {}, o.harm, {}}, o.place);
    }
    for (const auto& r : config.roots) {
        add({fmt::format("root '{}'", r.name), locate(r.path).path, {},
             "a file held through one root could be disposed of through the other", r.name},
            locate(r.path));
    }
    return out;
}

// Mounts that show a guarded path inside a root, or a root inside state_dir; a pair the
// checks by path and inode above already refused is not said again.
void check_mounts(const Guarded& g, std::vector<ConfigRefusal>& out) {
    auto mounts = util::read_mountinfo();
    if (!mounts) {
        out.push_back({"mounts", fmt::format(
            "cannot read the mount table ({}): lethe cannot tell whether a mount inside a root "
            "shows its own files or another root; make /proc/self/mountinfo readable",
            mounts.error().message())});
        return;
    }
    auto refusals = mount_refusals(g.paths, *mounts, [&g](size_t guarded, size_t root) {
        return within(g.places[guarded], g.places[root]).has_value() ||
               within(g.places[root], g.places[guarded]).has_value();
    });
    out.insert(out.end(), std::make_move_iterator(refusals.begin()),
               std::make_move_iterator(refusals.end()));
}

}  // namespace

std::vector<GuardedPath> guarded_paths(const policy::AgentConfig& config,
                                       const std::vector<policy::RetentionSchedule>* schedules) {
    return guarded(config, schedules).paths;
}

std::vector<ConfigRefusal> config_refusals(
    const policy::AgentConfig& config, const std::vector<policy::RetentionSchedule>* schedules) {
    std::vector<ConfigRefusal> out;
    std::vector<Place> roots;
    roots.reserve(config.roots.size());
    for (const auto& r : config.roots) roots.push_back(locate(r.path));
    check_roots(config, roots, out);
    const Place state = locate(config.state_dir);
    for (const auto& own : own_paths(config, schedules)) {
        for (size_t i = 0; i < roots.size(); ++i) {
            const auto& root = config.roots[i];
            // The key in state_dir/keys (the default) is said once, with state_dir.
            if (own.setting != "state_dir" &&
                text_within(own.place.path, state.path) && within(state, roots[i])) {
                continue;
            }
            if (auto how = within(own.place, roots[i])) {
                out.push_back({own.setting, fmt::format(
                    "{} {} is inside root '{}' {}{}: {}; move {} outside every root",
                    own.setting, own.place.path, root.name, root.path, *how, own.harm,
                    own.setting)});
            }
        }
    }
    check_state_dir(config, roots, state, out);
    check_mounts(guarded(config, schedules), out);
    check_archive(config, schedules, out);
    return out;
}

Status check_config_safety(const policy::AgentConfig& config,
                           const std::vector<policy::RetentionSchedule>& schedules) {
    auto refusals = config_refusals(config, &schedules);
    if (refusals.empty()) return {};
    std::string message =
        fmt::format("config {} refused, nothing was done (`lethe config check` lists every "
                    "reason): ",
                    config.source_path);
    for (size_t i = 0; i < refusals.size(); ++i) {
        message += (i == 0 ? "" : "; ") + refusals[i].message;
    }
    return fail(ErrorKind::Refused, message);
}

}  // namespace lethe::service

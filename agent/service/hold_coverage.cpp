#include "agent/service/hold_coverage.hpp"

#include <fmt/format.h>

#include <set>
#include <utility>

#include "agent/classify/decision.hpp"
#include "agent/classify/lookups.hpp"
#include "agent/policy/local_today.hpp"
#include "agent/scan/file_facts.hpp"
#include "agent/scan/walker.hpp"
#include "agent/service/archive_index.hpp"
#include "agent/service/encrypted_index.hpp"
#include "agent/util/encoding.hpp"
#include "agent/util/fs.hpp"
#include "agent/util/log.hpp"

namespace lethe::service {

namespace {

// The scopes of `hold` in the order HoldCoverage::scopes lists them; `path_index` is the
// index in hold.paths of each, or -1 for the client and the matter.
struct Scopes {
    std::vector<ScopeCoverage> list;
    std::vector<long> path_index;
    long client = -1;  // index in `list`
    long matter = -1;
};

Scopes scopes_of(const Hold& hold) {
    Scopes s;
    if (hold.client) {
        s.client = static_cast<long>(s.list.size());
        s.list.push_back({fmt::format("client {}", *hold.client)});
        s.path_index.push_back(-1);
    }
    if (hold.matter) {
        s.matter = static_cast<long>(s.list.size());
        s.list.push_back({fmt::format("matter {}", *hold.matter)});
        s.path_index.push_back(-1);
    }
    for (size_t i = 0; i < hold.paths.size(); ++i) {
        s.list.push_back({hold.paths[i].text()});
        s.path_index.push_back(static_cast<long>(i));
    }
    return s;
}

// Counts one file (or archived copy) against each scope on its own.
void count_scopes(const Hold& hold, Scopes& s, const std::string& root, std::string_view path,
                  const std::optional<std::string>& client,
                  const std::optional<std::string>& matter, bool archived) {
    for (size_t k = 0; k < s.list.size(); ++k) {
        const long i = s.path_index[k];
        bool match = false;
        if (i >= 0) {
            match = hold.path_covers(static_cast<size_t>(i), root, path);
        } else if (static_cast<long>(k) == s.client) {
            match = client == hold.client;
        } else if (static_cast<long>(k) == s.matter) {
            match = matter == hold.matter;
        }
        if (match) ++(archived ? s.list[k].archived : s.list[k].files);
    }
}

// Whether a literal path scope names an entry (file or folder) of `root`.
void note_existing(const Hold& hold, Scopes& s, const std::string& root, int root_fd) {
    for (size_t k = 0; k < s.list.size(); ++k) {
        const long i = s.path_index[k];
        if (i < 0 || s.list[k].exists) continue;
        const HoldPath& p = hold.paths[static_cast<size_t>(i)];
        if (!p.literal || (p.root && *p.root != root)) continue;
        if (scan::stat_beneath(root_fd, *p.literal)) s.list[k].exists = true;
    }
}

// The files of disposals an interrupted pass began (state_dir/intent.json): moved into
// lethe's disposal folder, out of every walk, and still kept by a hold placed now (the next
// pass puts them back). Read loosely, only to count them: the pass itself reads the file
// strictly.
std::vector<PlanEntry> interrupted_disposals(const std::string& state_dir) {
    std::vector<PlanEntry> out;
    auto text = util::read_file(state_dir + "/intent.json");
    if (!text) return out;
    auto add = [&out](const nlohmann::json& intent) {
        if (!intent.is_object() || !intent.contains("entry")) return;
        if (auto entry = PlanEntry::from_json(intent["entry"])) out.push_back(std::move(*entry));
    };
    auto whole = nlohmann::json::parse(*text, nullptr, false);
    if (whole.is_object() && whole.contains("intents") && whole["intents"].is_array()) {
        for (const auto& one : whole["intents"]) add(one);
        return out;
    }
    if (whole.is_object()) {
        add(whole);
        return out;
    }
    size_t pos = 0;
    while (pos < text->size()) {
        size_t end = text->find('\n', pos);
        if (end == std::string::npos) end = text->size();
        add(nlohmann::json::parse(text->substr(pos, end - pos), nullptr, false));
        pos = end + 1;
    }
    return out;
}

}  // namespace

Result<HoldCoverage> hold_coverage(const policy::AgentConfig& config,
                                   const std::vector<policy::RetentionSchedule>& schedules,
                                   const Hold& hold, util::TimePoint now) {
    HoldCoverage out;
    Scopes scopes = scopes_of(hold);
    const classify::Classifier classifier(schedules);
    auto encrypted = load_encrypted_index(config.state_dir);
    if (!encrypted) return fail(encrypted.error());
    const auto copies = encrypted->by_root();
    const std::vector<PlanEntry> interrupted = interrupted_disposals(config.state_dir);
    std::set<std::pair<std::string, std::string>> walked;  // interrupted ones the walk found
    for (const auto& root : config.roots) {
        auto fd = scan::open_root(root.path);
        if (!fd) {
            ++out.unreadable_roots;
            util::log_warning("root '{}': {}; its files are not counted", root.name,
                              fd.error().message());
            continue;
        }
        note_existing(hold, scopes, root.name, fd->get());
        scan::WalkOptions walk_options;
        walk_options.one_filesystem = root.one_filesystem;
        walk_options.exclude = root.exclude;
        // on_file runs on this thread only: one set of lookups serves the whole root.
        auto root_copies = copies.find(root.name);
        classify::FsLookups lookups(fd->get(),
                                    root_copies == copies.end() ? nullptr : &root_copies->second);
        classify::ClassifyOptions classify_options;
        classify_options.lookups = &lookups;
        auto stats = scan::walk(
            fd->get(), walk_options,
            [&](const scan::FileFacts& facts) {
                classify::Decision d = classifier.classify(facts, now, classify_options);
                for (const auto& e : interrupted) {
                    if (e.root == root.name && e.facts.path == facts.path) {
                        walked.emplace(e.root, e.facts.path);
                    }
                }
                count_scopes(hold, scopes, root.name, facts.path, d.client, d.matter, false);
                if (!hold.covers(root.name, facts.path, d.client, d.matter)) return;
                out.files.add(facts.size);
                if (d.status == classify::Status::Due || d.status == classify::Status::Skipped) {
                    ++out.due;
                }
            },
            [&](std::string_view path, const Error& error) {
                util::log_warning("{}: {}: {}", root.name, util::utf8_display(path),
                                  error.message());
            });
        if (!stats) return fail(stats.error());
    }
    for (const auto& e : interrupted) {
        if (walked.count({e.root, e.facts.path}) != 0) continue;
        count_scopes(hold, scopes, e.root, e.facts.path, e.client, e.matter, false);
        if (hold.covers(e.root, e.facts.path, e.client, e.matter)) {
            out.files.add(e.facts.size);
            ++out.due;
        }
    }
    // Archived copies in lethe's archives are covered too (their archives are kept whole).
    auto index = load_archive_index(config.state_dir);
    if (!index) return fail(index.error());
    // A copy expires on today in the zone of its schedule.
    const policy::LocalToday local(schedules, now);
    for (const IndexedArchive* a : index->live()) {
        bool any = false;
        for (const auto& m : a->members) {
            count_scopes(hold, scopes, a->root, m.path, a->client, a->matter, true);
            if (!hold.covers(a->root, m.path, a->client, a->matter)) continue;
            out.archived.add(m.size);
            if (m.expired_on(local.of(m.schedule))) ++out.expired;
            any = true;
        }
        if (any) ++out.archives;
    }
    out.scopes = std::move(scopes.list);
    return out;
}

}  // namespace lethe::service

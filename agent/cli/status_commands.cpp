#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/stat.h>

#include <chrono>

#include "agent/cli/certs.hpp"
#include "agent/cli/commands.hpp"
#include "agent/cli/common.hpp"
#include "agent/ledger/keys.hpp"
#include "agent/policy/config.hpp"
#include "agent/policy/schedule.hpp"
#include "agent/scan/file_facts.hpp"
#include "agent/service/config_safety.hpp"
#include "agent/service/holds.hpp"
#include "agent/service/journal_anchor.hpp"
#include "agent/service/pass_record.hpp"
#include "agent/service/failed_store.hpp"
#include "agent/service/review.hpp"
#include "agent/service/state.hpp"
#include "agent/service/state_check.hpp"
#include "agent/service/timing.hpp"
#include "agent/util/fs.hpp"
#include "agent/util/plural.hpp"

namespace lethe::cli {

namespace {

constexpr const char* kUnitName = "lethe.service";

// The ledger against what state_dir recorded of it, and the hold and review stores against
// the ledger (what the next pass checks first: see state_check.hpp).
void add_state_warnings(const policy::AgentConfig& config, std::vector<std::string>& warnings) {
    // Without readable keys nothing is left out, and `lethe certs verify` says why.
    auto keys = agent_keys(config);
    auto anchored = service::check_anchors(config.state_dir, config.ledger_path(),
                                           keys ? &*keys : nullptr);
    if (!anchored) {
        warnings.push_back(anchored.error().message());
        return;
    }
    if (!anchored->behind.empty()) {
        warnings.push_back(fmt::format(
            "ROLLBACK: {}; passes refuse to run until the ledger is restored or accepted with "
            "`lethe state accept-ledger`",
            anchored->behind));
        return;
    }
    for (auto& d : service::store_differences(config.state_dir, anchored->replayed)) {
        warnings.push_back(std::move(d));
    }
}

int status(const std::string& config_path) {
    auto config = load_state_config(config_path);
    if (!config) return report(config.error());
    auto timing = service::parse_timing(*config);
    if (!timing) return report(timing.error());
    std::vector<std::string> warnings;
    for (const auto& refusal : service::config_refusals(*config, nullptr)) {
        warnings.push_back("config refused (no pass runs until it is fixed): " + refusal.message);
    }

    std::vector<std::string> names;
    for (const auto& r : config->roots) names.push_back(r.name);
    print_line(fmt::format("config:     {} ({} root(s): {})", config_path, config->roots.size(),
                           fmt::join(names, ", ")));

    auto record = service::read_pass_record(config->state_dir);
    std::optional<util::TimePoint> last_start;
    if (!record) {
        warnings.push_back(record.error().message());
    } else if (!*record) {
        print_line("last pass:  none recorded yet");
    } else {
        const service::PassRecord& r = **record;
        const service::RunSummary& s = r.summary;
        if (auto t = util::parse_timestamp(r.started)) last_start = *t;
        if (r.result == "error") {
            print_line(
                fmt::format("last pass:  {} to {}, FAILED: {}", r.started, r.finished, r.error));
            warnings.push_back("the last pass failed; nothing was disposed after the error");
        } else {
            print_line(fmt::format(
                "last pass:  {} to {}, {}: {} disposed ({}){}; {} skipped, {} failed, {} due "
                "under observe mode; checkpoint certificate {}",
                r.started, r.finished, r.result, s.disposed, human_bytes(s.bytes),
                s.recovered > 0 ? ", " + service::of_which_recovered(s.recovered) : "",
                s.skipped, s.failed, s.observed,
                s.checkpoint_seq));
            if (s.failed > 0)
                warnings.push_back(fmt::format("{} file(s) failed in the last pass", s.failed));
            if (s.stopped)
                warnings.push_back("the last pass was stopped before it handled every due file");
        }
    }

    auto now = util::TimePoint{std::chrono::system_clock::now().time_since_epoch()};
    auto next = service::next_pass_time(*timing, last_start, now);
    print_line(fmt::format(
        "next pass:  {} (`lethe agent`: every {}, window {})",
        next <= now ? std::string("due now") : util::format_timestamp(next), config->interval,
        timing->window ? timing->window->to_string() + " local time" : "any time"));

    // The current key and the retired ones: after `keygen --rotate` the last line is the
    // rotation, signed by the old key.
    std::vector<ledger::VerifyKey> trusted;
    if (auto keys = agent_keys(*config)) trusted = std::move(*keys);
    auto head = service::read_ledger_head(config->ledger_path(), trusted);
    if (!head) {
        warnings.push_back(head.error().message());
    } else if (!*head) {
        print_line(fmt::format("ledger:     {} is empty or absent", config->ledger_path()));
    } else {
        print_line(fmt::format(
            "ledger:     {}, head {}{}", util::counted((*head)->seq, "entry", "entries"),
            (*head)->head,
            (*head)->signed_by_trusted ? "" : " (last line NOT signed by the agent's key)"));
        if (!(*head)->signed_by_trusted) {
            warnings.push_back(
                "the ledger's last line does not check out: run `lethe certs verify`");
        }
    }
    add_state_warnings(*config, warnings);
    struct stat st {};
    if (auto holds = service::load_holds(config->state_dir); !holds) {
        warnings.push_back(holds.error().message());
    } else {
        util::Date today =
            util::date_of(util::TimePoint{std::chrono::system_clock::now().time_since_epoch()});
        size_t active = 0;
        size_t pending = 0;
        for (const auto& h : holds->holds) {
            if (h.active_on(today)) ++active;
            if (!h.placed_seq || (h.released && !h.released_seq)) ++pending;
        }
        print_line(fmt::format(
            "holds:      {} active (`lethe hold list`){}", active,
            pending > 0 ? fmt::format(", {} not as in the ledger (see the warnings)", pending)
                        : ""));
    }
    if (auto queue = service::load_review_queue(config->state_dir); !queue) {
        warnings.push_back(queue.error().message());
    } else {
        size_t pending = 0;
        size_t approved = 0;
        size_t rejected = 0;
        for (const auto& r : queue->items) {
            pending += r.state == service::ReviewState::Pending ? 1 : 0;
            approved += r.state == service::ReviewState::Approved ? 1 : 0;
            rejected += r.state == service::ReviewState::Rejected ? 1 : 0;
        }
        uint64_t unrecorded = queue->unrecorded();
        print_line(fmt::format(
            "review:     {} pending (`lethe review list`), {} approved for the next pass, {} "
            "rejected and kept{}",
            pending, approved, rejected,
            unrecorded > 0
                ? fmt::format(", {} decision(s) not in the ledger (undone by the next pass)",
                              unrecorded)
                : ""));
    }
    if (auto failed = service::load_failed(config->state_dir); !failed) {
        warnings.push_back(failed.error().message());
    } else if (!failed->files.empty()) {
        print_line(fmt::format("failed:     {} kept since their disposal failed, until they change "
                               "(`lethe state failed`, `lethe state retry`)",
                               util::counted(failed->files.size(), "file", "files")));
    }
    if (::lstat((config->state_dir + "/intent.json").c_str(), &st) == 0) {
        warnings.push_back("an interrupted disposal is pending; the next pass completes it first");
    }
    if (::lstat((config->state_dir + "/archive-intent.json").c_str(), &st) == 0) {
        warnings.push_back(
            "an interrupted disposal of an archive is pending; the next pass completes it first");
    }
    if (warnings.empty()) {
        print_line("warnings:   none");
    } else {
        for (const auto& w : warnings) print_line(fmt::format("warning:    {}", w));
    }
    return kExitOk;
}

// state_dir as `run` will use it: an existing folder of a format this lethe knows, or a
// folder lethe will create (mode 0700) below its nearest existing parent folder.
template <typename Bad>
void check_state_dir(const std::string& state_dir, Bad& bad) {
    struct stat st {};
    if (::stat(state_dir.c_str(), &st) != 0) {
        if (errno != ENOENT) {
            bad("state_dir", errno_error(state_dir, errno));
            return;
        }
        std::string parent = util::folder_of(state_dir);
        while (parent != "/" && ::stat(parent.c_str(), &st) != 0 && errno == ENOENT) {
            parent = util::folder_of(parent);
        }
        if (::stat(parent.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
            bad("state_dir", Error(ErrorKind::BadInput,
                                   fmt::format("{} cannot be created: {} is not a folder",
                                               state_dir, parent)));
        } else {
            print_line(fmt::format("ok: state_dir {} (does not exist yet: the first pass "
                                   "creates it, mode 0700, in {})",
                                   state_dir, parent));
        }
    } else if (!S_ISDIR(st.st_mode)) {
        bad("state_dir", Error(ErrorKind::BadInput, fmt::format("{} is not a folder", state_dir)));
    } else if (auto format = service::check_state_format(state_dir); !format) {
        bad("state_dir", format.error());
    } else {
        print_line(fmt::format("ok: state_dir {}", state_dir));
    }
}

// Every check runs, so one call lists every problem.
int config_check(const std::string& config_path) {
    int status = kExitOk;
    auto bad = [&](const std::string& what, const Error& e) {
        print_line(fmt::format("FAILED: {}: {}", what, e.message()));
        status = exit_code_for(e) == kExitInternal ? kExitInternal : kExitBadInput;
    };
    auto config = policy::load_config(config_path);
    if (!config) {
        bad("config", config.error());
        return status;
    }
    print_line(fmt::format("ok: config {}", config_path));
    if (auto t = service::parse_timing(*config)) {
        print_line(fmt::format("ok: interval {}, window {}", config->interval,
                               t->window ? t->window->to_string() : "any time"));
    } else {
        bad("timing", t.error());
    }
    std::vector<std::string> schedule_problems;
    auto schedules = policy::load_schedules({config->policies}, &schedule_problems);
    if (auto& s = schedules) {
        for (const auto& sch : *s) {
            print_line(fmt::format("ok: schedule '{}' version {}, {}, mode {}", sch.id,
                                   sch.version,
                                   util::counted(sch.categories.size(), "category", "categories"),
                                   policy::to_string(sch.mode)));
        }
        if (s->empty()) print_line(fmt::format("note: no schedules in {}", config->policies));
    } else if (schedule_problems.empty()) {
        bad("schedules", s.error());
    } else {
        for (const auto& problem : schedule_problems) {  // one line each, as policy check
            bad("schedules", Error(s.error().kind(), problem));
        }
    }
    // The refusals `run` and `agent` would stop at (with the schedules when they loaded).
    for (const auto& refusal :
         service::config_refusals(*config, schedules ? &*schedules : nullptr)) {
        bad(refusal.setting, Error(ErrorKind::Refused, refusal.message));
    }
    // Root checks the key as the service will load it: the service runs as the user that
    // owns state_dir (StateDirectory= in the unit), and the key must be that user's.
    struct stat state_st {};
    const bool as_service_user = ::geteuid() == 0 &&
                                 ::stat(config->state_dir.c_str(), &state_st) == 0 &&
                                 S_ISDIR(state_st.st_mode) && state_st.st_uid != 0;
    auto key = as_service_user
                   ? ledger::SigningKey::load_owned_by(config->signing_key, state_st.st_uid)
                   : ledger::SigningKey::load(config->signing_key);
    if (key) {
        print_line(fmt::format("ok: signing key {} (keyid {}{})", config->signing_key, key->keyid(),
                               as_service_user ? fmt::format(", owned by uid {} like state_dir",
                                                             state_st.st_uid)
                                               : ""));
    } else {
        bad("signing key", key.error());
    }
    for (const auto& root : config->roots) {
        if (auto fd = scan::open_root(root.path)) {
            print_line(fmt::format("ok: root '{}' at {}", root.name, root.path));
        } else {
            bad(fmt::format("root '{}'", root.name), fd.error());
        }
    }
    check_state_dir(config->state_dir, bad);
    struct stat st {};
    if (!config->metrics_file.empty()) {
        std::string folder = util::folder_of(config->metrics_file);
        if (::stat(folder.c_str(), &st) != 0) {
            bad("metrics_file", errno_error(fmt::format("folder {}", folder), errno));
        } else if (!S_ISDIR(st.st_mode)) {
            bad("metrics_file",
                Error(ErrorKind::BadInput, fmt::format("{} is not a folder", folder)));
        } else {
            print_line(fmt::format("ok: metrics_file {}", config->metrics_file));
        }
    }
    return status;
}

// systemd unquotes double-quoted words and C escapes in ReadWritePaths=.
std::string unit_path(const std::string& path) {
    std::string out = "\"";
    for (char c : path) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

int unit_dropin(const std::string& config_path) {
    auto config = policy::load_config(config_path);
    if (!config) return report(config.error());
    print_line(fmt::format("# Drop-in for {} written by `lethe config unit-dropin` from {}.",
                           kUnitName, config_path));
    print_line("# Install: systemctl edit lethe  (paste this), or save it as");
    print_line(
        "#   /etc/systemd/system/lethe.service.d/roots.conf and run systemctl daemon-reload.");
    print_line("# The unit mounts everything read-only except the paths below and /var/lib/lethe.");
    print_line("[Service]");
    std::vector<std::string> writable;
    for (const auto& root : config->roots) {
        print_line(fmt::format("# root '{}'", root.name));
        print_line(fmt::format("ReadWritePaths={}", unit_path(root.path)));
        writable.push_back(root.path);
    }
    if (!config->archive_destination.empty()) {
        print_line("# [archive] destination");
        print_line(fmt::format("ReadWritePaths={}", unit_path(config->archive_destination)));
        writable.push_back(config->archive_destination);
    }
    if (config->state_dir != "/var/lib/lethe") {
        print_line("# state_dir (not the unit's StateDirectory)");
        print_line(fmt::format("ReadWritePaths={}", unit_path(config->state_dir)));
        writable.push_back(config->state_dir);
    }
    auto inside = [](const std::string& path, const std::string& folder) {
        return path.size() > folder.size() && path.compare(0, folder.size(), folder) == 0 &&
               path[folder.size()] == '/';
    };
    if (!config->metrics_file.empty() && !inside(config->metrics_file, config->state_dir) &&
        !inside(config->metrics_file, "/var/lib/lethe")) {
        // The file is replaced by a rename, so its folder must be writable.
        std::string folder = util::folder_of(config->metrics_file);
        print_line("# metrics_file's folder (node_exporter textfile collector)");
        print_line(fmt::format("ReadWritePaths={}", unit_path(folder)));
        writable.push_back(folder);
    }
    auto under = [&](std::string_view top) {
        for (const auto& p : writable) {
            if (p == top || (p.size() > top.size() && p.compare(0, top.size(), top) == 0 &&
                             p[top.size()] == '/')) {
                return true;
            }
        }
        return false;
    };
    if (under("/home") || under("/root") || under("/run/user")) {
        print_line("# a path above lies in a home folder, which the unit hides otherwise");
        print_line("ProtectHome=read-only");
    }
    if (under("/tmp") || under("/var/tmp")) {
        print_line("# a path above lies in /tmp or /var/tmp, which the unit replaces otherwise");
        print_line("PrivateTmp=no");
    }
    return kExitOk;
}

}  // namespace

void add_status_commands(CLI::App& app, CommandContext& context) {
    CLI::App* st = app.add_subcommand("status", "last pass, next pass, ledger head, warnings");
    context.add_config_option(st);
    st->callback([&context] { context.chosen = [&context] { return status(context.config); }; });

    CLI::App* config = app.add_subcommand("config", "the agent config");
    config->require_subcommand(1);
    CLI::App* check = config->add_subcommand(
        "check", "validate config, timing, schedules, signing key, roots and state_dir");
    context.add_config_option(check);
    check->callback(
        [&context] { context.chosen = [&context] { return config_check(context.config); }; });
    CLI::App* dropin = config->add_subcommand(
        "unit-dropin", "print the systemd drop-in that lets the unit write to the roots");
    context.add_config_option(dropin);
    dropin->callback(
        [&context] { context.chosen = [&context] { return unit_dropin(context.config); }; });
}

}  // namespace lethe::cli

#include "agent/cli/commands.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "agent/ledger/keys.hpp"
#include "agent/ledger/ledger.hpp"
#include "agent/policy/config.hpp"
#include "agent/policy/schedule.hpp"
#include "agent/service/pass.hpp"
#include "agent/service/plan.hpp"
#include "agent/util/encoding.hpp"
#include "agent/util/fs.hpp"
#include "agent/util/log.hpp"

namespace lethe::cli {

namespace {

int report(const Error& error) {
    util::log_error("{}", error.message());
    return exit_code_for(error);
}

std::string human_bytes(uint64_t bytes) {
    static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = static_cast<double>(bytes);
    size_t unit = 0;
    while (value >= 1024.0 && unit + 1 < std::size(kUnits)) {
        value /= 1024.0;
        ++unit;
    }
    return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, kUnits[unit]);
}

void print_line(const std::string& line) {
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
}

Result<util::TimePoint> current_time(const std::string& injected) {
    if (injected.empty()) {
        return util::TimePoint{std::chrono::system_clock::now().time_since_epoch()};
    }
    return util::parse_timestamp(injected);
}

struct Loaded {
    policy::AgentConfig config;
    std::vector<policy::RetentionSchedule> schedules;
};

Result<Loaded> load_all(const std::string& config_path) {
    auto config = policy::load_config(config_path);
    if (!config) return fail(config.error());
    auto schedules = policy::load_schedules({config->policies});
    if (!schedules) {
        return fail(schedules.error().with_context("schedules (no disposal until fixed)"));
    }
    return Loaded{std::move(*config), std::move(*schedules)};
}

int policy_check(const std::vector<std::string>& paths) {
    auto files = policy::schedule_files(paths);
    if (!files) return report(files.error());
    if (files->empty()) {
        util::log_error("no schedule files (*.toml) in {}", fmt::join(paths, ", "));
        return kExitBadInput;
    }
    int status = kExitOk;
    for (const auto& f : *files) {
        auto text = util::read_file(f);
        auto s = text ? policy::parse_schedule(*text, f)
                      : Result<policy::RetentionSchedule>(fail(text.error()));
        if (!s) {
            util::log_error("{}", s.error().message());
            status = kExitBadInput;
            continue;
        }
        print_line(fmt::format("ok: {}: schedule '{}' version {}, {} categories, mode {}", f, s->id,
                               s->version, s->categories.size(), policy::to_string(s->mode)));
    }
    if (status == kExitOk) {
        // Cross-file rules (duplicate schedule or category ids).
        auto all = policy::load_schedules(paths);
        if (!all) return report(all.error());
    }
    return status;
}

int plan(const std::string& config_path, bool json, const std::string& now_text,
         const std::string& root, const std::string& due_within) {
    auto loaded = load_all(config_path);
    if (!loaded) return report(loaded.error());
    auto now = current_time(now_text);
    if (!now) return report(now.error());
    service::PlanOptions options;
    options.today = util::date_of(*now);
    if (!root.empty()) options.root = root;
    if (!due_within.empty()) {
        auto horizon = policy::Retention::parse(due_within);
        if (!horizon || horizon->permanent) {
            util::log_error("--due-within: {}", horizon ? "must be a duration" : horizon.error().message());
            return kExitBadInput;
        }
        options.horizon = horizon->add_to(options.today);
    }
    if (!json) {
        print_line(fmt::format("{:<10} {:<10}  {:<8}  {:<16}  {}", "STATUS", "EXPIRES", "ACTION",
                               "CATEGORY", "PATH"));
    }
    bool observe_due = false;
    auto summary = service::make_plan(loaded->config, loaded->schedules, options,
                                      [&](const service::PlanEntry& e) {
        if (json) {
            print_line(e.to_json().dump());
            return;
        }
        std::string status(classify::to_string(e.status));
        if (e.status == classify::Status::Due && e.mode == policy::Mode::Observe) {
            status += "*";
            observe_due = true;
        }
        std::string line = fmt::format(
            "{:<10} {:<10}  {:<8}  {:<16}  {}/{}", status,
            e.expires ? util::format_date(*e.expires) : "permanent", policy::to_string(e.action),
            e.category, e.root, util::utf8_display(e.facts.path));
        if (!e.reason.empty()) line += fmt::format("  ({})", e.reason);
        print_line(line);
    });
    if (!summary) return report(summary.error());
    if (json) {
        print_line(summary->to_json().dump());
        return kExitOk;
    }
    auto count = [&](const char* status) {
        auto it = summary->by_status.find(status);
        return it == summary->by_status.end() ? service::Tally{} : it->second;
    };
    auto due = count("due");
    print_line(fmt::format("summary: {} due ({}), {} skipped, {} not due, {} in no category",
                           due.files, human_bytes(due.bytes), count("skipped").files,
                           count("not-due").files, summary->unmatched));
    for (const auto& [category, t] : summary->by_category) {
        print_line(fmt::format("  category {:<16} {:>6} files  {}", category, t.files,
                               human_bytes(t.bytes)));
    }
    for (const auto& [action, t] : summary->by_action) {
        print_line(fmt::format("  action   {:<16} {:>6} files  {}", action, t.files,
                               human_bytes(t.bytes)));
    }
    for (const auto& [name, w] : summary->walks) {
        print_line(fmt::format("  root     {:<16} {:>6} files  {} symlinks (not followed), "
                               "{} special, {} excluded, {} unreadable",
                               name, w.files, w.symlinks, w.special, w.excluded, w.errors));
    }
    if (observe_due) {
        print_line("  * under a schedule in observe mode: reported only, `lethe run` will not "
                   "dispose of it");
    }
    return kExitOk;
}

int run_disposal(const std::string& config_path, const std::string& now_text,
                 const std::string& root) {
    auto loaded = load_all(config_path);
    if (!loaded) return report(loaded.error());
    auto key = ledger::SigningKey::load(loaded->config.signing_key);
    if (!key) return report(key.error());
    service::RunOptions options;
    auto now = current_time(now_text);
    if (!now) return report(now.error());
    options.now = *now;
    options.injected_time = !now_text.empty();
    if (!root.empty()) options.root = root;
    auto summary = service::run_pass(loaded->config, loaded->schedules, *key, options);
    if (!summary) return report(summary.error());
    print_line(fmt::format("disposed {} files ({}); {} skipped, {} failed, {} due under observe "
                           "mode not disposed{}; checkpoint certificate {}",
                           summary->disposed, human_bytes(summary->bytes), summary->skipped,
                           summary->failed, summary->observed,
                           summary->recovered > 0
                               ? fmt::format(", {} interrupted disposals completed", summary->recovered)
                               : "",
                           summary->checkpoint_seq));
    return summary->failed > 0 ? kExitFinding : kExitOk;
}

int certs_verify(const std::string& config_path, const std::vector<std::string>& key_paths) {
    auto config = policy::load_config(config_path);
    if (!config) return report(config.error());
    std::vector<std::string> paths = key_paths;
    if (paths.empty()) paths.push_back(config->public_key_path());
    std::vector<ledger::VerifyKey> keys;
    for (const auto& p : paths) {
        auto k = ledger::VerifyKey::load(p);
        if (!k) return report(k.error());
        keys.push_back(std::move(*k));
    }
    auto result = ledger::verify_ledger(config->ledger_path(), keys);
    if (!result) return report(result.error().with_context("cannot read the ledger"));
    if (!result->ok()) {
        print_line(fmt::format("FAILED: {} line {}: {}", config->ledger_path(), *result->bad_line,
                               result->problem));
        print_line(fmt::format("{} entries before it verified", result->entries));
        return kExitFinding;
    }
    auto count = [&](const char* type) {
        auto it = result->by_type.find(type);
        return it == result->by_type.end() ? uint64_t{0} : it->second;
    };
    print_line(fmt::format("verified {} certificates ({} disposals, {} checkpoints) in {}: "
                           "signatures and hash chain intact; head {}",
                           result->entries, count("disposal"), count("checkpoint"),
                           config->ledger_path(), result->head));
    return kExitOk;
}

int keygen(const std::string& config_path) {
    auto config = policy::load_config(config_path);
    if (!config) return report(config.error());
    if (auto st = ledger::SigningKey::generate(config->signing_key); !st) return report(st.error());
    auto key = ledger::SigningKey::load(config->signing_key);
    if (!key) return report(key.error());
    print_line(fmt::format("created signing key {} (public key {}), keyid {}",
                           config->signing_key, config->public_key_path(), key->keyid()));
    return kExitOk;
}

}  // namespace

void Commands::add_to(CLI::App& app) {
    auto add_config = [this](CLI::App* cmd) {
        cmd->add_option("--config,-c", m_config, "agent config file")
            ->capture_default_str();
    };

    CLI::App* policy_cmd = app.add_subcommand("policy", "retention schedules");
    policy_cmd->require_subcommand(1);
    CLI::App* check = policy_cmd->add_subcommand("check", "validate schedule files and folders");
    check->add_option("paths", m_policy_paths, "schedule files or folders")->required();
    check->callback([this] { m_chosen = [this] { return policy_check(m_policy_paths); }; });

    CLI::App* plan_cmd = app.add_subcommand("plan", "dry run: list what is due, dispose nothing");
    add_config(plan_cmd);
    plan_cmd->add_flag("--json", m_json, "JSON Lines: one object per file, then a summary");
    plan_cmd->add_option("--now", m_now, "judge as of this date (YYYY-MM-DD)");
    plan_cmd->add_option("--root", m_root, "only this root");
    plan_cmd->add_option("--due-within", m_due_within, "also list files due within DURATION");
    plan_cmd->callback([this] {
        m_chosen = [this] { return plan(m_config, m_json, m_now, m_root, m_due_within); };
    });

    CLI::App* run_cmd = app.add_subcommand("run", "one pass: dispose what is due and certify it");
    add_config(run_cmd);
    run_cmd->add_option("--root", m_root, "only this root");
#ifdef LETHE_TEST_HOOKS
    run_cmd->add_option("--now", m_now, "TEST BUILD ONLY: act as of this time");
#endif
    run_cmd->callback([this] { m_chosen = [this] { return run_disposal(m_config, m_now, m_root); }; });

    CLI::App* certs = app.add_subcommand("certs", "disposal certificates");
    certs->require_subcommand(1);
    CLI::App* verify = certs->add_subcommand("verify", "check every signature and the hash chain");
    add_config(verify);
    verify->add_option("--key", m_keys, "trusted public key (PEM); default: the agent's own");
    verify->callback([this] { m_chosen = [this] { return certs_verify(m_config, m_keys); }; });

    CLI::App* keygen_cmd = app.add_subcommand("keygen", "create the Ed25519 signing key");
    add_config(keygen_cmd);
    keygen_cmd->callback([this] { m_chosen = [this] { return keygen(m_config); }; });
}

int Commands::run() const { return m_chosen ? m_chosen() : kExitBadInput; }

}  // namespace lethe::cli

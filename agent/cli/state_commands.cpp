// `lethe state accept-ledger`: continue after a real restore of the ledger.
// `lethe state failed` / `lethe state retry`: files kept out of passes since their disposal
// failed.

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "agent/cli/commands.hpp"
#include "agent/cli/common.hpp"
#include "agent/ledger/keys.hpp"
#include "agent/ledger/ledger.hpp"
#include "agent/service/state.hpp"
#include "agent/service/failed_store.hpp"
#include "agent/service/state_check.hpp"
#include "agent/util/encoding.hpp"
#include "agent/util/log.hpp"
#include "agent/util/plural.hpp"

namespace lethe::cli {

namespace {

struct AcceptOptions {
    std::string by;
    std::string reason;
    std::string now;  // test builds only
};

// The acceptance is an entry in the ledger itself, signed, naming what state_dir recorded
// and what the ledger holds now: an auditor sees that entries were lost and who accepted it,
// rather than a chain that silently restarts. It accepts only the ledger as it is now against
// the anchor state_dir holds now; the next pass records a new anchor.
int accept_ledger(const std::string& config_path, const AcceptOptions& o) {
    auto config = policy::load_config(config_path);
    if (!config) return report(config.error());
    auto now = current_time(o.now);
    if (!now) return report(now.error());
    auto lock = service::StateLock::acquire(config->state_dir);
    if (!lock) return report(lock.error());
    auto key = ledger::SigningKey::load(config->signing_key);
    if (!key) return report(key.error());
    auto ledger = ledger::Ledger::open(config->ledger_path(), *key);
    if (!ledger) return report(ledger.error());
    auto seq = service::accept_ledger(config->state_dir, *ledger, o.by, o.reason, *now);
    if (!seq) return report(seq.error());
    print_line(fmt::format(
        "accepted the ledger as it is: ledger entry {} records it; the next pass checks the "
        "stores against this ledger and continues",
        *seq));
    return kExitOk;
}

int list_failed(const std::string& config_path) {
    auto config = policy::load_config(config_path);
    if (!config) return report(config.error());
    auto failed = service::load_failed(config->state_dir);
    if (!failed) return report(failed.error());
    if (failed->files.empty()) print_line("no file is kept out of passes for a failed disposal");
    for (const auto& f : failed->files) {
        print_line(fmt::format("{}/{}: failed {} (ledger entry {}): {}", f.root,
                               util::utf8_display(f.path), f.time, f.seq, f.reason));
    }
    return kExitOk;
}

// `target` names a file as lethe shows it (ROOT/PATH) or by its path on disk.
bool names(const policy::AgentConfig& config, const service::FailedFile& f,
           const std::string& target) {
    if (target == f.root + "/" + f.path) return true;
    const policy::RootConfig* root = config.find_root(f.root);
    if (root == nullptr) return false;
    namespace fs = std::filesystem;
    return fs::absolute(target).lexically_normal() ==
           (fs::path(root->path) / f.path).lexically_normal();
}

// Under the state_dir lock, so that no pass rewrites the store meanwhile.
int retry_failed(const std::string& config_path, const std::vector<std::string>& targets,
                 bool all) {
    if (all == !targets.empty()) {
        return report(Error(ErrorKind::BadInput, "name the files to retry, or --all"));
    }
    auto config = policy::load_config(config_path);
    if (!config) return report(config.error());
    auto lock = service::StateLock::acquire(config->state_dir);
    if (!lock) return report(lock.error());
    auto failed = service::load_failed(config->state_dir);
    if (!failed) return report(failed.error());
    int status = kExitOk;
    for (const auto& target : targets) {
        if (std::none_of(failed->files.begin(), failed->files.end(),
                         [&](const service::FailedFile& f) { return names(*config, f, target); })) {
            util::log_error("{}: not kept for a failed disposal (see `lethe state failed`)",
                            util::utf8_display(target));
            status = kExitBadInput;
        }
    }
    const size_t before = failed->files.size();
    std::erase_if(failed->files, [&](const service::FailedFile& f) {
        return all || std::any_of(targets.begin(), targets.end(), [&](const std::string& t) {
                   return names(*config, f, t);
               });
    });
    if (auto st = service::save_failed(config->state_dir, *failed); !st) return report(st.error());
    print_line(fmt::format("{} tried again by the next pass",
                           util::counted(before - failed->files.size(), "file is", "files are")));
    return status;
}

}  // namespace

void add_state_commands(CLI::App& app, CommandContext& context) {
    auto o = std::make_shared<AcceptOptions>();
    CLI::App* state = app.add_subcommand("state", "state_dir against the ledger");
    state->require_subcommand(1);
    CLI::App* accept = state->add_subcommand(
        "accept-ledger",
        "after a real restore: accept a ledger that is behind what state_dir recorded");
    context.add_config_option(accept);
    accept->add_option("--by", o->by, "who accepts it")->required();
    accept->add_option("--reason", o->reason, "why (the restore, the ticket)")->required();
#ifdef LETHE_TEST_HOOKS
    accept->add_option("--now", o->now, "TEST BUILD ONLY: as of this time");
#endif
    accept->callback([&context, o] {
        context.chosen = [&context, o] { return accept_ledger(context.config, *o); };
    });

    CLI::App* failed = state->add_subcommand(
        "failed", "files kept out of passes since their disposal failed");
    context.add_config_option(failed);
    failed->callback([&context] {
        context.chosen = [&context] { return list_failed(context.config); };
    });
    struct RetryOptions {
        std::vector<std::string> paths;
        bool all = false;
    };
    auto r = std::make_shared<RetryOptions>();
    CLI::App* retry = state->add_subcommand(
        "retry", "let the next pass try again files whose disposal failed");
    context.add_config_option(retry);
    retry->add_option("paths", r->paths, "ROOT/PATH as lethe shows it, or the file's path");
    retry->add_flag("--all", r->all, "every file kept for a failed disposal");
    retry->callback([&context, r] {
        context.chosen = [&context, r] { return retry_failed(context.config, r->paths, r->all); };
    });
}

}  // namespace lethe::cli

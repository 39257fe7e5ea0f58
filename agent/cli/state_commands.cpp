// `lethe state accept-ledger`: continue after a real restore of the ledger.

#include <fmt/format.h>

#include <chrono>

#include "agent/cli/commands.hpp"
#include "agent/cli/common.hpp"
#include "agent/ledger/keys.hpp"
#include "agent/ledger/ledger.hpp"
#include "agent/service/state.hpp"
#include "agent/service/state_check.hpp"

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
}

}  // namespace lethe::cli

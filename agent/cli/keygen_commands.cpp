#include "agent/cli/commands.hpp"

#include <fmt/format.h>

#include "agent/cli/common.hpp"
#include "agent/ledger/keys.hpp"
#include "agent/policy/config.hpp"

namespace lethe::cli {

namespace {

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

void add_keygen_commands(CLI::App& app, CommandContext& context) {
    CLI::App* cmd = app.add_subcommand("keygen", "create the Ed25519 signing key");
    context.add_config_option(cmd);
    cmd->callback([&context] { context.chosen = [&context] { return keygen(context.config); }; });
}

}  // namespace lethe::cli

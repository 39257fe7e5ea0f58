#include "agent/cli/commands.hpp"

#include <fmt/format.h>

#include "agent/cli/common.hpp"
#include "agent/ledger/keys.hpp"
#include "agent/ledger/ledger.hpp"
#include "agent/policy/config.hpp"

namespace lethe::cli {

namespace {

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

}  // namespace

void add_certs_commands(CLI::App& app, CommandContext& context) {
    auto keys = std::make_shared<std::vector<std::string>>();
    CLI::App* certs = app.add_subcommand("certs", "disposal certificates");
    certs->require_subcommand(1);
    CLI::App* verify = certs->add_subcommand("verify", "check every signature and the hash chain");
    context.add_config_option(verify);
    verify->add_option("--key", *keys, "trusted public key (PEM); default: the agent's own");
    verify->callback([&context, keys] {
        context.chosen = [&context, keys] { return certs_verify(context.config, *keys); };
    });
}

}  // namespace lethe::cli

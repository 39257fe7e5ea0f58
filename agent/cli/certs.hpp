#pragma once

// Shared by the `lethe certs` commands (certs_commands.cpp, certs_read_commands.cpp).

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "agent/cli/commands.hpp"
#include "agent/ledger/keys.hpp"
#include "agent/policy/config.hpp"
#include "agent/util/error.hpp"

namespace lethe::cli {

// Where retired signing keys are kept after `lethe keygen --rotate`: `<keys folder>/retired`.
std::string retired_keys_dir(const policy::AgentConfig& config);

// The keys the agent's own ledger is checked against when no --pubkey is given: the current
// public key and every retired one (`retired/*.pub`).
[[nodiscard]] Result<std::vector<ledger::VerifyKey>> agent_keys(const policy::AgentConfig& config);

// The ledgers a command reads: the --ledger files given, else the config's ledger.
[[nodiscard]] Result<std::vector<std::string>> ledgers_to_read(
    const std::string& config_path, const std::vector<std::string>& given);

void add_certs_read_commands(CLI::App& certs, CommandContext& context);

}  // namespace lethe::cli

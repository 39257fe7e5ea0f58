#pragma once

// Shared by the `lethe certs` commands (certs_commands.cpp, certs_read_commands.cpp).

#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "agent/cli/commands.hpp"
#include "agent/ledger/entries.hpp"
#include "agent/ledger/keys.hpp"
#include "agent/policy/config.hpp"
#include "agent/util/error.hpp"
#include "agent/util/time.hpp"

namespace lethe::cli {

// Where retired signing keys are kept after `lethe keygen --rotate`: `<keys folder>/retired`.
std::string retired_keys_dir(const policy::AgentConfig& config);

// The keys the agent's own ledger is checked against when no --pubkey is given: the current
// public key and every retired one (`retired/*.pub`).
[[nodiscard]] Result<std::vector<ledger::VerifyKey>> agent_keys(const policy::AgentConfig& config);

// The ledgers a command reads: the --ledger files given, else the config's ledger.
[[nodiscard]] Result<std::vector<std::string>> ledgers_to_read(
    const std::string& config_path, const std::vector<std::string>& given);

// The filters of `certs list` and `certs export`; empty strings mean "any".
struct CertFilter {
    std::string since;  // YYYY-MM-DD, UTC, inclusive
    std::string until;
    std::string client;
    std::string category;
    std::string action;
    std::string type;

    // Parses the dates; BadInput naming the option when one is not a date.
    [[nodiscard]] Status prepare();
    // Whether an entry passes; entries without a decodable payload never do.
    [[nodiscard]] bool matches(const ledger::Entry& e) const;
    // "--since 2026-01-01, --client acme", or "" when there is no filter.
    [[nodiscard]] std::string describe() const;
    // The filter options, added to a command.
    void add_options(CLI::App* command);

private:
    std::optional<util::Date> m_since;
    std::optional<util::Date> m_until;
};

void add_certs_read_commands(CLI::App& certs, CommandContext& context);

// `lethe certs export`.
void add_certs_export_command(CLI::App& certs, CommandContext& context);

}  // namespace lethe::cli

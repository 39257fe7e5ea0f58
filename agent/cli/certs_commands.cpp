#include <dirent.h>

#include <algorithm>
#include <map>
#include <memory>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "agent/cli/certs.hpp"
#include "agent/cli/commands.hpp"
#include "agent/cli/common.hpp"
#include "agent/ledger/entries.hpp"
#include "agent/ledger/keys.hpp"
#include "agent/ledger/ledger.hpp"
#include "agent/ledger/verify.hpp"
#include "agent/policy/config.hpp"
#include "agent/util/fs.hpp"
#include "agent/util/log.hpp"
#include "agent/service/state_check.hpp"
#include "agent/util/plural.hpp"

namespace lethe::cli {

std::string retired_keys_dir(const policy::AgentConfig& config) {
    return util::folder_of(config.signing_key) + "/retired";
}

Result<std::vector<ledger::VerifyKey>> agent_keys(const policy::AgentConfig& config) {
    return service::ledger_keys(config.public_key_path(), retired_keys_dir(config));
}

Result<std::vector<std::string>> ledgers_to_read(const std::string& config_path,
                                                 const std::vector<std::string>& given) {
    if (!given.empty()) return given;
    auto config = load_state_config(config_path);
    if (!config) return fail(config.error());
    return std::vector<std::string>{config->ledger_path()};
}

namespace {

struct VerifyArgs {
    std::vector<std::string> ledgers;
    std::vector<std::string> pubkeys;
    std::vector<std::string> checkpoints;
};

// The host named by a ledger's first entry, to match exported checkpoints to ledgers.
std::string first_host(const std::string& path) {
    std::string host;
    (void)ledger::for_each_entry(path, [&](const ledger::Entry& e) {
        if (e.payload.is_object()) host = e.payload.value("host", "");
        return false;
    });
    return host;
}

int certs_verify(const std::string& config_path, const VerifyArgs& args) {
    auto ledgers = ledgers_to_read(config_path, args.ledgers);
    if (!ledgers) return report(ledgers.error().with_context("which ledger to verify"));
    std::vector<ledger::VerifyKey> keys;
    if (args.pubkeys.empty()) {
        auto config = load_state_config(config_path);
        if (!config) return report(config.error().with_context("which keys to trust"));
        auto own = agent_keys(*config);
        if (!own) return report(own.error());
        keys = std::move(*own);
    }
    for (const auto& p : args.pubkeys) {
        auto k = ledger::VerifyKey::load(p);
        if (!k) return report(k.error());
        keys.push_back(std::move(*k));
    }
    std::vector<ledger::ExportedCheckpoint> checkpoints;
    for (const auto& p : args.checkpoints) {
        auto cp = ledger::load_checkpoint(p);
        if (!cp) return report(cp.error());
        checkpoints.push_back(std::move(*cp));
    }
    // Each exported checkpoint goes to the one ledger given, or to the ledger of its host.
    std::map<std::string, std::vector<ledger::ExportedCheckpoint>> by_ledger;
    bool unmatched = false;
    for (const auto& cp : checkpoints) {
        if (ledgers->size() == 1) {
            by_ledger[ledgers->front()].push_back(cp);
            continue;
        }
        bool matched = false;
        for (const auto& path : *ledgers) {
            if (first_host(path) == cp.host) {
                by_ledger[path].push_back(cp);
                matched = true;
                break;
            }
        }
        if (!matched) {
            print_line(fmt::format("FAILED: checkpoint {} (host {}, seq {}) matches none of the "
                                   "ledgers given [cut]",
                                   cp.source, cp.host, cp.seq));
            unmatched = true;
        }
    }
    int code = unmatched ? kExitFinding : kExitOk;
    bool unreadable = false;
    for (const auto& path : *ledgers) {
        auto result = ledger::verify_ledger(path, keys, by_ledger[path]);
        if (!result) {
            report(result.error().with_context("cannot read the ledger"));
            unreadable = true;
            continue;
        }
        if (!result->ok()) {
            std::string finding(ledger::to_string(*result->finding));
            if (result->bad_line) {
                print_line(fmt::format("FAILED: {} line {}: {} [{}]", path, *result->bad_line,
                                       result->problem, finding));
            } else {
                print_line(fmt::format("FAILED: {}: {} [{}]", path, result->problem, finding));
            }
            print_line(fmt::format("{} before it verified",
                                   util::counted(result->entries, "entry", "entries")));
            code = kExitFinding;
            continue;
        }
        auto count = [&](const char* type) {
            auto it = result->by_type.find(type);
            return it == result->by_type.end() ? uint64_t{0} : it->second;
        };
        print_line(fmt::format("verified {} ({}, {}) in {}: "
                               "signatures and hash chain intact; head {}",
                               util::counted(result->entries, "certificate", "certificates"),
                               util::counted(count("disposal"), "disposal", "disposals"),
                               util::counted(count("checkpoint"), "checkpoint", "checkpoints"),
                               path, result->head));
        print_line(fmt::format("  merkle root {} over {}; signed by keyid {}",
                               result->merkle_root,
                               util::counted(result->entries, "entry", "entries"),
                               fmt::join(result->signers, ", then ")));
        if (count("key-rotated") > 0) {
            print_line(fmt::format("  {} key rotation(s), each signed by the key it retired",
                                   count("key-rotated")));
        }
        if (count("ledger-repaired") > 0) {
            print_line(fmt::format("  {} ledger-repaired entries: torn lines cut after a crash "
                                   "and kept beside the ledger (see `lethe certs list --type "
                                   "ledger-repaired`)",
                                   count("ledger-repaired")));
        }
        for (const auto& cp : by_ledger[path]) {
            print_line(fmt::format("  checkpoint {} (seq {}) found intact: nothing before it "
                                   "was cut or rewritten",
                                   cp.source, cp.seq));
        }
    }
    return unreadable ? kExitBadInput : code;
}

int certs_pubkey(const std::string& config_path) {
    auto config = load_state_config(config_path);
    if (!config) return report(config.error());
    auto key = ledger::VerifyKey::load(config->public_key_path());
    if (!key) return report(key.error());
    std::string pem = key->public_pem();
    std::fwrite(pem.data(), 1, pem.size(), stdout);
    util::log_info("keyid {} ({})", key->keyid(), config->public_key_path());
    return kExitOk;
}

int certs_checkpoint(const std::string& config_path, const std::string& out) {
    auto config = load_state_config(config_path);
    if (!config) return report(config.error());
    auto keys = agent_keys(*config);
    if (!keys) return report(keys.error());
    // Only a checkpoint of a ledger that verifies is worth keeping off the host.
    auto result = ledger::verify_ledger(config->ledger_path(), *keys);
    if (!result) return report(result.error().with_context("cannot read the ledger"));
    if (!result->ok()) {
        print_line(fmt::format("FAILED: {} line {}: {} [{}]; no checkpoint exported",
                               config->ledger_path(), result->bad_line.value_or(0),
                               result->problem, ledger::to_string(*result->finding)));
        return kExitFinding;
    }
    std::optional<ledger::Entry> latest;
    auto read = ledger::for_each_entry(config->ledger_path(), [&](const ledger::Entry& e) {
        if (e.type() == "checkpoint") latest = e;
        return true;
    });
    if (!read) return report(read.error());
    if (!latest) {
        return report(Error(ErrorKind::Refused, fmt::format("{} has no checkpoint yet; one is "
                                                            "written at the end of every pass",
                                                            config->ledger_path())));
    }
    if (auto st = util::write_file_atomic(out, latest->line + "\n", 0644); !st) {
        return report(st.error());
    }
    print_line(fmt::format("exported checkpoint seq {} (entries {}, head {}, merkle root {}) to "
                           "{}; keep it off this host and check the ledger against it with "
                           "`lethe certs verify --checkpoint {}`",
                           latest->seq(), latest->payload.value("entries", uint64_t{0}),
                           latest->payload.value("head", ""),
                           latest->payload.value("merkle_root", "(none)"), out, out));
    return kExitOk;
}

}  // namespace

void add_certs_commands(CLI::App& app, CommandContext& context) {
    CLI::App* certs = app.add_subcommand("certs", "disposal certificates and the ledger");
    certs->require_subcommand(1);

    auto v = std::make_shared<VerifyArgs>();
    CLI::App* verify = certs->add_subcommand(
        "verify", "check every signature, the hash chain, sequence numbers and checkpoints");
    context.add_config_option(verify);
    verify->add_option("--ledger", v->ledgers,
                       "ledger file to verify (repeat for several hosts); default: the agent's");
    verify->add_option("--pubkey,--key", v->pubkeys,
                       "trusted public key, PEM (repeat for several); default: the agent's own "
                       "current and retired keys");
    verify->add_option("--checkpoint", v->checkpoints,
                       "exported checkpoint (`certs checkpoint --out`) the ledger must still hold");
    verify->callback([&context, v] {
        context.chosen = [&context, v] { return certs_verify(context.config, *v); };
    });

    CLI::App* pubkey = certs->add_subcommand("pubkey", "print the agent's public key (PEM)");
    context.add_config_option(pubkey);
    pubkey->callback([&context] {
        context.chosen = [&context] { return certs_pubkey(context.config); };
    });

    auto out = std::make_shared<std::string>();
    CLI::App* checkpoint = certs->add_subcommand(
        "checkpoint", "export the latest signed checkpoint, for custody off the host");
    context.add_config_option(checkpoint);
    checkpoint->add_option("--out", *out, "file to write")->required();
    checkpoint->callback([&context, out] {
        context.chosen = [&context, out] { return certs_checkpoint(context.config, *out); };
    });

    add_certs_read_commands(*certs, context);
    add_certs_export_command(*certs, context);
}

}  // namespace lethe::cli

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>

#include <fmt/format.h>

#include "agent/act/age.hpp"
#include "agent/cli/certs.hpp"
#include "agent/cli/commands.hpp"
#include "agent/cli/common.hpp"
#include "agent/ledger/entries.hpp"
#include "agent/ledger/keys.hpp"
#include "agent/ledger/ledger.hpp"
#include "agent/policy/config.hpp"
#include "agent/service/journal_anchor.hpp"
#include "agent/service/state.hpp"
#include "agent/util/fs.hpp"
#include "agent/util/log.hpp"
#include "agent/util/time.hpp"

namespace lethe::cli {

namespace {

int keygen(const std::string& config_path) {
    auto config = load_state_config(config_path);
    if (!config) return report(config.error());
    if (auto st = ledger::SigningKey::generate(config->signing_key); !st) return report(st.error());
    auto key = ledger::SigningKey::load(config->signing_key);
    if (!key) return report(key.error());
    print_line(fmt::format("created signing key {} (public key {}), keyid {}",
                           config->signing_key, config->public_key_path(), key->keyid()));
    return kExitOk;
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

// Replaces the signing key with a new one. Each step can be repeated after a crash: the new
// key waits at `<key>.next` until the ledger records the rotation (signed by the old key),
// the old key is kept in `retired/<keyid>.pem`, and only then does the new key take its place.
Status rotate(const policy::AgentConfig& config, std::string& message) {
    const std::string& current = config.signing_key;
    const std::string next = current + ".next";
    std::string dir = util::folder_of(current);
    if (!exists(next) && exists(next + ".pub")) {
        // Interrupted after the new key took its place: only its public half is left to move.
        auto key = ledger::SigningKey::load(current);
        if (!key) return fail(key.error());
        if (auto st = util::write_file_atomic(config.public_key_path(), key->public_key().public_pem(), 0644); !st) return st;
        ::unlink((next + ".pub").c_str());
        return util::fsync_dir(dir);
    }
    auto old = ledger::SigningKey::load(current);
    if (!old) return fail(old.error());
    if (!exists(next)) {
        if (auto st = ledger::SigningKey::generate(next); !st) return st;
    }
    auto fresh = ledger::SigningKey::load(next);
    if (!fresh) return fail(fresh.error());

    bool recorded = false;
    auto read = ledger::for_each_entry(config.ledger_path(), [&](const ledger::Entry& e) {
        recorded = e.type() == "key-rotated" && e.payload.contains("new_key") &&
                   e.payload["new_key"].value("keyid", "") == fresh->keyid();
        return true;
    });
    if (!read && read.error().sys_errno() != ENOENT) return fail(read.error());
    uint64_t seq = 0;
    if (!recorded) {
        auto ledger = ledger::Ledger::open(config.ledger_path(), *old);
        if (!ledger) return fail(ledger.error());
        auto appended = ledger->append(
            {{"type", "key-rotated"},
             {"time", util::format_timestamp(util::TimePoint{
                          std::chrono::system_clock::now().time_since_epoch()})},
             {"host", ledger::host_name()},
             {"agent", fmt::format("lethe {}", LETHE_VERSION)},
             {"old_key", {{"keyid", old->keyid()}}},
             {"new_key",
              {{"keyid", fresh->keyid()}, {"public_key", fresh->public_key().public_pem()}}}});
        if (!appended) return fail(appended.error());
        service::record_ledger_anchor(config.state_dir, *ledger);
        seq = *appended;
    }
    std::string retired = retired_keys_dir(config);
    if (auto st = util::make_dirs(retired, 0700); !st) return st;
    std::string kept = fmt::format("{}/{}.pem", retired, old->keyid());
    if (!exists(kept) && ::link(current.c_str(), kept.c_str()) != 0) {
        return fail(errno_error(fmt::format("keep the old key as {}", kept), errno));
    }
    if (auto st = util::write_file_atomic(kept + ".pub", old->public_key().public_pem(), 0644); !st) return st;
    if (auto st = util::fsync_dir(retired); !st) return st;
    if (::rename(next.c_str(), current.c_str()) != 0) {
        return fail(errno_error(fmt::format("rename {} to {}", next, current), errno));
    }
    if (auto st = util::fsync_dir(dir); !st) return st;
    if (auto st = util::write_file_atomic(config.public_key_path(), fresh->public_key().public_pem(), 0644); !st) return st;
    ::unlink((next + ".pub").c_str());
    if (auto st = util::fsync_dir(dir); !st) return st;
    message = fmt::format(
        "rotated the signing key: new keyid {}; the key-rotated certificate{} is signed by the "
        "old keyid {}, kept (never deleted) as {}; give auditors the new public key "
        "(`lethe certs pubkey`)",
        fresh->keyid(), seq ? fmt::format(" (seq {})", seq) : std::string(), old->keyid(), kept);
    return {};
}

int keygen_rotate(const std::string& config_path) {
    auto config = load_state_config(config_path);
    if (!config) return report(config.error());
    auto lock = service::StateLock::acquire(config->state_dir);
    if (!lock) return report(lock.error());
    std::string message = "finished an interrupted key rotation";
    if (auto st = rotate(*config, message); !st) return report(st.error().with_context("keygen --rotate"));
    print_line(message);
    return kExitOk;
}

// Writes a new age identity for a records manager (mode 0600, never over an existing file)
// and prints its recipient for the agent's config. The agent keeps no copy.
int keygen_age_identity(const std::string& path) {
    auto identity = act::age::Identity::generate();
    if (!identity) return report(identity.error());
    auto recipient = identity->recipient();
    if (!recipient) return report(recipient.error());
    std::string text = fmt::format(
        "# created: {}\n# public key: {}\n{}\n",
        util::format_timestamp(std::chrono::time_point_cast<std::chrono::nanoseconds>(
            std::chrono::system_clock::now())),
        recipient->to_string(), identity->to_string());
    auto written = util::create_file_exclusive(path, text, 0600);
    std::fill(text.begin(), text.end(), '\0');
    if (!written) {
        return report(written.error().with_context("lethe keygen --age-identity"));
    }
    util::log_info("wrote age identity {} (mode 0600): keep it off this host; put the "
                   "recipient below in [archive] recipients", path);
    print_line(recipient->to_string());
    return kExitOk;
}

}  // namespace

void add_keygen_commands(CLI::App& app, CommandContext& context) {
    CLI::App* cmd = app.add_subcommand(
        "keygen", "create the Ed25519 signing key, rotate it, or with --age-identity create an "
                  "age identity");
    context.add_config_option(cmd);
    auto rotate_flag = std::make_shared<bool>(false);
    cmd->add_flag("--rotate", *rotate_flag,
                  "replace the key; the ledger records the new key, signed by the old one");
    auto age_identity = std::make_shared<std::string>();
    cmd->add_option("--age-identity", *age_identity,
                    "write a new age identity (private key) to this file for a records manager "
                    "and print its recipient; the config is not read");
    cmd->callback([&context, rotate_flag, age_identity] {
        context.chosen = [&context, rotate_flag, age_identity] {
            if (!age_identity->empty()) return keygen_age_identity(*age_identity);
            return *rotate_flag ? keygen_rotate(context.config) : keygen(context.config);
        };
    });
}

}  // namespace lethe::cli

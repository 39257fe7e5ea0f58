// `lethe certs list`, `show` and `prove`: reading certificates back.

#include <charconv>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "agent/cli/certs.hpp"
#include "agent/cli/common.hpp"
#include "agent/ledger/entries.hpp"
#include "agent/ledger/verify.hpp"
#include "agent/util/fs.hpp"
#include "agent/util/log.hpp"
#include "agent/util/time.hpp"
#include "agent/util/plural.hpp"

namespace lethe::cli {

namespace {

struct ListArgs {
    std::vector<std::string> ledgers;
    CertFilter filter;
    bool json = false;
};

std::string field(const nlohmann::json& p, const char* key) {
    auto it = p.find(key);
    if (it == p.end() || it->is_null()) return "";
    return it->is_string() ? it->get<std::string>() : it->dump();
}

// A number the payload holds, with its noun in the right number ("1 file", "2 files").
std::string counted_field(const nlohmann::json& p, const char* key, const char* one,
                          const char* many) {
    std::string n = field(p, key);
    return fmt::format("{} {}", n, n == "1" ? one : many);
}

std::optional<util::Date> entry_date(const nlohmann::json& p) {
    auto t = util::parse_timestamp(field(p, "time"));
    if (!t) return std::nullopt;
    return util::date_of(*t);
}

int certs_list(const std::string& config_path, ListArgs& args) {
    if (auto st = args.filter.prepare(); !st) return report(st.error());
    auto ledgers = ledgers_to_read(config_path, args.ledgers);
    if (!ledgers) return report(ledgers.error());
    uint64_t shown = 0;
    for (const auto& path : *ledgers) {
        auto read = ledger::for_each_entry(path, [&](const ledger::Entry& e) {
            if (!args.filter.matches(e)) return true;
            const nlohmann::json& p = e.payload;
            ++shown;
            if (args.json) {
                nlohmann::json out = p;
                if (ledgers->size() > 1) out["ledger"] = path;
                print_json_line(out.dump());
                return true;
            }
            std::string what;
            if (e.type() == "disposal") {
                what = fmt::format("{} {}/{} ({}{})", field(p, "action"), field(p, "root"),
                                   field(p, "path"), field(p, "category"),
                                   p.contains("client") ? ", client " + field(p, "client") : "");
            } else if (e.type() == "checkpoint") {
                what = fmt::format("entries {}, disposed {}", field(p, "entries"),
                                   p.contains("pass") ? field(p["pass"], "disposed") : "?");
            } else if (e.type() == "key-rotated") {
                what = fmt::format("to keyid {}",
                                   p.contains("new_key") ? field(p["new_key"], "keyid") : "?");
            } else if (e.type() == "review-approved" || e.type() == "review-rejected") {
                const nlohmann::json& r = p.contains("review") ? p["review"] : p;
                what = fmt::format("{} {}/{} by {}", field(r, "id"), field(r, "root"),
                                   field(r, "path"),
                                   e.type() == "review-approved" ? field(p, "approved_by")
                                                                 : field(p, "rejected_by"));
            } else if (e.type() == "hold-placed" && p.contains("hold")) {
                const nlohmann::json& h = p["hold"];
                what = fmt::format("{} by {}: {}{}{}", field(h, "id"), field(h, "placed_by"),
                                   field(h, "reason"),
                                   h.contains("client") ? ", client " + field(h, "client") : "",
                                   h.contains("matter") ? ", matter " + field(h, "matter") : "");
            } else if (e.type() == "hold-released" && p.contains("hold")) {
                what = fmt::format("{} by {}: {}", field(p["hold"], "id"), field(p, "released_by"),
                                   field(p, "reason"));
            } else if (e.type() == "erasure-request" && p.contains("request") &&
                       p.contains("erased") && p.contains("kept")) {
                const nlohmann::json& r = p["request"];
                what = fmt::format(
                    "{} by {}, client {}{}: erased {} and {}, kept {} held{}",
                    field(r, "reference"), field(r, "by"), field(r, "client"),
                    r.contains("matter") ? ", matter " + field(r, "matter") : "",
                    counted_field(p["erased"], "files", "file", "files"),
                    counted_field(p["erased"], "archives", "archive", "archives"),
                    field(p["kept"], "held"),
                    p.value("complete", false) ? "" : " (INCOMPLETE: see the certificate)");
            } else if (e.type() == "archive-disposal" && p.contains("archive")) {
                const nlohmann::json& a = p["archive"];
                what = fmt::format("{} archive {}/{} ({})", field(p, "action"),
                                   field(a, "root"), field(a, "name"),
                                   util::counted(a.contains("members") ? a["members"].size() : 0,
                                                 "member", "members"));
            } else if (e.type() == "ledger-repaired") {
                what = fmt::format("{} torn bytes moved to {}",
                                   p.contains("cut") ? field(p["cut"], "bytes") : "?",
                                   p.contains("cut") ? field(p["cut"], "saved_as") : "?");
            }
            print_line(fmt::format("{:>6}  {}  {:<15}  {}", e.seq(), field(p, "time"), e.type(),
                                   what));
            return true;
        });
        if (!read) return report(read.error().with_context("cannot read the ledger"));
    }
    if (!args.json) {
        util::log_info("{} certificate(s) listed; `lethe certs verify` checks their signatures",
                       shown);
    }
    return kExitOk;
}

struct ShowArgs {
    std::string which;
    std::vector<std::string> ledgers;
    std::vector<std::string> pubkeys;
};

int certs_show(const std::string& config_path, const ShowArgs& args) {
    auto ledgers = ledgers_to_read(config_path, args.ledgers);
    if (!ledgers) return report(ledgers.error());
    uint64_t seq = 0;
    auto [ptr, ec] = std::from_chars(args.which.data(), args.which.data() + args.which.size(), seq);
    bool by_seq = ec == std::errc() && ptr == args.which.data() + args.which.size();
    if (!by_seq && args.which.size() < 8) {
        return report(Error(ErrorKind::BadInput,
                            fmt::format("'{}' is neither a sequence number nor an id (at least 8 "
                                        "hex digits of the certificate's hash, or its intent id)",
                                        args.which)));
    }
    std::optional<ledger::Entry> found;
    std::string found_in;
    for (const auto& path : *ledgers) {
        auto read = ledger::for_each_entry(path, [&](const ledger::Entry& e) {
            bool match = by_seq ? e.line_no == seq
                                : (e.hash().starts_with(args.which) ||
                                   (e.payload.is_object() && field(e.payload, "intent") == args.which));
            if (match) {
                found = e;
                found_in = path;
            }
            return !match;
        });
        if (!read) return report(read.error().with_context("cannot read the ledger"));
        if (found) break;
    }
    if (!found) {
        return report(Error(ErrorKind::BadInput,
                            fmt::format("no certificate {} in {}", args.which,
                                        fmt::join(*ledgers, ", "))));
    }
    if (!found->payload.is_object()) {
        auto why = ledger::decode_payload(found->line);
        print_line(fmt::format("line {} of {} is not a readable certificate ({}); run `lethe "
                               "certs verify`",
                               found->line_no, found_in,
                               why ? "no payload" : why.error().message()));
        return kExitFinding;
    }
    std::vector<ledger::VerifyKey> keys;
    for (const auto& p : args.pubkeys) {
        auto k = ledger::VerifyKey::load(p);
        if (!k) return report(k.error());
        keys.push_back(std::move(*k));
    }
    if (args.pubkeys.empty()) {
        if (auto config = policy::load_config(config_path)) {
            if (auto own = agent_keys(*config)) keys = std::move(*own);
        }
    }
    auto checked = ledger::open_envelope(found->line, keys);
    print_line(fmt::format("certificate seq {} in {} (line {})", found->seq(), found_in,
                           found->line_no));
    print_line(fmt::format("id (SHA-256 of the line): {}", found->hash()));
    print_line(fmt::format("signed by keyid {}: {}", found->keyid,
                           checked ? "signature valid"
                                   : "signature NOT valid for the trusted keys (" +
                                         checked.error().message() + ")"));
    print_json_text(found->payload.dump(2));
    if (!checked) return kExitFinding;
    util::log_info("this checks one signature only; `lethe certs verify` checks the chain");
    return kExitOk;
}

struct ProveArgs {
    uint64_t seq = 0;
    std::vector<std::string> ledgers;
    std::string checkpoint;
    std::string check;
    std::vector<std::string> pubkeys;
};

int certs_prove(const std::string& config_path, const ProveArgs& args) {
    if (!args.check.empty()) {
        // Check a proof without the ledger: what an auditor holding only the proof does.
        auto text = util::read_file(args.check);
        if (!text) return report(text.error());
        auto j = nlohmann::json::parse(*text, nullptr, false);
        if (j.is_discarded()) {
            return report(Error(ErrorKind::BadInput, fmt::format("{}: not JSON", args.check)));
        }
        auto proof = ledger::InclusionProof::from_json(j);
        if (!proof) return report(proof.error().with_context(args.check));
        std::vector<ledger::VerifyKey> keys;
        for (const auto& p : args.pubkeys) {
            auto k = ledger::VerifyKey::load(p);
            if (!k) return report(k.error());
            keys.push_back(std::move(*k));
        }
        if (keys.empty()) {
            auto config = load_state_config(config_path);
            if (!config) return report(config.error().with_context("which keys to trust"));
            auto own = agent_keys(*config);
            if (!own) return report(own.error());
            keys = std::move(*own);
        }
        if (auto st = ledger::check_inclusion(*proof, keys); !st) {
            print_line(fmt::format("FAILED: {}: {}", args.check, st.error().message()));
            return kExitFinding;
        }
        print_line(fmt::format("proof verified: certificate {} is entry {} of the {} entries "
                               "under the Merkle root {} signed in checkpoint {}",
                               proof->seq, proof->seq, proof->tree_size, proof->merkle_root,
                               proof->checkpoint_seq));
        return kExitOk;
    }
    if (args.seq == 0) {
        return report(Error(ErrorKind::BadInput, "give the certificate's SEQ, or --check FILE"));
    }
    auto ledgers = ledgers_to_read(config_path, args.ledgers);
    if (!ledgers) return report(ledgers.error());
    if (ledgers->size() != 1) {
        return report(Error(ErrorKind::BadInput, "prove reads one ledger; give one --ledger"));
    }
    std::optional<ledger::ExportedCheckpoint> checkpoint;
    if (!args.checkpoint.empty()) {
        auto cp = ledger::load_checkpoint(args.checkpoint);
        if (!cp) return report(cp.error());
        checkpoint = std::move(*cp);
    }
    auto proof = ledger::prove_inclusion(ledgers->front(), args.seq, checkpoint);
    if (!proof) {
        if (proof.error().kind() == ErrorKind::Verification) {
            print_line(fmt::format("FAILED: {}", proof.error().message()));
            return kExitFinding;
        }
        return report(proof.error());
    }
    print_json_text(proof->to_json().dump(2));
    return kExitOk;
}

}  // namespace

Status CertFilter::prepare() {
    m_since.reset();
    m_until.reset();
    if (!since.empty()) {
        auto d = util::parse_date(since);
        if (!d) return fail(d.error().with_context("--since"));
        m_since = *d;
    }
    if (!until.empty()) {
        auto d = util::parse_date(until);
        if (!d) return fail(d.error().with_context("--until"));
        m_until = *d;
    }
    return {};
}

bool CertFilter::matches(const ledger::Entry& e) const {
    const nlohmann::json& p = e.payload;
    if (!p.is_object()) return false;
    auto date = entry_date(p);
    if ((m_since || m_until) && !date) return false;
    if (m_since && *date < *m_since) return false;
    if (m_until && *date > *m_until) return false;
    if (!client.empty() && field(p, "client") != client) return false;
    if (!category.empty() && field(p, "category") != category) return false;
    if (!action.empty() && field(p, "action") != action) return false;
    if (!type.empty() && e.type() != type) return false;
    return true;
}

std::string CertFilter::describe() const {
    std::vector<std::string> parts;
    for (const auto& [name, value] :
         {std::pair<const char*, const std::string&>{"--since", since}, {"--until", until},
          {"--client", client}, {"--category", category}, {"--action", action},
          {"--type", type}}) {
        if (!value.empty()) parts.push_back(fmt::format("{} {}", name, value));
    }
    return fmt::format("{}", fmt::join(parts, ", "));
}

void CertFilter::add_options(CLI::App* command) {
    command->add_option("--since", since, "only certificates from this date on (YYYY-MM-DD, UTC)");
    command->add_option("--until", until, "only certificates up to this date (YYYY-MM-DD, UTC)");
    command->add_option("--client", client, "only this client");
    command->add_option("--category", category, "only this category");
    command->add_option("--action", action, "only this action (sanitize, delete, ...)");
    command->add_option("--type", type,
                        "only this type (disposal, checkpoint, key-rotated, ledger-repaired, ...)");
}

void add_certs_read_commands(CLI::App& certs, CommandContext& context) {
    auto l = std::make_shared<ListArgs>();
    CLI::App* list = certs.add_subcommand("list", "list certificates, oldest first");
    context.add_config_option(list);
    list->add_option("--ledger", l->ledgers, "ledger file (repeat for several); default: the agent's");
    l->filter.add_options(list);
    list->add_flag("--json", l->json, "one decoded payload per line (JSON Lines)");
    list->callback([&context, l] {
        context.chosen = [&context, l] { return certs_list(context.config, *l); };
    });

    auto s = std::make_shared<ShowArgs>();
    CLI::App* show = certs.add_subcommand("show", "show one certificate, decoded");
    context.add_config_option(show);
    show->add_option("which", s->which, "SEQ, or ID: a prefix (8+ hex digits) of the line's "
                                        "SHA-256, or the intent id")->required();
    show->add_option("--ledger", s->ledgers, "ledger file; default: the agent's");
    show->add_option("--pubkey,--key", s->pubkeys, "trusted public key (PEM)");
    show->callback([&context, s] {
        context.chosen = [&context, s] { return certs_show(context.config, *s); };
    });

    auto p = std::make_shared<ProveArgs>();
    CLI::App* prove = certs.add_subcommand(
        "prove", "an RFC 6962 inclusion proof of one certificate against a checkpoint");
    context.add_config_option(prove);
    prove->add_option("seq", p->seq, "the certificate's sequence number");
    prove->add_option("--ledger", p->ledgers, "ledger file; default: the agent's");
    prove->add_option("--checkpoint", p->checkpoint,
                      "exported checkpoint to prove against; default: the first after SEQ");
    prove->add_option("--check", p->check, "check a proof file instead (no ledger needed)");
    prove->add_option("--pubkey,--key", p->pubkeys, "trusted public key for --check (PEM)");
    prove->callback([&context, p] {
        context.chosen = [&context, p] { return certs_prove(context.config, *p); };
    });
}

}  // namespace lethe::cli

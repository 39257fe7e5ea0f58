// `lethe certs export`: certificates as JSON Lines, CSV or a self-contained HTML report.

#include <memory>

#include <fmt/format.h>

#include "agent/cli/certs.hpp"
#include "agent/cli/common.hpp"
#include "agent/ledger/entries.hpp"
#include "agent/ledger/ledger.hpp"
#include "agent/ledger/report.hpp"
#include "agent/ledger/verify.hpp"
#include "agent/util/fs.hpp"
#include "agent/util/log.hpp"
#include "agent/util/time.hpp"

namespace lethe::cli {

namespace {

struct ExportArgs {
    std::string format;
    std::string out;
    std::vector<std::string> ledgers;
    std::vector<std::string> pubkeys;
    CertFilter filter;
};

int certs_export(const std::string& config_path, ExportArgs& args) {
    if (auto st = args.filter.prepare(); !st) return report(st.error());
    auto ledgers = ledgers_to_read(config_path, args.ledgers);
    if (!ledgers) return report(ledgers.error().with_context("which ledger to export"));
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

    // Every export says whether the ledger verifies: the figures are only as good as that.
    ledger::ReportInput input;
    for (const auto& path : *ledgers) {
        auto result = ledger::verify_ledger(path, keys);
        if (!result) return report(result.error().with_context("cannot read the ledger"));
        input.verification.push_back(std::move(*result));
        auto read = ledger::for_each_entry(path, [&](const ledger::Entry& e) {
            if (!e.payload.is_object()) return true;
            std::string type = e.type();
            bool is_hold = type == "hold-placed" || type == "hold-released";
            bool wanted = args.filter.matches(e);
            if (!is_hold && !wanted) return true;
            ledger::ExportedEntry x{path, e.line_no, e.hash(), e.payload};
            if (is_hold) input.hold_entries.push_back(x);
            if (wanted) input.entries.push_back(std::move(x));
            return true;
        });
        if (!read) return report(read.error().with_context("cannot read the ledger"));
    }

    std::string text;
    if (args.format == "json") {
        text = ledger::render_json_lines(input.entries);
    } else if (args.format == "csv") {
        text = ledger::render_csv(input.entries);
    } else {
        auto now = current_time("");
        if (!now) return report(now.error());
        input.generated_at = util::format_timestamp(*now);
        input.host = ledger::host_name();
        input.filters = args.filter.describe();
        text = ledger::render_html(input);
    }
    if (auto st = util::write_file_atomic(args.out, text, 0644); !st) {
        return report(st.error().with_context("cannot write the export"));
    }

    int code = kExitOk;
    for (const auto& r : input.verification) {
        if (r.ok()) continue;
        print_line(fmt::format("FAILED: {}{}: {} [{}]", r.path,
                               r.bad_line ? fmt::format(" line {}", *r.bad_line) : std::string(),
                               r.problem, ledger::to_string(*r.finding)));
        code = kExitFinding;
    }
    print_line(fmt::format("exported {} certificate(s) as {} to {}; the ledger {}", input.entries.size(),
                           args.format, args.out,
                           code == kExitOk ? "verified" : "did NOT verify (see above)"));
    return code;
}

}  // namespace

void add_certs_export_command(CLI::App& certs, CommandContext& context) {
    auto a = std::make_shared<ExportArgs>();
    CLI::App* exp = certs.add_subcommand(
        "export", "write certificates to a file: JSON Lines, CSV, or an HTML report for auditors");
    context.add_config_option(exp);
    exp->add_option("--format", a->format, "json (JSON Lines), csv (RFC 4180) or html")
        ->required()
        ->check(CLI::IsMember({"json", "csv", "html"}));
    exp->add_option("--out", a->out, "file to write (replaced atomically)")->required();
    exp->add_option("--ledger", a->ledgers, "ledger file (repeat for several); default: the agent's");
    exp->add_option("--pubkey,--key", a->pubkeys,
                    "trusted public key, PEM (repeat for several); default: the agent's own "
                    "current and retired keys");
    a->filter.add_options(exp);
    exp->callback([&context, a] {
        context.chosen = [&context, a] { return certs_export(context.config, *a); };
    });
}

}  // namespace lethe::cli

// `lethe erase`: a client's request for erasure, carried out and certified.

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "agent/cli/commands.hpp"
#include "agent/cli/common.hpp"
#include "agent/service/erase.hpp"
#include "agent/service/pass.hpp"
#include "agent/service/pass_record.hpp"
#include "agent/util/log.hpp"
#include "agent/util/plural.hpp"

namespace lethe::cli {

namespace {

struct EraseOptions {
    std::string client;
    std::string matter;
    std::string request;
    std::string by;
    bool dry_run = false;
    bool confirm_large = false;
    bool json = false;
    std::string now;
};

std::string item_line(const service::ErasureItem& item) {
    std::string what =
        item.kind == service::ErasureItem::Kind::File
            ? fmt::format("{}/{}", item.root, display_name(item.path))
            : fmt::format("archive {} ({})", item.path,
                          util::counted(item.members, "archived copy", "archived copies"));
    std::string detail;
    switch (item.outcome) {
        case service::ErasureItem::Outcome::Erased:
            detail = fmt::format("{}, certificate {}", item.action, item.certificate);
            break;
        case service::ErasureItem::Outcome::WouldErase:
            detail = item.action;
            break;
        case service::ErasureItem::Outcome::Kept:
        case service::ErasureItem::Outcome::Failed:
            detail = item.reason;
            break;
    }
    return fmt::format("{:<12} {}  ({})", service::ErasureItem::to_string(item.outcome), what,
                       detail);
}

// Lists what the request would erase and keep; changes nothing and creates nothing.
int dry_run(const service::AgentInputs& inputs, const service::ErasureRequest& request,
            util::TimePoint now, const EraseOptions& o) {
    auto found = service::dry_run_erasure(inputs.config, inputs.schedules, request, now,
                                          std::nullopt);
    if (!found) return report(found.error());
    const service::ErasureDryRun& d = *found;
    std::string guard =
        d.needs_confirm_large
            ? fmt::format("; more than max_disposals_per_pass = {}: the erasure needs "
                          "--confirm-large",
                          inputs.config.max_disposals_per_pass)
            : "";
    if (o.json) {
        print_json_line(nlohmann::json({{"type", "summary"},
                                   {"request", o.request},
                                   {"dry_run", true},
                                   {"files", d.files},
                                   {"bytes", d.bytes},
                                   {"archives", d.archives},
                                   {"held", d.held},
                                   {"kept", d.kept},
                                   {"failed", 0},
                                   {"needs_confirm_large", d.needs_confirm_large}})
                       .dump());
    } else {
        print_line(fmt::format("dry run: would erase {} ({}) and {}; would keep {} by holds "
                               "and {} for other reasons{}; nothing was changed",
                               util::counted(d.files, "file", "files"), human_bytes(d.bytes),
                               util::counted(d.archives, "archive", "archives"), d.held, d.kept,
                               guard));
    }
    return kExitOk;
}

int erase_request(const std::string& config_path, const EraseOptions& o) {
    for (const auto& [value, name] :
         {std::pair{&o.client, "--client"}, std::pair{&o.request, "--request"},
          std::pair{&o.by, "--by"}}) {
        if (value->empty()) {
            util::log_error("erase: {} must not be empty", name);
            return kExitBadInput;
        }
    }
    auto inputs = service::load_agent_inputs(config_path);
    if (!inputs) return report(inputs.error());
    auto now = current_time(o.now);
    if (!now) return report(now.error());

    service::ErasureRequest request;
    request.client = o.client;
    if (!o.matter.empty()) request.matter = o.matter;
    request.reference = o.request;
    request.by = o.by;
    request.confirm_large = o.confirm_large;
    request.on_item = [&o](const service::ErasureItem& item) {
        if (o.json) {
            print_json_line(item.to_json().dump());
        } else {
            print_line(item_line(item));
        }
    };
    if (!o.json) {
        print_line(fmt::format("{}erasure request {} for client {}{}, by {}",
                               o.dry_run ? "dry run: " : "", o.request, display_name(o.client),
                               o.matter.empty() ? "" : " matter " + display_name(o.matter), o.by));
    }
    if (o.dry_run) return dry_run(*inputs, request, *now, o);
    service::RunOptions options;
    options.now = *now;
    options.injected_time = !o.now.empty();
    options.erasure = &request;
    auto summary = service::run_pass(inputs->config, inputs->schedules, inputs->key, options);
    if (!summary) return report(summary.error());
    const service::RunSummary& s = *summary;
    if (o.json) {
        nlohmann::json j = {{"type", "summary"},
                            {"request", o.request},
                            {"dry_run", false},
                            {"files", s.disposed},
                            {"bytes", s.bytes},
                            {"archives", s.archives_disposed},
                            {"held", s.held},
                            {"kept", s.kept},
                            {"failed", s.failed},
                            {"certificate", s.request_seq}};
        print_json_line(j.dump());
    } else {
        print_line(fmt::format(
            "erased {} ({}) and {}; kept {} by holds and {} for other reasons; {} failed; "
            "request closed by certificate {}",
            util::counted(s.disposed, "file", "files"), human_bytes(s.bytes),
            util::counted(s.archives_disposed, "archive", "archives"), s.held, s.kept, s.failed,
            s.request_seq));
    }
    return s.failed > 0 || s.stopped ? kExitFinding : kExitOk;
}

}  // namespace

void add_erase_commands(CLI::App& app, CommandContext& context) {
    auto o = std::make_shared<EraseOptions>();
    CLI::App* cmd = app.add_subcommand(
        "erase",
        "a client's erasure request: dispose now of everything of theirs not held or "
        "mandated, and certify it");
    context.add_config_option(cmd);
    cmd->add_option("--client", o->client, "the client, as the schedules' {client} captures it")
        ->required();
    cmd->add_option("--matter", o->matter, "only this matter of the client");
    cmd->add_option("--request", o->request, "the firm's reference of the request")->required();
    cmd->add_option("--by", o->by, "who carries it out (recorded in every certificate)")
        ->required();
    cmd->add_flag("--dry-run", o->dry_run, "list what would be erased and kept; change nothing");
    cmd->add_flag("--confirm-large", o->confirm_large,
                  "allow more disposals than max_disposals_per_pass");
    cmd->add_flag("--json", o->json, "JSON Lines: one object per item, then a summary");
#ifdef LETHE_TEST_HOOKS
    cmd->add_option("--now", o->now, "TEST BUILD ONLY: act as of this time");
#endif
    cmd->callback([&context, o] {
        context.chosen = [&context, o] { return erase_request(context.config, *o); };
    });
}

}  // namespace lethe::cli

// `lethe review list|approve|reject`: disposition review, for records managers.

#include <fmt/format.h>

#include <chrono>
#include <iterator>

#include "agent/cli/commands.hpp"
#include "agent/cli/common.hpp"
#include "agent/ledger/keys.hpp"
#include "agent/ledger/ledger.hpp"
#include "agent/policy/local_today.hpp"
#include "agent/policy/retention.hpp"
#include "agent/service/journal_anchor.hpp"
#include "agent/service/review.hpp"
#include "agent/service/state.hpp"
#include "agent/util/log.hpp"

namespace lethe::cli {

namespace {

// The extension of a rejection when --extend is not given.
constexpr const char* kDefaultExtension = "1y";

struct ReviewOptions {
    std::vector<std::string> ids;
    std::string by;
    std::string note;
    std::string reason;
    std::string extend = kDefaultExtension;
    std::string now;  // test builds only
    bool json = false;
    bool all = false;
};

std::string owner_of(const service::ReviewItem& r) {
    std::string owner = r.client ? display_name(*r.client) : "-";
    if (r.matter) owner += "/" + display_name(*r.matter);
    return owner;
}

// Appends the decisions to the ledger in one batch (all or none), under the ledger's own
// lock: a running pass does not delay it. Returns the first entry's seq. The caller holds
// the ReviewStoreLock and writes the queue only after this returns: the ledger first,
// because the ledger is the record the queue is checked against at every pass. A decision
// in the ledger but not in the queue (the queue could not be written) is put in the queue
// by the next pass; one in the queue but not in the ledger would be undone there, and an
// approval that is not in the ledger never allows a disposal.
Result<uint64_t> append_to_ledger(const policy::AgentConfig& config,
                                  std::vector<nlohmann::json> payloads) {
    auto key = ledger::SigningKey::load(config.signing_key);
    if (!key) return fail(key.error());
    auto ledger = ledger::Ledger::open(config.ledger_path(), *key);
    if (!ledger) return fail(ledger.error());
    uint64_t count = payloads.size();
    auto last = ledger->append_batch(std::move(payloads));
    if (!last) return fail(last.error());
    service::record_ledger_anchor(config.state_dir, *ledger);
    return *last - count + 1;
}

// Loads the queue under its lock, checks every id with `allowed` (which returns an error
// message or ""), then applies `change` to each and saves. All or nothing.
int decide(const policy::AgentConfig& config, const ReviewOptions& o, util::TimePoint now,
           const std::function<std::string(const service::ReviewItem&)>& allowed,
           const std::function<std::string(service::ReviewItem&)>& change) {
    std::vector<std::string> done;
    {
        auto lock = service::ReviewStoreLock::acquire(config.state_dir);
        if (!lock) return report(lock.error());
        auto queue = service::load_review_queue(config.state_dir);
        if (!queue) return report(queue.error());
        bool bad = false;
        for (size_t i = 0; i < o.ids.size(); ++i) {
            const service::ReviewItem* item = queue->find(o.ids[i]);
            std::string why = item == nullptr
                                  ? std::string("no such item (see `lethe review list --all`)")
                                  : allowed(*item);
            if (std::find(o.ids.begin(), o.ids.begin() + static_cast<std::ptrdiff_t>(i),
                          o.ids[i]) != o.ids.begin() + static_cast<std::ptrdiff_t>(i)) {
                why = "given twice";
            }
            if (!why.empty()) {
                util::log_error("{}: {}", o.ids[i], why);
                bad = true;
            }
        }
        if (bad) {
            util::log_error("nothing was changed");
            return kExitBadInput;
        }
        for (const auto& id : o.ids) done.push_back(change(*queue->find(id)));
        std::vector<nlohmann::json> entries;
        for (const auto& id : o.ids) {
            const service::ReviewItem& item = *queue->find(id);
            entries.push_back(service::decision_entry(item, item.decisions.back(), now));
        }
        auto first = append_to_ledger(config, std::move(entries));
        if (!first) {
            return report(first.error().with_context(
                "the ledger could not record the decision; nothing was changed"));
        }
        for (size_t i = 0; i < o.ids.size(); ++i) {
            queue->find(o.ids[i])->decisions.back().seq = *first + i;
        }
        if (auto st = service::save_review_queue(config.state_dir, *queue); !st) {
            return report(st.error().with_context(fmt::format(
                "the decisions are in the ledger (from entry {}), but review.json could not be "
                "written; the next pass rebuilds it from the ledger",
                *first)));
        }
        uint64_t last = *first + o.ids.size() - 1;
        done.push_back(last == *first ? fmt::format("ledger entry {}", last)
                                      : fmt::format("ledger entries {} to {}", *first, last));
    }
    for (const auto& line : done) print_line(line);
    return kExitOk;
}

Result<util::TimePoint> decision_time(const ReviewOptions& o) {
    if (o.by.empty()) return fail(ErrorKind::BadInput, "--by: give who decides");
    return current_time(o.now);
}

int review_approve(const std::string& config_path, const ReviewOptions& o) {
    auto config = load_state_config(config_path);
    if (!config) return report(config.error());
    auto now = decision_time(o);
    if (!now) return report(now.error());
    std::string at = util::format_timestamp(*now);
    int code = decide(
        *config, o, *now,
        [](const service::ReviewItem& r) -> std::string {
            if (r.state == service::ReviewState::Pending ||
                r.state == service::ReviewState::Rejected) {
                return "";
            }
            // An approval the ledger lacks (an edited queue, one lethe 0.1 never entered) is
            // no approval: the next pass undoes it, and this one is entered.
            if (r.state == service::ReviewState::Approved) {
                return r.last_decision()->seq ? "already approved" : "";
            }
            return fmt::format("{}; nothing to approve", service::to_string(r.state));
        },
        [&](service::ReviewItem& r) {
            service::ReviewDecision d;
            d.approved = true;
            d.by = o.by;
            d.at = at;
            d.note = o.note;
            d.sha256 = r.sha256;
            r.decisions.push_back(d);
            r.state = service::ReviewState::Approved;
            r.note.clear();
            util::log_info("review {} approved by {}", r.id, o.by);
            return fmt::format(
                "{} approved: {}/{}; the next pass disposes of it ({}) if it is "
                "unchanged and no hold covers it",
                r.id, r.root, display_name(r.path), policy::to_string(r.action));
        });
    return code;
}

int review_reject(const std::string& config_path, const ReviewOptions& o) {
    auto config = load_state_config(config_path);
    if (!config) return report(config.error());
    auto now = decision_time(o);
    if (!now) return report(now.error());
    if (o.reason.empty()) {
        util::log_error("--reason: give why the files are kept");
        return kExitBadInput;
    }
    auto extension = policy::Retention::parse(o.extend);
    if (!extension || extension->permanent) {
        util::log_error("--extend: {}", extension ? "must be a duration such as 6m or 1y, not "
                                                    "permanent"
                                                  : extension.error().message());
        return kExitBadInput;
    }
    // The extension counts from today in the zone of each file's schedule. Without readable
    // schedules (no pass disposes of anything then), from today in UTC.
    std::vector<policy::RetentionSchedule> schedules;
    if (auto loaded = policy::load_schedules({config->policies})) {
        schedules = std::move(*loaded);
    } else {
        util::log_warning("schedules: {}; the extension counts from today in UTC",
                          loaded.error().message());
    }
    const policy::LocalToday today(schedules, *now);
    std::string at = util::format_timestamp(*now);
    int code = decide(
        *config, o, *now,
        [](const service::ReviewItem& r) -> std::string {
            if (r.state == service::ReviewState::Pending ||
                r.state == service::ReviewState::Approved) {
                return "";
            }
            if (r.state == service::ReviewState::Rejected) {
                const service::ReviewDecision* d = r.last_decision();
                return fmt::format("already rejected until {}",
                                   d != nullptr && d->until ? util::format_date(*d->until) : "?");
            }
            return fmt::format("{}; nothing to reject", service::to_string(r.state));
        },
        [&](service::ReviewItem& r) {
            util::Date until = extension->add_to(today.of(r.schedule_id));
            service::ReviewDecision d;
            d.approved = false;
            d.by = o.by;
            d.at = at;
            d.note = o.reason;
            d.extend = o.extend;
            d.until = until;
            d.sha256 = r.sha256;
            bool revoked = r.state == service::ReviewState::Approved;
            r.decisions.push_back(d);
            r.state = service::ReviewState::Rejected;
            r.note.clear();
            util::log_info("review {} rejected by {}", r.id, o.by);
            return fmt::format("{} rejected{}: {}/{} is kept; back in review on {}", r.id,
                               revoked ? " (its approval is withdrawn)" : "", r.root,
                               display_name(r.path), util::format_date(until));
        });
    return code;
}

std::string decision_text(const service::ReviewDecision& d) {
    std::string ledger = d.seq ? fmt::format("ledger entry {}", *d.seq) : "not in the ledger";
    if (d.approved) {
        return fmt::format("approved by {} at {}{} ({})", d.by, d.at,
                           d.note.empty() ? "" : fmt::format(": {}", d.note), ledger);
    }
    return fmt::format("rejected by {} at {}: {}; kept until {} ({})", d.by, d.at, d.note,
                       d.until ? util::format_date(*d.until) : "?", ledger);
}

int review_list(const std::string& config_path, const ReviewOptions& o) {
    auto config = load_state_config(config_path);
    if (!config) return report(config.error());
    auto queue = service::load_review_queue(config->state_dir);
    if (!queue) return report(queue.error());
    if (!o.json) {
        print_line(fmt::format("{:<6} {:<9} {:<20} {:<10}  {:<8}  {:<16}  {:<20}  {}", "ID",
                               "STATE", "QUEUED", "EXPIRES", "ACTION", "CATEGORY", "CLIENT/MATTER",
                               "PATH"));
    }
    for (const auto& r : queue->items) {
        if (!r.open() && !o.all) continue;
        if (o.json) {
            print_json_line(r.to_json().dump());
            continue;
        }
        print_line(fmt::format("{:<6} {:<9} {:<20} {:<10}  {:<8}  {:<16}  {:<20}  {}/{}", r.id,
                               service::to_string(r.state), r.queued_at,
                               r.expires ? util::format_date(*r.expires) : "permanent",
                               policy::to_string(r.action), r.category, owner_of(r), r.root,
                               display_name(r.path)));
        if (const service::ReviewDecision* d = r.last_decision();
            d != nullptr && r.state != service::ReviewState::Pending) {
            print_line("       " + decision_text(*d));
        }
        if (!r.note.empty()) print_line("       " + r.note);
        if (r.disposal_seq) {
            print_line(fmt::format("       disposed of: certificate {}", *r.disposal_seq));
        }
    }
    return kExitOk;
}

}  // namespace

void add_review_commands(CLI::App& app, CommandContext& context) {
    auto o = std::make_shared<ReviewOptions>();
    CLI::App* review = app.add_subcommand(
        "review", "disposition review: approve or reject due files that need a person's approval");
    review->require_subcommand(1);

    CLI::App* list = review->add_subcommand("list", "the files waiting for review");
    context.add_config_option(list);
    list->add_flag("--json", o->json, "one JSON object per item");
    list->add_flag("--all", o->all, "also disposed and withdrawn items");
    list->callback([&context, o] {
        context.chosen = [&context, o] { return review_list(context.config, *o); };
    });

    CLI::App* approve = review->add_subcommand(
        "approve", "approve disposal: the next pass disposes of the files with their action");
    context.add_config_option(approve);
    approve->add_option("id", o->ids, "review item ids (R-1 ...)")->required();
    approve->add_option("--by", o->by, "who approves")->required();
    approve->add_option("--note", o->note, "recorded with the approval and in the certificate");
#ifdef LETHE_TEST_HOOKS
    approve->add_option("--now", o->now, "TEST BUILD ONLY: decide as of this time");
#endif
    approve->callback([&context, o] {
        context.chosen = [&context, o] { return review_approve(context.config, *o); };
    });

    CLI::App* reject = review->add_subcommand(
        "reject", "keep the files; they come back for review after the extension");
    context.add_config_option(reject);
    reject->add_option("id", o->ids, "review item ids (R-1 ...)")->required();
    reject->add_option("--by", o->by, "who rejects")->required();
    reject->add_option("--reason", o->reason, "why they are kept")->required();
    reject->add_option(
        "--extend", o->extend,
        fmt::format("keep them this long, then review again (default {})", kDefaultExtension));
#ifdef LETHE_TEST_HOOKS
    reject->add_option("--now", o->now, "TEST BUILD ONLY: decide as of this time");
#endif
    reject->callback([&context, o] {
        context.chosen = [&context, o] { return review_reject(context.config, *o); };
    });
}

}  // namespace lethe::cli

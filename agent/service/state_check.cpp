#include "agent/service/state_check.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>

#include <fmt/format.h>

#include "agent/ledger/entries.hpp"
#include "agent/ledger/verify.hpp"
#include "agent/service/holds.hpp"
#include "agent/service/journal.hpp"
#include "agent/service/journal_anchor.hpp"
#include "agent/service/pass_record.hpp"
#include "agent/util/fs.hpp"
#include "agent/util/sha256.hpp"
#include "agent/util/log.hpp"

namespace lethe::service {

namespace {

bool file_exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

// The hold as the store keeps it, from its hold-placed entry.
nlohmann::json placed_hold(const nlohmann::json& payload, uint64_t seq) {
    nlohmann::json hold = payload.value("hold", nlohmann::json::object());
    hold["released"] = false;
    hold["placed_seq"] = seq;
    return hold;
}

void apply_release(nlohmann::json& hold, const nlohmann::json& payload, uint64_t seq) {
    hold["released"] = true;
    hold["released_by"] = payload.value("released_by", "");
    hold["released_at"] = payload.value("time", "");
    hold["release_reason"] = payload.value("reason", "");
    hold["released_seq"] = seq;
}

void visit_entry(const ledger::Entry& e, ReplayedLedger& out) {
    const nlohmann::json& p = e.payload;
    if (!p.is_object()) return;
    std::string type = e.type();
    uint64_t seq = e.seq();
    if (type == "hold-placed" && p.contains("hold") && p["hold"].is_object()) {
        out.holds[p["hold"].value("id", "")] = placed_hold(p, seq);
    } else if (type == "hold-released" && p.contains("hold") && p["hold"].is_object()) {
        auto it = out.holds.find(p["hold"].value("id", ""));
        if (it != out.holds.end()) apply_release(it->second, p, seq);
    } else if (type == "review-approved" || type == "review-rejected") {
        out.decisions[seq] = p;
    } else if (type == "disposal" && p.contains("review") && p["review"].is_object()) {
        out.disposed[p["review"].value("id", "")] = seq;
    } else if (type == "ledger-accepted") {
        out.accepted.push_back(p);
    }
}

ReviewDecision decision_of(const nlohmann::json& p, uint64_t seq) {
    ReviewDecision d;
    d.approved = p.value("type", "") == "review-approved";
    d.by = p.value(d.approved ? "approved_by" : "rejected_by", "");
    d.at = p.value("time", "");
    d.note = p.value(d.approved ? "note" : "reason", "");
    d.extend = p.value("extend", "");
    if (auto until = util::parse_date(p.value("until", "")); until) d.until = *until;
    d.sha256 = p.contains("review") ? p["review"].value("sha256", "") : "";
    d.seq = seq;
    return d;
}

bool decision_matches(const ReviewDecision& d, const std::string& item_id,
                      const ReplayedLedger& replayed) {
    auto it = replayed.decisions.find(*d.seq);
    if (it == replayed.decisions.end()) return false;
    const nlohmann::json& p = it->second;
    const nlohmann::json review = p.value("review", nlohmann::json::object());
    return review.value("id", "") == item_id && review.value("sha256", "") == d.sha256 &&
           (p.value("type", "") == "review-approved") == d.approved;
}

std::string decision_text(const ReviewDecision& d) {
    return fmt::format("{} by {} at {}", d.approved ? "approval" : "rejection", d.by, d.at);
}

// The state an open item is in after its decisions changed: the last decision, if it was
// made on the version queued now.
void settle(ReviewItem& item, const std::string& why) {
    const ReviewDecision* d = item.last_decision();
    if (d != nullptr && d->sha256 == item.sha256) {
        item.state = d->approved ? ReviewState::Approved : ReviewState::Rejected;
        item.note.clear();
        return;
    }
    item.state = ReviewState::Pending;
    item.note = why;
}

struct Reconciled {
    std::vector<std::string> differences;  // the store was (or will be) rebuilt for these
    std::vector<std::string> unledgered;   // holds only in holds.json, kept in force
    HoldSet holds;
    ReviewQueue queue;
    bool holds_changed = false;
    bool queue_changed = false;
};

Result<HoldSet> load_holds_or_empty(const std::string& state_dir, std::vector<std::string>& diff,
                                    bool ledger_has_holds) {
    if (file_exists(holds_path(state_dir))) return load_holds(state_dir);
    if (ledger_has_holds) diff.push_back(fmt::format("{} is missing", holds_path(state_dir)));
    return HoldSet{};
}

// A hold of the ledger: the store must say exactly what the ledger says, with or without a
// seq. Only the ledger can release, narrow or shorten a hold.
Status restore_ledger_hold(const std::string& id, const nlohmann::json& expected,
                           Reconciled& out) {
    Hold* stored = out.holds.find(id);
    if (stored != nullptr && stored->to_json() == expected) return {};
    auto rebuilt = Hold::from_json(expected);
    if (!rebuilt) return fail(rebuilt.error().with_context("ledger entry of hold " + id));
    std::string seq = std::to_string(expected.value("placed_seq", uint64_t{0}));
    if (stored == nullptr) {
        out.differences.push_back(fmt::format(
            "hold {} (ledger entry {}) was not in holds.json; restored from the ledger{}", id, seq,
            rebuilt->released ? " (released)" : ""));
        out.holds.holds.push_back(std::move(*rebuilt));
    } else {
        out.differences.push_back(
            stored->released && !rebuilt->released
                ? fmt::format("hold {} is released in holds.json, but the ledger has no "
                              "release; it is in force again (a release counts once it is in "
                              "the ledger: release it with `lethe hold release {}`)",
                              id, id)
                : fmt::format("hold {} in holds.json differs from the ledger (entry {}); "
                              "restored from the ledger",
                              id, seq));
        *stored = std::move(*rebuilt);
    }
    out.holds_changed = true;
    return {};
}

// A hold the ledger lacks keeps files (fail closed): it stays in force, is never entered in
// the ledger by a pass (nobody known placed it), and is reported until a records manager
// places it with `lethe hold add` or releases it with `lethe hold release`. A release or a
// seq the store gives it is not the ledger's, so it is dropped.
void keep_unledgered_hold(Hold& h, Reconciled& out) {
    bool released = h.released;
    out.unledgered.push_back(fmt::format(
        "hold {} is in holds.json but not in the ledger: no `lethe hold add` placed it (a store "
        "edited or restored by hand, or a hold lethe 0.1.0 never entered in the ledger){}; it "
        "is kept in force until a records manager places it with `lethe hold add {} ...` or "
        "releases it with `lethe hold release {} ...`",
        h.id, released ? ", and its release there is not in the ledger either" : "", h.id,
        h.id));
    if (!h.placed_seq && !released) return;
    h.placed_seq.reset();
    h.released = false;
    h.released_by.clear();
    h.released_at.clear();
    h.release_reason.clear();
    h.released_seq.reset();
    out.holds_changed = true;
}

Status reconcile_holds(const std::string& state_dir, const ReplayedLedger& r, Reconciled& out) {
    auto set = load_holds_or_empty(state_dir, out.differences, !r.holds.empty());
    if (!set) return fail(set.error());
    out.holds = std::move(*set);
    for (const auto& [id, expected] : r.holds) {
        if (auto st = restore_ledger_hold(id, expected, out); !st) return st;
    }
    for (auto& h : out.holds.holds) {
        if (r.holds.count(h.id) == 0) keep_unledgered_hold(h, out);
    }
    return {};
}

// Decisions of the store the ledger does not have are undone; decisions of the ledger the
// store does not have are put back.
void reconcile_item(ReviewItem& item, const std::vector<uint64_t>& in_ledger,
                    const ReplayedLedger& r, Reconciled& out) {
    bool changed = false;
    std::vector<ReviewDecision> kept;
    for (auto& d : item.decisions) {
        // Only a decision the ledger has counts; a pass never enters one in the ledger.
        if (!d.seq) {
            out.differences.push_back(fmt::format(
                "review {}: the {} in review.json is not in the ledger; undone, and the file "
                "stays in review until a records manager decides with `lethe review approve "
                "{}` or `lethe review reject {}`",
                item.id, decision_text(d), item.id, item.id));
            changed = true;
            continue;
        }
        if (!decision_matches(d, item.id, r)) {
            out.differences.push_back(fmt::format(
                "review {}: the {} (ledger entry {}) is not in the ledger; undone", item.id,
                decision_text(d), *d.seq));
            changed = true;
            continue;
        }
        kept.push_back(d);
    }
    for (uint64_t seq : in_ledger) {
        bool have = std::any_of(kept.begin(), kept.end(),
                                [&](const ReviewDecision& d) { return d.seq == seq; });
        if (have) continue;
        ReviewDecision d = decision_of(r.decisions.at(seq), seq);
        out.differences.push_back(fmt::format(
            "review {}: the {} (ledger entry {}) was not in review.json; restored from the "
            "ledger",
            item.id, decision_text(d), seq));
        kept.push_back(d);
        changed = true;
    }
    if (!changed) return;
    std::stable_sort(kept.begin(), kept.end(), [](const ReviewDecision& a, const ReviewDecision& b) {
        return a.seq.value_or(UINT64_MAX) < b.seq.value_or(UINT64_MAX);
    });
    item.decisions = std::move(kept);
    if (item.open()) {
        settle(item, "its decisions did not match the ledger; back in review");
    }
    out.queue_changed = true;
}

uint64_t id_number(const std::string& id) {
    if (id.rfind("R-", 0) != 0) return 0;
    try {
        return std::stoull(id.substr(2));
    } catch (const std::exception&) {
        return 0;
    }
}

Status recreate_item(const std::string& id, const std::vector<uint64_t>& seqs,
                     const ReplayedLedger& r, Reconciled& out) {
    const nlohmann::json& last = r.decisions.at(seqs.back());
    nlohmann::json j = last.value("review", nlohmann::json::object());
    j["state"] = "pending";
    j["decisions"] = nlohmann::json::array();
    for (uint64_t seq : seqs) j["decisions"].push_back(decision_of(r.decisions.at(seq), seq).to_json());
    auto item = ReviewItem::from_json(j);
    if (!item) return fail(item.error().with_context("ledger entry of review " + id));
    auto disposed = r.disposed.find(id);
    if (disposed != r.disposed.end() && disposed->second > seqs.back()) {
        item->state = ReviewState::Disposed;
        item->disposal_seq = disposed->second;
    } else if (out.queue.find_open(item->root, item->path) != nullptr) {
        item->state = ReviewState::Withdrawn;
        item->note = "rebuilt from the ledger; the file is queued again under another item";
    } else {
        settle(*item, "rebuilt from the ledger");
    }
    out.differences.push_back(fmt::format(
        "review {} ({} decision(s), last ledger entry {}) was not in review.json; restored "
        "from the ledger ({})",
        id, seqs.size(), seqs.back(), to_string(item->state)));
    out.queue.next_id = std::max(out.queue.next_id, id_number(id) + 1);
    out.queue.items.push_back(std::move(*item));
    out.queue_changed = true;
    return {};
}

Status reconcile_review(const std::string& state_dir, const ReplayedLedger& r, Reconciled& out) {
    if (file_exists(review_path(state_dir))) {
        auto queue = load_review_queue(state_dir);
        if (!queue) return fail(queue.error());
        out.queue = std::move(*queue);
    } else if (!r.decisions.empty()) {
        out.differences.push_back(fmt::format("{} is missing", review_path(state_dir)));
    }
    std::map<std::string, std::vector<uint64_t>> by_item;
    for (const auto& [seq, p] : r.decisions) {
        by_item[p.value("review", nlohmann::json::object()).value("id", "")].push_back(seq);
    }
    static const std::vector<uint64_t> kNone;
    for (auto& item : out.queue.items) {
        auto it = by_item.find(item.id);
        reconcile_item(item, it == by_item.end() ? kNone : it->second, r, out);
    }
    for (const auto& [id, seqs] : by_item) {
        if (out.queue.find(id) != nullptr) continue;
        if (auto st = recreate_item(id, seqs, r, out); !st) return st;
    }
    return {};
}

Result<Reconciled> reconcile(const std::string& state_dir, const ReplayedLedger& r) {
    Reconciled out;
    if (auto st = reconcile_holds(state_dir, r, out); !st) return fail(st.error());
    if (auto st = reconcile_review(state_dir, r, out); !st) return fail(st.error());
    return out;
}

}  // namespace

Result<std::optional<LedgerAnchor>> recorded_anchor(const std::string& state_dir) {
    auto record = read_pass_record(state_dir);
    if (!record) return fail(record.error());
    if (!*record) return std::optional<LedgerAnchor>{};
    LedgerAnchor anchor{(*record)->anchor_seq, (*record)->anchor_head};
    if (anchor.seq == 0) return std::optional<LedgerAnchor>{};
    return std::optional<LedgerAnchor>(anchor);
}

namespace {

// Whether an entry that reduces protection counts: signed by one of `trusted`. Says why
// not in `out.unverified`.
bool signature_counts(const ledger::Entry& e, const std::vector<ledger::VerifyKey>* trusted,
                      ReplayedLedger& out) {
    std::string type = e.type();
    if (trusted == nullptr || (type != "hold-released" && type != "review-approved")) return true;
    auto opened = ledger::open_envelope(e.line, *trusted);
    if (opened) return true;
    bool release = type == "hold-released";
    const nlohmann::json subject =
        e.payload.is_object() ? e.payload.value(release ? "hold" : "review", nlohmann::json::object())
                              : nlohmann::json::object();
    out.unverified.push_back(fmt::format(
        "ledger entry {} ({} of {} {}) does not count: its signature does not verify with "
        "lethe's public keys ({}); {} (`lethe certs verify` says more)",
        e.line_no, type, release ? "hold" : "review",
        subject.is_object() ? subject.value("id", "?") : "?", opened.error().message(),
        release ? "the hold stays in force" : "the approval is undone and the file kept"));
    return false;
}

}  // namespace

Result<std::vector<ledger::VerifyKey>> ledger_keys(const std::string& public_key_path,
                                                   const std::string& retired_dir) {
    std::vector<ledger::VerifyKey> keys;
    auto current = ledger::VerifyKey::load(public_key_path);
    if (!current) return fail(current.error());
    keys.push_back(std::move(*current));
    std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(retired_dir.c_str()), ::closedir);
    if (!d) return keys;  // never rotated
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d.get())) {
        std::string name = e->d_name;
        if (name.size() > 4 && name.ends_with(".pub")) names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
        auto k = ledger::VerifyKey::load(fmt::format("{}/{}", retired_dir, name));
        if (!k) return fail(k.error());
        keys.push_back(std::move(*k));
    }
    return keys;
}

Result<ReplayedLedger> replay_ledger(const std::string& ledger_path,
                                     const std::vector<uint64_t>& want,
                                     const std::vector<ledger::VerifyKey>* trusted) {
    ReplayedLedger out;
    if (!file_exists(ledger_path)) return out;
    out.present = true;
    std::string last;
    auto st = ledger::for_each_entry(ledger_path, [&](const ledger::Entry& e) {
        out.last_seq = e.seq();
        last = e.line;
        if (std::find(want.begin(), want.end(), e.line_no) != want.end()) {
            out.hashes[e.line_no] = e.hash();
        }
        if (signature_counts(e, trusted, out)) visit_entry(e, out);
        return true;
    });
    if (!st) return fail(st.error());
    if (!last.empty()) out.head = util::sha256_hex(last);
    return out;
}

std::string ledger_behind(const std::optional<LedgerAnchor>& anchor, const ReplayedLedger& r) {
    if (!anchor) return "";
    for (const auto& a : r.accepted) {
        const nlohmann::json rec = a.value("recorded", nlohmann::json::object());
        if (rec.value("seq", uint64_t{0}) == anchor->seq && rec.value("head", "") == anchor->head) {
            return "";
        }
    }
    if (!r.present || r.last_seq == 0) {
        return fmt::format("the ledger is missing or empty, though state_dir records {} at "
                           "entry {}",
                           anchor->pass ? "passes up to its checkpoint"
                                        : "a command's append (ledger-anchor.json)",
                           anchor->seq);
    }
    if (r.last_seq < anchor->seq) {
        std::string recorded =
            anchor->pass
                ? fmt::format("the last pass recorded its checkpoint at entry {}", anchor->seq)
                : fmt::format("a command appended entry {} (state_dir/ledger-anchor.json)",
                              anchor->seq);
        return fmt::format("the ledger ends at entry {}, but {}: it was cut or restored from "
                           "an older copy",
                           r.last_seq, recorded);
    }
    auto hash = r.hashes.find(anchor->seq);
    if (!anchor->head.empty() && (hash == r.hashes.end() || hash->second != anchor->head)) {
        return fmt::format("entry {} of the ledger is not the {} (head {}): the ledger was "
                           "replaced",
                           anchor->seq,
                           anchor->pass ? "checkpoint the last pass recorded"
                                        : "entry a command appended (ledger-anchor.json)",
                           anchor->head);
    }
    return "";
}

std::vector<std::string> store_differences(const std::string& state_dir,
                                           const ReplayedLedger& replayed) {
    auto rec = reconcile(state_dir, replayed);
    if (!rec) return {rec.error().message()};
    std::vector<std::string> out = replayed.unverified;
    for (const auto& d : rec->differences) {
        out.push_back(fmt::format("state_dir differs from the ledger: {}; the next pass "
                                  "rebuilds the store from the ledger",
                                  d));
    }
    for (const auto& u : rec->unledgered) {
        out.push_back(fmt::format("state_dir differs from the ledger: {}", u));
    }
    return out;
}

namespace {
constexpr std::string_view kAcceptHint =
    "no file will be disposed of until the ledger is restored, or an operator accepts it as it "
    "is with `lethe state accept-ledger`";
}  // namespace

bool is_ledger_behind(const Error& error) {
    return error.kind() == ErrorKind::Refused &&
           error.message().find(kAcceptHint) != std::string::npos;
}

Result<std::vector<std::string>> check_state(const std::string& state_dir,
                                             const ledger::Ledger& ledger,
                                             const std::vector<ledger::VerifyKey>& trusted) {
    std::vector<std::string> differences;
    std::vector<std::string> unledgered;
    {
        // The hold and review commands append their entry and write their store under these
        // locks, so the ledger and the stores are read here as one state.
        auto hold_lock = HoldStoreLock::acquire(state_dir);
        if (!hold_lock) return fail(hold_lock.error());
        auto review_lock = ReviewStoreLock::acquire(state_dir);
        if (!review_lock) return fail(review_lock.error());
        auto anchored = check_anchors(state_dir, ledger.path(), &trusted);
        if (!anchored) return fail(anchored.error());
        if (!anchored->behind.empty()) {
            std::string message =
                fmt::format("{} ({}); {} (see the operator guide, \"State rollback\")",
                            anchored->behind, ledger.path(), kAcceptHint);
            log_event(util::LogLevel::Error, Event::StateRollback, {}, message);
            return fail(ErrorKind::Refused, message);
        }
        auto rec = reconcile(state_dir, anchored->replayed);
        if (!rec) return fail(rec.error());
        if (rec->holds_changed) {
            if (auto st = save_holds(state_dir, rec->holds); !st) return fail(st.error());
        }
        if (rec->queue_changed) {
            if (auto st = save_review_queue(state_dir, rec->queue); !st) return fail(st.error());
        }
        differences = std::move(rec->differences);
        unledgered = std::move(anchored->replayed.unverified);
        unledgered.insert(unledgered.end(), rec->unledgered.begin(), rec->unledgered.end());
    }
    for (const auto& d : differences) {
        log_event(util::LogLevel::Warning, Event::StateRollback, {},
                  fmt::format("state_dir differs from the ledger: {}; the store was rebuilt "
                              "from the ledger",
                              d));
    }
    for (const auto& u : unledgered) {
        log_event(util::LogLevel::Warning, Event::StateRollback, {},
                  fmt::format("state_dir differs from the ledger: {}", u));
    }
    differences.insert(differences.end(), unledgered.begin(), unledgered.end());
    return differences;
}

Result<bool> approval_in_ledger(const std::string& ledger_path, const ReviewItem& item) {
    const ReviewDecision* d = item.last_decision();
    if (d == nullptr || !d->approved || !d->seq) return false;
    bool found = false;
    auto st = ledger::for_each_entry(ledger_path, [&](const ledger::Entry& e) {
        if (e.line_no < *d->seq) return true;
        const nlohmann::json& p = e.payload;
        if (p.is_object() && e.seq() == *d->seq && e.type() == "review-approved") {
            const nlohmann::json review = p.value("review", nlohmann::json::object());
            found = review.value("id", "") == item.id &&
                    review.value("sha256", "") == d->sha256 && d->sha256 == item.sha256 &&
                    review.value("inode", uint64_t{0}) == item.inode &&
                    review.value("device", uint64_t{0}) == item.device;
        }
        return false;
    });
    if (!st) return fail(st.error());
    return found;
}

Result<uint64_t> accept_ledger(const std::string& state_dir, ledger::Ledger& ledger,
                               const std::string& by, const std::string& reason,
                               util::TimePoint now) {
    auto anchored = check_anchors(state_dir, ledger.path());
    if (!anchored) return fail(anchored.error());
    const std::string& behind = anchored->behind;
    if (behind.empty()) {
        return fail(ErrorKind::BadInput,
                    "the ledger is not behind what state_dir recorded: there is nothing to "
                    "accept");
    }
    nlohmann::json payload = {
        {"type", "ledger-accepted"},
        {"time", util::format_timestamp(now)},
        {"host", ledger::host_name()},
        {"agent", fmt::format("lethe {}", LETHE_VERSION)},
        {"by", by},
        {"reason", reason},
        {"finding", behind},
        {"found", {{"entries", anchored->replayed.last_seq}, {"head", anchored->replayed.head}}},
    };
    // Each anchor the ledger is behind is accepted, so that the next pass goes on.
    if (!ledger_behind(anchored->recorded, anchored->replayed).empty()) {
        payload["recorded"] = {{"seq", anchored->recorded->seq},
                               {"head", anchored->recorded->head}};
    }
    if (!journal_behind(anchored->journal, anchored->replayed).empty()) {
        const JournalAnchor& j = *anchored->journal;
        payload["journal"] = {{"seq", j.ledger.seq}, {"head", j.ledger.head}, {"time", j.time}};
    }
    auto seq = ledger.append(std::move(payload));
    if (seq) record_ledger_anchor(state_dir, ledger);
    return seq;
}

}  // namespace lethe::service

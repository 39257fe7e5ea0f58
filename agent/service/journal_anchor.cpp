#include "agent/service/journal_anchor.hpp"

#include <sys/stat.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "agent/ledger/ledger.hpp"
#include "agent/service/journal.hpp"
#include "agent/util/fs.hpp"
#include "agent/util/log.hpp"
#include "agent/util/time.hpp"

namespace lethe::service {

namespace {

struct JournalCloser {
    void operator()(sd_journal* j) const { sd_journal_close(j); }
};
using JournalHandle = std::unique_ptr<sd_journal, JournalCloser>;

// The value of `field` in the current entry, or none.
std::optional<std::string> field_of(sd_journal* j, const std::string& field) {
    const void* data = nullptr;
    size_t size = 0;
    if (sd_journal_get_data(j, field.c_str(), &data, &size) < 0) return std::nullopt;
    std::string item(static_cast<const char*>(data), size);
    if (item.size() <= field.size() || item.compare(0, field.size() + 1, field + "=") != 0) {
        return std::nullopt;
    }
    return item.substr(field.size() + 1);
}

std::optional<uint64_t> number_of(const std::optional<std::string>& text) {
    if (!text || text->empty() || text->size() > 19) return std::nullopt;
    uint64_t n = 0;
    for (char c : *text) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + static_cast<uint64_t>(c - '0');
    }
    return n;
}

bool add_match(sd_journal* j, const std::string& match) {
    return sd_journal_add_match(j, match.data(), match.size()) >= 0;
}

// The anchor of the current entry, or none when its fields are not a complete anchor.
std::optional<JournalAnchor> anchor_of(sd_journal* j) {
    auto seq = number_of(field_of(j, "LETHE_LEDGER_SEQ"));
    auto head = field_of(j, "LETHE_LEDGER_HEAD");
    if (!seq || *seq == 0 || !head || head->empty()) return std::nullopt;
    JournalAnchor anchor;
    anchor.ledger = LedgerAnchor{*seq, *head, true};
    anchor.ledger.pass =
        field_of(j, "MESSAGE_ID").value_or("") != message_id(Event::LedgerAnchored);
    uint64_t usec = 0;
    if (sd_journal_get_realtime_usec(j, &usec) >= 0) {
        anchor.time = util::format_timestamp(
            util::TimePoint(std::chrono::microseconds(static_cast<int64_t>(usec))));
    }
    return anchor;
}

// Whose records count: this process's user, the owner of state_dir (the service's user, whose
// passes `lethe status` run by root must see) and root. Each of them could change state_dir
// anyway; another local user cannot.
std::vector<uid_t> trusted_uids(const std::string& state_dir) {
    std::vector<uid_t> uids{::getuid(), 0};
    struct stat st {};
    if (::stat(state_dir.c_str(), &st) == 0) uids.push_back(st.st_uid);
    std::sort(uids.begin(), uids.end());
    uids.erase(std::unique(uids.begin(), uids.end()), uids.end());
    return uids;
}

}  // namespace

std::string anchor_state_dir(const std::string& state_dir) {
    std::error_code ec;
    std::filesystem::path p = std::filesystem::absolute(state_dir, ec);
    if (ec) p = state_dir;
    std::string out = p.lexically_normal().string();
    while (out.size() > 1 && out.back() == '/') out.pop_back();
    return out;
}

std::optional<JournalAnchor> read_journal_anchor(const std::string& state_dir) {
    sd_journal* raw = nullptr;
    if (int r = sd_journal_open(&raw, SD_JOURNAL_LOCAL_ONLY); r < 0) {
        util::log_debug("no journal anchor: cannot open the journal: {}", std::strerror(-r));
        return std::nullopt;
    }
    JournalHandle j(raw);
    // Matches on one field are alternatives, on different fields all required.
    bool matched =
        add_match(j.get(), fmt::format("MESSAGE_ID={}", message_id(Event::PassFinished))) &&
        add_match(j.get(), fmt::format("MESSAGE_ID={}", message_id(Event::LedgerAnchored))) &&
        add_match(j.get(), "LETHE_STATE_DIR=" + anchor_state_dir(state_dir));
    for (uid_t uid : trusted_uids(state_dir)) {
        matched = matched && add_match(j.get(), fmt::format("_UID={}", uid));
    }
    if (!matched) {
        util::log_debug("no journal anchor: cannot filter the journal");
        return std::nullopt;
    }
    if (sd_journal_seek_tail(j.get()) < 0) {
        util::log_debug("no journal anchor: cannot read the journal");
        return std::nullopt;
    }
    // A record without a ledger seq (one from before lethe logged it) is no anchor; an older
    // one may be.
    for (int r = sd_journal_previous(j.get()); r > 0; r = sd_journal_previous(j.get())) {
        if (auto anchor = anchor_of(j.get())) return anchor;
    }
    util::log_debug("no journal anchor: the journal (as far as this user may read it) has no "
                    "pass or ledger-anchored record of {}",
                    anchor_state_dir(state_dir));
    return std::nullopt;
}

std::string journal_behind(const std::optional<JournalAnchor>& anchor,
                           const ReplayedLedger& r) {
    if (!anchor) return "";
    const LedgerAnchor& a = anchor->ledger;
    for (const auto& accepted : r.accepted) {
        const nlohmann::json rec = accepted.value("journal", nlohmann::json::object());
        if (rec.value("seq", uint64_t{0}) == a.seq && rec.value("head", "") == a.head) return "";
    }
    const std::string when =
        a.pass ? fmt::format("the journal has a pass of this state_dir that finished at {} with "
                             "the ledger at entry {}",
                             anchor->time, a.seq)
               : fmt::format("the journal has a command's append to the ledger of this "
                             "state_dir at {} with the ledger at entry {}",
                             anchor->time, a.seq);
    if (!r.present || r.last_seq < a.seq) {
        return fmt::format("the ledger ends at entry {}, but {}: state_dir (ledger and "
                           "last-pass.json together) was restored from an older copy",
                           r.present ? r.last_seq : 0, when);
    }
    auto hash = r.hashes.find(a.seq);
    if (hash == r.hashes.end() || hash->second != a.head) {
        return fmt::format("entry {} of the ledger is not the one {} (head {}): the ledger was "
                           "replaced",
                           a.seq, when, a.head);
    }
    return "";
}

namespace {
constexpr const char* kAnchorName = "/ledger-anchor.json";
}  // namespace

void record_ledger_anchor(const std::string& state_dir, const ledger::Ledger& ledger) {
    const uint64_t seq = ledger.last_seq();
    const std::string& head = ledger.head();
    const nlohmann::json record = {{"schema", 1}, {"ledger", {{"seq", seq}, {"head", head}}}};
    const std::string path = state_dir + kAnchorName;
    if (auto st = util::write_file_atomic(path, record.dump(2) + "\n", 0600); !st) {
        util::log_warning("ledger entry {} is appended, but {} could not be written ({}): a "
                          "ledger cut back before it is not detected from state_dir",
                          seq, path, st.error().message());
    }
    // Directly to the journal, whatever the log target: the record is an anchor, not a
    // message for whoever reads stderr. No journal socket: nothing.
    const std::string dir = anchor_state_dir(state_dir);
    sd_journal_send("MESSAGE=ledger appended to entry %llu (%s)",
                    static_cast<unsigned long long>(seq), dir.c_str(), "PRIORITY=6",
                    "MESSAGE_ID=%s", std::string(message_id(Event::LedgerAnchored)).c_str(),
                    "LETHE_LEDGER_SEQ=%llu", static_cast<unsigned long long>(seq),
                    "LETHE_LEDGER_HEAD=%s", head.c_str(), "LETHE_STATE_DIR=%s", dir.c_str(),
                    "SYSLOG_IDENTIFIER=lethe", nullptr);
}

Result<std::optional<LedgerAnchor>> command_anchor(const std::string& state_dir) {
    const std::string path = state_dir + kAnchorName;
    auto text = util::read_file(path);
    if (!text) {
        if (text.error().sys_errno() == ENOENT) return std::optional<LedgerAnchor>{};
        return fail(text.error());
    }
    auto j = nlohmann::json::parse(*text, nullptr, false);
    const nlohmann::json* ledger =
        j.is_object() && j.contains("ledger") ? &j["ledger"] : nullptr;
    if (ledger == nullptr || !ledger->is_object() || !ledger->contains("seq") ||
        !(*ledger)["seq"].is_number_unsigned() || !ledger->contains("head") ||
        !(*ledger)["head"].is_string()) {
        return fail(ErrorKind::BadInput,
                    fmt::format("{}: not a ledger anchor (an object with ledger.seq and "
                                "ledger.head); restore it, or delete it to rely on "
                                "last-pass.json and the journal",
                                path));
    }
    LedgerAnchor anchor{(*ledger)["seq"].get<uint64_t>(),
                        (*ledger)["head"].get<std::string>(), false};
    if (anchor.seq == 0) return std::optional<LedgerAnchor>{};
    return std::optional<LedgerAnchor>(anchor);
}

Result<AnchoredLedger> check_anchors(const std::string& state_dir, const std::string& ledger_path,
                                     const std::vector<ledger::VerifyKey>* trusted) {
    AnchoredLedger out;
    auto recorded = recorded_anchor(state_dir);
    if (!recorded) return fail(recorded.error());
    out.recorded = *recorded;
    auto command = command_anchor(state_dir);
    if (!command) return fail(command.error());
    if (*command && (!out.recorded || (*command)->seq > out.recorded->seq)) {
        out.recorded = *command;
    }
    out.journal = read_journal_anchor(state_dir);
    std::vector<uint64_t> want;
    if (out.recorded) want.push_back(out.recorded->seq);
    if (out.journal) want.push_back(out.journal->ledger.seq);
    auto replayed = replay_ledger(ledger_path, want, trusted);
    if (!replayed) return fail(replayed.error());
    out.replayed = std::move(*replayed);
    out.behind = ledger_behind(out.recorded, out.replayed);
    if (out.behind.empty()) out.behind = journal_behind(out.journal, out.replayed);
    return out;
}

}  // namespace lethe::service

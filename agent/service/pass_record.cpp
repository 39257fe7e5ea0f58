#include "agent/service/pass_record.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include <nlohmann/json.hpp>

#include "agent/ledger/ledger.hpp"
#include "agent/service/config_safety.hpp"
#include "agent/service/journal.hpp"
#include "agent/service/journal_anchor.hpp"
#include "agent/service/metrics.hpp"
#include "agent/service/state.hpp"
#include "agent/util/fs.hpp"
#include "agent/util/sha256.hpp"
#include "agent/util/plural.hpp"

namespace lethe::service {

namespace {

constexpr const char* kRecordName = "/last-pass.json";

nlohmann::json summary_json(const RunSummary& s) {
    return {{"planned", s.planned},     {"observed", s.observed},
            {"disposed", s.disposed},   {"bytes", s.bytes},
            {"skipped", s.skipped},     {"held", s.held},
            {"in_review", s.in_review},
            {"failed", s.failed},
            {"failed_verifications", s.failed_verifications},
            {"failed_earlier", s.failed_earlier},
            {"recovered", s.recovered}, {"archives_disposed", s.archives_disposed},
            {"archives_recovered", s.archives_recovered}, {"checkpoint_seq", s.checkpoint_seq},
            {"stopped", s.stopped}};
}

RunSummary summary_from(const nlohmann::json& j) {
    RunSummary s;
    s.planned = j.value("planned", uint64_t{0});
    s.observed = j.value("observed", uint64_t{0});
    s.disposed = j.value("disposed", uint64_t{0});
    s.bytes = j.value("bytes", uint64_t{0});
    s.held = j.value("held", uint64_t{0});
    s.in_review = j.value("in_review", uint64_t{0});
    s.skipped = j.value("skipped", uint64_t{0});
    s.failed = j.value("failed", uint64_t{0});
    s.failed_verifications = j.value("failed_verifications", uint64_t{0});
    s.failed_earlier = j.value("failed_earlier", uint64_t{0});
    s.recovered = j.value("recovered", uint64_t{0});
    s.archives_disposed = j.value("archives_disposed", uint64_t{0});
    s.archives_recovered = j.value("archives_recovered", uint64_t{0});
    s.checkpoint_seq = j.value("checkpoint_seq", uint64_t{0});
    s.stopped = j.value("stopped", false);
    return s;
}

}  // namespace

Result<AgentInputs> load_agent_inputs(const std::string& config_path) {
    auto config = policy::load_config(config_path);
    if (!config) return fail(config.error());
    auto timing = parse_timing(*config);
    if (!timing) return fail(timing.error());
    auto schedules = policy::load_schedules({config->policies});
    if (!schedules) {
        return fail(schedules.error().with_context("schedules (no disposal until fixed)"));
    }
    // Before the key: a config that cannot be safe is refused whatever else is wrong.
    if (auto st = check_config_safety(*config, *schedules); !st) return fail(st.error());
    if (auto st = check_state_format(config->state_dir); !st) return fail(st.error());
    auto key = ledger::SigningKey::load(config->signing_key);
    if (!key) return fail(key.error());
    return AgentInputs{std::move(*config), std::move(*schedules), std::move(*key), *timing};
}

Status write_pass_record(const std::string& state_dir, const PassRecord& record) {
    nlohmann::json j = {{"started", record.started},
                        {"finished", record.finished},
                        {"result", record.result},
                        {"summary", summary_json(record.summary)}};
    if (!record.error.empty()) j["error"] = record.error;
    if (!record.last_success.empty()) j["last_success"] = record.last_success;
    if (record.anchor_seq > 0) {
        j["ledger"] = {{"seq", record.anchor_seq}, {"head", record.anchor_head}};
    }
    if (auto st = util::make_dirs(state_dir, 0700); !st) return st;
    return util::write_file_atomic(state_dir + kRecordName, j.dump(2) + "\n", 0600);
}

Result<std::optional<PassRecord>> read_pass_record(const std::string& state_dir) {
    std::string path = state_dir + kRecordName;
    auto text = util::read_file(path);
    if (!text) {
        if (text.error().sys_errno() == ENOENT) return std::optional<PassRecord>{};
        return fail(text.error());
    }
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (!j.is_object())
        return fail(ErrorKind::BadInput, fmt::format("{}: not a JSON object", path));
    PassRecord r;
    r.started = j.value("started", "");
    r.finished = j.value("finished", "");
    r.result = j.value("result", "");
    r.error = j.value("error", "");
    r.last_success = j.value("last_success", "");
    if (j.contains("summary") && j["summary"].is_object()) r.summary = summary_from(j["summary"]);
    if (j.contains("ledger") && j["ledger"].is_object()) {
        r.anchor_seq = j["ledger"].value("seq", uint64_t{0});
        r.anchor_head = j["ledger"].value("head", "");
    } else {
        r.anchor_seq = r.summary.checkpoint_seq;  // a record from before the ledger field
    }
    return std::optional<PassRecord>(std::move(r));
}

std::string of_which_recovered(uint64_t recovered) {
    if (recovered == 0) return "";
    return fmt::format("of which {}", recovered == 1
                                            ? std::string("1 completed an interrupted disposal")
                                            : fmt::format("{} completed interrupted disposals",
                                                          recovered));
}

Result<RunSummary> run_recorded_pass(const AgentInputs& inputs, const RunOptions& options,
                                     util::TimePoint (*finished)()) {
    log_event(util::LogLevel::Info, Event::PassStarted, {},
              fmt::format("pass started over {} root(s){}", inputs.config.roots.size(),
                          options.root ? fmt::format(" (only '{}')", *options.root) : ""));
    auto began = std::chrono::steady_clock::now();
    auto summary = run_pass(inputs.config, inputs.schedules, inputs.key, options);
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - began;
    PassRecord record;
    record.started = util::format_timestamp(options.now);
    record.finished = util::format_timestamp(options.injected_time ? options.now : finished());
    if (summary) {
        record.summary = *summary;
        record.result = summary->stopped ? "stopped" : summary->failed > 0 ? "failures" : "ok";
        record.last_success = record.finished;
        record.anchor_seq = summary->checkpoint_seq;
        record.anchor_head = summary->checkpoint_head;
        EventFields fields;
        fields.cert_seq = summary->checkpoint_seq;
        // The head in the journal too, outside state_dir: the next pass reads it back
        // (journal_anchor.hpp), so that even a whole state_dir restored is detectable.
        auto head = read_ledger_head(inputs.config.ledger_path(), {inputs.key.public_key()});
        if (head && *head) {
            fields.ledger_head = (*head)->head;
            if ((*head)->signed_by_trusted) fields.ledger_seq = (*head)->seq;
        }
        fields.state_dir = anchor_state_dir(inputs.config.state_dir);
        log_event(summary->failed > 0 ? util::LogLevel::Warning : util::LogLevel::Info,
                  Event::PassFinished, fields,
                  fmt::format("pass {}: {} disposed ({}){}; {} skipped, {} failed, {} due "
                              "under observe mode; checkpoint certificate {}",
                              summary->stopped ? "stopped early" : "finished", summary->disposed,
                              util::counted(summary->bytes, "byte", "bytes"),
                              summary->recovered > 0
                                  ? ", " + of_which_recovered(summary->recovered)
                                  : "",
                              summary->skipped,
                              summary->failed, summary->observed, summary->checkpoint_seq));
    } else {
        record.result = "error";
        record.error = summary.error().message();
        if (auto previous = read_pass_record(inputs.config.state_dir); previous && *previous) {
            record.last_success = (*previous)->last_success;
            // A failed pass (a ledger found behind, say) must not erase what the ledger
            // has to reach.
            record.anchor_seq = (*previous)->anchor_seq;
            record.anchor_head = (*previous)->anchor_head;
        }
        log_event(util::LogLevel::Error, Event::Error, {},
                  fmt::format("pass failed: {}", summary.error().message()));
    }
    if (auto st = write_pass_record(inputs.config.state_dir, record); !st) {
        util::log_warning("could not record the pass for `lethe status`: {}", st.error().message());
    }
    const std::string& metrics = inputs.config.metrics_file;
    if (!metrics.empty()) {
        if (auto st = write_metrics_file(metrics, render_metrics(record, took.count())); !st) {
            util::log_warning("could not write the metrics file: {}", st.error().message());
        }
    }
    return summary;
}

Result<std::optional<LedgerHead>> read_ledger_head(const std::string& ledger_path,
                                                   const std::vector<ledger::VerifyKey>& trusted) {
    UniqueFd fd(::open(ledger_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) {
        if (errno == ENOENT) return std::optional<LedgerHead>{};
        return fail(errno_error(fmt::format("open {}", ledger_path), errno));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0)
        return fail(errno_error(fmt::format("stat {}", ledger_path), errno));
    if (st.st_size == 0) return std::optional<LedgerHead>{};
    // A ledger line is a few KiB; the tail holds the last one whole.
    constexpr off_t kTail = 1 << 20;
    off_t start = st.st_size > kTail ? st.st_size - kTail : 0;
    std::string buf(static_cast<size_t>(st.st_size - start), '\0');
    ssize_t n = ::pread(fd.get(), buf.data(), buf.size(), start);
    if (n < 0) return fail(errno_error(fmt::format("read {}", ledger_path), errno));
    buf.resize(static_cast<size_t>(n));
    while (!buf.empty() && buf.back() == '\n') buf.pop_back();
    size_t nl = buf.rfind('\n');
    if (nl == std::string::npos && start != 0) {
        return fail(ErrorKind::BadInput,
                    fmt::format("{}: last line longer than 1 MiB", ledger_path));
    }
    std::string line = nl == std::string::npos ? buf : buf.substr(nl + 1);
    LedgerHead head;
    head.head = util::sha256_hex(line);
    auto payload = ledger::open_envelope(line, trusted);
    if (payload && payload->contains("seq") && (*payload)["seq"].is_number_unsigned()) {
        head.seq = (*payload)["seq"].get<uint64_t>();
        head.signed_by_trusted = true;
    }
    return std::optional<LedgerHead>(std::move(head));
}

}  // namespace lethe::service

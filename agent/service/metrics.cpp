#include "agent/service/metrics.hpp"

#include <chrono>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "agent/util/fs.hpp"
#include "agent/util/time.hpp"

namespace lethe::service {

namespace {

// Every action and skip reason a pass counts, so that their series always exist.
constexpr const char* kActions[] = {"archive", "encrypt", "sanitize", "delete"};
constexpr const char* kSkipReasons[] = {"hard_links", "policy_problem", "changed_or_in_use",
                                        "encrypt_refused"};
constexpr const char* kResults[] = {"ok", "failures", "stopped", "error"};

class Exposition {
public:
    void family(const char* name, const char* type, const char* help) {
        m_name = name;
        m_text += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    }
    void sample(uint64_t value) { m_text += fmt::format("{} {}\n", m_name, value); }
    void sample(double value) { m_text += fmt::format("{} {}\n", m_name, value); }
    void sample(const char* label, std::string_view label_value, uint64_t value) {
        m_text += fmt::format("{}{{{}=\"{}\"}} {}\n", m_name, label,
                              escape_label_value(label_value), value);
    }
    [[nodiscard]] const std::string& text() const { return m_text; }

private:
    std::string m_text;
    std::string m_name;
};

uint64_t value_of(const std::map<std::string, uint64_t>& m, const std::string& key) {
    auto it = m.find(key);
    return it == m.end() ? 0 : it->second;
}

// Seconds since the epoch of an ISO timestamp recorded by the pass, if it parses.
std::optional<int64_t> epoch_seconds(const std::string& timestamp) {
    if (timestamp.empty()) return std::nullopt;
    auto t = util::parse_timestamp(timestamp);
    if (!t) return std::nullopt;
    return std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count();
}

}  // namespace

std::string escape_label_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        switch (c) {
            case '\\': out += "\\\\"; break;
            case '"': out += "\\\""; break;
            case '\n': out += "\\n"; break;
            default: out += c;
        }
    }
    return out;
}

std::string render_metrics(const PassRecord& record, double duration_seconds) {
    const RunSummary& s = record.summary;
    Exposition x;
    x.family("lethe_pass_files_scanned", "gauge", "Files walked in each root by the last pass.");
    for (const auto& [root, files] : s.scanned_by_root) x.sample("root", root, files);
    x.family("lethe_pass_files_disposed", "gauge",
             "Files the last pass disposed of and certified, by action.");
    for (const char* action : kActions) {
        x.sample("action", action, value_of(s.disposed_by_action, action));
    }
    x.family("lethe_pass_files_skipped", "gauge",
             "Due files the last pass left alone, by reason.");
    for (const char* reason : kSkipReasons) {
        x.sample("reason", reason, value_of(s.skipped_by_reason, reason));
    }
    x.family("lethe_pass_files_held", "gauge", "Due files kept by a legal hold in the last pass.");
    x.sample(s.held);
    x.family("lethe_pass_files_review", "gauge",
             "Files waiting for a records manager's review in the last pass.");
    x.sample(s.review);
    x.family("lethe_pass_files_failed", "gauge",
             "Due files the last pass could not dispose of (left in place, no certificate).");
    x.sample(s.failed);
    x.family("lethe_pass_verifications_failed", "gauge",
             "Overwrites whose read-back differed from what was written in the last pass (the "
             "file is left in place, overwritten, and retried once by the next pass).");
    x.sample(s.failed_verifications);
    x.family("lethe_pass_files_recovered", "gauge",
             "Of the files the last pass disposed of, those whose disposal an interrupted "
             "pass had begun (completed and certified by the last pass).");
    x.sample(s.recovered);
    x.family("lethe_pass_bytes_disposed", "gauge", "Bytes of the files the last pass disposed of.");
    x.sample(s.bytes);
    x.family("lethe_pass_duration_seconds", "gauge", "How long the last pass took.");
    x.sample(duration_seconds);
    if (auto finished = epoch_seconds(record.finished)) {
        x.family("lethe_pass_timestamp_seconds", "gauge",
                 "When the last pass ended, in seconds since the epoch.");
        x.sample(static_cast<double>(*finished));
    }
    if (auto success = epoch_seconds(record.last_success)) {
        x.family("lethe_last_success_timestamp_seconds", "gauge",
                 "When the last pass that reached its signed checkpoint ended, in seconds "
                 "since the epoch.");
        x.sample(static_cast<double>(*success));
    }
    x.family("lethe_pass_result", "gauge",
             "1 for the result of the last pass (ok, failures, stopped, error), 0 for the others.");
    for (const char* result : kResults) {
        x.sample("result", result, uint64_t{record.result == result ? 1u : 0u});
    }
    return x.text();
}

Status write_metrics_file(const std::string& path, const std::string& text) {
    return util::write_file_atomic(path, text, 0644);
}

}  // namespace lethe::service

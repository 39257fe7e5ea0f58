#include "agent/service/metrics.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "tests/support/temp_dir.hpp"

namespace lethe::service {
namespace {

// One sample line of the exposition format, parsed back.
struct Sample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
};

// A strict reader of the text format as node_exporter's parser sees it: HELP and TYPE
// before a family's samples, one family's samples together, escapes in label values.
struct Parsed {
    std::vector<Sample> samples;
    std::map<std::string, std::string> types;
    std::map<std::string, std::string> helps;
    std::string error;

    [[nodiscard]] double value(const std::string& name, const std::string& label = "",
                               const std::string& label_value = "") const {
        for (const auto& s : samples) {
            if (s.name != name) continue;
            if (label.empty() && s.labels.empty()) return s.value;
            auto it = s.labels.find(label);
            if (it != s.labels.end() && it->second == label_value) return s.value;
        }
        ADD_FAILURE() << "no sample " << name << "{" << label << "=" << label_value << "}";
        return -1;
    }
    [[nodiscard]] size_t count(const std::string& name) const {
        size_t n = 0;
        for (const auto& s : samples) n += s.name == name ? 1u : 0u;
        return n;
    }
};

Parsed parse(const std::string& text) {
    Parsed p;
    std::istringstream in(text);
    std::string line;
    std::set<std::string> closed;
    std::string current;
    while (std::getline(in, line)) {
        if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
            std::string rest = line.substr(7);
            std::string name = rest.substr(0, rest.find(' '));
            std::string what = rest.substr(rest.find(' ') + 1);
            if (line[2] == 'H') {
                p.helps[name] = what;
            } else {
                p.types[name] = what;
            }
            if (name != current) {
                if (!current.empty()) closed.insert(current);
                current = name;
            }
            continue;
        }
        if (line.empty() || line[0] == '#') {
            p.error = "unexpected line: " + line;
            return p;
        }
        Sample s;
        size_t i = 0;
        while (i < line.size() && line[i] != '{' && line[i] != ' ') s.name += line[i++];
        if (i < line.size() && line[i] == '{') {
            ++i;
            while (line[i] != '}') {
                std::string label;
                while (line[i] != '=') label += line[i++];
                if (line[++i] != '"') {
                    p.error = "label value not quoted: " + line;
                    return p;
                }
                ++i;
                std::string value;
                for (; line[i] != '"'; ++i) {
                    if (line[i] == '\\') {
                        char e = line[++i];
                        value += e == 'n' ? '\n' : e;
                        if (e != 'n' && e != '\\' && e != '"') p.error = "bad escape: " + line;
                    } else {
                        value += line[i];
                    }
                }
                ++i;
                if (line[i] == ',') ++i;
                s.labels[label] = value;
            }
            ++i;
        }
        if (line[i] != ' ') {
            p.error = "no value: " + line;
            return p;
        }
        s.value = std::stod(line.substr(i + 1));
        if (s.name != current || closed.count(s.name) != 0) {
            p.error = "sample outside its family (no HELP/TYPE before it): " + line;
            return p;
        }
        p.samples.push_back(std::move(s));
    }
    if (!text.empty() && text.back() != '\n') p.error = "no newline at the end";
    return p;
}

PassRecord recorded_pass() {
    PassRecord r;
    r.started = "2026-11-25T22:00:00Z";
    r.finished = "2026-11-25T22:05:00Z";
    r.last_success = "2026-11-25T22:05:00Z";
    r.result = "failures";
    RunSummary& s = r.summary;
    s.scanned_by_root = {{"clients", 1200}, {"hr \"archive\" \\ 2\nnew", 34}};
    s.disposed = 7;
    s.disposed_by_action = {{"sanitize", 4}, {"archive", 2}, {"delete", 1}};
    s.skipped = 3;
    s.skipped_by_reason = {{"hard_links", 1}, {"changed_or_in_use", 2}};
    s.held = 5;
    s.review = 6;
    s.failed = 1;
    s.recovered = 1;
    s.bytes = 123456789012;
    return r;
}

TEST(Metrics, EveryFamilyHasHelpAndTypeAndParsesBackToWhatThePassRecorded) {
    PassRecord r = recorded_pass();
    std::string text = render_metrics(r, 2.5);
    Parsed p = parse(text);
    ASSERT_EQ(p.error, "") << text;
    for (const auto& s : p.samples) {
        EXPECT_EQ(p.types.count(s.name), 1u) << s.name;
        EXPECT_EQ(p.types[s.name], "gauge") << s.name;
        EXPECT_FALSE(p.helps[s.name].empty()) << s.name;
    }
    EXPECT_EQ(p.value("lethe_pass_files_scanned", "root", "clients"), 1200);
    EXPECT_EQ(p.value("lethe_pass_files_scanned", "root", "hr \"archive\" \\ 2\nnew"), 34);
    EXPECT_EQ(p.value("lethe_pass_files_disposed", "action", "sanitize"), 4);
    EXPECT_EQ(p.value("lethe_pass_files_disposed", "action", "archive"), 2);
    EXPECT_EQ(p.value("lethe_pass_files_disposed", "action", "delete"), 1);
    EXPECT_EQ(p.value("lethe_pass_files_disposed", "action", "encrypt"), 0);
    double disposed = 0;
    for (const auto& s : p.samples) {
        if (s.name == "lethe_pass_files_disposed") disposed += s.value;
    }
    EXPECT_EQ(disposed, 7);
    EXPECT_EQ(p.value("lethe_pass_files_skipped", "reason", "hard_links"), 1);
    EXPECT_EQ(p.value("lethe_pass_files_skipped", "reason", "changed_or_in_use"), 2);
    EXPECT_EQ(p.value("lethe_pass_files_skipped", "reason", "policy_problem"), 0);
    EXPECT_EQ(p.value("lethe_pass_files_held"), 5);
    EXPECT_EQ(p.value("lethe_pass_files_review"), 6);
    EXPECT_EQ(p.value("lethe_pass_files_failed"), 1);
    EXPECT_EQ(p.value("lethe_pass_files_recovered"), 1);
    EXPECT_EQ(p.value("lethe_pass_bytes_disposed"), 123456789012.0);
    EXPECT_EQ(p.value("lethe_pass_duration_seconds"), 2.5);
    EXPECT_EQ(p.value("lethe_pass_timestamp_seconds"), 1795644300.0);
    EXPECT_EQ(p.value("lethe_last_success_timestamp_seconds"), 1795644300.0);
    EXPECT_EQ(p.count("lethe_pass_result"), 4u);
    EXPECT_EQ(p.value("lethe_pass_result", "result", "failures"), 1);
    EXPECT_EQ(p.value("lethe_pass_result", "result", "ok"), 0);
    EXPECT_EQ(p.value("lethe_pass_result", "result", "error"), 0);
}

TEST(Metrics, AFailedPassKeepsTheLastSuccessAndBeforeAnySuccessHasNone) {
    PassRecord r = recorded_pass();
    r.result = "error";
    r.finished = "2026-11-26T22:05:00Z";
    Parsed p = parse(render_metrics(r, 0.25));
    ASSERT_EQ(p.error, "");
    EXPECT_EQ(p.value("lethe_pass_result", "result", "error"), 1);
    EXPECT_EQ(p.value("lethe_last_success_timestamp_seconds"), 1795644300.0);
    EXPECT_EQ(p.value("lethe_pass_timestamp_seconds"), 1795730700.0);

    r.last_success.clear();
    Parsed none = parse(render_metrics(r, 0.25));
    ASSERT_EQ(none.error, "");
    EXPECT_EQ(none.count("lethe_last_success_timestamp_seconds"), 0u);
}

TEST(Metrics, LabelValuesEscapeBackslashQuoteAndNewlineOnly) {
    EXPECT_EQ(escape_label_value("plain/root é"), "plain/root é");
    EXPECT_EQ(escape_label_value("a\"b"), "a\\\"b");
    EXPECT_EQ(escape_label_value("a\\b"), "a\\\\b");
    EXPECT_EQ(escape_label_value("a\nb"), "a\\nb");
}

TEST(Metrics, TheFileIsReplacedWholeAndReadableByNodeExporter) {
    testing::TempDir dir;
    std::string path = dir / "lethe.prom";
    ASSERT_TRUE(write_metrics_file(path, "old\n"));
    std::string text = render_metrics(recorded_pass(), 1.0);
    ASSERT_TRUE(write_metrics_file(path, text));
    EXPECT_EQ(testing::slurp(path), text);
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0644u);
    // No temporary file is left beside it for the collector to trip over.
    size_t files = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
    EXPECT_EQ(files, 1u);
}

}  // namespace
}  // namespace lethe::service

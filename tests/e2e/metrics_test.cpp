// `metrics_file` in lethe.toml: every pass rewrites a node_exporter textfile with what it did.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/e2e/service_fixture.hpp"

namespace lethe::testing {
namespace {

class MetricsE2E : public ServiceFixture {
  protected:
    void write_metrics_config(const std::string& metrics_file) {
        m_dir.write("lethe.toml", "policies = \"policies\"\nmetrics_file = \"" + metrics_file +
                                      "\"\n[agent]\nstate_dir = \"state\"\n"
                                      "max_fraction_per_root = 1.0\n"
                                      "[[root]]\nname = \"clients\"\npath = \"share\"\n");
    }
};

TEST_F(MetricsE2E, RunWritesTheTextfileWithWhatThePassDid) {
    m_dir.mkdir("textfile");
    write_metrics_config("textfile/lethe.prom");
    keygen();
    auto run = lethe("--log-target stderr run --config " + shell_quote(config()));
    ASSERT_EQ(run.code, 0) << run.out << run.err;

    std::string prom = slurp(m_dir / "textfile/lethe.prom");
    for (const char* line : {
             "# TYPE lethe_pass_files_disposed gauge\n",
             "lethe_pass_files_scanned{root=\"clients\"} 4\n",
             "lethe_pass_files_disposed{action=\"sanitize\"} 2\n",
             "lethe_pass_files_disposed{action=\"delete\"} 1\n",
             "lethe_pass_files_disposed{action=\"archive\"} 0\n",
             "lethe_pass_files_skipped{reason=\"changed_or_in_use\"} 0\n",
             "lethe_pass_files_held 0\n",
             "lethe_pass_files_failed 0\n",
             "lethe_pass_bytes_disposed 36\n",  // 16 + 16 + 4 bytes
             "lethe_pass_result{result=\"ok\"} 1\n",
             "lethe_pass_result{result=\"error\"} 0\n",
             "# TYPE lethe_pass_duration_seconds gauge\n",
         }) {
        EXPECT_NE(prom.find(line), std::string::npos) << line << "\n" << prom;
    }
    // The success time is the end of the pass that `lethe status` reports.
    auto record = nlohmann::json::parse(slurp(m_dir / "state/last-pass.json"));
    EXPECT_EQ(record["last_success"], record["finished"]);
    EXPECT_NE(prom.find("lethe_last_success_timestamp_seconds "), std::string::npos) << prom;

    // A pass that fails (here: an unreadable intent record stops all disposal) says error
    // and keeps the time of the last success, so an alert on its age fires.
    std::string success_line = prom.substr(prom.find("lethe_last_success_timestamp_seconds "));
    success_line = success_line.substr(0, success_line.find('\n') + 1);
    m_dir.write("state/intent.json", "{not json");
    auto broken = lethe("--log-target stderr run --config " + shell_quote(config()));
    EXPECT_EQ(broken.code, 2) << broken.err;
    std::string after = slurp(m_dir / "textfile/lethe.prom");
    EXPECT_NE(after.find("lethe_pass_result{result=\"error\"} 1\n"), std::string::npos) << after;
    EXPECT_NE(after.find("lethe_pass_result{result=\"ok\"} 0\n"), std::string::npos) << after;
    EXPECT_NE(after.find(success_line), std::string::npos) << success_line << after;
}

TEST_F(MetricsE2E, ConfigCheckAndTheUnitDropinKnowTheMetricsFolder) {
    write_metrics_config("textfile/lethe.txt");
    auto bad = lethe("config check --config " + shell_quote(config()));
    EXPECT_EQ(bad.code, 2) << bad.out << bad.err;
    EXPECT_NE((bad.out + bad.err).find("metrics_file"), std::string::npos) << bad.out << bad.err;
    EXPECT_NE((bad.out + bad.err).find(".prom"), std::string::npos) << bad.out << bad.err;

    write_metrics_config("textfile/lethe.prom");
    keygen();
    auto missing = lethe("config check --config " + shell_quote(config()));
    EXPECT_EQ(missing.code, 2) << missing.out;
    EXPECT_NE(missing.out.find("FAILED: metrics_file"), std::string::npos) << missing.out;

    m_dir.mkdir("textfile");
    auto ok = lethe("config check --config " + shell_quote(config()));
    EXPECT_EQ(ok.code, 0) << ok.out << ok.err;
    EXPECT_NE(ok.out.find("ok: metrics_file " + (m_dir / "textfile/lethe.prom")), std::string::npos)
        << ok.out;

    auto dropin = lethe("config unit-dropin --config " + shell_quote(config()));
    ASSERT_EQ(dropin.code, 0) << dropin.err;
    EXPECT_NE(dropin.out.find("ReadWritePaths=\"" + (m_dir / "textfile") + "\"\n"),
              std::string::npos)
        << dropin.out;
}

}  // namespace
}  // namespace lethe::testing

#pragma once

// The optional node_exporter textfile (`metrics_file` in lethe.toml): what the last pass
// did, in the Prometheus text exposition format (version 0.0.4), rewritten atomically at the
// end of every pass so the textfile collector never reads half a file.

#include <optional>
#include <string>
#include <string_view>

#include "agent/service/pass_record.hpp"
#include "agent/util/error.hpp"

namespace lethe::service {

// A label value as the exposition format wants it: backslash, double quote and newline
// escaped (\\, \", \n); every other byte as it is.
[[nodiscard]] std::string escape_label_value(std::string_view value);

// The metrics of one recorded pass: files scanned (by root), disposed (by action), skipped
// (by reason), held, in review, failed, recovered; bytes disposed; the pass duration in
// seconds, its end time, the end time of the last pass that reached its checkpoint
// (`record.last_success`, absent before any) and the result as a 0/1 gauge per result.
// Every family has HELP and TYPE lines; every action, reason and result is listed, with 0
// where nothing happened, so that a series never disappears.
[[nodiscard]] std::string render_metrics(const PassRecord& record, double duration_seconds);

// Writes `text` to `path` atomically: a temporary file in the same folder, fsynced, renamed
// over `path`, the folder fsynced. Mode 0644, so node_exporter (another user) can read it.
[[nodiscard]] Status write_metrics_file(const std::string& path, const std::string& text);

}  // namespace lethe::service

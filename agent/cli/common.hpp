#pragma once

// Shared by the command groups of the CLI: loading, output and error reporting.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/policy/config.hpp"
#include "agent/policy/schedule.hpp"
#include "agent/util/encoding.hpp"
#include "agent/util/error.hpp"
#include "agent/util/time.hpp"

namespace lethe::cli {

// Logs the error and returns the exit code for it.
int report(const Error& error);

std::string human_bytes(uint64_t bytes);

// A path or name for a terminal, one line, control characters as \xNN (util/encoding.hpp).
using util::display_name;

// One human-readable line on stdout, shown as display_name() shows it: a file name in it
// can neither break the line nor reach the terminal as a control sequence.
void print_line(const std::string& line);

// One line of JSON (JSON Lines) on stdout, exact bytes: JSON escapes control characters itself.
void print_json_line(const std::string& json_text);

// Pretty-printed JSON for a person to read (`certs show`): DEL and C1 control characters,
// which JSON leaves raw, become \u00NN escapes (the same JSON value).
void print_json_text(const std::string& json_text);

// The real clock, or the time given (YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ) when not empty.
[[nodiscard]] Result<util::TimePoint> current_time(const std::string& injected);

// The config, for a command that reads state_dir: refuses (exit 2) a state_dir of a newer
// format than this lethe knows (service::check_state_format).
[[nodiscard]] Result<policy::AgentConfig> load_state_config(const std::string& config_path);

struct Loaded {
    policy::AgentConfig config;
    std::vector<policy::RetentionSchedule> schedules;
};

// The config and every schedule it names; a broken schedule fails the whole load, and so
// does a state_dir of a newer format (load_state_config).
[[nodiscard]] Result<Loaded> load_all(const std::string& config_path);

}  // namespace lethe::cli

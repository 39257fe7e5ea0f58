#include "agent/cli/common.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iterator>

#include <fmt/format.h>

#include "agent/service/state.hpp"
#include "agent/util/encoding.hpp"
#include "agent/util/log.hpp"

namespace lethe::cli {

int report(const Error& error) {
    util::log_error("{}", error.message());
    return exit_code_for(error);
}

std::string human_bytes(uint64_t bytes) {
    static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = static_cast<double>(bytes);
    size_t unit = 0;
    while (value >= 1024.0 && unit + 1 < std::size(kUnits)) {
        value /= 1024.0;
        ++unit;
    }
    return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, kUnits[unit]);
}

namespace {
void write_line(const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fputc('\n', stdout);
}
}  // namespace

void print_line(const std::string& line) {
    bool plain = std::all_of(line.begin(), line.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u >= 0x20 && u < 0x7f;
    });
    write_line(plain ? line : display_name(line));  // no copy for the common, ASCII line
}

void print_json_line(const std::string& json_text) { write_line(json_text); }

void print_json_text(const std::string& json_text) { write_line(util::json_display(json_text)); }

Result<util::TimePoint> current_time(const std::string& injected) {
    if (injected.empty()) {
        return util::TimePoint{std::chrono::system_clock::now().time_since_epoch()};
    }
    return util::parse_timestamp(injected);
}


Result<policy::AgentConfig> load_state_config(const std::string& config_path) {
    auto config = policy::load_config(config_path);
    if (!config) return fail(config.error());
    if (auto st = service::check_state_format(config->state_dir); !st) return fail(st.error());
    return config;
}

Result<Loaded> load_all(const std::string& config_path) {
    auto config = load_state_config(config_path);
    if (!config) return fail(config.error());
    auto schedules = policy::load_schedules({config->policies});
    if (!schedules) {
        return fail(schedules.error().with_context("schedules (no disposal until fixed)"));
    }
    return Loaded{std::move(*config), std::move(*schedules)};
}

}  // namespace lethe::cli

#include "agent/cli/common.hpp"

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

std::string display_name(std::string_view bytes) {
    bool plain = true;  // printable ASCII, the common case: shown as it is
    for (char c : bytes) {
        auto u = static_cast<unsigned char>(c);
        plain = plain && u >= 0x20 && u < 0x7f;
    }
    if (plain) return std::string(bytes);
    std::string text = util::utf8_display(bytes);
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) {
            out += fmt::format("\\x{:02x}", u);
        } else {
            out += c;
        }
    }
    return out;
}

void print_line(const std::string& line) {
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
}

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

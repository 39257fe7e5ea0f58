#include "tests/support/e2e_fixture.hpp"

namespace lethe::testing {

std::string shell_quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) {
        if (c == '\'') {
            q += "'\\''";
        } else {
            q += c;
        }
    }
    return q + "'";
}

std::string firm_schedule(const FirmSchedule& schedule) {
    std::string text =
        "[schedule]\nid = \"firm-2026\"\nversion = " + std::to_string(schedule.version) +
        "\nmode = \"" + schedule.mode +
        "\"\n\n[[category]]\nid = \"client-matter\"\n"
        "paths = [\"{client}/{matter}/**\"]\n" +
        (schedule.extensions.empty() ? std::string()
                                     : "extensions = [" + schedule.extensions + "]\n") +
        "retain = \"7y\"\naction = \"" + schedule.action + "\"\n" + schedule.client_matter_extra;
    if (schedule.scratch) {
        text += "\n[[category]]\nid = \"scratch\"\npaths = [\"**/*.tmp\"]\nretain = \"30d\"\n"
                "action = \"delete\"\n";
    }
    return text;
}

std::string firm_config(const FirmConfig& config) {
    std::string text = "policies = \"policies\"\n[agent]\nstate_dir = \"state\"\n";
    if (!config.max_fraction_per_root.empty()) {
        text += "max_fraction_per_root = " + config.max_fraction_per_root + "\n";
    }
    return text + config.agent + config.sections + config.roots;
}

}  // namespace lethe::testing

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
    std::string text = "[schedule]\nid = \"firm-2026\"\nversion = " +
                       std::to_string(schedule.version) + "\nmode = \"" + schedule.mode +
                       "\"\n\n[[category]]\nid = \"client-matter\"\n"
                       "paths = [\"{client}/{matter}/**\"]\nextensions = [" +
                       schedule.extensions + "]\nretain = \"7y\"\naction = \"" + schedule.action +
                       "\"\n" + schedule.client_matter_extra;
    if (schedule.scratch) {
        text += "\n[[category]]\nid = \"scratch\"\npaths = [\"**/*.tmp\"]\nretain = \"30d\"\n"
                "action = \"delete\"\n";
    }
    return text;
}

}  // namespace lethe::testing

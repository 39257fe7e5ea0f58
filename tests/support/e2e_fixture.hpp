#pragma once
// The files most end-to-end tests write before they run the built `lethe` binary, and the
// shell quoting they run it with: one copy instead of one per test file.

#include <string>

namespace lethe::testing {

// `s` as one word for sh: single-quoted, with each ' written as '\''.
[[nodiscard]] std::string shell_quote(const std::string& s);

// The retention schedule the e2e tests share: schedule "firm-2026" at `version` in `mode`,
// category "client-matter" (files {client}/{matter}/** with `extensions`, kept 7 years, then
// `action`, followed by the lines in `client_matter_extra`), and, when `scratch`, category
// "scratch" (**/*.tmp, kept 30 days, then deleted). Written with designated initializers:
// firm_schedule({.version = 3, .action = "archive"}).
struct FirmSchedule {
    int version = 1;
    std::string mode = "enforce";
    std::string extensions = R"("pdf", "docx")";
    std::string action = "sanitize";
    std::string client_matter_extra{};  // whole TOML lines, each ending in '\n'
    bool scratch = true;
};
[[nodiscard]] std::string firm_schedule(const FirmSchedule& schedule);

}  // namespace lethe::testing

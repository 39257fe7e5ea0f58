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
// firm_schedule({.version = 3, .action = "archive"}). More categories can follow the text.
struct FirmSchedule {
    int version = 1;
    std::string mode = "enforce";
    std::string extensions = R"("pdf", "docx")";  // empty: no extensions line (any file)
    std::string action = "sanitize";
    std::string client_matter_extra{};  // whole TOML lines, each ending in '\n'
    bool scratch = true;
};
[[nodiscard]] std::string firm_schedule(const FirmSchedule& schedule);

// The agent config the e2e tests share (lethe.toml beside the folder "policies"): state in
// "state", `max_fraction_per_root` (no such line when empty) and the lines in `agent` in
// [agent], then the whole sections in `sections` ("[archive]\n..."), then `roots` (one root
// "clients" at "share"). Written like firm_schedule: firm_config({.sections = "..."}).
struct FirmConfig {
    std::string max_fraction_per_root = "1.0";
    std::string agent{};     // more [agent] lines, each ending in '\n'
    std::string sections{};  // whole sections, each line ending in '\n'
    std::string roots = "[[root]]\nname = \"clients\"\npath = \"share\"\n";
};
[[nodiscard]] std::string firm_config(const FirmConfig& config);

}  // namespace lethe::testing

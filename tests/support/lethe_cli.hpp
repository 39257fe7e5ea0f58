#pragma once
// Shared by end-to-end tests: runs the built `lethe` binary (LETHE_BINARY, defined for the
// e2e target) in a temporary folder and reads back the ledger it wrote.

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/util/encoding.hpp"
#include "tests/support/e2e_fixture.hpp"
#include "tests/support/temp_dir.hpp"

namespace lethe::testing {

struct CliResult {
    int code = -1;
    std::string out;
    std::string err;
};

// `s` as one shell word.
inline std::string shell_word(const std::string& s) { return shell_quote(s); }

// Runs `lethe ARGS` (ARGS already quoted for the shell) to completion; stdout and stderr
// pass through files in `dir`. `env` are extra NAME=value words.
inline CliResult run_lethe(const TempDir& dir, const std::string& args,
                           const std::string& env = "") {
    CliResult r;
    std::string out = dir / ".out";
    std::string err = dir / ".err";
    std::string cmd = "env " + env + " " + shell_word(LETHE_BINARY) + " " + args + " >" +
                      shell_word(out) + " 2>" + shell_word(err);
    int status = std::system(cmd.c_str());
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
}

// The decoded payload of every line of a ledger, in order (no signature checked).
inline std::vector<nlohmann::json> ledger_payloads(const std::string& ledger_path) {
    std::vector<nlohmann::json> out;
    std::ifstream in(ledger_path);
    for (std::string line; std::getline(in, line);) {
        auto env = nlohmann::json::parse(line);
        auto payload = util::base64_decode(env["payload"].get<std::string>());
        out.push_back(nlohmann::json::parse(*payload));
    }
    return out;
}

}  // namespace lethe::testing

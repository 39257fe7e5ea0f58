#pragma once
// Helpers for end-to-end tests that run the built `lethe` binary (LETHE_BINARY) in a
// TempDir and read what it left: command output, the ledger's payloads, folder listings.

#include <dirent.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/util/encoding.hpp"
#include "tests/support/e2e_fixture.hpp"
#include "tests/support/temp_dir.hpp"

namespace lethe::testing {

struct CommandOutput {
    int code = -1;
    std::string out;
    std::string err;
};

inline std::string sh_quote(const std::string& s) { return shell_quote(s); }

// Runs `command` with sh, its stdout and stderr captured in files inside `dir`.
inline CommandOutput run_shell(const TempDir& dir, const std::string& command) {
    CommandOutput o;
    std::string out = dir / ".out";
    std::string err = dir / ".err";
    int status = std::system((command + " >" + sh_quote(out) + " 2>" + sh_quote(err)).c_str());
    o.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    o.out = slurp(out);
    o.err = slurp(err);
    return o;
}

inline CommandOutput run_lethe(const TempDir& dir, const std::string& args) {
    return run_shell(dir, sh_quote(LETHE_BINARY) + " " + args);
}

// Every payload in a ledger file, in order.
inline std::vector<nlohmann::json> ledger_payloads(const std::string& ledger_path) {
    std::vector<nlohmann::json> out;
    std::ifstream in(ledger_path);
    for (std::string line; std::getline(in, line);) {
        auto env = nlohmann::json::parse(line);
        out.push_back(
            nlohmann::json::parse(*util::base64_decode(env["payload"].get<std::string>())));
    }
    return out;
}

// The payloads of one type.
inline std::vector<nlohmann::json> payloads_of(const std::string& ledger_path,
                                               const std::string& type) {
    std::vector<nlohmann::json> out;
    for (auto& p : ledger_payloads(ledger_path)) {
        if (p["type"] == type) out.push_back(std::move(p));
    }
    return out;
}

// `size` bytes that do not compress (xorshift, never a zero byte), the same for every call:
// a file an overwrite, an archive or a sanitize needs many 4 MiB blocks for.
inline std::string incompressible_bytes(size_t size) {
    std::string out(size, '\0');
    uint32_t x = 2463534242u;
    for (char& c : out) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        c = static_cast<char>(x | 1u);
    }
    return out;
}

// Names in a folder, sorted, without . and ..; empty if it cannot be opened.
inline std::vector<std::string> names_in(const std::string& folder) {
    std::vector<std::string> out;
    DIR* d = ::opendir(folder.c_str());
    if (d == nullptr) return out;
    while (struct dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") out.push_back(n);
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace lethe::testing

// The `lethe` command line: parses arguments, calls the stages, maps errors to exit codes.
// main() is the only catch-all.

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "agent/cli/commands.hpp"
#include "agent/service/journal.hpp"
#include "agent/util/error.hpp"
#include "agent/util/log.hpp"

// The only catch-all: anything thrown, even while the commands are being set up, is an
// internal error with exit code 3, never an abort.
int main(int argc, char** argv) try {
    using namespace lethe;
    CLI::App app{"lethe: retention and secure disposal for file shares", "lethe"};
    app.set_version_flag("--version", fmt::format("lethe {}", LETHE_VERSION));
    app.require_subcommand(1);
    std::string log_level = "info";
    app.add_option("--log-level", log_level, "debug, info, warning or error")
        ->check(CLI::IsMember({"debug", "info", "warning", "error"}));
    std::string log_target = "auto";
    app.add_option("--log-target", log_target,
                   "auto (journal under systemd, stderr on a terminal), journal or stderr")
        ->check(CLI::IsMember({"auto", "journal", "stderr"}));

    cli::CommandContext commands;
    cli::add_all_commands(app, commands);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int code = app.exit(e);
        return code == 0 ? kExitOk : kExitBadInput;
    }
    util::LogLevel level = util::LogLevel::Info;
    if (util::parse_log_level(log_level, level)) util::set_log_level(level);
    if (auto target = service::parse_log_target(log_target)) service::install_log_target(*target);

    return commands.chosen ? commands.chosen() : lethe::kExitBadInput;
} catch (const std::exception& e) {
    lethe::util::write_stderr_line(lethe::util::LogLevel::Error,
                                   std::string("internal error: ") + e.what());
    return lethe::kExitInternal;
} catch (...) {
    std::fputs("lethe: error: internal error\n", stderr);
    return lethe::kExitInternal;
}

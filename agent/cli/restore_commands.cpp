#include <memory>
#include <optional>

#include <fmt/format.h>

#include "agent/act/age.hpp"
#include "agent/act/archive.hpp"
#include "agent/cli/commands.hpp"
#include "agent/cli/common.hpp"
#include "agent/util/plural.hpp"

namespace lethe::cli {

namespace {

// Restores from an archive lethe wrote. The config is not needed: a records manager runs
// this anywhere the archive and their identity are.
int restore(const std::string& archive, const std::string& identity, const std::string& to,
            const std::string& member) {
    act::ArchiveReadOptions options;
    if (!identity.empty()) {
        auto ids = act::age::Identity::load_file(identity);
        if (!ids) return report(ids.error());
        options.identities = std::move(*ids);
    }
    std::optional<std::string> only;
    if (!member.empty()) only = member;
    auto restored = act::restore_archive(archive, options, to, only);
    if (!restored) return report(restored.error());
    uint64_t bytes = 0;
    for (const auto& m : *restored) bytes += m.size;
    print_line(fmt::format("restored {} ({}) into {}; every SHA-256 matched the archive's "
                           "manifest",
                           util::counted(restored->size(), "file", "files"), human_bytes(bytes),
                           to));
    return kExitOk;
}

}  // namespace

void add_restore_commands(CLI::App& app, CommandContext& context) {
    struct Options {
        std::string archive;
        std::string identity;
        std::string to;
        std::string member;
    };
    auto o = std::make_shared<Options>();
    CLI::App* cmd = app.add_subcommand(
        "restore", "restore files from a lethe archive, checking each against its manifest");
    cmd->add_option("archive", o->archive, "the .tar.zst or .tar.zst.age archive")->required();
    cmd->add_option("--identity", o->identity, "age identity file (for .age archives)");
    cmd->add_option("--to", o->to, "folder to restore into (created if missing)")->required();
    cmd->add_option("--member", o->member, "restore only this path (relative, as archived)");
    cmd->callback([&context, o] {
        context.chosen = [o] { return restore(o->archive, o->identity, o->to, o->member); };
    });
}

}  // namespace lethe::cli

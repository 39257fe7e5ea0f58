// End-to-end tests of `lethe restore` given files that are not lethe archives: a records
// manager who picks the wrong file gets exit 2 and one line that names it and says why,
// nothing is created under --to, and the file is left as it was. A lethe archive whose
// member does not match its manifest stays a finding (exit 1).

#include <sys/stat.h>

#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "agent/util/sha256.hpp"
#include "tests/support/e2e.hpp"

namespace lethe {
namespace {

using testing::CommandOutput;
using testing::exists;
using testing::names_in;
using testing::sh_quote;
using testing::slurp;
using testing::TempDir;

class RestoreE2E : public ::testing::Test {
protected:
    void SetUp() override {
        CommandOutput key = sh("age-keygen -o " + sh_quote(m_dir / "rm.key"));
        ASSERT_EQ(key.code, 0) << key.err;
        CommandOutput recipient = sh("age-keygen -y " + sh_quote(m_dir / "rm.key"));
        ASSERT_EQ(recipient.code, 0) << recipient.err;
        m_recipient = recipient.out.substr(0, recipient.out.find('\n'));
        m_dir.write("src/acme/2010-001/brief.pdf", "privileged brief");
    }

    CommandOutput sh(const std::string& command) { return testing::run_shell(m_dir, command); }

    CommandOutput restore(const std::string& archive, const std::string& to) {
        return testing::run_lethe(m_dir, "restore " + sh_quote(archive) + " --identity " +
                                              sh_quote(m_dir / "rm.key") + " --to " +
                                              sh_quote(to));
    }

    // A pax tar compressed with zstd, as lethe writes it, of `src` with a manifest that
    // gives `sha256` for its one file.
    std::string archive_with_manifest(const std::string& name, const std::string& sha256) {
        m_dir.write("src/.lethe/manifest.json",
                    R"({"type": "lethe-archive-manifest", "schema": 1, "members": [)"
                    R"({"path": "acme/2010-001/brief.pdf", "sha256": ")" +
                        sha256 +
                        R"(", "size": 16, "mtime": 1262304000, "mode": 420, "uid": 0, "gid": 0}]})");
        std::string path = m_dir / name;
        CommandOutput tar = sh("tar --zstd --format=pax -cf " + sh_quote(path) + " -C " +
                               sh_quote(m_dir / "src") + " .lethe acme");
        EXPECT_EQ(tar.code, 0) << tar.err;
        return path;
    }

    static std::string mtime_of(const std::string& path) {
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0) return "missing";
        return std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
    }

    TempDir m_dir;
    std::string m_recipient;
};

TEST_F(RestoreE2E, AFileThatIsNotALetheArchiveIsBadInputNamedInOneLineAndLeavesNothing) {
    m_dir.write("random.tar.zst.age", testing::incompressible_bytes(5000));
    m_dir.write("notes.txt", "Minutes of the records committee, 3 March.\n");
    m_dir.write("empty.tar.zst", "");
    // A tar.zst that GNU tar wrote, without lethe's manifest.
    CommandOutput plain = sh("tar --zstd --format=pax -cf " + sh_quote(m_dir / "plain.tar.zst") +
                             " -C " + sh_quote(m_dir / "src") + " acme");
    ASSERT_EQ(plain.code, 0) << plain.err;
    // zstd around something that is not a tar, and age around something that is not a tar.
    ASSERT_EQ(sh("zstd -q -o " + sh_quote(m_dir / "notes.tar.zst") + " " +
                 sh_quote(m_dir / "notes.txt"))
                  .code,
              0);
    CommandOutput age = sh("age -r " + sh_quote(m_recipient) + " -o " +
                           sh_quote(m_dir / "notes.tar.zst.age") + " " + sh_quote(m_dir / "notes.txt"));
    ASSERT_EQ(age.code, 0) << age.err;

    struct Case {
        const char* file;
        const char* why;
    };
    const std::vector<Case> cases = {
        {"random.tar.zst.age", "it is neither age-encrypted nor zstd-compressed"},
        {"notes.txt", "it is neither age-encrypted nor zstd-compressed"},
        {"empty.tar.zst", "the file is empty"},
        {"plain.tar.zst", "it is a tar without lethe's manifest (.lethe/manifest.json)"},
        {"notes.tar.zst", "it is zstd-compressed but not a tar"},
        {"notes.tar.zst.age", "it decrypts to something that is not a zstd-compressed tar"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.file);
        std::string input = m_dir / c.file;
        std::string before = slurp(input);
        std::string before_mtime = mtime_of(input);
        // Into a folder that does not exist yet, and into an existing empty one.
        std::string fresh = m_dir / (std::string("fresh-") + c.file + "/restored");
        m_dir.mkdir(std::string("existing-") + c.file);
        std::string existing = m_dir / (std::string("existing-") + c.file);
        for (const std::string& to : {fresh, existing}) {
            CommandOutput r = restore(input, to);
            EXPECT_EQ(r.code, 2) << r.out << r.err;
            EXPECT_NE(r.err.find(input + " is not a lethe archive: " + c.why), std::string::npos)
                << r.err;
            EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
            EXPECT_EQ(r.err.find("Unrecognized"), std::string::npos) << r.err;
            EXPECT_TRUE(r.out.empty()) << r.out;
        }
        EXPECT_FALSE(exists(m_dir / (std::string("fresh-") + c.file))) << "created for nothing";
        EXPECT_TRUE(names_in(existing).empty()) << "left in " << existing;
        EXPECT_EQ(slurp(input), before);
        EXPECT_EQ(mtime_of(input), before_mtime);
    }
}

// A lethe archive whose member does not match its manifest is a finding (exit 1), not bad
// input, and restores nothing; the same archive with the right hash restores.
TEST_F(RestoreE2E, AMemberThatDoesNotMatchTheManifestIsAFindingAndRestoresNothing) {
    std::string forged = archive_with_manifest("forged.tar.zst", util::sha256_hex("other brief!!!!!"));
    CommandOutput bad = restore(forged, m_dir / "out/restored");
    EXPECT_EQ(bad.code, 1) << bad.out << bad.err;
    EXPECT_NE(bad.err.find(forged + ": member 'acme/2010-001/brief.pdf' does not match the "
                           "manifest's SHA-256"),
              std::string::npos)
        << bad.err;
    EXPECT_FALSE(exists(m_dir / "out"));

    std::string good = archive_with_manifest("good.tar.zst", util::sha256_hex("privileged brief"));
    CommandOutput ok = restore(good, m_dir / "out/restored");
    EXPECT_EQ(ok.code, 0) << ok.out << ok.err;
    EXPECT_NE(ok.out.find("restored 1 file "), std::string::npos) << ok.out;
    EXPECT_EQ(slurp(m_dir / "out/restored/acme/2010-001/brief.pdf"), "privileged brief");
}

}  // namespace
}  // namespace lethe

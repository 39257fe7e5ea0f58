// The crash harness: a pass is killed (SIGKILL, through the test-only LETHE_FAULT_AT hook) at
// every step boundary of every disposal it makes, then run again, and the share and the
// ledger are checked: every file that is gone has exactly one certificate with its original
// hash, every file that is still there has none, the ledger verifies, nothing is left under a
// temporary name and nothing that was not due was touched.

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "agent/util/encoding.hpp"
#include "agent/util/sha256.hpp"
#include "tests/support/e2e.hpp"
#include "tests/support/temp_dir.hpp"

namespace lethe {
namespace {

using testing::exists;
using testing::slurp;
using testing::TempDir;

#ifdef LETHE_TEST_HOOKS

struct Output {
    int code = -1;
    bool killed = false;
    std::string err;
};

// The sanitize settings of every share below: one random pass, then a pass of zeros.
constexpr const char* kSanitizeSection = "[sanitize]\npasses = 1\nfinal_zero = true\n";

// One share with due and not-due files, a schedule, a config and a signing key.
class Share {
public:
    Share() {
        m_dir.write("policies/firm.toml", testing::firm_schedule({}) + R"(
[[category]]
id = "correspondence"
paths = ["{client}/{matter}/**"]
extensions = ["eml"]
retain = "6y"
action = "archive"
encrypt = true

[[category]]
id = "drafts"
paths = ["{client}/{matter}/**"]
extensions = ["odt"]
retain = "5y"
action = "encrypt"
)");
        m_dir.write("lethe.toml", testing::firm_config({.sections = std::string(kSanitizeSection) +
                                                                    "[archive]\n"
                                                                    "destination = \"archive\"\n"
                                                                    "recipients = [\"" +
                                                                    kRecipient + "\"]\n"}));
        m_dir.mkdir("archive");
        for (const auto& [path, content] : due()) m_dir.write("share/" + path, content, "2010-05-01");
        for (const auto& [path, content] : kept()) m_dir.write("share/" + path, content, "2025-12-01");
    }

    static std::map<std::string, std::string> due() {
        return {{"acme/2010-001/brief.pdf", "privileged brief"},
                {"acme/2010-001/letter.docx", std::string((1 << 20) + 5, 'L')},  // two blocks
                {"zeta/1999-9/empty.pdf", ""},
                {"acme/2010-001/scratch.tmp", "temp"},
                {"acme/2010-001/mail/re-brief.eml", "From: client"},
                {"zeta/1999-9/note.eml", "fax cover"},
                {"acme/2010-001/draft.odt", std::string(70000, 'D')}};
    }
    static std::map<std::string, std::string> kept() {
        return {{"acme/2025-002/new.pdf", "recent work"}, {"acme/2010-001/notes.txt", "no category"}};
    }

    Output lethe(const std::string& args, const std::string& env = "") {
        Output o;
        std::string err = m_dir / ".err";
        std::string cmd = env + " '" + std::string(LETHE_BINARY) + "' " + args + " --config '" +
                          (m_dir / "lethe.toml") + "' >/dev/null 2>'" + err + "'";
        int status = std::system(cmd.c_str());
        o.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        o.killed = o.code == 128 + SIGKILL;  // the shell reports its child's SIGKILL so
        o.err = slurp(err);
        return o;
    }

    std::vector<nlohmann::json> certificates() {
        std::vector<nlohmann::json> out;
        std::ifstream in(m_dir / "state/ledger.jsonl");
        for (std::string line; std::getline(in, line);) {
            auto env = nlohmann::json::parse(line);
            auto payload = util::base64_decode(env["payload"].get<std::string>());
            auto p = nlohmann::json::parse(*payload);
            if (p["type"] == "disposal") out.push_back(p);
        }
        return out;
    }

    // Every file below `rel` whose name holds `part`.
    std::vector<std::string> names_with(const std::string& rel, const std::string& part) {
        std::vector<std::string> out;
        collect(m_dir / rel, part, out);
        return out;
    }

    const TempDir& dir() const { return m_dir; }

    // Entries under a temporary name of lethe's below share/ (its disposal folder itself
    // is not one).
    std::vector<std::string> leftovers() {
        std::vector<std::string> out;
        for (auto& name : names_with("share", ".lethe-")) {
            const std::string folder = "/.lethe-disposal";
            if (name.size() < folder.size() ||
                name.compare(name.size() - folder.size(), folder.size(), folder) != 0) {
                out.push_back(name);
            }
        }
        return out;
    }

    // How many complete archives in the destination hold each member, read with the standard
    // tools (`age -d`, then `tar --zstd -t`), and which archives hold it.
    std::map<std::string, std::vector<std::string>> archived_members() {
        std::map<std::string, std::vector<std::string>> out;
        std::string id = m_dir / "spec.key";
        std::ofstream(id) << kIdentity << "\n";
        DIR* d = ::opendir((m_dir / "archive").c_str());
        if (d == nullptr) return out;
        std::vector<std::string> names;
        while (struct dirent* e = ::readdir(d)) {
            std::string n = e->d_name;
            if (n != "." && n != ".." && n.find(".partial") == std::string::npos) names.push_back(n);
        }
        ::closedir(d);
        for (const auto& name : names) {
            std::string list = m_dir / ".members";
            std::string cmd = "age -d -i '" + id + "' '" + (m_dir / ("archive/" + name)) +
                              "' | tar --zstd -tf - > '" + list + "'";
            EXPECT_EQ(std::system(cmd.c_str()), 0) << name;
            std::ifstream in(list);
            for (std::string member; std::getline(in, member);) {
                if (member.rfind(".lethe/", 0) != 0) out[member].push_back(name);
            }
        }
        return out;
    }

    static constexpr const char* kIdentity =
        "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX";
    // kIdentity's recipient: the config encrypts to it.
    static constexpr const char* kRecipient =
        "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj";

private:
    static void collect(const std::string& dir, const std::string& part, std::vector<std::string>& out) {
        DIR* d = ::opendir(dir.c_str());
        if (d == nullptr) return;
        while (struct dirent* e = ::readdir(d)) {
            std::string n = e->d_name;
            if (n == "." || n == "..") continue;
            if (n.find(part) != std::string::npos) out.push_back(dir + "/" + n);
            if (e->d_type == DT_DIR) collect(dir + "/" + n, part, out);
        }
        ::closedir(d);
    }

    TempDir m_dir;
};

// Checks what the crash harness promises after the final, uninterrupted pass.
void expect_no_loss_and_honest_certificates(Share& share, const std::string& label) {
    std::map<std::string, int> certified;
    auto archived = share.archived_members();
    for (const auto& c : share.certificates()) {
        std::string path = c["path"];
        ++certified[path];
        EXPECT_TRUE(c["method"]["verified"].get<bool>()) << label << " " << path;
        auto due = Share::due();
        ASSERT_TRUE(due.count(path)) << label << ": certificate for a file not due: " << path;
        EXPECT_EQ(c["subject"]["sha256"], util::sha256_hex(due[path])) << label << " " << path;
        // A certificate never claims a disposal that did not happen.
        EXPECT_FALSE(exists(share.dir() / ("share/" + path))) << label << " " << path;
        // An encrypted file is gone only with its verified NAME.age in its place.
        if (c["action"] == "encrypt") {
            std::string copy = share.dir() / ("share/" + path + ".age");
            ASSERT_TRUE(exists(copy)) << label << " " << path;
            EXPECT_EQ(c["method"]["encrypted_copy"]["sha256"], util::sha256_hex(slurp(copy))) << label;
            std::string id = share.dir() / "spec.key";
            std::ofstream(id) << Share::kIdentity << "\n";
            std::string out = share.dir() / "decrypted";
            ASSERT_EQ(std::system(("age -d -i '" + id + "' -o '" + out + "' '" + copy + "'").c_str()), 0)
                << label;
            EXPECT_EQ(slurp(out), Share::due()[path]) << label;
        }
        // An archived file is gone only with a verified copy in a complete archive, the one
        // its certificate names, and in no other archive.
        if (c["action"] == "archive") {
            std::string name = c["method"]["archive"]["name"];
            std::string archive = share.dir() / ("archive/" + name);
            ASSERT_TRUE(exists(archive)) << label << " " << path;
            EXPECT_EQ(c["method"]["archive"]["sha256"], util::sha256_hex(slurp(archive))) << label;
            EXPECT_EQ(c["method"]["archive"]["member"], path) << label;
            EXPECT_EQ(archived[path], std::vector<std::string>{name})
                << label << ": " << path << " is in " << archived[path].size() << " archives";
        }
    }
    for (const auto& [member, archives] : archived) {
        EXPECT_EQ(archives.size(), 1u) << label << ": " << member << " is in " << archives.size()
                                       << " archives";
    }
    for (const auto& [path, content] : Share::due()) {
        EXPECT_FALSE(exists(share.dir() / ("share/" + path))) << label << " " << path;
        EXPECT_EQ(certified[path], 1) << label << ": " << path << " certified " << certified[path]
                                      << " times";
    }
    for (const auto& [path, content] : Share::due()) {
        // Only the encrypt action leaves NAME.age behind, and exactly one.
        bool encrypted = path.size() > 4 && path.substr(path.size() - 4) == ".odt";
        EXPECT_EQ(exists(share.dir() / ("share/" + path + ".age")), encrypted) << label << " " << path;
    }
    EXPECT_TRUE(share.names_with("share", ".partial").empty()) << label;
    for (const auto& [path, content] : Share::kept()) {
        EXPECT_EQ(slurp(share.dir() / ("share/" + path)), content) << label << " " << path;
    }
    // Nothing is left under a temporary name, in its folder or in lethe's disposal folder.
    EXPECT_TRUE(share.leftovers().empty()) << label << ": " << share.leftovers().front();
    EXPECT_TRUE(share.names_with("archive", ".partial").empty()) << label;
    EXPECT_FALSE(exists(share.dir() / "state/intent.json")) << label;
    EXPECT_EQ(share.lethe("certs verify").code, 0) << label;
}

TEST(CrashHarness, AKillAtEveryStepLosesNothingAndCertifiesOnlyWhatHappened) {
    // Learn the step boundaries of an uninterrupted pass.
    std::vector<std::string> steps;
    {
        Share share;
        ASSERT_EQ(share.lethe("keygen").code, 0);
        std::string list = share.dir() / "steps.txt";
        Output o = share.lethe("run", "LETHE_FAULT_AT='list:" + list + "'");
        ASSERT_EQ(o.code, 0) << o.err;
        std::ifstream in(list);
        for (std::string s; std::getline(in, s);) steps.push_back(s);
        expect_no_loss_and_honest_certificates(share, "uninterrupted");
    }
    // Every boundary of the sanitize and delete paths is reached.
    for (const char* step : {"intent-written", "group-intents-written", "before-detach",
                             "detached", "overwrite-pass",
                             "group-overwritten", "group-synced", "after-overwrite", "truncate",
                             "after-rename", "after-unlink", "delete-unlinked", "certified",
                             "archive-member", "archive-written", "archive-verified",
                             "archive-renamed", "archive-indexed", "encrypt-written",
                             "encrypt-verified", "encrypt-indexed", "encrypt-renamed"}) {
        EXPECT_NE(std::find(steps.begin(), steps.end(), step), steps.end()) << step;
    }
    std::map<std::string, int> seen;
    int cases = 0;
    int grouped = 0;
    for (const std::string& step : steps) {
        int n = ++seen[step];
        std::string label = step + ":" + std::to_string(n);
        Share share;
        ASSERT_EQ(share.lethe("keygen").code, 0);
        Output crashed = share.lethe("run", "LETHE_FAULT_AT=" + label);
        ASSERT_TRUE(crashed.killed) << label << " exit " << crashed.code << ": " << crashed.err;
        // Certificates are appended in groups: count the crashes that left several
        // disposals done (or begun) whose certificates were not yet all in the ledger.
        // intent.json holds one intent per line.
        if (exists(share.dir() / "state/intent.json")) {
            std::string intents = slurp(share.dir() / "state/intent.json");
            if (std::count(intents.begin(), intents.end(), '\n') >= 2) ++grouped;
        }
        // Crash the recovery too, where there is one, then finish with a clean pass.
        Output recovering = share.lethe("run", "LETHE_FAULT_AT=recovery-certified:1");
        ASSERT_TRUE(recovering.killed || recovering.code == 0) << label << ": " << recovering.err;
        Output final_pass = share.lethe("run");
        ASSERT_EQ(final_pass.code, 0) << label << ": " << final_pass.err;
        expect_no_loss_and_honest_certificates(share, label);
        ++cases;
    }
    EXPECT_GE(cases, 20);
    EXPECT_GE(grouped, 5);  // crashes between disposals and their grouped certificates
}

// Files are sanitized in groups whose intents are recorded together before any of them is
// touched. Killed right after that, then a hold is placed on one client: the next pass finds
// the held client's files unchanged, rolls their intents back instead of completing them,
// and keeps them; the other file of the group is disposed of and certified once.
TEST(CrashHarness, AnUntouchedFileOfAKilledGroupIsRolledBackAndAHoldPlacedSinceKeepsIt) {
    Share share;
    ASSERT_EQ(share.lethe("keygen").code, 0);
    ASSERT_TRUE(share.lethe("run", "LETHE_FAULT_AT=group-intents-written:1").killed);
    std::string intents = slurp(share.dir() / "state/intent.json");
    ASSERT_NE(intents.find("acme/2010-001/brief.pdf"), std::string::npos) << intents;
    ASSERT_NE(intents.find("zeta/1999-9/empty.pdf"), std::string::npos) << intents;
    ASSERT_EQ(share.lethe("hold add LIT-1 --reason 'Smith v Acme' --client acme --by alice").code, 0);
    Output next = share.lethe("--log-target stderr run");
    ASSERT_EQ(next.code, 0) << next.err;
    // Holds are read first: the held file's content is unchanged, so it is simply kept.
    EXPECT_NE(next.err.find("kept clients/acme/2010-001/brief.pdf: legal hold LIT-1 placed since "
                            "an interrupted pass began its disposal; its content is unchanged"),
              std::string::npos)
        << next.err;
    for (const std::string path : {"acme/2010-001/brief.pdf", "acme/2010-001/letter.docx"}) {
        EXPECT_EQ(slurp(share.dir() / ("share/" + path)), Share::due()[path]) << path;
    }
    std::map<std::string, int> certified;
    for (const auto& c : share.certificates()) ++certified[c["path"].get<std::string>()];
    EXPECT_EQ(certified.count("acme/2010-001/brief.pdf"), 0u);
    EXPECT_EQ(certified.count("acme/2010-001/letter.docx"), 0u);
    EXPECT_EQ(certified["zeta/1999-9/empty.pdf"], 1);
    EXPECT_FALSE(exists(share.dir() / "share/zeta/1999-9/empty.pdf"));
    EXPECT_FALSE(exists(share.dir() / "state/intent.json"));
    EXPECT_TRUE(share.leftovers().empty());
    EXPECT_EQ(share.lethe("certs verify").code, 0);
}

// Two files larger than two hash segments, so hashed while they are overwritten (the test
// build sets a segment of 2 MiB with LETHE_TEST_HASH_SEGMENT; in production it is 32 MiB):
// one dense, whose size is not a multiple of 64, and one sparse, with a hole in its middle
// and one at its end (holes read as zeros and are part of its hash).
class LargeFileShare {
public:
    static constexpr const char* kSegment = "LETHE_TEST_HASH_SEGMENT=2097152";

    LargeFileShare() {
        // Every file of a matter, whatever its extension.
        m_dir.write("policies/firm.toml",
                    testing::firm_schedule({.extensions = "", .scratch = false}));
        m_dir.write("lethe.toml", testing::firm_config({.sections = kSanitizeSection}));
        m_dense = testing::incompressible_bytes((size_t{6} << 20) + 100);
        m_dir.write("share/acme/2010-001/scan.pdf", m_dense, "2010-05-01");
        // Sparse: data in [0, 2 MiB) and [4 MiB, 5 MiB), holes elsewhere, 7 MiB + 4196 bytes.
        std::string data = testing::incompressible_bytes(size_t{3} << 20);
        m_sparse.assign((size_t{7} << 20) + 4196, '\0');
        std::copy(data.begin(), data.begin() + (2 << 20), m_sparse.begin());
        std::copy(data.begin() + (2 << 20), data.end(), m_sparse.begin() + (4 << 20));
        m_dir.mkdir("share/zeta/1999-9");
        std::string sparse = m_dir / "share/zeta/1999-9/tape.pdf";
        int fd = ::open(sparse.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        EXPECT_GE(fd, 0);
        EXPECT_EQ(::pwrite(fd, m_sparse.data(), 2 << 20, 0), 2 << 20);
        EXPECT_EQ(::pwrite(fd, m_sparse.data() + (4 << 20), 1 << 20, 4 << 20), 1 << 20);
        EXPECT_EQ(::ftruncate(fd, static_cast<off_t>(m_sparse.size())), 0);
        ::close(fd);
        testing::set_mtime(sparse, "2010-05-01");
    }

    [[nodiscard]] std::map<std::string, std::string> originals() const {
        return {{"acme/2010-001/scan.pdf", m_dense}, {"zeta/1999-9/tape.pdf", m_sparse}};
    }

    testing::CommandOutput lethe(const std::string& args, const std::string& env = "") {
        ensure_key();
        return testing::run_shell(m_dir, std::string(kSegment) + " " + env + " " +
                                             testing::sh_quote(LETHE_BINARY) + " " + args +
                                             " --config " + testing::sh_quote(m_dir / "lethe.toml"));
    }

    [[nodiscard]] std::string intents() const {
        return exists(m_dir / "state/intent.json") ? slurp(m_dir / "state/intent.json") : "";
    }

    // The content of the planned file `path`: at its name, or, once a pass moved it into
    // lethe's disposal folder, there under the temporary name its intent records.
    [[nodiscard]] std::string content_of(const std::string& path) const {
        if (exists(m_dir / ("share/" + path))) return slurp(m_dir / ("share/" + path));
        const std::string text = intents();
        for (size_t pos = 0; pos < text.size();) {
            size_t end = text.find('\n', pos);
            auto j = nlohmann::json::parse(text.substr(pos, end - pos), nullptr, false);
            pos = end == std::string::npos ? text.size() : end + 1;
            if (j.is_object() && j.contains("temp_name") && j["entry"]["path"] == path) {
                return slurp(m_dir / ("share/" + j["disposal_folder"].get<std::string>() + "/" +
                                      j["temp_name"].get<std::string>()));
            }
        }
        ADD_FAILURE() << path << " is neither at its name nor recorded in an intent";
        return "";
    }

    // After the last pass: each file gone, certified once with the SHA-256 of its content
    // before the first pass touched it, verified; nothing left behind; the ledger verifies.
    void expect_disposed_honestly(const std::string& label) {
        std::map<std::string, int> certified;
        for (const auto& c : testing::payloads_of(m_dir / "state/ledger.jsonl", "disposal")) {
            std::string path = c["path"];
            ++certified[path];
            ASSERT_TRUE(originals().count(path)) << label << " " << path;
            EXPECT_EQ(c["subject"]["sha256"], util::sha256_hex(originals()[path])) << label << " " << path;
            EXPECT_EQ(c["subject"]["size"], originals()[path].size()) << label << " " << path;
            EXPECT_TRUE(c["method"]["verified"].get<bool>()) << label << " " << path;
        }
        for (const auto& [path, content] : originals()) {
            EXPECT_EQ(certified[path], 1) << label << " " << path;
            EXPECT_FALSE(exists(m_dir / ("share/" + path))) << label << " " << path;
            std::string folder = m_dir / ("share/" + path.substr(0, path.rfind('/')));
            EXPECT_TRUE(testing::names_in(folder).empty()) << label << " " << folder;
        }
        EXPECT_FALSE(exists(m_dir / "state/intent.json")) << label << ": " << intents();
        EXPECT_EQ(lethe("certs verify").code, 0) << label;
    }

    const TempDir& dir() const { return m_dir; }

private:
    void ensure_key() {
        if (m_keyed) return;
        m_keyed = true;
        auto k = lethe("keygen");
        EXPECT_EQ(k.code, 0) << k.err;
    }

    TempDir m_dir;
    std::string m_dense;
    std::string m_sparse;
    bool m_keyed = false;
};

// Killed after each durable checkpoint of the hash and after each block written while the
// hash runs ahead: the next pass finishes the hash from the checkpoint (the bytes past it are
// still the original ones), overwrites and certifies the SHA-256 of the original content.
TEST(CrashHarness, AKillWhileALargeFileIsHashedAndOverwrittenStillCertifiesItsOriginalHash) {
    // Learn how often each step is reached.
    std::map<std::string, int> reached;
    {
        LargeFileShare share;
        std::string list = share.dir() / "steps.txt";
        auto o = share.lethe("run", "LETHE_FAULT_AT='list:" + list + "'");
        ASSERT_EQ(o.code, 0) << o.err;
        std::ifstream in(list);
        for (std::string s; std::getline(in, s);) ++reached[s];
        share.expect_disposed_honestly("uninterrupted");
    }
    // Two writes of each file (4 MiB blocks; the sparse one's two data ranges), and a
    // checkpoint after every segment of 2 MiB of each (holes included) until at most one
    // segment is left, then after every eighth of a segment (256 KiB), the last holding the
    // digest: the dense file 3 + 1 (its last 100 bytes), the sparse one 3 + 5 (its last
    // 1 MiB + 4196 bytes).
    EXPECT_EQ(reached["overwrite-block"], 4);
    EXPECT_EQ(reached["hash-checkpoint"], 12);
    int partly_overwritten = 0;
    for (const char* step : {"hash-checkpoint", "overwrite-block"}) {
        for (int n = 1; n <= reached[step]; ++n) {
            std::string label = std::string(step) + ":" + std::to_string(n);
            LargeFileShare share;
            auto crashed = share.lethe("run", "LETHE_FAULT_AT=" + label);
            ASSERT_EQ(crashed.code, 128 + SIGKILL) << label << ": " << crashed.err;
            // The intent holds a checkpoint of the hash, not yet the digest of both files.
            std::string intents = share.intents();
            EXPECT_NE(intents.find("\"hash_checkpoint\""), std::string::npos) << label << intents;
            // A file whose overwrite began is in lethe's disposal folder, under its
            // temporary name; one not yet moved is at its name.
            for (const auto& [path, content] : share.originals()) {
                if (share.content_of(path) != content) ++partly_overwritten;
            }
            auto next = share.lethe("--log-target stderr run");
            ASSERT_EQ(next.code, 0) << label << ": " << next.err;
            share.expect_disposed_honestly(label);
        }
    }
    EXPECT_GE(partly_overwritten, 4);  // most kills left a file partly overwritten
}

// The checkpoint cannot be written (a full state disk): nothing more of the file is
// overwritten, the pass fails, and the next pass completes the disposal honestly. When the
// very first checkpoint fails, the file is untouched.
TEST(CrashHarness, AHashCheckpointThatCannotBeWrittenStopsTheOverwriteAndTheNextPassCompletesIt) {
    for (int n : {1, 3}) {
        LargeFileShare share;
        auto failed = share.lethe("--log-target stderr run",
                                  "LETHE_TEST_CHECKPOINT_ENOSPC=" + std::to_string(n));
        EXPECT_NE(failed.code, 0) << n;
        EXPECT_NE(failed.err.find("the checkpoint of its hash could not be recorded, so nothing "
                                  "more of it was overwritten"),
                  std::string::npos)
            << failed.err;
        EXPECT_NE(failed.err.find("No space left on device"), std::string::npos) << failed.err;
        EXPECT_TRUE(testing::payloads_of(share.dir() / "state/ledger.jsonl", "disposal").empty());
        // The first checkpoint failing leaves both files untouched. The third failing leaves
        // the other file untouched and the first at most overwritten up to the second
        // checkpoint (its first 4 MiB block): whether the writer wrote that block before the
        // failure reached it depends on which thread ran first.
        int changed = 0;
        for (const auto& [path, content] : share.originals()) {
            std::string now = share.content_of(path);
            if (now != content) ++changed;
            // Nothing past the last durable checkpoint was overwritten.
            constexpr size_t kFirstBlock = size_t{4} << 20;
            ASSERT_EQ(now.size(), content.size()) << n << ": " << path;
            if (content.size() > kFirstBlock) {
                EXPECT_TRUE(now.compare(kFirstBlock, std::string::npos, content, kFirstBlock) == 0)
                    << n << ": " << path << " was overwritten past its first block";
            }
        }
        if (n == 1) {
            EXPECT_EQ(changed, 0) << n;
        } else {
            EXPECT_LE(changed, 1) << n;
        }
        EXPECT_EQ(share.intents().find("\"hash_checkpoint\"") != std::string::npos, n == 3)
            << n << ": " << share.intents();
        auto next = share.lethe("--log-target stderr run");
        ASSERT_EQ(next.code, 0) << n << ": " << next.err;
        share.expect_disposed_honestly("ENOSPC at checkpoint " + std::to_string(n));
    }
}

// Killed after the archive was indexed and before any source was removed; then the archive
// goes missing or is altered. The next pass does not dispose of a source against it: it
// says so, keeps the source and archives it anew, and certifies it against the new archive.
TEST(CrashHarness, ASourceWhoseArchiveIsMissingOrAlteredIsKeptAndArchivedAnew) {
    for (const std::string how : {"missing", "altered"}) {
        Share share;
        ASSERT_EQ(share.lethe("keygen").code, 0);
        ASSERT_TRUE(share.lethe("run", "LETHE_FAULT_AT=archive-indexed:1").killed) << how;
        std::vector<std::string> first = share.names_with("archive", ".tar.zst.age");
        ASSERT_EQ(first.size(), 1u) << how;
        if (how == "missing") {
            ASSERT_EQ(std::remove(first[0].c_str()), 0);
        } else {
            std::ofstream(first[0], std::ios::app) << "x";
        }
        Output next = share.lethe("--log-target stderr run");
        ASSERT_EQ(next.code, 0) << how << ": " << next.err;
        EXPECT_NE(next.err.find(how == "missing" ? "is missing" : "no longer has the SHA-256 the "
                                                                  "archive index recorded"),
                  std::string::npos)
            << how << ": " << next.err;
        EXPECT_NE(next.err.find("the source is kept and archived again"), std::string::npos)
            << next.err;
        std::string old_name = first[0].substr(first[0].rfind('/') + 1);
        int archived = 0;
        for (const auto& c : share.certificates()) {
            if (c["action"] != "archive") continue;
            ++archived;
            EXPECT_NE(c["method"]["archive"]["name"], old_name) << how << " " << c.dump();
        }
        EXPECT_EQ(archived, 2) << how;
        if (how == "missing") expect_no_loss_and_honest_certificates(share, how);
    }
}

// A user's edit in place after a crash: same inode, new content, new modification time (no
// longer due). Written through the existing name, as an editor that saves in place does.
void edit_in_place(const std::string& path, const std::string& content) {
    std::ofstream(path, std::ios::trunc | std::ios::binary) << content;
}

// What the pass after a crash must leave of a file whose intent was recorded but which the
// crashed pass had not moved, and which a user then edited: the edited version at its name,
// no certificate for it (least of all one with its old hash), and one `disposal-failed`
// entry that says its intent was rolled back and nothing of it was overwritten or removed.
void expect_edit_kept(Share& share, const std::string& path, const std::string& edited,
                      const Output& next) {
    EXPECT_EQ(util::sha256_hex(slurp(share.dir() / ("share/" + path))), util::sha256_hex(edited))
        << path << ": " << next.err;
    for (const auto& c : share.certificates()) {
        EXPECT_NE(c["path"], path) << "a certificate for the edited file: " << c.dump();
    }
    auto failed = testing::payloads_of(share.dir() / "state/ledger.jsonl", "disposal-failed");
    ASSERT_EQ(failed.size(), 1u) << next.err;
    EXPECT_EQ(failed[0]["path"], path);
    EXPECT_EQ(failed[0]["rolled_back"], true) << failed[0].dump();
    EXPECT_EQ(failed[0]["subject"]["sha256"], util::sha256_hex(Share::due()[path]));
    EXPECT_NE(failed[0]["state"].get<std::string>().find("nothing of it was overwritten or removed"),
              std::string::npos)
        << failed[0].dump();
    EXPECT_NE(failed[0]["reason"].get<std::string>().find("changed since"), std::string::npos)
        << failed[0].dump();
    EXPECT_NE(next.err.find("clients/" + path), std::string::npos) << next.err;
    EXPECT_FALSE(exists(share.dir() / "state/intent.json"));
    EXPECT_TRUE(share.leftovers().empty()) << share.leftovers().front();
    EXPECT_TRUE(share.names_with("share", ".partial").empty());
    EXPECT_EQ(share.lethe("certs verify").code, 0);
}

// Sanitize: killed after the group's intents were recorded, before any file was moved; the
// user edits one file of the group. The next pass keeps the edited version and disposes of
// the unedited file of the same group, certified once with its original hash.
TEST(CrashHarness, AFileEditedAfterACrashBeforeItsMoveIsRolledBackNotDestroyed) {
    Share share;
    ASSERT_EQ(share.lethe("keygen").code, 0);
    ASSERT_TRUE(share.lethe("run", "LETHE_FAULT_AT=group-intents-written:1").killed);
    std::string intents = slurp(share.dir() / "state/intent.json");
    ASSERT_NE(intents.find("acme/2010-001/brief.pdf"), std::string::npos) << intents;
    ASSERT_NE(intents.find("acme/2010-001/letter.docx"), std::string::npos) << intents;
    const std::string edited = "privileged brief, revised after the crash";
    edit_in_place(share.dir() / "share/acme/2010-001/brief.pdf", edited);
    Output next = share.lethe("--log-target stderr run");
    EXPECT_EQ(next.code, 1) << next.err;
    expect_edit_kept(share, "acme/2010-001/brief.pdf", edited, next);
    std::map<std::string, int> certified;
    for (const auto& c : share.certificates()) {
        ++certified[c["path"].get<std::string>()];
        EXPECT_EQ(c["subject"]["sha256"], util::sha256_hex(Share::due()[c["path"]])) << c.dump();
    }
    EXPECT_EQ(certified["acme/2010-001/letter.docx"], 1);
    EXPECT_FALSE(exists(share.dir() / "share/acme/2010-001/letter.docx"));
}

// Archive: killed after the archive was written and the sources' intents recorded, before
// any source was moved; the user edits one source. It is kept as edited (its old version
// stays in the archive); the other source is disposed of against its archive.
TEST(CrashHarness, AnArchivedSourceEditedAfterACrashBeforeItsMoveIsKept) {
    Share share;
    ASSERT_EQ(share.lethe("keygen").code, 0);
    ASSERT_TRUE(share.lethe("run", "LETHE_FAULT_AT=group-intents-written:2").killed);
    std::string intents = slurp(share.dir() / "state/intent.json");
    ASSERT_NE(intents.find("acme/2010-001/mail/re-brief.eml"), std::string::npos) << intents;
    ASSERT_NE(intents.find("zeta/1999-9/note.eml"), std::string::npos) << intents;
    const std::string edited = "From: client\nRe: the brief, with my corrections";
    edit_in_place(share.dir() / "share/acme/2010-001/mail/re-brief.eml", edited);
    Output next = share.lethe("--log-target stderr run");
    EXPECT_EQ(next.code, 1) << next.err;
    expect_edit_kept(share, "acme/2010-001/mail/re-brief.eml", edited, next);
    int archived = 0;
    for (const auto& c : share.certificates()) {
        if (c["path"] != "zeta/1999-9/note.eml") continue;
        ++archived;
        EXPECT_EQ(c["subject"]["sha256"], util::sha256_hex("fax cover"));
        EXPECT_EQ(c["method"]["archive"]["member"], "zeta/1999-9/note.eml");
    }
    EXPECT_EQ(archived, 1);
    EXPECT_FALSE(exists(share.dir() / "share/zeta/1999-9/note.eml"));
}

// Delete and encrypt dispose of each file as they reach it: killed after its intent (and,
// for encrypt, its verified NAME.age) was written, before the move; then edited. The edited
// file is kept; an encrypted copy of the version checked before stays beside it, and the
// record says so.
TEST(CrashHarness, ADeletedOrEncryptedFileEditedAfterACrashBeforeItsMoveIsKept) {
    for (const std::string path : {"acme/2010-001/scratch.tmp", "acme/2010-001/draft.odt"}) {
        const bool encrypt = path.ends_with(".odt");
        bool crashed_there = false;
        for (int n = 1; n <= 3 && !crashed_there; ++n) {
            Share share;
            ASSERT_EQ(share.lethe("keygen").code, 0);
            const std::string at = encrypt ? "encrypt-renamed:" : "intent-written:";
            ASSERT_TRUE(share.lethe("run", "LETHE_FAULT_AT=" + at + std::to_string(n)).killed);
            std::string intents = slurp(share.dir() / "state/intent.json");
            if (intents.find(path) == std::string::npos) continue;
            crashed_there = true;
            ASSERT_EQ(exists(share.dir() / ("share/" + path + ".age")), encrypt) << path;
            const std::string edited = "edited after the crash: " + path;
            edit_in_place(share.dir() / ("share/" + path), edited);
            Output next = share.lethe("--log-target stderr run");
            EXPECT_EQ(next.code, 1) << path << ": " << next.err;
            expect_edit_kept(share, path, edited, next);
            if (encrypt) {
                auto failed =
                    testing::payloads_of(share.dir() / "state/ledger.jsonl", "disposal-failed");
                ASSERT_EQ(failed.size(), 1u);
                EXPECT_NE(failed[0]["state"].get<std::string>().find("draft.odt.age"),
                          std::string::npos)
                    << failed[0].dump();
                std::string id = share.dir() / "spec.key";
                std::ofstream(id) << Share::kIdentity << "\n";
                std::string out = share.dir() / "decrypted";
                std::string copy = share.dir() / ("share/" + path + ".age");
                ASSERT_EQ(std::system(("age -d -i '" + id + "' -o '" + out + "' '" + copy + "'")
                                          .c_str()),
                          0);
                EXPECT_EQ(slurp(out), Share::due()[path]);
            }
        }
        EXPECT_TRUE(crashed_there) << path;
    }
}

#endif

}  // namespace
}  // namespace lethe

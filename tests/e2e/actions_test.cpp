// End-to-end tests of the disposal actions' user-facing commands: age identities for records
// managers (`lethe keygen --age-identity`), checked against Debian's `age` tool.

#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include <dirent.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "agent/util/encoding.hpp"
#include "agent/util/sha256.hpp"

#include "tests/support/temp_dir.hpp"

namespace lethe {
namespace {

using testing::exists;
using testing::slurp;
using testing::TempDir;

struct Output {
    int code = -1;
    std::string out;
    std::string err;
};

class ActionsE2E : public ::testing::Test {
protected:
    Output sh(const std::string& cmd) {
        Output o;
        std::string out = m_dir / ".out";
        std::string err = m_dir / ".err";
        int status = std::system((cmd + " >'" + out + "' 2>'" + err + "'").c_str());
        o.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        o.out = slurp(out);
        o.err = slurp(err);
        return o;
    }
    Output lethe(const std::string& args) {
        return sh(std::string("'") + LETHE_BINARY + "' " + args);
    }
    std::vector<std::string> files_in(const std::string& rel) {
        std::vector<std::string> out;
        DIR* d = ::opendir((m_dir / rel).c_str());
        if (d == nullptr) return out;
        while (struct dirent* e = ::readdir(d)) {
            std::string n = e->d_name;
            if (n != "." && n != "..") out.push_back(n);
        }
        ::closedir(d);
        std::sort(out.begin(), out.end());
        return out;
    }

    std::vector<nlohmann::json> disposals() {
        std::vector<nlohmann::json> out;
        std::ifstream in(m_dir / "state/ledger.jsonl");
        for (std::string line; std::getline(in, line);) {
            auto env = nlohmann::json::parse(line);
            auto p = nlohmann::json::parse(*util::base64_decode(env["payload"].get<std::string>()));
            if (p["type"] == "disposal") out.push_back(p);
        }
        return out;
    }

    // A share with two closed matters of one client, archived (encrypted or not) by the
    // schedule, and a recent file that is not due.
    void archive_setup(bool encrypt, const std::string& destination) {
        m_dir.write("policies/firm.toml", std::string(R"([schedule]
id = "firm-2026"
version = 1
mode = "enforce"

[[category]]
id = "client-matter"
paths = ["{client}/{matter}/**"]
extensions = ["pdf", "docx"]
retain = "7y"
action = "archive"
encrypt = )") + (encrypt ? "true" : "false") + "\n");
        Output k = lethe("keygen --age-identity '" + (m_dir / "rm.key") + "'");
        ASSERT_EQ(k.code, 0) << k.err;
        m_recipient = k.out.substr(0, k.out.find('\n'));
        m_dir.write("lethe.toml", "policies = \"policies\"\n[agent]\nstate_dir = \"state\"\n"
                                  "max_fraction_per_root = 1.0\n[archive]\ndestination = \"" +
                                      destination + "\"\nrecipients = [\"" + m_recipient +
                                      "\"]\n[[root]]\nname = \"clients\"\npath = \"share\"\n");
        m_dir.mkdir("archive");
        m_dir.write("share/acme/2010-001/brief.pdf", "privileged brief", "2010-05-01");
        m_dir.write("share/acme/2010-001/letters/letter.docx", std::string(200000, 'L'), "2011-02-03");
        m_dir.write("share/acme/2012-004/memo.pdf", "closing memo", "2012-01-01");
        m_dir.write("share/acme/2025-001/new.pdf", "recent work", "2025-11-01");
        ASSERT_EQ(lethe("keygen --config '" + (m_dir / "lethe.toml") + "'").code, 0);
    }

    TempDir m_dir;
    std::string m_recipient;
};

TEST_F(ActionsE2E, KeygenWritesAnAgeIdentityThatTheAgeToolUses) {
    std::string id = m_dir / "records-manager.key";
    Output k = lethe("keygen --age-identity '" + id + "'");
    ASSERT_EQ(k.code, 0) << k.err;
    std::string recipient = k.out.substr(0, k.out.find('\n'));
    ASSERT_EQ(recipient.rfind("age1", 0), 0u) << k.out;
    struct stat st {};
    ASSERT_EQ(::stat(id.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    std::string key_text = slurp(id);
    EXPECT_NE(key_text.find("# public key: " + recipient), std::string::npos);

    // A records manager decrypts with the standard tool what was encrypted to the recipient.
    Output roundtrip = sh("echo 'matter 2011-004 closing memo' | age -r " + recipient +
                          " | age -d -i '" + id + "'");
    ASSERT_EQ(roundtrip.code, 0) << roundtrip.err;
    EXPECT_EQ(roundtrip.out, "matter 2011-004 closing memo\n");

    // An existing identity is never overwritten.
    Output again = lethe("keygen --age-identity '" + id + "'");
    EXPECT_EQ(again.code, 2);
    EXPECT_NE(again.err.find("exists"), std::string::npos) << again.err;
    EXPECT_EQ(slurp(id), key_text);
}

TEST_F(ActionsE2E, AnEncryptedArchivePassArchivesVerifiesRemovesAndCertifies) {
    archive_setup(true, "archive");
    Output run = lethe("run --config '" + (m_dir / "lethe.toml") + "'");
    ASSERT_EQ(run.code, 0) << run.err;
    // One archive per client/matter; sources gone only now; the recent file untouched.
    std::vector<std::string> archives = files_in("archive");
    ASSERT_EQ(archives.size(), 2u) << run.err;
    for (const auto& a : archives) EXPECT_EQ(a.substr(a.size() - 12), ".tar.zst.age") << a;
    EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/brief.pdf"));
    EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/letters/letter.docx"));
    EXPECT_FALSE(exists(m_dir / "share/acme/2012-004/memo.pdf"));
    EXPECT_EQ(slurp(m_dir / "share/acme/2025-001/new.pdf"), "recent work");

    auto certs = disposals();
    ASSERT_EQ(certs.size(), 3u);
    for (const auto& c : certs) {
        EXPECT_EQ(c["action"], "archive");
        const auto& a = c["method"]["archive"];
        EXPECT_EQ(a["member"], c["path"]);
        EXPECT_TRUE(a["encrypted"].get<bool>());
        EXPECT_EQ(a["sha256"], util::sha256_hex(slurp(m_dir / ("archive/" + a["name"].get<std::string>()))));
        EXPECT_TRUE(c["method"]["verified"].get<bool>());
    }
    EXPECT_EQ(lethe("certs verify --config '" + (m_dir / "lethe.toml") + "'").code, 0);
    EXPECT_NE(slurp(m_dir / "state/archives.jsonl").find("letters/letter.docx"), std::string::npos);

    // The records manager's tools open it: age + GNU tar, and lethe restore.
    std::string matter1;
    for (const auto& a : archives) {
        if (a.find("2010-001") != std::string::npos) matter1 = m_dir / ("archive/" + a);
    }
    ASSERT_FALSE(matter1.empty());
    m_dir.mkdir("x");
    Output tar = sh("age -d -i '" + (m_dir / "rm.key") + "' '" + matter1 + "' | tar --zstd -xf - -C '" +
                    (m_dir / "x") + "'");
    ASSERT_EQ(tar.code, 0) << tar.err;
    EXPECT_EQ(slurp(m_dir / "x/acme/2010-001/brief.pdf"), "privileged brief");
    Output restore = lethe("restore '" + matter1 + "' --identity '" + (m_dir / "rm.key") + "' --to '" +
                           (m_dir / "restored") + "' --member acme/2010-001/letters/letter.docx");
    ASSERT_EQ(restore.code, 0) << restore.err;
    EXPECT_NE(restore.out.find("restored 1 file "), std::string::npos) << restore.out;
    EXPECT_EQ(slurp(m_dir / "restored/acme/2010-001/letters/letter.docx"), std::string(200000, 'L'));
    EXPECT_FALSE(exists(m_dir / "restored/acme/2010-001/brief.pdf"));
    Output no_key = lethe("restore '" + matter1 + "' --to '" + (m_dir / "r2") + "'");
    EXPECT_EQ(no_key.code, 2);
    EXPECT_NE(no_key.err.find("--identity"), std::string::npos) << no_key.err;
}

// One archive per pass, root, client/matter and encryption setting: one matter whose
// categories differ in `encrypt`, and the same matter in a second root, make three archives,
// each holding only its own files (so one client's archived data can be erased alone).
TEST_F(ActionsE2E, ArchivesAreSplitByRootMatterAndEncryptionSetting) {
    m_dir.write("policies/firm.toml", R"([schedule]
id = "firm-2026"
version = 1
mode = "enforce"

[[category]]
id = "plain"
paths = ["{client}/{matter}/**"]
extensions = ["pdf"]
retain = "7y"
action = "archive"

[[category]]
id = "sealed"
paths = ["{client}/{matter}/**"]
extensions = ["eml"]
retain = "7y"
action = "archive"
encrypt = true
)");
    Output k = lethe("keygen --age-identity '" + (m_dir / "rm.key") + "'");
    ASSERT_EQ(k.code, 0) << k.err;
    std::string recipient = k.out.substr(0, k.out.find('\n'));
    m_dir.write("lethe.toml", "policies = \"policies\"\n[agent]\nstate_dir = \"state\"\n"
                              "max_fraction_per_root = 1.0\n[archive]\ndestination = \"archive\"\n"
                              "recipients = [\"" + recipient + "\"]\n"
                              "[[root]]\nname = \"clients\"\npath = \"share\"\n"
                              "[[root]]\nname = \"old\"\npath = \"old-share\"\n");
    m_dir.mkdir("archive");
    m_dir.write("share/acme/2010-001/brief.pdf", "brief", "2010-05-01");
    m_dir.write("share/acme/2010-001/mail.eml", "mail", "2010-05-01");
    m_dir.write("old-share/acme/2010-001/scan.pdf", "scan", "2010-05-01");
    ASSERT_EQ(lethe("keygen --config '" + (m_dir / "lethe.toml") + "'").code, 0);
    Output run = lethe("run --config '" + (m_dir / "lethe.toml") + "'");
    ASSERT_EQ(run.code, 0) << run.err;
    std::vector<std::string> archives = files_in("archive");
    ASSERT_EQ(archives.size(), 3u) << run.err;
    std::map<std::string, std::string> listing;  // archive -> its data members
    for (const auto& a : archives) {
        std::string path = m_dir / ("archive/" + a);
        bool sealed = a.size() > 4 && a.substr(a.size() - 4) == ".age";
        Output t = sh(sealed ? "age -d -i '" + (m_dir / "rm.key") + "' '" + path +
                                   "' | tar --zstd -tf - | grep -v '^.lethe/'"
                             : "tar --zstd -tf '" + path + "' | grep -v '^.lethe/'");
        ASSERT_EQ(t.code, 0) << a << ": " << t.err;
        listing[a] = t.out;
    }
    int plain_clients = 0;
    int sealed_clients = 0;
    int old_root = 0;
    for (const auto& [a, members] : listing) {
        if (a.find("lethe-old-") == 0) {
            ++old_root;
            EXPECT_EQ(members, "acme/2010-001/scan.pdf\n") << a;
        } else if (a.substr(a.size() - 4) == ".age") {
            ++sealed_clients;
            EXPECT_EQ(members, "acme/2010-001/mail.eml\n") << a;
        } else {
            ++plain_clients;
            EXPECT_EQ(members, "acme/2010-001/brief.pdf\n") << a;
        }
    }
    EXPECT_EQ(plain_clients, 1);
    EXPECT_EQ(sealed_clients, 1);
    EXPECT_EQ(old_root, 1);
    EXPECT_EQ(disposals().size(), 3u);
}

TEST_F(ActionsE2E, APlainArchiveIsExtractedByGnuTar) {
    archive_setup(false, "archive");
    // Members keep their mode and owner (CI runs as root, which may give the file away).
    ASSERT_EQ(::chmod((m_dir / "share/acme/2012-004/memo.pdf").c_str(), 0640), 0);
    ASSERT_EQ(::chown((m_dir / "share/acme/2012-004/memo.pdf").c_str(), 1234, 5678), 0)
        << "giving a file to another owner needs root; CI runs as root";
    Output run = lethe("run --config '" + (m_dir / "lethe.toml") + "'");
    ASSERT_EQ(run.code, 0) << run.err;
    std::vector<std::string> archives = files_in("archive");
    ASSERT_EQ(archives.size(), 2u);
    m_dir.mkdir("x");
    for (const auto& a : archives) {
        EXPECT_EQ(a.substr(a.size() - 8), ".tar.zst") << a;
        ASSERT_EQ(sh("tar --zstd -xf '" + (m_dir / ("archive/" + a)) + "' -C '" + (m_dir / "x") + "'").code, 0);
    }
    EXPECT_EQ(slurp(m_dir / "x/acme/2012-004/memo.pdf"), "closing memo");
    EXPECT_EQ(slurp(m_dir / "x/acme/2010-001/letters/letter.docx"), std::string(200000, 'L'));
    struct stat st {};
    ASSERT_EQ(::stat((m_dir / "x/acme/2012-004/memo.pdf").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0640u);
    EXPECT_EQ(st.st_uid, 1234u);
    EXPECT_EQ(st.st_gid, 5678u);
    EXPECT_EQ(st.st_mtime, 1325376000);  // 2012-01-01, as the source had
}

// A source lethe cannot read (here: mode 0000 for a pass run without the capabilities that
// let root read anyway) is reported and kept; the rest of its matter is archived, and no
// archive holds it.
TEST_F(ActionsE2E, AnUnreadableSourceIsKeptAndTheRestOfItsMatterIsArchived) {
    archive_setup(false, "archive");
    std::string unreadable = m_dir / "share/acme/2010-001/brief.pdf";
    ASSERT_EQ(::chmod(unreadable.c_str(), 0), 0);
    Output run = sh("setpriv --inh-caps=-dac_override,-dac_read_search "
                    "--bounding-set=-dac_override,-dac_read_search '" + std::string(LETHE_BINARY) +
                    "' run --config '" + (m_dir / "lethe.toml") + "'");
    EXPECT_EQ(run.code, 1) << run.out << run.err;
    EXPECT_NE(run.err.find("clients/acme/2010-001/brief.pdf: open acme/2010-001/brief.pdf: "
                           "Permission denied; not archived, kept"),
              std::string::npos)
        << run.err;
    EXPECT_NE(run.out.find("disposed 2 files"), std::string::npos) << run.out;
    EXPECT_NE(run.out.find("1 failed"), std::string::npos) << run.out;
    ASSERT_EQ(::chmod(unreadable.c_str(), 0644), 0);
    EXPECT_EQ(slurp(unreadable), "privileged brief");
    EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/letters/letter.docx"));
    std::vector<std::string> archives = files_in("archive");
    ASSERT_EQ(archives.size(), 2u);
    std::string listing;
    for (const auto& a : archives) {
        EXPECT_EQ(a.find(".partial"), std::string::npos) << a;
        Output t = sh("tar --zstd -tf '" + (m_dir / ("archive/" + a)) + "'");
        ASSERT_EQ(t.code, 0) << t.err;
        listing += t.out;
    }
    EXPECT_EQ(listing.find("brief.pdf"), std::string::npos) << listing;
    EXPECT_NE(listing.find("acme/2010-001/letters/letter.docx"), std::string::npos) << listing;
    for (const auto& d : disposals()) EXPECT_NE(d["path"], "acme/2010-001/brief.pdf");
}

TEST_F(ActionsE2E, AMissingArchiveDestinationKeepsEverySource) {
    archive_setup(true, "no-such-folder");
    Output run = lethe("run --config '" + (m_dir / "lethe.toml") + "'");
    EXPECT_EQ(run.code, 1) << run.out << run.err;
    EXPECT_NE(run.err.find("no-such-folder"), std::string::npos) << run.err;
    EXPECT_NE(run.out.find("3 failed"), std::string::npos) << run.out;
    EXPECT_EQ(slurp(m_dir / "share/acme/2010-001/brief.pdf"), "privileged brief");
    EXPECT_EQ(slurp(m_dir / "share/acme/2012-004/memo.pdf"), "closing memo");
    EXPECT_TRUE(disposals().empty());
}

TEST_F(ActionsE2E, TheEncryptActionReplacesAFileByAVerifiedAgeCopy) {
    m_dir.write("policies/firm.toml", R"([schedule]
id = "firm-2026"
version = 1
mode = "enforce"

[[category]]
id = "hr-files"
paths = ["hr/**"]
extensions = ["docx"]
retain = "3y"
action = "encrypt"
)");
    Output k = lethe("keygen --age-identity '" + (m_dir / "rm.key") + "'");
    ASSERT_EQ(k.code, 0);
    std::string recipient = k.out.substr(0, k.out.find('\n'));
    auto config = [&](bool with_recipient) {
        m_dir.write("lethe.toml", "policies = \"policies\"\n[agent]\nstate_dir = \"state\"\n"
                                  "max_fraction_per_root = 1.0\n" +
                                      (with_recipient ? "[archive]\nrecipients = [\"" + recipient + "\"]\n"
                                                      : std::string()) +
                                      "[[root]]\nname = \"firm\"\npath = \"share\"\n");
    };
    std::string review(150000, 'R');
    m_dir.write("share/hr/2019/review.docx", review, "2019-01-10");
    config(false);
    ASSERT_EQ(lethe("keygen --config '" + (m_dir / "lethe.toml") + "'").code, 0);

    // Without recipients nothing can be encrypted: the file is kept.
    Output refused = lethe("run --config '" + (m_dir / "lethe.toml") + "'");
    EXPECT_NE(refused.err.find("recipients"), std::string::npos) << refused.err;
    EXPECT_EQ(slurp(m_dir / "share/hr/2019/review.docx"), review);
    EXPECT_EQ(files_in("share/hr/2019"), std::vector<std::string>{"review.docx"});

    config(true);
    Output run = lethe("run --config '" + (m_dir / "lethe.toml") + "'");
    ASSERT_EQ(run.code, 0) << run.err;
    EXPECT_EQ(files_in("share/hr/2019"), std::vector<std::string>{"review.docx.age"});
    std::string copy = m_dir / "share/hr/2019/review.docx.age";
    Output plain = sh("age -d -i '" + (m_dir / "rm.key") + "' '" + copy + "'");
    ASSERT_EQ(plain.code, 0) << plain.err;
    EXPECT_EQ(plain.out, review);
    char value[64] = {};
    ssize_t n = ::getxattr(copy.c_str(), "user.lethe.category", value, sizeof value);
    ASSERT_GT(n, 0) << "the test folder's filesystem keeps user xattrs (ext4, xfs, btrfs, tmpfs)";
    EXPECT_EQ(std::string(value, static_cast<size_t>(n)), "hr-files");
    auto certs = disposals();
    ASSERT_EQ(certs.size(), 1u);
    EXPECT_EQ(certs[0]["action"], "encrypt");
    EXPECT_EQ(certs[0]["subject"]["sha256"], util::sha256_hex(review));
    EXPECT_EQ(certs[0]["method"]["encrypted_copy"]["name"], "review.docx.age");
    EXPECT_EQ(certs[0]["method"]["encrypted_copy"]["sha256"], util::sha256_hex(slurp(copy)));
    EXPECT_TRUE(certs[0]["method"]["verified"].get<bool>());

    // explain shows the copy under its original's category with the original's trigger date
    // (not the day it was encrypted), kept permanently (no archive_for), sanitized if ever.
    Output explained = lethe("explain '" + copy + "' --config '" + (m_dir / "lethe.toml") + "'");
    ASSERT_EQ(explained.code, 0) << explained.err;
    EXPECT_NE(explained.out.find("    trigger modified 2019-01-10, copy kept permanently, expires "
                                 "never (permanent), action sanitize"),
              std::string::npos) << explained.out;
    EXPECT_NE(explained.out.find("lethe's encrypted copy, made "), std::string::npos)
        << explained.out;
    EXPECT_EQ(explained.out.find("action encrypt"), std::string::npos) << explained.out;

    // The encrypted copy is never encrypted again.
    ASSERT_EQ(lethe("run --config '" + (m_dir / "lethe.toml") + "'").code, 0);
    EXPECT_EQ(files_in("share/hr/2019"), std::vector<std::string>{"review.docx.age"});
    EXPECT_EQ(disposals().size(), 1u);
}

}  // namespace
}  // namespace lethe

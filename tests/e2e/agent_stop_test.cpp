// SIGTERM in the middle of one long file: the agent stops between two blocks of the
// overwrite or of the archive, says STOPPING=1, leaves no certificate for that file and no
// half state the next pass cannot finish. The agent is held at an exact block by a test-build
// option, so no test waits on the clock.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "agent/util/encoding.hpp"
#include "agent/util/sha256.hpp"
#include "tests/e2e/service_fixture.hpp"
#include "tests/support/e2e.hpp"

namespace lethe::testing {
namespace {

// In the same matter as the fixture's due files: one archive holds them all.
constexpr const char* kHuge = "share/acme/2010-001/huge.pdf";

// The agent held at an exact block of a pass, then stopped: what every test below shares.
class HeldAgentFixture : public ServiceFixture {
  protected:
    std::vector<nlohmann::json> payloads() { return ledger_payloads(m_dir / "state/ledger.jsonl"); }
    std::vector<nlohmann::json> certificates_of(const std::string& path) {
        std::vector<nlohmann::json> out;
        for (auto& p : payloads()) {
            if (p["type"] == "disposal" && p.value("path", "") == path) out.push_back(p);
        }
        return out;
    }

    // Starts the agent with `args` after its config, waits until it reports `held` (a test
    // hold), sends SIGTERM and checks that it stops cleanly. When `watched`, the agent runs
    // under a watchdog (WATCHDOG_USEC, with `extra_env`) and the test also checks that a pass
    // that ends before the hold fails it, that the held agent still feeds the watchdog and
    // that the pass never reports idle.
    void stop_when_held(const std::vector<std::string>& args, const std::string& held,
                        bool watched = false,
                        const std::map<std::string, std::string>& extra_env = {}) {
        NotifySocket sock(m_dir / "notify");
        std::map<std::string, std::string> env = {{"NOTIFY_SOCKET", sock.path()}, {"TZ", "UTC"}};
        if (watched) env["WATCHDOG_USEC"] = "200000";
        env.insert(extra_env.begin(), extra_env.end());
        std::vector<std::string> argv = {"--log-target", "stderr", "agent", "--config", config()};
        argv.insert(argv.end(), args.begin(), args.end());
        pid_t pid = start(argv, env);
        ASSERT_TRUE(sock.wait_for("READY=1")) << sock.seen() << agent_output();
        // Watched, a pass that ends without reaching the hold fails the test (the agent would
        // wait for its next pass, feeding the watchdog).
        ASSERT_TRUE(sock.wait_for(held, watched ? "STATUS=idle" : ""))
            << sock.seen() << agent_output();
        // The pass is held inside its work, and the watchdog is still fed.
        if (watched) {
            ASSERT_TRUE(sock.wait_for("WATCHDOG=1")) << sock.seen();
        }
        ASSERT_EQ(::kill(pid, SIGTERM), 0);
        ASSERT_TRUE(sock.wait_for("STOPPING=1")) << sock.seen() << agent_output();
        EXPECT_EQ(wait_exit(pid), 0) << agent_output();
        if (watched) {
            EXPECT_EQ(sock.seen().find("STATUS=idle"), std::string::npos) << sock.seen();
        }
    }

    // The agent under a watchdog, held at `block` of the pass it starts, then stopped.
    void stop_at_block(int block, const std::map<std::string, std::string>& extra_env = {}) {
        stop_when_held({"--test-hold-at-block", std::to_string(block)},
                       "STATUS=test hold at block " + std::to_string(block), true, extra_env);
    }

    // The last ledger entry is the checkpoint of a pass that stopped (a fatal failure when
    // the ledger is empty).
    void expect_last_entry_a_stopped_checkpoint() {
        auto entries = payloads();
        ASSERT_FALSE(entries.empty());
        EXPECT_EQ(entries.back()["type"], "checkpoint");
        EXPECT_EQ(entries.back()["pass"]["stopped"], true);
    }

    void expect_ledger_verifies() {
        auto verify = lethe("certs verify --config " + shell_quote(config()));
        EXPECT_EQ(verify.code, 0) << verify.out << verify.err;
    }

    // The ledger holds only the checkpoint of a stopped pass that planned nothing, and
    // neither a plan nor an intent is left.
    void expect_only_the_checkpoint_of_a_pass_that_acted_on_nothing() {
        auto entries = payloads();
        ASSERT_EQ(entries.size(), 1u);
        EXPECT_EQ(entries[0]["type"], "checkpoint");
        EXPECT_EQ(entries[0]["pass"]["stopped"], true);
        EXPECT_EQ(entries[0]["pass"]["planned"], 0);
        EXPECT_EQ(entries[0]["pass"]["disposed"], 0);
        EXPECT_FALSE(exists(m_dir / "state/plan.jsonl"));
        EXPECT_FALSE(exists(m_dir / "state/intent.json"));
    }

    // The fixture's config with archives written to the folder `archive`.
    void write_archive_config() {
        m_dir.write("lethe.toml",
                    firm_config({.agent = "interval = \"1h\"\n",
                                 .sections = "[archive]\ndestination = \"archive\"\n"}));
        m_dir.mkdir("archive");
    }
};

class AgentStopE2E : public HeldAgentFixture {
  protected:
    void SetUp() override {
        HeldAgentFixture::SetUp();
        // 64 MiB: 16 overwrite blocks and 256 archive blocks, none of them all zeros.
        m_huge = incompressible_bytes(size_t{64} << 20);
        m_dir.write(kHuge, m_huge, "2010-03-01");
    }

    // The content of the one entry in lethe's disposal folder: a file whose overwrite a stop
    // interrupted waits there, moved away from its name, for the next pass.
    std::string moved_content() {
        std::vector<std::string> names;
        for (const auto& e : std::filesystem::directory_iterator(m_dir / "share/.lethe-disposal")) {
            names.push_back(e.path().string());
        }
        EXPECT_EQ(names.size(), 1u);
        return names.empty() ? std::string() : slurp(names.front());
    }

    std::string m_huge;
};

TEST_F(AgentStopE2E, SigtermMidSanitizeLeavesTheIntentAndTheNextPassCompletesAndCertifies) {
    keygen();
    stop_at_block(26);  // after brief.pdf (3 blocks) and the huge file's 16 hash blocks
    if (HasFatalFailure()) return;

    // Stopped inside the overwrite of the huge file: moved into lethe's disposal folder
    // (no longer under its name), partly overwritten, not certified; its intent record waits
    // for the next pass.
    ASSERT_FALSE(exists(m_dir / kHuge));
    std::string after = moved_content();
    EXPECT_EQ(after.size(), m_huge.size());
    EXPECT_NE(after, m_huge);
    EXPECT_TRUE(exists(m_dir / "state/intent.json"));
    EXPECT_TRUE(certificates_of("acme/2010-001/huge.pdf").empty());
    expect_last_entry_a_stopped_checkpoint();
    if (HasFatalFailure()) return;
    expect_ledger_verifies();
    std::string log = agent_output();
    EXPECT_NE(log.find("stopped on request while overwriting clients/acme/2010-001/huge.pdf"),
              std::string::npos)
        << log;

    // The next pass overwrites it again, verifies and certifies it with the hash of the
    // content before the first attempt changed anything.
    auto run = lethe("--log-target stderr run --config " + shell_quote(config()));
    EXPECT_EQ(run.code, 0) << run.out << run.err;
    // Counted as disposed of by this pass, with the note that it completed an interrupted one.
    EXPECT_NE(run.out.find("), of which 1 completed an interrupted disposal; "), std::string::npos)
        << run.out;
    EXPECT_FALSE(exists(m_dir / kHuge));
    EXPECT_FALSE(exists(m_dir / "state/intent.json"));
    auto certs = certificates_of("acme/2010-001/huge.pdf");
    ASSERT_EQ(certs.size(), 1u);
    EXPECT_EQ(certs[0]["subject"]["sha256"], util::sha256_hex(m_huge));
    EXPECT_EQ(certs[0]["subject"]["size"], m_huge.size());
    EXPECT_EQ(certs[0]["method"]["verified"], true);
    EXPECT_EQ(certs[0]["method"]["kind"], "file overwrite");
    expect_ledger_verifies();
    // Nothing of it is left in its folder, under any name.
    for (const auto& e : std::filesystem::directory_iterator(m_dir / "share/acme/2010-001")) {
        ADD_FAILURE() << "left behind: " << e.path();
    }
}

// A file larger than two hash segments is hashed while it is overwritten (the test build
// sets a segment of 8 MiB, so the 64 MiB file is one; in production a segment is 32 MiB):
// there is no hashing before its intent, and block 5 falls early in its overwrite, while the
// hash is at most two segments ahead. The stop leaves its intent with a checkpoint of the
// hash, not yet its digest; the next pass
// finishes the hash from the checkpoint (the bytes past it are still the original ones) and
// certifies the SHA-256 of the content before the first attempt changed anything.
TEST_F(AgentStopE2E, SigtermMidOverwriteOfAFileHashedAheadLeavesACheckpointTheNextPassFinishes) {
    keygen();
    const std::map<std::string, std::string> segment = {
        {"LETHE_TEST_HASH_SEGMENT", std::to_string(8 << 20)}};
    stop_at_block(5, segment);
    if (HasFatalFailure()) return;

    std::string after = moved_content();
    EXPECT_EQ(after.size(), m_huge.size());
    EXPECT_NE(after, m_huge);
    std::string intents = slurp(m_dir / "state/intent.json");
    EXPECT_NE(intents.find("\"hash_checkpoint\""), std::string::npos) << intents;
    std::istringstream lines(intents);
    for (std::string line; std::getline(lines, line);) {
        auto j = nlohmann::json::parse(line);
        if (j.contains("hash_checkpoint")) {
            EXPECT_FALSE(j["hash_checkpoint"].contains("sha256")) << "not yet the digest: " << line;
        } else {
            EXPECT_EQ(j["sha256"], "") << "not hashed before its intent: " << line;
        }
    }
    EXPECT_TRUE(certificates_of("acme/2010-001/huge.pdf").empty());
    std::string log = agent_output();
    EXPECT_NE(log.find("stopped on request while overwriting clients/acme/2010-001/huge.pdf"),
              std::string::npos)
        << log;

    auto run = lethe("--log-target stderr run --config " + shell_quote(config()));
    EXPECT_EQ(run.code, 0) << run.out << run.err;
    EXPECT_NE(run.err.find("acme/2010-001/huge.pdf: the hash of its original content finished "
                           "from the checkpoint"),
              std::string::npos)
        << run.err;
    EXPECT_FALSE(exists(m_dir / kHuge));
    EXPECT_FALSE(exists(m_dir / "state/intent.json"));
    auto certs = certificates_of("acme/2010-001/huge.pdf");
    ASSERT_EQ(certs.size(), 1u);
    EXPECT_EQ(certs[0]["subject"]["sha256"], util::sha256_hex(m_huge));
    EXPECT_EQ(certs[0]["method"]["verified"], true);
    expect_ledger_verifies();
}

// Block 10 falls in the SHA-256 taken of the huge file before its intent record (brief.pdf
// takes blocks 1 to 3; the huge file's 16 hash blocks of 4 MiB come next).
TEST_F(AgentStopE2E, SigtermWhileHashingBeforeADisposalStopsAtOnceAndChangesNothing) {
    keygen();
    stop_at_block(10);
    if (HasFatalFailure()) return;

    EXPECT_EQ(slurp(m_dir / kHuge), m_huge);
    EXPECT_FALSE(exists(m_dir / "state/intent.json"));
    EXPECT_TRUE(certificates_of("acme/2010-001/huge.pdf").empty());
    expect_last_entry_a_stopped_checkpoint();
    if (HasFatalFailure()) return;
    expect_ledger_verifies();
    std::string log = agent_output();
    EXPECT_NE(log.find("stopped on request while hashing clients/acme/2010-001/huge.pdf: kept, "
                       "untouched"),
              std::string::npos)
        << log;

    auto run = lethe("--log-target stderr run --config " + shell_quote(config()));
    EXPECT_EQ(run.code, 0) << run.out << run.err;
    EXPECT_FALSE(exists(m_dir / kHuge));
    auto certs = certificates_of("acme/2010-001/huge.pdf");
    ASSERT_EQ(certs.size(), 1u);
    EXPECT_EQ(certs[0]["subject"]["sha256"], util::sha256_hex(m_huge));
    expect_ledger_verifies();
}

TEST_F(AgentStopE2E, SigtermMidArchiveRemovesThePartialArchiveKeepsTheSourcesAndTheNextPassArchives) {
    m_dir.write("policies/firm.toml", firm_schedule({.action = "archive", .scratch = false}));
    write_archive_config();
    keygen();
    stop_at_block(40);  // archive blocks are 256 KiB: inside the huge file
    if (HasFatalFailure()) return;

    // No archive, finished or not, and every source as it was; no archive certificate.
    std::string names;
    for (const auto& e : std::filesystem::directory_iterator(m_dir / "archive")) {
        names += e.path().filename().string() + " ";
    }
    EXPECT_EQ(names, "") << names;
    EXPECT_EQ(slurp(m_dir / kHuge), m_huge);
    EXPECT_EQ(slurp(m_dir / "share/acme/2010-001/brief.pdf"), "privileged brief");
    EXPECT_EQ(slurp(m_dir / "share/acme/2010-001/letter.docx"), "letter to client");
    for (const auto& p : payloads()) EXPECT_NE(p["type"], "disposal") << p.dump();
    EXPECT_FALSE(exists(m_dir / "state/intent.json"));
    expect_ledger_verifies();
    std::string log = agent_output();
    EXPECT_NE(log.find("stopped on request while archiving"), std::string::npos) << log;

    // The next pass archives the files, verifies the archive and removes the sources.
    auto run = lethe("--log-target stderr run --config " + shell_quote(config()));
    EXPECT_EQ(run.code, 0) << run.out << run.err;
    EXPECT_FALSE(exists(m_dir / kHuge));
    auto certs = certificates_of("acme/2010-001/huge.pdf");
    ASSERT_EQ(certs.size(), 1u);
    EXPECT_EQ(certs[0]["subject"]["sha256"], util::sha256_hex(m_huge));
    EXPECT_EQ(certs[0]["method"]["archive"]["member"], "acme/2010-001/huge.pdf");
    std::vector<std::string> archives;
    for (const auto& e : std::filesystem::directory_iterator(m_dir / "archive")) {
        archives.push_back(e.path().filename().string());
    }
    ASSERT_EQ(archives.size(), 1u);
    EXPECT_EQ(archives[0].find(".partial"), std::string::npos) << archives[0];
    EXPECT_EQ(certs[0]["method"]["archive"]["name"], archives[0]);
    expect_ledger_verifies();
}

// SIGTERM while the walk that plans a pass is under way: the walk stops between two folders
// and the pass acts on nothing of the partial plan. The agent is held just before its walk
// opens the last folder of the share (the other folders, with the due files, are walked).
class AgentStopWalkE2E : public HeldAgentFixture {};

TEST_F(AgentStopWalkE2E, SigtermDuringTheWalkStopsThePassBeforeItActsOnAnything) {
    keygen();
    // Below the root: acme, acme/2010-001 and acme/2024-007.
    stop_when_held({"--test-hold-at-folder", "3"}, "STATUS=test hold at folder 3");
    if (HasFatalFailure()) return;

    // Every due file as it was; no certificate but the checkpoint of a stopped pass.
    EXPECT_EQ(slurp(m_dir / "share/acme/2010-001/brief.pdf"), "privileged brief");
    EXPECT_EQ(slurp(m_dir / "share/acme/2010-001/letter.docx"), "letter to client");
    EXPECT_EQ(slurp(m_dir / "share/acme/2010-001/scratch.tmp"), "temp");
    expect_only_the_checkpoint_of_a_pass_that_acted_on_nothing();
    std::string log = agent_output();
    EXPECT_NE(log.find("stopped on request during the walk (root clients: the walk stopped on "
                       "request before it had listed every folder): nothing was disposed of"),
              std::string::npos)
        << log;
    EXPECT_NE(log.find("pass stopped early: 0 disposed"), std::string::npos) << log;
    auto status = lethe("status --config " + shell_quote(config()));
    EXPECT_EQ(status.code, 0) << status.err;
    EXPECT_NE(status.out.find("stopped"), std::string::npos) << status.out;

    // The next pass walks the whole share again and disposes of the due files.
    auto run = lethe("--log-target stderr run --config " + shell_quote(config()));
    EXPECT_EQ(run.code, 0) << run.out << run.err;
    EXPECT_NE(run.out.find("disposed 3 files"), std::string::npos) << run.out;
    EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/brief.pdf"));
    EXPECT_EQ(payloads_of(m_dir / "state/ledger.jsonl", "disposal").size(), 3u);
    expect_ledger_verifies();
}

// SIGTERM in the middle of sanitizing a whole archive whose copies expired (archive_for):
// the agent stops between two 4 MiB blocks of the overwrite; the archive stays indexed and
// uncertified with its intent record, and the next pass completes and certifies it.
class AgentStopArchiveE2E : public HeldAgentFixture {
  protected:
    void SetUp() override {
        HeldAgentFixture::SetUp();
        m_dir.write("policies/firm.toml", firm_schedule({.action = "archive",
                                          .client_matter_extra = "archive_for = \"3y\"\n",
                                          .scratch = false}));
        write_archive_config();
        // 24 MiB that hardly compress (7 bits of entropy a byte): an archive of about 21 MiB,
        // 6 blocks of 4 MiB.
        m_dir.write("share/acme/2010-001/huge.pdf", incompressible_bytes(size_t{24} << 20),
                    "2010-03-01");
    }
};

TEST_F(AgentStopArchiveE2E, SigtermMidArchiveSanitizeKeepsItsIntentAndTheNextPassCertifiesIt) {
    keygen();
    auto first = lethe("--log-target stderr run --config " + shell_quote(config()) +
                       " --now 2026-11-26T12:00:00Z");
    ASSERT_EQ(first.code, 0) << first.out << first.err;
    auto archives = names_in(m_dir / "archive");
    ASSERT_EQ(archives.size(), 1u);
    const std::string archive = m_dir / ("archive/" + archives[0]);
    const std::string archived = slurp(archive);
    // Between 16 and 28 MiB: 5 to 7 blocks hash the archive before its intent is recorded,
    // as many overwrite it, and block 10 falls in the overwrite.
    ASSERT_GT(archived.size(), size_t{16} << 20);
    ASSERT_LT(archived.size(), size_t{28} << 20);

    // The day every copy expired.
    stop_when_held({"--now", "2029-11-26T12:00:00Z", "--test-hold-at-block", "10"},
                   "STATUS=test hold at block 10");
    if (HasFatalFailure()) return;

    // Under its name, partly overwritten, still indexed, not certified; its intent waits.
    ASSERT_TRUE(exists(archive));
    std::string after = slurp(archive);
    EXPECT_EQ(after.size(), archived.size());
    EXPECT_NE(after, archived);
    EXPECT_EQ(names_in(m_dir / "archive"), archives);
    EXPECT_TRUE(exists(m_dir / "state/archive-intent.json"));
    EXPECT_EQ(slurp(m_dir / "state/archives.jsonl").find("archive-disposed"), std::string::npos);
    EXPECT_TRUE(payloads_of(m_dir / "state/ledger.jsonl", "archive-disposal").empty());
    expect_last_entry_a_stopped_checkpoint();
    if (HasFatalFailure()) return;
    EXPECT_EQ(payloads().back()["pass"]["archives_disposed"], 0);
    std::string log = agent_output();
    EXPECT_NE(log.find("stopped on request while sanitizing archive " + archives[0]),
              std::string::npos)
        << log;
    auto status = lethe("status --config " + shell_quote(config()));
    EXPECT_NE(status.out.find("an interrupted disposal of an archive is pending"),
              std::string::npos)
        << status.out;

    // The next pass overwrites it again from the start, verifies it and certifies it with
    // the SHA-256 it had before the first attempt changed anything.
    auto run = lethe("--log-target stderr run --config " + shell_quote(config()) +
                     " --now 2029-11-26T12:00:00Z");
    EXPECT_EQ(run.code, 0) << run.out << run.err;
    EXPECT_NE(run.out.find("; 1 expired archive sanitized (of which 1 completed an interrupted "
                           "disposal), 0 kept by holds"),
              std::string::npos)
        << run.out;
    EXPECT_EQ(payloads_of(m_dir / "state/ledger.jsonl", "checkpoint").back()["pass"]
                  ["archives_recovered"],
              1);
    EXPECT_TRUE(names_in(m_dir / "archive").empty());
    EXPECT_FALSE(exists(m_dir / "state/archive-intent.json"));
    auto certs = payloads_of(m_dir / "state/ledger.jsonl", "archive-disposal");
    ASSERT_EQ(certs.size(), 1u);
    EXPECT_EQ(certs[0]["reason"], "expired");
    EXPECT_EQ(certs[0]["archive"]["name"], archives[0]);
    EXPECT_EQ(certs[0]["subject"]["sha256"], util::sha256_hex(archived));
    EXPECT_EQ(certs[0]["subject"]["sha256"], certs[0]["archive"]["sha256"]);
    EXPECT_EQ(certs[0]["method"]["verified"], true);
    EXPECT_NE(slurp(m_dir / "state/archives.jsonl").find("\"archive-disposed\""),
              std::string::npos);
    expect_ledger_verifies();
}

// SIGTERM while the pass hashes the files newly due for review (after its walk, before it
// takes the review lock): the hash stops between two 4 MiB blocks and the pass acts on
// nothing; the review queue stays as it was, and the next pass queues every file with the
// SHA-256 of its content and disposes of the rest.
class AgentStopReviewE2E : public HeldAgentFixture {
  protected:
    void SetUp() override {
        HeldAgentFixture::SetUp();
        m_dir.write("policies/firm.toml",
                    firm_schedule({.client_matter_extra = "review = true\n"}));
        // 12 MiB: three hash blocks.
        m_big = incompressible_bytes(size_t{12} << 20);
        m_dir.write("share/acme/2010-001/big.pdf", m_big, "2010-03-01");
    }

    // path -> SHA-256 of every item in the review queue.
    std::map<std::string, std::string> queued() {
        auto list = lethe("review list --json --all --config " + shell_quote(config()));
        EXPECT_EQ(list.code, 0) << list.err;
        std::map<std::string, std::string> out;
        std::istringstream lines(list.out);
        for (std::string line; std::getline(lines, line);) {
            auto j = nlohmann::json::parse(line);
            out[j["path"].get<std::string>()] = j["sha256"].get<std::string>();
        }
        return out;
    }

    std::string m_big;
};

TEST_F(AgentStopReviewE2E, SigtermWhileHashingFilesForReviewQueuesNothingAndTheNextPassQueuesAll) {
    keygen();
    // Nothing reads a file in blocks before the review step (the walk does not, and there is
    // nothing to recover). The three files due for review take 1, 1 and 3 blocks: block 2
    // is inside the second file hashed, or inside the big one.
    stop_at_block(2);
    if (HasFatalFailure()) return;

    // Nothing queued, and nothing disposed of: the file due for deletion stays too.
    EXPECT_TRUE(queued().empty());
    EXPECT_EQ(slurp(m_dir / "share/acme/2010-001/scratch.tmp"), "temp");
    EXPECT_EQ(slurp(m_dir / "share/acme/2010-001/big.pdf"), m_big);
    expect_only_the_checkpoint_of_a_pass_that_acted_on_nothing();
    std::string log = agent_output();
    EXPECT_NE(log.find("stopped on request while hashing the files newly due for review (review: "
                       "hash acme/2010-001/"),
              std::string::npos)
        << log;
    EXPECT_NE(log.find(": stopped between two blocks on request): nothing was disposed of"),
              std::string::npos)
        << log;

    // The next pass queues the three files, each with the SHA-256 of its content, and
    // deletes the scratch file.
    auto run = lethe("--log-target stderr run --config " + shell_quote(config()));
    EXPECT_EQ(run.code, 0) << run.out << run.err;
    EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/scratch.tmp"));
    std::map<std::string, std::string> expected = {
        {"acme/2010-001/big.pdf", util::sha256_hex(m_big)},
        {"acme/2010-001/brief.pdf", util::sha256_hex("privileged brief")},
        {"acme/2010-001/letter.docx", util::sha256_hex("letter to client")}};
    EXPECT_EQ(queued(), expected);
    EXPECT_EQ(slurp(m_dir / "share/acme/2010-001/big.pdf"), m_big);
    expect_ledger_verifies();
}

// An archive complete (and perhaps indexed) whose sources are still in place, because the
// pass that wrote it was killed before it removed them: the next pass hashes that archive
// before it trusts it. SIGTERM in the middle of that hash stops the pass between two
// blocks with every source kept; the pass after it disposes of them against that archive.
class AgentStopArchivedE2E : public HeldAgentFixture {
  protected:
    void SetUp() override {
        HeldAgentFixture::SetUp();
        m_dir.write("policies/firm.toml", firm_schedule({.action = "archive", .scratch = false}));
        write_archive_config();
        // 24 MiB that hardly compress: an archive of 5 to 7 blocks of 4 MiB.
        m_huge = incompressible_bytes(size_t{24} << 20);
        m_dir.write(kHuge, m_huge, "2010-03-01");
    }

    // Runs a pass that the test build kills (SIGKILL) at the fault point `point`, once the
    // archive is complete: it must leave exactly one archive, under its final name (set in
    // m_archive), and every source in place.
    void kill_with_the_archive_complete(const std::string& point) {
        auto r = lethe("--log-target stderr run --config " + shell_quote(config()),
                       "LETHE_FAULT_AT=" + point + ":1");
        EXPECT_EQ(r.code, 128 + SIGKILL) << "not killed at " << point << ": " << r.out << r.err;
        auto archives = names_in(m_dir / "archive");
        ASSERT_EQ(archives.size(), 1u);
        ASSERT_EQ(archives[0].find(".partial"), std::string::npos) << archives[0];
        m_archive = archives[0];
        expect_sources_kept();
    }

    // The next pass, held at block 2 (in the hash of the archive) and stopped, keeps every
    // source and the archive, and its last ledger entry is its stopped checkpoint.
    void stop_while_checking_the_archive() {
        stop_at_block(2);
        if (HasFatalFailure()) return;
        expect_sources_kept();
        EXPECT_EQ(names_in(m_dir / "archive"), std::vector<std::string>{m_archive});
        expect_last_entry_a_stopped_checkpoint();
    }

    void expect_sources_kept() {
        EXPECT_EQ(slurp(m_dir / kHuge), m_huge);
        EXPECT_EQ(slurp(m_dir / "share/acme/2010-001/brief.pdf"), "privileged brief");
        EXPECT_EQ(slurp(m_dir / "share/acme/2010-001/letter.docx"), "letter to client");
    }

    // The next pass removes the sources and certifies each against `archive`, the one
    // archive in the destination.
    void expect_next_pass_disposes_against(const std::string& archive) {
        auto run = lethe("--log-target stderr run --config " + shell_quote(config()));
        EXPECT_EQ(run.code, 0) << run.out << run.err;
        EXPECT_NE(run.err.find("is already in archive " + archive), std::string::npos) << run.err;
        EXPECT_FALSE(exists(m_dir / kHuge));
        EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/brief.pdf"));
        EXPECT_FALSE(exists(m_dir / "share/acme/2010-001/letter.docx"));
        EXPECT_EQ(names_in(m_dir / "archive"), std::vector<std::string>{archive});
        auto certs = payloads_of(m_dir / "state/ledger.jsonl", "disposal");
        ASSERT_EQ(certs.size(), 3u);
        for (const auto& c : certs) {
            EXPECT_EQ(c["method"]["archive"]["name"], archive) << c.dump();
            if (c["path"] == "acme/2010-001/huge.pdf") {
                EXPECT_EQ(c["subject"]["sha256"], util::sha256_hex(m_huge));
            }
        }
        expect_ledger_verifies();
    }

    std::string m_huge;
    std::string m_archive;
};

TEST_F(AgentStopArchivedE2E, SigtermWhileRehashingAnIndexedArchiveKeepsItsSourcesForTheNextPass) {
    keygen();
    kill_with_the_archive_complete("archive-indexed");
    if (HasFatalFailure()) return;
    ASSERT_GT(slurp(m_dir / ("archive/" + m_archive)).size(), size_t{16} << 20);

    // Nothing is recovered by hashing (the archive is indexed): blocks 1 and 2 are those of
    // the hash of the archive before the first source is disposed of against it.
    stop_while_checking_the_archive();
    if (HasFatalFailure()) return;
    EXPECT_TRUE(payloads_of(m_dir / "state/ledger.jsonl", "disposal").empty());
    std::string log = agent_output();
    EXPECT_NE(log.find("stopped on request while checking the archive that holds "
                       "clients/acme/2010-001/"),
              std::string::npos)
        << log;
    EXPECT_NE(log.find(m_archive + ": stopped between two blocks on request): kept, untouched"),
              std::string::npos)
        << log;

    expect_next_pass_disposes_against(m_archive);
}

TEST_F(AgentStopArchivedE2E, SigtermWhileCheckingAnArchiveRenamedButNotIndexedKeepsItsRecord) {
    keygen();
    // Killed after the rename into place, before the index: the commit record says which
    // archive it was and what its SHA-256 must be.
    kill_with_the_archive_complete("archive-renamed");
    if (HasFatalFailure()) return;
    ASSERT_TRUE(exists(m_dir / "state/archive-commit.json"));

    // Blocks 1 and 2 are those of the hash the recovery takes of the archive.
    stop_while_checking_the_archive();
    if (HasFatalFailure()) return;
    EXPECT_TRUE(exists(m_dir / "state/archive-commit.json"));
    EXPECT_FALSE(exists(m_dir / "state/archives.jsonl") &&
                 slurp(m_dir / "state/archives.jsonl").find(m_archive) != std::string::npos);
    std::string log = agent_output();
    EXPECT_NE(log.find("stopped on request while checking an archive an interrupted pass wrote "
                       "(hash "),
              std::string::npos)
        << log;

    // The next pass indexes it, then disposes of the sources against it.
    expect_next_pass_disposes_against(m_archive);
    EXPECT_FALSE(exists(m_dir / "state/archive-commit.json"));
}

}  // namespace
}  // namespace lethe::testing

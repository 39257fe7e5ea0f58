#include "agent/act/archive.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <random>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "agent/util/fd.hpp"
#include "agent/util/sha256.hpp"
#include "tests/support/temp_dir.hpp"

namespace lethe::act {
namespace {

using lethe::testing::exists;
using lethe::testing::slurp;
using lethe::testing::TempDir;

int run(const std::string& cmd) {
    int status = std::system(cmd.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string random_bytes(size_t n, unsigned seed) {
    std::mt19937 gen(seed);
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(gen() & 0xff);
    return s;
}

std::vector<std::string> listing(const std::string& dir) {
    std::vector<std::string> out;
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return out;
    while (struct dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") out.push_back(n);
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

class ArchiveTest : public ::testing::Test {
protected:
    void SetUp() override {
        m_dir.mkdir("dest");
        m_files = {{"acme/2019-044/brief.pdf", "privileged brief"},
                   {"acme/2019-044/exhibits/scan.tif", random_bytes(300000, 1)},
                   {"acme/2019-044/empty.txt", ""}};
        for (const auto& [path, content] : m_files) m_dir.write("share/" + path, content, "2015-03-01");
    }

    ArchiveMember member_for(const std::string& path) {
        struct stat st {};
        EXPECT_EQ(::stat((m_dir / ("share/" + path)).c_str(), &st), 0);
        ArchiveMember m;
        m.path = path;
        m.sha256 = util::sha256_hex(m_files.at(path));
        m.size = static_cast<uint64_t>(st.st_size);
        m.mtime = st.st_mtim.tv_sec;
        m.mode = st.st_mode & 07777;
        m.uid = st.st_uid;
        m.gid = st.st_gid;
        return m;
    }

    Result<ArchiveResult> write_archive(const ArchiveKey& key,
                                        const std::vector<age::Recipient>& recipients = {}) {
        auto writer = ArchiveWriter::create(m_dir / "dest", key, "20260101T000000Z-test", recipients);
        if (!writer) return fail(writer.error());
        for (const auto& [path, content] : m_files) {
            UniqueFd fd(::open((m_dir / ("share/" + path)).c_str(), O_RDONLY | O_CLOEXEC));
            if (auto st = writer->add(fd.get(), member_for(path)); !st) return fail(st.error());
        }
        return writer->commit();
    }

    void expect_extracted(const std::string& out) {
        for (const auto& [path, content] : m_files) {
            EXPECT_EQ(slurp(out + "/" + path), content) << path;
            struct stat st {};
            ASSERT_EQ(::stat((out + "/" + path).c_str(), &st), 0);
            EXPECT_EQ(st.st_mtim.tv_sec, member_for(path).mtime) << path;
        }
    }

    TempDir m_dir;
    std::map<std::string, std::string> m_files;
};

TEST_F(ArchiveTest, GnuTarExtractsAPlainArchive) {
    auto result = write_archive({"clients", "acme", "2019-044", false});
    ASSERT_TRUE(result) << result.error().message();
    EXPECT_EQ(result->name.substr(result->name.size() - 8), ".tar.zst");
    EXPECT_EQ(result->name.find("lethe-clients-acme-2019-044-"), 0u) << result->name;
    EXPECT_EQ(listing(m_dir / "dest"), std::vector<std::string>{result->name});
    EXPECT_EQ(result->sha256, util::sha256_hex(slurp(result->path)));
    m_dir.mkdir("out");
    ASSERT_EQ(run("tar --zstd -xf '" + result->path + "' -C '" + (m_dir / "out") + "'"), 0);
    expect_extracted(m_dir / "out");
    EXPECT_NE(slurp(m_dir / "out/.lethe/manifest.json").find(util::sha256_hex("privileged brief")),
              std::string::npos);
    auto members = read_archive(result->path, {}, nullptr);
    ASSERT_TRUE(members) << members.error().message();
    EXPECT_EQ(members->size(), 3u);
}

TEST_F(ArchiveTest, AnEncryptedArchiveOpensWithAgeAndTarAndWithLetheRestore) {
    std::string idfile = m_dir / "records-manager.key";
    ASSERT_EQ(run("age-keygen -o '" + idfile + "' 2>/dev/null"), 0);
    auto ids = age::Identity::load_file(idfile);
    ASSERT_TRUE(ids);
    auto result = write_archive({"clients", "acme", "2019-044", true}, {*ids->front().recipient()});
    ASSERT_TRUE(result) << result.error().message();
    EXPECT_EQ(result->name.substr(result->name.size() - 12), ".tar.zst.age");
    // Not readable without the identity.
    EXPECT_EQ(slurp(result->path).find("privileged brief"), std::string::npos);
    m_dir.mkdir("out");
    ASSERT_EQ(run("age -d -i '" + idfile + "' '" + result->path + "' | tar --zstd -xf - -C '" +
                  (m_dir / "out") + "'"),
              0);
    expect_extracted(m_dir / "out");

    ArchiveReadOptions options{*ids};
    auto restored = restore_archive(result->path, options, m_dir / "restored", std::nullopt);
    ASSERT_TRUE(restored) << restored.error().message();
    EXPECT_EQ(restored->size(), 3u);
    expect_extracted(m_dir / "restored");

    auto one = restore_archive(result->path, options, m_dir / "one",
                               std::string("acme/2019-044/brief.pdf"));
    ASSERT_TRUE(one) << one.error().message();
    EXPECT_EQ(slurp(m_dir / "one/acme/2019-044/brief.pdf"), "privileged brief");
    EXPECT_FALSE(exists(m_dir / "one/acme/2019-044/empty.txt"));

    // An existing file is never replaced.
    auto again = restore_archive(result->path, options, m_dir / "one",
                                 std::string("acme/2019-044/brief.pdf"));
    ASSERT_FALSE(again);
    EXPECT_EQ(listing(m_dir / "one/acme/2019-044"), std::vector<std::string>{"brief.pdf"});

    auto no_identity = read_archive(result->path, {}, nullptr);
    ASSERT_FALSE(no_identity);
    EXPECT_NE(no_identity.error().message().find("--identity"), std::string::npos);
}

// An archive larger than the writer's read-back segments (8 MiB): it is synced and read
// back while it is still being written. Members without a given hash are hashed by add().
TEST_F(ArchiveTest, ALargeEncryptedArchiveIsReadBackWhileWrittenAndOpensWithAgeAndTar) {
    std::string idfile = m_dir / "records-manager.key";
    ASSERT_EQ(run("age-keygen -o '" + idfile + "' 2>/dev/null"), 0);
    auto ids = age::Identity::load_file(idfile);
    ASSERT_TRUE(ids);
    std::mt19937_64 gen(42);
    std::string big((size_t{20} << 20) + 12345, '\0');  // incompressible, not page-aligned
    for (size_t i = 0; i + 8 <= big.size(); i += 8) {
        uint64_t v = gen();
        std::memcpy(big.data() + i, &v, 8);
    }
    m_files["acme/2019-044/exhibits/video.bin"] = big;
    m_dir.write("share/acme/2019-044/exhibits/video.bin", big, "2015-03-01");
    auto writer = ArchiveWriter::create(m_dir / "dest", {"clients", "acme", "2019-044", true},
                                        "20260101T000000Z-big", {*ids->front().recipient()});
    ASSERT_TRUE(writer) << writer.error().message();
    for (const auto& [path, content] : m_files) {
        UniqueFd fd(::open((m_dir / ("share/" + path)).c_str(), O_RDONLY | O_CLOEXEC));
        ArchiveMember m = member_for(path);
        m.sha256.clear();
        ASSERT_TRUE(writer->add(fd.get(), m));
    }
    auto result = writer->commit();
    ASSERT_TRUE(result) << result.error().message();
    EXPECT_GT(result->bytes, uint64_t{16} << 20);
    EXPECT_EQ(result->sha256, util::sha256_hex(slurp(result->path)));
    ASSERT_EQ(result->members.size(), m_files.size());
    for (const auto& m : result->members) EXPECT_EQ(m.sha256, util::sha256_hex(m_files.at(m.path)));
    m_dir.mkdir("out");
    ASSERT_EQ(run("age -d -i '" + idfile + "' '" + result->path + "' | tar --zstd -xf - -C '" +
                  (m_dir / "out") + "'"),
              0);
    expect_extracted(m_dir / "out");
    auto members = read_archive(result->path, ArchiveReadOptions{*ids}, nullptr);
    ASSERT_TRUE(members) << members.error().message();
    EXPECT_EQ(members->size(), m_files.size());
}

TEST_F(ArchiveTest, AFileThatChangedAfterHashingAbandonsTheArchive) {
    auto writer = ArchiveWriter::create(m_dir / "dest", {"clients", "acme", std::nullopt, false},
                                        "p1", {});
    ASSERT_TRUE(writer);
    EXPECT_EQ(listing(m_dir / "dest").size(), 1u);  // the .partial file
    EXPECT_NE(writer->partial_path().find(".tar.zst.partial"), std::string::npos);
    ArchiveMember m = member_for("acme/2019-044/brief.pdf");
    m_dir.write("share/acme/2019-044/brief.pdf", "edited brief!!!!");
    UniqueFd fd(::open((m_dir / "share/acme/2019-044/brief.pdf").c_str(), O_RDONLY | O_CLOEXEC));
    auto st = writer->add(fd.get(), m);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().kind(), ErrorKind::Verification);
    EXPECT_TRUE(listing(m_dir / "dest").empty());  // no half archive under any name
}

TEST_F(ArchiveTest, AnUncommittedWriterLeavesNothingBehind) {
    {
        auto writer = ArchiveWriter::create(m_dir / "dest", {"clients", std::nullopt, std::nullopt, false},
                                            "p2", {});
        ASSERT_TRUE(writer);
        UniqueFd fd(::open((m_dir / "share/acme/2019-044/brief.pdf").c_str(), O_RDONLY | O_CLOEXEC));
        ASSERT_TRUE(writer->add(fd.get(), member_for("acme/2019-044/brief.pdf")));
    }
    EXPECT_TRUE(listing(m_dir / "dest").empty());
}

TEST_F(ArchiveTest, AMissingDestinationIsAClearError) {
    auto writer = ArchiveWriter::create(m_dir / "nowhere", {"clients", std::nullopt, std::nullopt, false},
                                        "p3", {});
    ASSERT_FALSE(writer);
    EXPECT_NE(writer.error().message().find("archive destination"), std::string::npos);
    auto encrypted = ArchiveWriter::create(m_dir / "dest", {"clients", std::nullopt, std::nullopt, true},
                                           "p3", {});
    ASSERT_FALSE(encrypted);
    EXPECT_NE(encrypted.error().message().find("recipients"), std::string::npos);
}

TEST_F(ArchiveTest, AFullDestinationStopsCleanly) {
    if (::geteuid() != 0) GTEST_SKIP() << "mounting a small tmpfs needs root; CI runs as root";
    m_dir.mkdir("small");
    ASSERT_EQ(::mount("tmpfs", (m_dir / "small").c_str(), "tmpfs", 0, "size=64k"), 0);
    struct Unmount {
        std::string path;
        ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
    } unmount{m_dir / "small"};
    Status st;
    {
        auto writer = ArchiveWriter::create(m_dir / "small",
                                            {"clients", std::nullopt, std::nullopt, false}, "p4", {});
        ASSERT_TRUE(writer);
        UniqueFd fd(::open((m_dir / "share/acme/2019-044/exhibits/scan.tif").c_str(),
                           O_RDONLY | O_CLOEXEC));
        st = writer->add(fd.get(), member_for("acme/2019-044/exhibits/scan.tif"));
        if (st) st = writer->commit().map([](const ArchiveResult&) {});
    }
    EXPECT_FALSE(st);
    if (!st) {
        EXPECT_NE(st.error().message().find("No space left"), std::string::npos)
            << st.error().message();
    }
    EXPECT_TRUE(listing(m_dir / "small").empty());
    EXPECT_EQ(slurp(m_dir / "share/acme/2019-044/exhibits/scan.tif"), m_files["acme/2019-044/exhibits/scan.tif"]);
}

TEST_F(ArchiveTest, ATamperedArchiveFailsVerificationAndRestoresNothing) {
    auto result = write_archive({"clients", "acme", "2019-044", false});
    ASSERT_TRUE(result);
    // Replace the brief with other content of the same size: tar and zstd stay valid, only
    // the manifest hash shows it.
    m_dir.mkdir("x");
    ASSERT_EQ(run("cd '" + (m_dir / "x") + "' && tar --zstd -xf '" + result->path +
                  "' && printf 'forged brief!!!!' > acme/2019-044/brief.pdf && tar --zstd "
                  "--format=pax -cf '" + (m_dir / "forged.tar.zst") + "' .lethe acme"),
              0);
    auto read = read_archive(m_dir / "forged.tar.zst", {}, nullptr);
    ASSERT_FALSE(read);
    EXPECT_EQ(read.error().kind(), ErrorKind::Verification);
    EXPECT_NE(read.error().message().find("brief.pdf"), std::string::npos) << read.error().message();
    auto restored = restore_archive(m_dir / "forged.tar.zst", {}, m_dir / "r", std::nullopt);
    ASSERT_FALSE(restored);
    EXPECT_EQ(run("find '" + (m_dir / "r") + "' -type f | grep -q ."), 1);  // no file left

    std::string bytes = slurp(result->path);
    bytes[bytes.size() / 2] ^= 0x20;
    std::ofstream(m_dir / "flipped.tar.zst", std::ios::binary) << bytes;
    EXPECT_FALSE(read_archive(m_dir / "flipped.tar.zst", {}, nullptr));
}

// A byte that differs on disk from what was written, anywhere in the file, keeps commit()
// from renaming the archive: a plain archive by the hash of the bytes read back, an
// encrypted one (which is not hashed on read-back) by its authenticated decryption. The
// offsets fall in the age header's stanza, its payload nonce (bytes 168 to 183 with one
// X25519 recipient), the payload, and the last byte.
TEST_F(ArchiveTest, AByteChangedOnDiskBeforeTheReadBackKeepsTheArchiveFromItsName) {
    std::string idfile = m_dir / "records-manager.key";
    ASSERT_EQ(run("age-keygen -o '" + idfile + "' 2>/dev/null"), 0);
    auto ids = age::Identity::load_file(idfile);
    ASSERT_TRUE(ids);
    struct Case {
        bool encrypted;
        const char* where;
    };
    for (const Case& c : {Case{false, "at:2000"}, Case{false, "end:1"}, Case{true, "at:40"},
                          Case{true, "at:170"}, Case{true, "at:2000"}, Case{true, "end:1"}}) {
        SCOPED_TRACE(fmt::format("encrypted={} {}", c.encrypted, c.where));
        ::setenv("LETHE_TEST_CORRUPT_ARCHIVE", c.where, 1);
        auto result = write_archive({"clients", "acme", "2019-044", c.encrypted},
                                    {*ids->front().recipient()});
        ::unsetenv("LETHE_TEST_CORRUPT_ARCHIVE");
        ASSERT_FALSE(result);
        EXPECT_EQ(result.error().kind(), ErrorKind::Verification) << result.error().message();
        EXPECT_NE(result.error().message().find("sources kept"), std::string::npos)
            << result.error().message();
        EXPECT_TRUE(listing(m_dir / "dest").empty());  // neither the final name nor .partial
    }
    // Without the fault, the same archives are written.
    EXPECT_TRUE(write_archive({"clients", "acme", "2019-044", false}));
    EXPECT_TRUE(write_archive({"clients", "acme", "2019-045", true}, {*ids->front().recipient()}));
    EXPECT_EQ(listing(m_dir / "dest").size(), 2u);
}

TEST_F(ArchiveTest, PartialArchivesOfAnInterruptedPassAreRemoved) {
    m_dir.write("dest/lethe-clients-x.tar.zst.partial", "half");
    m_dir.write("dest/lethe-clients-y.tar.zst", "complete");
    auto removed = remove_partial_archives(m_dir / "dest");
    ASSERT_TRUE(removed);
    EXPECT_EQ(*removed, 1u);
    EXPECT_EQ(listing(m_dir / "dest"), std::vector<std::string>{"lethe-clients-y.tar.zst"});
}

}  // namespace
}  // namespace lethe::act

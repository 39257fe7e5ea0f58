#include "agent/act/disposal.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "agent/scan/file_facts.hpp"
#include "agent/util/sha256.hpp"
#include "agent/util/sha256_state.hpp"
#include "tests/support/temp_dir.hpp"

namespace lethe::act {
namespace {

using lethe::testing::exists;
using lethe::testing::slurp;
using lethe::testing::TempDir;

class DisposalTest : public ::testing::Test {
protected:
    void SetUp() override {
        m_dir.mkdir("root");
        auto fd = scan::open_root(m_dir / "root");
        ASSERT_TRUE(fd);
        m_root = std::move(*fd);
    }

    void TearDown() override {
        if (!m_ramfs.empty()) ::umount2(m_ramfs.c_str(), MNT_DETACH);
    }

    // A ramfs (which refuses O_DIRECT) mounted at m_dir/ramfs until the test ends (needs
    // root); "" when it cannot be mounted.
    std::string mount_ramfs() {
        m_dir.mkdir("ramfs");
        std::string at = m_dir / "ramfs";
        if (::mount("ramfs", at.c_str(), "ramfs", 0, nullptr) != 0) return "";
        m_ramfs = at;
        return at;
    }

    scan::FileFacts planned(const std::string& rel) {
        auto f = scan::stat_beneath(m_root.get(), rel);
        EXPECT_TRUE(f) << f.error().message();
        return *f;
    }

    TempDir m_dir;
    UniqueFd m_root;
    std::string m_ramfs;  // mounted by mount_ramfs()
};

TEST_F(DisposalTest, SanitizeOverwritesVerifiesAndRemoves) {
    std::string content(3 * 1024 * 1024 + 17, 'c');  // several blocks and a tail
    m_dir.write("root/acme/brief.pdf", content);
    auto file = prepare(m_root.get(), planned("acme/brief.pdf"), true);
    ASSERT_TRUE(file) << file.error().message();
    EXPECT_EQ(file->record().sha256_before, util::sha256_hex(content));
    auto rec = sanitize(*file, ".lethe-tmp", SanitizeOptions{});
    ASSERT_TRUE(rec) << rec.error().message();
    EXPECT_TRUE(rec->verified);
    EXPECT_EQ(rec->method, "file overwrite");
    EXPECT_EQ(rec->passes, 1);
    EXPECT_EQ(rec->size, content.size());
    EXPECT_FALSE(rec->read_back.empty());
    EXPECT_FALSE(exists(m_dir / "root/acme/brief.pdf"));
    EXPECT_FALSE(exists(m_dir / "root/acme/.lethe-tmp"));
    EXPECT_TRUE(exists(m_dir / "root/acme"));
}

TEST_F(DisposalTest, SanitizeHandlesEmptyFiles) {
    m_dir.write("root/empty.pdf", "");
    auto file = prepare(m_root.get(), planned("empty.pdf"), true);
    ASSERT_TRUE(file);
    auto rec = sanitize(*file, ".lethe-tmp", SanitizeOptions{});
    ASSERT_TRUE(rec) << rec.error().message();
    EXPECT_TRUE(rec->verified);
    EXPECT_FALSE(exists(m_dir / "root/empty.pdf"));
}

TEST_F(DisposalTest, AFileChangedSincePlanningIsLeftAlone) {
    m_dir.write("root/memo.docx", "original");
    scan::FileFacts plan = planned("memo.docx");
    m_dir.write("root/memo.docx", "edited by a lawyer after the plan");
    auto file = prepare(m_root.get(), plan, true);
    ASSERT_FALSE(file);
    EXPECT_EQ(file.error().kind(), ErrorKind::Refused);
    EXPECT_EQ(slurp(m_dir / "root/memo.docx"), "edited by a lawyer after the plan");
}

TEST_F(DisposalTest, AFileReplacedByAnotherIsLeftAlone) {
    m_dir.write("root/memo.docx", "same");
    scan::FileFacts plan = planned("memo.docx");
    ASSERT_EQ(::unlink((m_dir / "root/memo.docx").c_str()), 0);
    m_dir.write("root/other", "same");
    ASSERT_EQ(::rename((m_dir / "root/other").c_str(), (m_dir / "root/memo.docx").c_str()), 0);
    auto file = prepare(m_root.get(), plan, false);
    ASSERT_FALSE(file);
    EXPECT_TRUE(exists(m_dir / "root/memo.docx"));
}

TEST_F(DisposalTest, SanitizeNeverOverwritesAHardLinkedInode) {
    m_dir.write("root/a.pdf", "shared data");
    ASSERT_EQ(::link((m_dir / "root/a.pdf").c_str(), (m_dir / "root/b.pdf").c_str()), 0);
    auto file = prepare(m_root.get(), planned("a.pdf"), true);
    ASSERT_FALSE(file);
    EXPECT_NE(file.error().message().find("hard links"), std::string::npos);
    EXPECT_EQ(slurp(m_dir / "root/b.pdf"), "shared data");
}

TEST_F(DisposalTest, AFolderSwappedForASymlinkIsNotFollowed) {
    m_dir.write("root/acme/brief.pdf", "client data");
    m_dir.write("elsewhere/brief.pdf", "other data");
    scan::FileFacts plan = planned("acme/brief.pdf");
    ASSERT_EQ(::rename((m_dir / "root/acme").c_str(), (m_dir / "root/acme-moved").c_str()), 0);
    ASSERT_EQ(::symlink((m_dir / "elsewhere").c_str(), (m_dir / "root/acme").c_str()), 0);
    auto file = prepare(m_root.get(), plan, true);
    ASSERT_FALSE(file);
    EXPECT_EQ(slurp(m_dir / "elsewhere/brief.pdf"), "other data");
}

TEST_F(DisposalTest, RemoveUnlinksAndRecordsThatNothingWasOverwritten) {
    m_dir.write("root/scratch.tmp", "temp");
    auto file = prepare(m_root.get(), planned("scratch.tmp"), false);
    ASSERT_TRUE(file);
    auto rec = remove(*file);
    ASSERT_TRUE(rec) << rec.error().message();
    EXPECT_EQ(rec->method, "unlink");
    EXPECT_TRUE(rec->verified);
    ASSERT_FALSE(rec->residual_risks.empty());
    EXPECT_NE(rec->residual_risks[0].find("not overwritten"), std::string::npos);
    EXPECT_FALSE(exists(m_dir / "root/scratch.tmp"));
}

bool has(const std::vector<std::string>& lines, const std::string& part) {
    return std::any_of(lines.begin(), lines.end(),
                       [&](const std::string& l) { return l.find(part) != std::string::npos; });
}

TEST_F(DisposalTest, AFileLockedWithFlockIsInUseAndLeftAlone) {
    std::string path = m_dir.write("root/open.docx", "being edited");
    UniqueFd other(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_EQ(::flock(other.get(), LOCK_SH), 0);
    auto file = prepare(m_root.get(), planned("open.docx"), true);
    ASSERT_FALSE(file);
    EXPECT_EQ(file.error().kind(), ErrorKind::Refused);
    EXPECT_NE(file.error().message().find("in use"), std::string::npos) << file.error().message();
    ::flock(other.get(), LOCK_UN);
    EXPECT_TRUE(prepare(m_root.get(), planned("open.docx"), true));
}

TEST_F(DisposalTest, AFileWithARecordLockIsInUseAndLeftAlone) {
    std::string path = m_dir.write("root/db.sqlite", std::string(8192, 'd'));
    for (int cmd : {F_SETLK, F_OFD_SETLK}) {
        UniqueFd other(::open(path.c_str(), O_RDWR | O_CLOEXEC));
        struct flock lk {};
        lk.l_type = F_RDLCK;
        lk.l_whence = SEEK_SET;
        lk.l_start = 100;
        lk.l_len = 10;
        ASSERT_EQ(::fcntl(other.get(), cmd, &lk), 0);
        auto file = prepare(m_root.get(), planned("db.sqlite"), false);
        ASSERT_FALSE(file) << cmd;
        EXPECT_NE(file.error().message().find("lock"), std::string::npos) << file.error().message();
    }
    EXPECT_EQ(slurp(path), std::string(8192, 'd'));
}

TEST_F(DisposalTest, ImmutableAndAppendOnlyFilesAreLeftAlone) {
    for (int attr : {FS_IMMUTABLE_FL, FS_APPEND_FL}) {
        std::string path = m_dir.write("root/sealed.pdf", "sealed record");
        UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        int flags = 0;
        if (::ioctl(fd.get(), FS_IOC_GETFLAGS, &flags) != 0) {
            GTEST_SKIP() << "the test folder's filesystem has no file attributes (chattr)";
        }
        int with = flags | attr;
        if (::ioctl(fd.get(), FS_IOC_SETFLAGS, &with) != 0) {
            GTEST_SKIP() << "setting chattr +i/+a needs root (CAP_LINUX_IMMUTABLE); CI runs as root";
        }
        auto file = prepare(m_root.get(), planned("sealed.pdf"), true);
        auto deletion = prepare(m_root.get(), planned("sealed.pdf"), false);
        ASSERT_EQ(::ioctl(fd.get(), FS_IOC_SETFLAGS, &flags), 0);
        ASSERT_FALSE(file);
        ASSERT_FALSE(deletion);
        EXPECT_EQ(file.error().kind(), ErrorKind::Refused);
        EXPECT_NE(file.error().message().find(attr == FS_IMMUTABLE_FL ? "immutable" : "append-only"),
                  std::string::npos);
        EXPECT_EQ(slurp(path), "sealed record");
    }
}

TEST_F(DisposalTest, AReadOnlyFileIsSanitizedAndTheCertificateSaysSo) {
    std::string path = m_dir.write("root/final.pdf", "signed and read-only");
    ASSERT_EQ(::chmod(path.c_str(), 0444), 0);
    auto file = prepare(m_root.get(), planned("final.pdf"), true);
    if (!file && ::geteuid() != 0) GTEST_SKIP() << "needs to own the file or root";
    ASSERT_TRUE(file) << file.error().message();
    auto rec = sanitize(*file, ".lethe-tmp", SanitizeOptions{});
    ASSERT_TRUE(rec) << rec.error().message();
    EXPECT_TRUE(has(rec->handling, "read-only file (mode 0444)"));
    EXPECT_FALSE(exists(path));
}

TEST_F(DisposalTest, PassesAndAFinalZeroPassAreConfigurable) {
    m_dir.write("root/a.pdf", std::string(100000, 'a'));
    auto file = prepare(m_root.get(), planned("a.pdf"), true);
    ASSERT_TRUE(file);
    auto rec = sanitize(*file, ".lethe-tmp", SanitizeOptions{2, true});
    ASSERT_TRUE(rec) << rec.error().message();
    EXPECT_EQ(rec->passes, 3);
    EXPECT_EQ(rec->pattern, "random+zero");
    EXPECT_TRUE(rec->verified);
    m_dir.write("root/b.pdf", "b");
    auto bad = prepare(m_root.get(), planned("b.pdf"), true);
    ASSERT_TRUE(bad);
    EXPECT_FALSE(sanitize(*bad, ".lethe-tmp", SanitizeOptions{0, false}));
    EXPECT_EQ(slurp(m_dir / "root/b.pdf"), "b");
}

TEST_F(DisposalTest, AFileThatGrewAfterPreparingIsLeftAlone) {
    std::string path = m_dir.write("root/log.txt", "line 1\n");
    auto file = prepare(m_root.get(), planned("log.txt"), true);
    ASSERT_TRUE(file);
    {
        UniqueFd writer(::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
        ASSERT_EQ(::write(writer.get(), "line 2\n", 7), 7);
    }
    auto rec = sanitize(*file, ".lethe-tmp", SanitizeOptions{});
    ASSERT_FALSE(rec);
    EXPECT_EQ(rec.error().kind(), ErrorKind::Refused);
    EXPECT_EQ(slurp(path), "line 1\nline 2\n");
}

TEST_F(DisposalTest, ASparseFileHasOnlyItsDataOverwritten) {
    std::string path = m_dir.write("root/disk.img", "");
    {
        UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
        std::string block(4096, 'q');
        ASSERT_EQ(::pwrite(fd.get(), block.data(), block.size(), 0), 4096);
        ASSERT_EQ(::pwrite(fd.get(), block.data(), block.size(), 4 << 20), 4096);
        ASSERT_EQ(::ftruncate(fd.get(), 64 << 20), 0);
        ASSERT_EQ(::fsync(fd.get()), 0);
    }
    auto file = prepare(m_root.get(), planned("disk.img"), true);
    ASSERT_TRUE(file);
    auto rec = sanitize(*file, ".lethe-tmp", SanitizeOptions{});
    ASSERT_TRUE(rec) << rec.error().message();
    EXPECT_TRUE(rec->verified);
    EXPECT_EQ(rec->size, 64u << 20);
    EXPECT_TRUE(has(rec->handling, "sparse file: 8192 of 67108864 bytes")) << rec->handling.size();
    EXPECT_FALSE(exists(path));
}

// A btrfs filesystem on a loop image, mounted for one test (root only; CI runs as root).
class BtrfsDisposalTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "mounting a btrfs loop image needs root; CI runs as root";
        std::string img = m_dir / "btrfs.img";
        m_mount = m_dir / "mnt";
        m_dir.mkdir("mnt");
        ASSERT_EQ(::truncate(m_dir.write("btrfs.img", "").c_str(), 128 << 20), 0);
        ASSERT_EQ(std::system(("mkfs.btrfs -q '" + img + "' >/dev/null 2>&1").c_str()), 0)
            << "mkfs.btrfs failed (scripts/install-deps installs btrfs-progs)";
        int rc = std::system(("mount -o loop '" + img + "' '" + m_mount + "' 2>/dev/null").c_str());
        if (rc != 0) GTEST_SKIP() << "this machine does not allow loop mounts here";
        m_mounted = true;
        auto fd = scan::open_root(m_mount);
        ASSERT_TRUE(fd);
        m_root = std::move(*fd);
    }
    void TearDown() override {
        m_root.reset();
        if (m_mounted) {
            EXPECT_EQ(::umount2(m_mount.c_str(), 0), 0);
        }
    }
    TempDir m_dir;
    std::string m_mount;
    bool m_mounted = false;
    UniqueFd m_root;
};

TEST_F(BtrfsDisposalTest, TheCertificateNamesCopyOnWriteAndSharedExtents) {
    std::string original(size_t{512} * 1024, 'x');
    { std::ofstream(m_mount + "/matter.pdf", std::ios::binary) << original; }
    ASSERT_EQ(std::system(("cp --reflink=always '" + m_mount + "/matter.pdf' '" + m_mount +
                           "/copy.pdf' && sync").c_str()),
              0);
    auto facts = scan::stat_beneath(m_root.get(), "matter.pdf");
    ASSERT_TRUE(facts);
    auto file = prepare(m_root.get(), *facts, true);
    ASSERT_TRUE(file) << file.error().message();
    auto rec = sanitize(*file, ".lethe-tmp", SanitizeOptions{});
    ASSERT_TRUE(rec) << rec.error().message();
    EXPECT_EQ(rec->method, "file overwrite");
    EXPECT_EQ(rec->filesystem, "btrfs");
    EXPECT_TRUE(has(rec->residual_risks, "copy-on-write"));
    EXPECT_TRUE(has(rec->residual_risks, "shared with another file or a snapshot"));
    // What the certificate warns about is real: the reflinked copy still holds the data.
    EXPECT_EQ(slurp(m_mount + "/copy.pdf"), original);
    EXPECT_FALSE(exists(m_mount + "/matter.pdf"));
}

TEST_F(DisposalTest, OnAnOrdinaryFilesystemNoCopyOnWriteRiskIsClaimed) {
    m_dir.write("root/matter.pdf", std::string(size_t{512} * 1024, 'x'));
    auto file = prepare(m_root.get(), planned("matter.pdf"), true);
    ASSERT_TRUE(file);
    if (file->record().filesystem == "btrfs" || file->record().filesystem == "zfs") {
        GTEST_SKIP() << "the test folder is itself on a copy-on-write filesystem";
    }
    EXPECT_FALSE(has(file->record().residual_risks, "copy-on-write"));
    EXPECT_FALSE(has(file->record().residual_risks, "shared with another file"));
}

#ifdef LETHE_TEST_HOOKS
TEST_F(DisposalTest, ASparseFileKeepsItsHolesAndLosesItsData) {
    std::string path = m_dir.write("root/disk.img", "");
    std::string secret(4096, 's');
    {
        UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
        ASSERT_EQ(::pwrite(fd.get(), secret.data(), secret.size(), 0), 4096);
        ASSERT_EQ(::pwrite(fd.get(), secret.data(), secret.size(), 4 << 20), 4096);
        ASSERT_EQ(::ftruncate(fd.get(), 64 << 20), 0);
        ASSERT_EQ(::fsync(fd.get()), 0);
    }
    auto file = prepare(m_root.get(), planned("disk.img"), true);
    ASSERT_TRUE(file);
    // A failed verification leaves the overwritten file in place, so it can be inspected.
    ::setenv("LETHE_TEST_CORRUPT_AFTER_WRITE", "1", 1);
    auto rec = sanitize(*file, ".lethe-tmp", SanitizeOptions{});
    ::unsetenv("LETHE_TEST_CORRUPT_AFTER_WRITE");
    ASSERT_FALSE(rec);
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_LE(st.st_blocks * 512, 1 << 20);  // the 64 MiB of holes were not filled
    std::string after = slurp(path);
    ASSERT_EQ(after.size(), 64u << 20);
    EXPECT_NE(after.substr(4 << 20, 4096), secret);
}

TEST_F(DisposalTest, AFailedReadBackKeepsTheFileAndReportsIt) {
    m_dir.write("root/brief.pdf", std::string(10000, 'p'));
    auto file = prepare(m_root.get(), planned("brief.pdf"), true);
    ASSERT_TRUE(file);
    ::setenv("LETHE_TEST_CORRUPT_AFTER_WRITE", "1", 1);
    auto rec = sanitize(*file, ".lethe-tmp", SanitizeOptions{});
    ::unsetenv("LETHE_TEST_CORRUPT_AFTER_WRITE");
    ASSERT_FALSE(rec);
    EXPECT_EQ(rec.error().kind(), ErrorKind::Verification);
    ASSERT_TRUE(exists(m_dir / "root/brief.pdf"));
    std::string after = slurp(m_dir / "root/brief.pdf");
    EXPECT_EQ(after.size(), 10000u);
    EXPECT_NE(after, std::string(10000, 'p'));  // it was overwritten, just not verified
    ASSERT_TRUE(file->read_back_mismatch());
    EXPECT_EQ(file->read_back_mismatch()->block, 0u);
    EXPECT_EQ(file->read_back_mismatch()->offset, 0u);
    EXPECT_EQ(file->read_back_mismatch()->length, 10000u);
    EXPECT_EQ(file->read_back_mismatch()->blocks, 1u);
    EXPECT_EQ(file->read_back_mismatch()->first_difference, 0u);
    EXPECT_NE(rec.error().message().find("brief.pdf: read-back does not match what was written: "
                                         "first difference at byte 0, in block 0; 1 block(s) of "
                                         "4 MiB differ"),
              std::string::npos)
        << rec.error().message();
}
#endif

#ifdef LETHE_TEST_HOOKS
// With the read-back switched off nothing is read back (a corrupted block goes unnoticed),
// and the record says so instead of claiming a verification.
TEST_F(DisposalTest, WithVerificationOffNothingIsReadBackAndTheRecordSaysSo) {
    std::string content(size_t{9} << 20, 'v');  // three blocks
    m_dir.write("root/brief.pdf", content);
    auto file = prepare(m_root.get(), planned("brief.pdf"), true);
    ASSERT_TRUE(file);
    SanitizeOptions options;
    options.verify = false;
    ::setenv("LETHE_TEST_CORRUPT_AFTER_WRITE", "1", 1);
    auto rec = sanitize(*file, ".lethe-tmp", options);
    ::unsetenv("LETHE_TEST_CORRUPT_AFTER_WRITE");
    ASSERT_TRUE(rec) << rec.error().message();
    EXPECT_FALSE(rec->verified);
    EXPECT_EQ(rec->read_back.rfind("none: read-back verification is switched off", 0), 0u)
        << rec->read_back;
    EXPECT_EQ(rec->sha256_before, util::sha256_hex(content));
    EXPECT_FALSE(exists(m_dir / "root/brief.pdf"));
    EXPECT_FALSE(exists(m_dir / "root/.lethe-tmp"));
}

// The read-back reads the next block while it compares this one: a mismatch in a later
// block of a large file is found, and named, all the same.
TEST_F(DisposalTest, TheOverlappedReadBackFindsAMismatchInALaterBlock) {
    const uint64_t block = uint64_t{4} << 20;
    std::string content(static_cast<size_t>(block * 3 + 4096), 'w');
    m_dir.write("root/big.pdf", content);
    auto file = prepare(m_root.get(), planned("big.pdf"), true);
    ASSERT_TRUE(file);
    ::setenv("LETHE_TEST_CORRUPT_AFTER_WRITE", fmt::format("at:{}", 2 * block + 8192).c_str(), 1);
    auto rec = sanitize(*file, ".lethe-tmp", SanitizeOptions{});
    ::unsetenv("LETHE_TEST_CORRUPT_AFTER_WRITE");
    ASSERT_FALSE(rec);
    EXPECT_EQ(rec.error().kind(), ErrorKind::Verification);
    ASSERT_TRUE(file->read_back_mismatch());
    EXPECT_EQ(file->read_back_mismatch()->block, 2u);
    EXPECT_EQ(file->read_back_mismatch()->offset, 2 * block);
    EXPECT_EQ(file->read_back_mismatch()->blocks, 1u);
    EXPECT_EQ(file->read_back_mismatch()->first_difference, 2 * block + 8192);
    EXPECT_NE(rec.error().message().find(fmt::format(
                  "first difference at byte {}, in block 2; 1 block(s) of 4 MiB differ",
                  2 * block + 8192)),
              std::string::npos)
        << rec.error().message();
    EXPECT_TRUE(exists(m_dir / "root/big.pdf"));

    // Untouched, every block of it matches.
    m_dir.write("root/other.pdf", content);
    auto other = prepare(m_root.get(), planned("other.pdf"), true);
    ASSERT_TRUE(other);
    auto ok = sanitize(*other, ".lethe-tmp2", SanitizeOptions{});
    ASSERT_TRUE(ok) << ok.error().message();
    EXPECT_TRUE(ok->verified);
    EXPECT_FALSE(exists(m_dir / "root/other.pdf"));
}

// A file larger than two hash segments (the test build takes LETHE_TEST_HASH_SEGMENT) is
// hashed while it is overwritten. Each checkpoint is recorded before the overwrite writes
// past the one before it: when a checkpoint is being recorded, every byte from the previous
// one on is still the original. Each midstate finishes to the original hash from the original
// bytes after it, and the last checkpoint holds the digest.
TEST_F(DisposalTest, AFileHashedDuringItsOverwriteIsCheckpointedBeforeEveryBlockWritten) {
    std::string content((size_t{6} << 20) + 100, '\0');
    uint32_t x = 12345;
    for (char& c : content) {
        x = x * 1103515245u + 12345u;
        c = static_cast<char>(x >> 24);
    }
    m_dir.write("root/scan.pdf", content);
    ::setenv("LETHE_TEST_HASH_SEGMENT", "1048576", 1);
    auto file = prepare(m_root.get(), planned("scan.pdf"), true, false, nullptr,
                        ContentHash::Overlap);
    ASSERT_TRUE(file) << file.error().message();
    EXPECT_EQ(file->record().sha256_before, "");
    std::vector<HashCheckpoint> points;
    uint64_t durable = 0;
    std::string path = m_dir / "root/scan.pdf";
    SanitizeOptions options;
    options.checkpoint = [&](const HashCheckpoint& c) -> Status {
        std::string now = slurp(path);
        EXPECT_EQ(now.size(), content.size());
        EXPECT_TRUE(now.compare(durable, std::string::npos, content, durable, std::string::npos) == 0)
            << "written past the checkpoint at " << durable << " before the one at " << c.bytes;
        points.push_back(c);
        durable = c.bytes;
        return {};
    };
    auto rec = sanitize(*file, ".lethe-tmp", options);
    ::unsetenv("LETHE_TEST_HASH_SEGMENT");
    ASSERT_TRUE(rec) << rec.error().message();
    EXPECT_EQ(rec->sha256_before, util::sha256_hex(content));
    EXPECT_TRUE(rec->verified);
    EXPECT_FALSE(exists(path));
    ASSERT_EQ(points.size(), 7u);  // after each MiB, and the digest
    for (size_t i = 0; i + 1 < points.size(); ++i) {
        EXPECT_EQ(points[i].bytes, (i + 1) << 20);
        auto resumed = util::Sha256State::import_state(points[i].state, points[i].bytes);
        ASSERT_TRUE(resumed) << resumed.error().message();
        resumed->update(std::string_view(content).substr(points[i].bytes));
        EXPECT_EQ(resumed->finish_hex(), util::sha256_hex(content)) << i;
    }
    EXPECT_EQ(points.back().bytes, content.size());
    EXPECT_EQ(points.back().sha256, util::sha256_hex(content));

    // finish_hash() does the same from a file whose bytes past the checkpoint are original.
    m_dir.write("root/copy.pdf", content);
    auto copy = prepare(m_root.get(), planned("copy.pdf"), true, false, nullptr, ContentHash::Skip);
    ASSERT_TRUE(copy);
    auto finished = finish_hash(*copy, points[2], content.size());
    ASSERT_TRUE(finished) << finished.error().message();
    EXPECT_EQ(*finished, util::sha256_hex(content));
}

// A checkpoint that cannot be recorded stops the overwrite before it writes anything past
// it: the first one failing leaves the file untouched.
TEST_F(DisposalTest, AHashCheckpointThatFailsLeavesTheFileUntouched) {
    std::string content((size_t{5} << 20) + 3, 'k');
    m_dir.write("root/scan.pdf", content);
    ::setenv("LETHE_TEST_HASH_SEGMENT", "1048576", 1);
    auto file = prepare(m_root.get(), planned("scan.pdf"), true, false, nullptr,
                        ContentHash::Overlap);
    ASSERT_TRUE(file);
    SanitizeOptions options;
    options.checkpoint = [](const HashCheckpoint&) -> Status {
        return fail(errno_error("write intent.json", ENOSPC));
    };
    auto rec = sanitize(*file, ".lethe-tmp", options);
    ::unsetenv("LETHE_TEST_HASH_SEGMENT");
    ASSERT_FALSE(rec);
    EXPECT_NE(rec.error().message().find("the checkpoint of its hash could not be recorded"),
              std::string::npos)
        << rec.error().message();
    EXPECT_EQ(slurp(m_dir / "root/scan.pdf"), content);

    // Without anywhere to record checkpoints, a file not yet hashed is not touched at all.
    m_dir.write("root/other.pdf", content);
    auto other = prepare(m_root.get(), planned("other.pdf"), true, false, nullptr,
                         ContentHash::Overlap);
    ASSERT_TRUE(other) << other.error().message();
    auto refused = sanitize(*other, ".lethe-tmp", SanitizeOptions{});
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().kind(), ErrorKind::Internal);
    EXPECT_EQ(slurp(m_dir / "root/other.pdf"), content);
}

// With verification off, a large file's blocks are only waited for as they are written
// back: nothing is read back and the record says so; the file is overwritten and removed.
TEST_F(DisposalTest, ALargeFileWithVerificationOffIsOverwrittenAndNotReadBack) {
    std::string content((size_t{9} << 20) + 5, 'v');
    m_dir.write("root/big.pdf", content);
    ::setenv("LETHE_TEST_HASH_SEGMENT", "1048576", 1);  // large from 2 MiB on
    auto file = prepare(m_root.get(), planned("big.pdf"), true);
    ASSERT_TRUE(file);
    SanitizeOptions options;
    options.verify = false;
    options.defer_unlink = true;  // to look at what was written
    auto rec = sanitize(*file, ".lethe-tmp", options);
    ::unsetenv("LETHE_TEST_HASH_SEGMENT");
    ASSERT_TRUE(rec) << rec.error().message();
    EXPECT_FALSE(rec->verified);
    EXPECT_EQ(rec->read_back, kNoReadBack);
    EXPECT_EQ(rec->sha256_before, util::sha256_hex(content));
    EXPECT_FALSE(exists(m_dir / "root/big.pdf"));
    EXPECT_EQ(slurp(m_dir / "root/.lethe-tmp"), "");  // truncated after the overwrite
}

// A large file is overwritten with direct I/O where the filesystem allows it, and through
// the page cache where it does not (ramfs); its size is not a multiple of the 4 KiB that
// direct I/O takes, so its last bytes go through the page cache either way. Each pass
// reaches every byte: after a random pass and a final zero pass nothing but zeros is left,
// before the truncation.
TEST_F(DisposalTest, ALargeFileIsOverwrittenToItsLastByteWithOrWithoutDirectIo) {
    auto check = [](int root_fd, const scan::FileFacts& facts, const std::string& path,
                    const std::string& content, const std::string& label) {
        ::setenv("LETHE_TEST_HASH_SEGMENT", "1048576", 1);  // large from 2 MiB on
        auto file = prepare(root_fd, facts, true);
        ASSERT_TRUE(file) << label << ": " << file.error().message();
        SanitizeOptions options;
        options.passes = 1;
        options.final_zero = true;
        auto written = overwrite(*file, options);
        ::unsetenv("LETHE_TEST_HASH_SEGMENT");
        ASSERT_TRUE(written) << label << ": " << written.error().message();
        ASSERT_TRUE(sync_overwrite(*file)) << label;
        std::string now = slurp(path);
        ASSERT_EQ(now.size(), content.size()) << label;
        EXPECT_EQ(now.find_first_not_of('\0'), std::string::npos)
            << label << ": byte " << now.find_first_not_of('\0') << " is not zero";
        auto rec = complete_sanitize(*file, ".lethe-tmp", options);
        ASSERT_TRUE(rec) << label << ": " << rec.error().message();
        EXPECT_TRUE(rec->verified) << label;
        EXPECT_EQ(rec->passes, 2) << label;
        EXPECT_FALSE(exists(path)) << label;
    };
    std::string content((size_t{9} << 20) + 4097, 'q');
    m_dir.write("root/big.pdf", content);
    check(m_root.get(), planned("big.pdf"), m_dir / "root/big.pdf", content, "ext4");

    if (::geteuid() != 0) GTEST_SKIP() << "mounting ramfs needs root; CI runs as root";
    const std::string mnt = mount_ramfs();
    ASSERT_FALSE(mnt.empty()) << "mount ramfs: " << std::strerror(errno);
    m_dir.write("ramfs/big.pdf", content);
    auto ram_root = scan::open_root(mnt);
    ASSERT_TRUE(ram_root);
    auto facts = scan::stat_beneath(ram_root->get(), "big.pdf");
    ASSERT_TRUE(facts);
    check(ram_root->get(), *facts, mnt + "/big.pdf", content, "ramfs");
}

// A large file's last pass is read back while it is written (each block after its
// writeback): a block corrupted after it was written is found and named all the same.
TEST_F(DisposalTest, TheReadBackDuringTheWriteFindsAMismatchInALaterBlock) {
    const uint64_t block = uint64_t{4} << 20;
    std::string content(static_cast<size_t>(block * 3 + 4096), 'w');
    m_dir.write("root/big.pdf", content);
    ::setenv("LETHE_TEST_HASH_SEGMENT", "1048576", 1);  // large from 2 MiB on
    auto file = prepare(m_root.get(), planned("big.pdf"), true);
    ASSERT_TRUE(file);
    ::setenv("LETHE_TEST_CORRUPT_AFTER_WRITE", fmt::format("at:{}", 2 * block + 8192).c_str(), 1);
    auto rec = sanitize(*file, ".lethe-tmp", SanitizeOptions{});
    ::unsetenv("LETHE_TEST_CORRUPT_AFTER_WRITE");
    ::unsetenv("LETHE_TEST_HASH_SEGMENT");
    ASSERT_FALSE(rec);
    EXPECT_EQ(rec.error().kind(), ErrorKind::Verification);
    ASSERT_TRUE(file->read_back_mismatch());
    EXPECT_EQ(file->read_back_mismatch()->block, 2u);
    EXPECT_EQ(file->read_back_mismatch()->offset, 2 * block);
    EXPECT_EQ(file->read_back_mismatch()->blocks, 1u);
    EXPECT_EQ(file->read_back_mismatch()->first_difference, 2 * block + 8192);
    EXPECT_NE(rec.error().message().find(fmt::format(
                  "first difference at byte {}, in block 2; 1 block(s) of 4 MiB differ",
                  2 * block + 8192)),
              std::string::npos)
        << rec.error().message();
    EXPECT_TRUE(exists(m_dir / "root/big.pdf"));
}
#endif

// The hash taken before a disposal stops between two of its blocks when asked (SIGTERM), and
// nothing of the file has been changed.
TEST_F(DisposalTest, TheHashBeforeADisposalStopsBetweenBlocksWhenAsked) {
    std::string content((size_t{4} << 20) * 5 + 3, 'h');  // six blocks of 4 MiB
    m_dir.write("root/big.pdf", content);
    std::atomic<bool> stop{false};
    int blocks = 0;
    util::StopToken token(&stop, [&] {
        if (++blocks == 2) stop = true;
    });
    auto file = prepare(m_root.get(), planned("big.pdf"), true, false, &token);
    ASSERT_FALSE(file);
    EXPECT_EQ(file.error().kind(), ErrorKind::Stopped) << file.error().message();
    EXPECT_EQ(blocks, 2);
    EXPECT_EQ(slurp(m_dir / "root/big.pdf"), content);

    // Not asked to stop: every block is hashed.
    blocks = 0;
    util::StopToken counting(nullptr, [&] { ++blocks; });
    auto whole = prepare(m_root.get(), planned("big.pdf"), true, false, &counting);
    ASSERT_TRUE(whole) << whole.error().message();
    EXPECT_EQ(whole->record().sha256_before, util::sha256_hex(content));
    EXPECT_EQ(blocks, 6);
}

// A file cut short after it was prepared is refused before anything is written.
TEST_F(DisposalTest, AFileThatShrankAfterPreparingIsLeftAlone) {
    std::string path = m_dir.write("root/log.txt", "line 1\nline 2\n");
    auto file = prepare(m_root.get(), planned("log.txt"), true);
    ASSERT_TRUE(file);
    ASSERT_EQ(::truncate(path.c_str(), 7), 0);
    auto rec = sanitize(*file, ".lethe-tmp", SanitizeOptions{});
    ASSERT_FALSE(rec);
    EXPECT_EQ(rec.error().kind(), ErrorKind::Refused);
    EXPECT_NE(rec.error().message().find("size changed from 14 to 7 bytes"), std::string::npos)
        << rec.error().message();
    EXPECT_EQ(slurp(path), "line 1\n");
}

// Another writer (one that ignores lethe's flock) changes the size while the file is being
// overwritten: what lies past the overwritten range was never overwritten, or the read-back
// cannot cover what was written. Either way the file stays, overwritten but not removed,
// and no record of a completed sanitize is returned.
TEST_F(DisposalTest, AFileThatGrowsOrShrinksWhileBeingOverwrittenIsKeptAndNotCertified) {
    for (const bool grow : {true, false}) {
        const std::string name = grow ? "grows.pdf" : "shrinks.pdf";
        std::string path = m_dir.write("root/" + name, std::string(20000, 'c'));
        auto file = prepare(m_root.get(), planned(name), true);
        ASSERT_TRUE(file) << file.error().message();
        ASSERT_TRUE(overwrite(*file, SanitizeOptions{}));
        ASSERT_TRUE(sync_overwrite(*file));
        {
            UniqueFd writer(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
            ASSERT_TRUE(writer);
            if (grow) {
                ASSERT_EQ(::pwrite(writer.get(), "appended", 8, 20000), 8);
            } else {
                ASSERT_EQ(::ftruncate(writer.get(), 5000), 0);
            }
        }
        auto rec = complete_sanitize(*file, ".lethe-tmp", SanitizeOptions{});
        ASSERT_FALSE(rec) << name;
        EXPECT_EQ(rec.error().kind(), ErrorKind::Verification) << name << ": " << rec.error().message();
        struct stat st {};
        ASSERT_EQ(::stat(path.c_str(), &st), 0) << name;
        EXPECT_EQ(st.st_size, grow ? 20008 : 5000) << name;
        EXPECT_FALSE(exists(m_dir / "root/.lethe-tmp")) << name;
        // The content it had is gone from the overwritten range all the same.
        EXPECT_EQ(slurp(path).find("ccccccccc"), std::string::npos) << name;
    }
}

// The certificate says how the read-back got past the page cache: direct I/O where the
// filesystem allows it, else the file's cached pages dropped after the sync. ramfs refuses
// O_DIRECT, so it shows the second way.
TEST_F(DisposalTest, TheRecordSaysHowTheReadBackBypassedThePageCache) {
    m_dir.write("root/a.pdf", std::string(10000, 'a'));
    auto file = prepare(m_root.get(), planned("a.pdf"), true);
    ASSERT_TRUE(file);
    auto rec = sanitize(*file, ".lethe-tmp", SanitizeOptions{});
    ASSERT_TRUE(rec) << rec.error().message();
    EXPECT_TRUE(rec->verified);
    EXPECT_TRUE(rec->read_back == "direct I/O (O_DIRECT)" ||
                rec->read_back.rfind("page cache dropped after sync", 0) == 0)
        << rec->read_back;

    if (::geteuid() != 0) GTEST_SKIP() << "mounting ramfs needs root; CI runs as root";
    const std::string mnt = mount_ramfs();
    ASSERT_FALSE(mnt.empty()) << "mount ramfs: " << std::strerror(errno);
    m_dir.write("ramfs/b.pdf", std::string(10000, 'b'));
    auto ram_root = scan::open_root(mnt);
    ASSERT_TRUE(ram_root);
    auto facts = scan::stat_beneath(ram_root->get(), "b.pdf");
    ASSERT_TRUE(facts);
    auto ram_file = prepare(ram_root->get(), *facts, true);
    ASSERT_TRUE(ram_file) << ram_file.error().message();
    auto ram_rec = sanitize(*ram_file, ".lethe-tmp", SanitizeOptions{});
    ASSERT_TRUE(ram_rec) << ram_rec.error().message();
    EXPECT_TRUE(ram_rec->verified);
    EXPECT_EQ(ram_rec->read_back,
              "page cache dropped after sync (POSIX_FADV_DONTNEED); O_DIRECT unavailable");
    EXPECT_FALSE(exists(mnt + "/b.pdf"));
}


// The names in a folder.
std::vector<std::string> entries_of(const std::string& folder) {
    std::vector<std::string> out;
    DIR* d = ::opendir(folder.c_str());
    if (d == nullptr) return out;
    while (struct dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") out.push_back(n);
    }
    ::closedir(d);
    return out;
}

// The disposal folder: a planned file is moved into it before anything is destroyed, and
// only the inode that was checked is destroyed there.
TEST_F(DisposalTest, ADetachedFileIsOverwrittenAndRemovedInsideTheDisposalFolder) {
    m_dir.write("root/acme/brief.pdf", "privileged brief");
    auto file = prepare(m_root.get(), planned("acme/brief.pdf"), true);
    ASSERT_TRUE(file) << file.error().message();
    ASSERT_TRUE(use_disposal_folder(*file, m_root.get()));
    EXPECT_EQ(file->disposal_folder(), ".lethe-disposal");
    struct stat st {};
    ASSERT_EQ(::stat((m_dir / "root/.lethe-disposal").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0700u);
    ASSERT_TRUE(detach(*file, ".lethe-t1"));
    EXPECT_FALSE(exists(m_dir / "root/acme/brief.pdf"));
    EXPECT_TRUE(exists(m_dir / "root/.lethe-disposal/.lethe-t1"));
    SanitizeOptions options;
    options.defer_unlink = true;
    auto rec = sanitize(*file, ".lethe-t1", options);
    ASSERT_TRUE(rec) << rec.error().message();
    EXPECT_TRUE(rec->verified);
    EXPECT_EQ(rec->links_after_overwrite, 0u);
    // Verified and emptied: its verified name is the proof a resumed pass relies on.
    EXPECT_EQ(slurp(m_dir / "root/.lethe-disposal/.lethe-t1.verified"), "");
    auto where = find_detached(m_root.get(), ".lethe-disposal", ".lethe-t1");
    ASSERT_TRUE(where);
    EXPECT_EQ(*where, Detached::Verified);
    auto removed = finish_detached(m_root.get(), ".lethe-disposal", ".lethe-t1");
    ASSERT_TRUE(removed);
    EXPECT_TRUE(*removed);
    EXPECT_TRUE(entries_of(m_dir / "root/.lethe-disposal").empty());
}

TEST_F(DisposalTest, AFileReplacedBeforeTheMoveIsPutBackUntouched) {
    m_dir.write("root/acme/brief.pdf", "old version");
    auto file = prepare(m_root.get(), planned("acme/brief.pdf"), true);
    ASSERT_TRUE(file);
    ASSERT_TRUE(use_disposal_folder(*file, m_root.get()));
    // An editor's save: a new file renamed over the name.
    m_dir.write("root/acme/.tmp", "new version");
    ASSERT_EQ(::rename((m_dir / "root/acme/.tmp").c_str(), (m_dir / "root/acme/brief.pdf").c_str()), 0);
    auto st = detach(*file, ".lethe-t2");
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().kind(), ErrorKind::Refused);
    EXPECT_NE(st.error().message().find("was replaced"), std::string::npos) << st.error().message();
    EXPECT_EQ(slurp(m_dir / "root/acme/brief.pdf"), "new version");
    EXPECT_TRUE(entries_of(m_dir / "root/.lethe-disposal").empty());
}

TEST_F(DisposalTest, AnEntryPutBackNeverReplacesANewerOne) {
    m_dir.write("root/acme/brief.pdf", "moved");
    auto file = prepare(m_root.get(), planned("acme/brief.pdf"), true);
    ASSERT_TRUE(file);
    ASSERT_TRUE(use_disposal_folder(*file, m_root.get()));
    ASSERT_TRUE(detach(*file, ".lethe-t3"));
    m_dir.write("root/acme/brief.pdf", "saved since");
    auto at = put_back(m_root.get(), ".lethe-disposal", ".lethe-t3", "acme/brief.pdf");
    ASSERT_TRUE(at) << at.error().message();
    EXPECT_NE(*at, "acme/brief.pdf");
    EXPECT_EQ(at->rfind("acme/brief.pdf.lethe-returned-", 0), 0u) << *at;
    EXPECT_EQ(slurp(m_dir / "root/acme/brief.pdf"), "saved since");
    EXPECT_EQ(slurp(m_dir / ("root/" + *at)), "moved");
}

TEST_F(DisposalTest, ADisposalFolderThatIsNotLethesIsRefusedAndNeverFollowed) {
    m_dir.write("root/acme/brief.pdf", "privileged brief");
    m_dir.mkdir("elsewhere");
    ASSERT_EQ(::symlink((m_dir / "elsewhere").c_str(), (m_dir / "root/.lethe-disposal").c_str()), 0);
    auto file = prepare(m_root.get(), planned("acme/brief.pdf"), true);
    ASSERT_TRUE(file);
    auto st = use_disposal_folder(*file, m_root.get());
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().kind(), ErrorKind::Refused);
    EXPECT_NE(st.error().message().find("symlink"), std::string::npos) << st.error().message();
    ASSERT_EQ(::unlink((m_dir / "root/.lethe-disposal").c_str()), 0);
    ASSERT_EQ(::mkdir((m_dir / "root/.lethe-disposal").c_str(), 0755), 0);
    ASSERT_EQ(::chmod((m_dir / "root/.lethe-disposal").c_str(), 0755), 0);
    st = use_disposal_folder(*file, m_root.get());
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().message().find("has mode 0755, not 0700"), std::string::npos)
        << st.error().message();
    EXPECT_EQ(slurp(m_dir / "root/acme/brief.pdf"), "privileged brief");
}

TEST_F(DisposalTest, AFileOnAnotherFilesystemGetsTheDisposalFolderOfThatFilesystem) {
    std::string ramfs = mount_ramfs();
    if (ramfs.empty()) GTEST_SKIP() << "mounting a ramfs needs root (CI runs as root)";
    // The ramfs is mounted outside the root: bind it inside.
    m_dir.mkdir("root/mnt");
    ASSERT_EQ(::mount(ramfs.c_str(), (m_dir / "root/mnt").c_str(), nullptr, MS_BIND, nullptr), 0);
    struct Unmount {
        std::string at;
        ~Unmount() { ::umount2(at.c_str(), MNT_DETACH); }
    } unmount{m_dir / "root/mnt"};
    m_dir.write("root/mnt/acme/b.pdf", "on the other filesystem");
    auto file = prepare(m_root.get(), planned("mnt/acme/b.pdf"), true);
    ASSERT_TRUE(file) << file.error().message();
    ASSERT_TRUE(use_disposal_folder(*file, m_root.get()));
    EXPECT_EQ(file->disposal_folder(), "mnt/.lethe-disposal");
    ASSERT_TRUE(detach(*file, ".lethe-t4"));
    auto rec = sanitize(*file, ".lethe-t4", SanitizeOptions{});
    ASSERT_TRUE(rec) << rec.error().message();
    EXPECT_FALSE(exists(m_dir / "root/mnt/acme/b.pdf"));
    EXPECT_TRUE(entries_of(m_dir / "root/mnt/.lethe-disposal").empty());
}

}  // namespace
}  // namespace lethe::act

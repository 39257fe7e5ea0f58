// The walk under attack and at scale: folders swapped for symlinks mid-walk, mount points,
// odd names, huge folders, deep trees with few descriptors, and callers that throw.

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <cstdio>
#include <cstring>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "agent/scan/walker.hpp"
#include "tests/support/temp_dir.hpp"

namespace lethe::scan {
namespace {

using lethe::testing::TempDir;

struct Walked {
    std::set<std::string> files;
    std::vector<std::string> problems;
    WalkStats stats;
};

Walked walk_root(const std::string& root, const WalkOptions& options = {}) {
    Walked w;
    auto fd = open_root(root);
    EXPECT_TRUE(fd) << fd.error().message();
    if (!fd) return w;
    auto stats = walk(
        fd->get(), options, [&](const FileFacts& f) { w.files.insert(f.path); },
        [&](std::string_view path, const Error&) { w.problems.emplace_back(path); });
    EXPECT_TRUE(stats) << stats.error().message();
    if (stats) w.stats = *stats;
    return w;
}

// Watches a folder and everything in it for any open, read, change or metadata change:
// the proof that a walk never touched it.
class TouchWatch {
public:
    explicit TouchWatch(const std::vector<std::string>& paths)
        : m_fd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
        EXPECT_GE(m_fd, 0);
        for (const auto& p : paths) {
            EXPECT_GE(::inotify_add_watch(m_fd, p.c_str(),
                                          IN_OPEN | IN_ACCESS | IN_ATTRIB | IN_MODIFY |
                                              IN_CLOSE | IN_DELETE | IN_CREATE | IN_MOVE),
                      0)
                << p;
        }
    }
    ~TouchWatch() { ::close(m_fd); }
    TouchWatch(const TouchWatch&) = delete;
    TouchWatch& operator=(const TouchWatch&) = delete;

    // Number of events since the watch began.
    size_t events() {
        size_t count = 0;
        alignas(struct inotify_event) char buf[8192];
        for (;;) {
            ssize_t n = ::read(m_fd, buf, sizeof(buf));
            if (n <= 0) break;
            for (ssize_t pos = 0; pos < n;) {
                auto* e = reinterpret_cast<struct inotify_event*>(buf + pos);
                pos += static_cast<ssize_t>(sizeof(struct inotify_event) + e->len);
                ++count;
            }
        }
        return count;
    }

private:
    int m_fd;
};

// root/swap is a real folder inside the root; root/swap.alt is a symlink to a folder outside
// the root. An exchange (renameat2 RENAME_EXCHANGE) swaps the two names atomically, so
// `swap` flips between being the folder and being the symlink to the outside.
struct SwapFixture {
    TempDir dir;
    std::string root = dir / "root";
    std::string outside = dir / "outside";

    SwapFixture() {
        dir.write("root/swap/inside.pdf", "i");
        dir.write("root/swap/deeper/inside2.pdf", "i");
        dir.write("root/other/keep.pdf", "k");
        dir.write("outside/secret.pdf", "s");
        dir.write("outside/sub/secret2.pdf", "s");
        EXPECT_EQ(::symlink(outside.c_str(), (root + "/swap.alt").c_str()), 0);
    }

    bool exchange() const {
        return ::renameat2(AT_FDCWD, (root + "/swap").c_str(), AT_FDCWD,
                           (root + "/swap.alt").c_str(), RENAME_EXCHANGE) == 0;
    }

    static bool saw_outside(const Walked& w) {
        for (const auto& f : w.files) {
            if (f.find("secret") != std::string::npos) return true;
        }
        for (const auto& p : w.problems) {
            if (p.find("secret") != std::string::npos) return true;
        }
        return false;
    }
};

#ifdef LETHE_TEST_HOOKS
TEST(WalkRace, AFolderSwappedForASymlinkBetweenListingAndOpeningIsNeverFollowed) {
    SwapFixture fx;
    TouchWatch watch({fx.outside, fx.outside + "/sub", fx.outside + "/secret.pdf",
                      fx.outside + "/sub/secret2.pdf"});
    // Every walk: the moment a walker has listed the root and is about to open the real
    // folder (named `swap` or `swap.alt`, depending on the last exchange), it is swapped for
    // the symlink to the outside.
    std::atomic<int> swaps_in_window{0};
    set_before_open_folder_hook([&](std::string_view rel) {
        if (rel == "swap" || rel == "swap.alt") {
            if (fx.exchange()) ++swaps_in_window;
        }
    });
    int walks = 0;
    int followed = 0;
    int not_counted = 0;
    for (; walks < 1200; ++walks) {
        Walked w = walk_root(fx.root);
        if (SwapFixture::saw_outside(w)) ++followed;
        // The swapped name now holds the symlink: its open failed and was counted.
        if (w.stats.vanished != 1 || w.files.count("other/keep.pdf") != 1) ++not_counted;
    }
    set_before_open_folder_hook(nullptr);
    std::printf("[ swaps ] %d swaps landed between a parent's listing and its child's open, "
                "over %d walks\n", swaps_in_window.load(), walks);
    EXPECT_GE(swaps_in_window.load(), 1000);
    EXPECT_EQ(followed, 0);
    EXPECT_EQ(not_counted, 0);
    EXPECT_EQ(watch.events(), 0u) << "something opened or changed the folder outside the root";
}
#endif

TEST(WalkRace, ThousandsOfSwapsDuringWalksNeverLeadOutsideTheRoot) {
    SwapFixture fx;
    TouchWatch watch({fx.outside, fx.outside + "/sub", fx.outside + "/secret.pdf",
                      fx.outside + "/sub/secret2.pdf"});
    std::atomic<int> walking{0};
    std::atomic<bool> done{false};
    std::atomic<long> swaps{0};
    std::atomic<long> landed{0};  // swaps made while a walk was in progress
    std::thread swapper([&] {
        while (!done.load()) {
            if (!fx.exchange()) continue;
            ++swaps;
            if (walking.load() > 0) ++landed;
        }
    });
    int walks = 0;
    int followed = 0;
    uint64_t failed_opens = 0;
    // At least 1000 walks, and until at least 1000 swaps have landed inside walks (bounded,
    // in case the machine is starved: the assertion below then fails rather than hangs).
    for (; walks < 200000 && (landed.load() < 1000 || walks < 1000); ++walks) {
        ++walking;
        Walked w = walk_root(fx.root);
        --walking;
        if (SwapFixture::saw_outside(w)) ++followed;
        failed_opens += w.stats.vanished;
    }
    done = true;
    swapper.join();
    std::printf("[ swaps ] %ld swaps, %ld landed while a walk was inside, %d walks, "
                "%llu folder opens refused\n",
                swaps.load(), landed.load(), walks,
                static_cast<unsigned long long>(failed_opens));
    EXPECT_GE(landed.load(), 1000);
    EXPECT_GE(walks, 1000);
    EXPECT_EQ(followed, 0);
    EXPECT_EQ(watch.events(), 0u) << "something opened or changed the folder outside the root";
}

// Mounts something inside a test root for the life of the object; unmounts it after.
class ScopedMount {
public:
    ScopedMount(const std::string& source, const std::string& target, const char* type,
                unsigned long flags)
        : m_target(target) {
        m_ok = ::mount(source.c_str(), target.c_str(), type, flags, nullptr) == 0;
        m_errno = errno;
    }
    ~ScopedMount() {
        if (m_ok) ::umount2(m_target.c_str(), MNT_DETACH);
    }
    ScopedMount(const ScopedMount&) = delete;
    ScopedMount& operator=(const ScopedMount&) = delete;
    [[nodiscard]] bool ok() const { return m_ok; }
    [[nodiscard]] int error() const { return m_errno; }

private:
    std::string m_target;
    bool m_ok = false;
    int m_errno = 0;
};

TEST(WalkMounts, OneFilesystemDoesNotCrossATmpfsOrABindMountAndCountsThem) {
    if (::geteuid() != 0) GTEST_SKIP() << "mounting needs root (CI runs as root)";
    TempDir dir;
    dir.write("root/local.pdf", "l");
    dir.mkdir("root/tmp-mount");
    dir.mkdir("root/bind-mount");
    dir.write("elsewhere/bound.pdf", "b");
    ScopedMount tmpfs("none", dir / "root/tmp-mount", "tmpfs", 0);
    ASSERT_TRUE(tmpfs.ok()) << "mount tmpfs: " << std::strerror(tmpfs.error());
    dir.write("root/tmp-mount/on-tmpfs.pdf", "t");
    // A bind mount of the same filesystem has the same st_dev: only the mount is different.
    ScopedMount bind(dir / "elsewhere", dir / "root/bind-mount", nullptr, MS_BIND);
    ASSERT_TRUE(bind.ok()) << "bind mount: " << std::strerror(bind.error());

    Walked same = walk_root(dir / "root");
    EXPECT_EQ(same.files, (std::set<std::string>{"local.pdf"}));
    EXPECT_EQ(same.stats.mount_points, 2u);
    EXPECT_EQ(same.stats.errors, 0u);

    WalkOptions crossing;
    crossing.one_filesystem = false;
    Walked all = walk_root(dir / "root", crossing);
    EXPECT_EQ(all.files, (std::set<std::string>{"local.pdf", "tmp-mount/on-tmpfs.pdf",
                                                "bind-mount/bound.pdf"}));
    EXPECT_EQ(all.stats.mount_points, 2u);
}

// check_mount is asked about each mount the walk enters (and only those): a mount it refuses
// is not listed, is counted and reported as Refused; the others are walked.
TEST(WalkMounts, AMountCheckMountRefusesIsNotListed) {
    if (::geteuid() != 0) GTEST_SKIP() << "mounting needs root (CI runs as root)";
    TempDir dir;
    dir.write("root/local.pdf", "l");
    dir.mkdir("root/tmp-mount");
    dir.mkdir("root/bind-mount");
    dir.write("elsewhere/bound.pdf", "b");
    ScopedMount tmpfs("none", dir / "root/tmp-mount", "tmpfs", 0);
    ASSERT_TRUE(tmpfs.ok()) << "mount tmpfs: " << std::strerror(tmpfs.error());
    dir.write("root/tmp-mount/on-tmpfs.pdf", "t");
    ScopedMount bind(dir / "elsewhere", dir / "root/bind-mount", nullptr, MS_BIND);
    ASSERT_TRUE(bind.ok()) << "bind mount: " << std::strerror(bind.error());

    std::mutex lock;
    std::set<std::string> asked;
    WalkOptions options;
    options.one_filesystem = false;
    options.check_mount = [&](int fd, std::string_view path) -> std::optional<std::string> {
        EXPECT_GE(fd, 0);
        std::lock_guard guard(lock);
        asked.emplace(path);
        if (path == "bind-mount") return std::string("shows lethe's own files");
        return std::nullopt;
    };
    Walked w;
    auto fd = open_root(dir / "root");
    ASSERT_TRUE(fd) << fd.error().message();
    std::vector<std::pair<std::string, Error>> problems;
    auto stats = walk(
        fd->get(), options, [&](const FileFacts& f) { w.files.insert(f.path); },
        [&](std::string_view path, const Error& e) { problems.emplace_back(path, e); });
    ASSERT_TRUE(stats) << stats.error().message();
    EXPECT_EQ(asked, (std::set<std::string>{"tmp-mount", "bind-mount"}));
    EXPECT_EQ(w.files, (std::set<std::string>{"local.pdf", "tmp-mount/on-tmpfs.pdf"}));
    EXPECT_EQ(stats->mount_points, 2u);
    EXPECT_EQ(stats->refused_mounts, 1u);
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_EQ(problems[0].first, "bind-mount");
    EXPECT_EQ(problems[0].second.kind(), ErrorKind::Refused);
    EXPECT_EQ(problems[0].second.message(), "shows lethe's own files");

    // The root itself, when it is the top of a mount, is asked about too.
    auto top = open_root(dir / "root/tmp-mount");
    ASSERT_TRUE(top);
    WalkOptions refuse_all;
    refuse_all.check_mount = [](int, std::string_view) -> std::optional<std::string> {
        return std::string("no");
    };
    std::set<std::string> files;
    auto none = walk(
        top->get(), refuse_all, [&](const FileFacts& f) { files.insert(f.path); },
        [](std::string_view, const Error&) {});
    ASSERT_TRUE(none) << none.error().message();
    EXPECT_TRUE(files.empty());
    EXPECT_EQ(none->refused_mounts, 1u);
}

TEST(WalkCounts, OddNamesSocketsAndFifosAreCountedAndOddNamesStayExact) {
    TempDir dir;
    std::string latin1 = "caf\xe9.pdf";
    std::string newline = "two\nlines.pdf";
    dir.write("root/" + latin1, "x");
    dir.write("root/d\xff/" + newline, "y");
    ASSERT_EQ(::mkfifo((dir / "root/pipe").c_str(), 0600), 0);
    int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_GE(sock, 0);
    struct sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    std::string sock_path = dir / "root/sock";
    ASSERT_LT(sock_path.size(), sizeof(addr.sun_path));
    std::memcpy(addr.sun_path, sock_path.c_str(), sock_path.size() + 1);
    ASSERT_EQ(::bind(sock, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)), 0);
    ::close(sock);

    Walked w = walk_root(dir / "root");
    EXPECT_EQ(w.files, (std::set<std::string>{latin1, "d\xff/" + newline}));
    EXPECT_EQ(w.stats.non_utf8_names, 2u);  // caf\xe9.pdf and the folder d\xff
    EXPECT_EQ(w.stats.newline_names, 1u);
    EXPECT_EQ(w.stats.fifos, 1u);
    EXPECT_EQ(w.stats.sockets, 1u);
    EXPECT_EQ(w.stats.special, 2u);
}

TEST(WalkScale, AFolderWithManyEntriesIsReadCompletely) {
    TempDir dir;
    dir.mkdir("root/big");
    constexpr int kFiles = 20000;
    for (int i = 0; i < kFiles; ++i) {
        std::string p = dir / ("root/big/f" + std::to_string(i) + ".pdf");
        int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        ASSERT_GE(fd, 0);
        ::close(fd);
    }
    Walked w = walk_root(dir / "root");
    EXPECT_EQ(w.files.size(), static_cast<size_t>(kFiles));
    EXPECT_EQ(w.stats.files, static_cast<uint64_t>(kFiles));
    EXPECT_EQ(w.stats.largest_folder, static_cast<uint64_t>(kFiles));
}

TEST(WalkScale, WithFewDescriptorsAllowedFoldersOpenFromTheirNearestOpenAncestor) {
    TempDir dir;
    // A comb: every level has a file, a side folder and the next level, so every level
    // keeps subfolders waiting while deeper ones are walked.
    std::string rel = "root";
    std::set<std::string> expected;
    std::string inside;
    for (int i = 0; i < 60; ++i) {
        dir.write(rel + "/side/s.pdf", "s");
        expected.insert(inside + "side/s.pdf");
        rel += "/d";
        inside += "d/";
    }
    dir.write(rel + "/deep.pdf", "d");
    expected.insert(inside + "deep.pdf");
    WalkOptions options;
    options.max_open_folders = 2;
    options.threads = 2;
    Walked w = walk_root(dir / "root", options);
    EXPECT_EQ(w.files, expected);
    EXPECT_EQ(w.stats.errors, 0u);
    EXPECT_EQ(w.stats.folders, 121u);
}

TEST(WalkScale, DeepTreesBeyondAThousandLevelsAreWalked) {
    TempDir dir;
    int root_fd = -1;
    dir.mkdir("root");
    root_fd = ::open((dir / "root").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(root_fd, 0);
    int fd = ::dup(root_fd);
    for (int i = 0; i < 1100; ++i) {  // deeper than PATH_MAX allows in one path
        ASSERT_EQ(::mkdirat(fd, "level-with-a-long-name", 0700), 0);
        int next = ::openat(fd, "level-with-a-long-name", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ::close(fd);
        ASSERT_GE(next, 0);
        fd = next;
    }
    int file = ::openat(fd, "deep.pdf", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(file, 0);
    ::close(file);
    ::close(fd);
    ::close(root_fd);
    Walked w = walk_root(dir / "root");
    EXPECT_EQ(w.stats.files, 1u);
    EXPECT_EQ(w.stats.folders, 1101u);
    EXPECT_EQ(w.stats.errors, 0u);
    // Flatten the chain so that TempDir can remove it with ordinary (short) paths.
    root_fd = ::open((dir / "root").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(root_fd, 0);
    std::string current = "level-with-a-long-name";
    for (int i = 0; i < 1100; ++i) {
        std::string flat = "flat-" + std::to_string(i);
        ASSERT_EQ(::renameat(root_fd, current.c_str(), root_fd, flat.c_str()), 0);
        current = flat + "/level-with-a-long-name";
    }
    ::close(root_fd);
}

#ifdef LETHE_TEST_HOOKS
TEST(WalkCounts, AFolderThatVanishesBeforeItIsOpenedIsCountedAndTheWalkGoesOn) {
    TempDir dir;
    dir.write("root/gone/x.pdf", "x");
    dir.write("root/stays/y.pdf", "y");
    std::string gone = dir / "root/gone";
    set_before_open_folder_hook([&](std::string_view rel) {
        if (rel == "gone") {
            ::unlink((gone + "/x.pdf").c_str());
            ::rmdir(gone.c_str());
        }
    });
    Walked w = walk_root(dir / "root");
    set_before_open_folder_hook(nullptr);
    EXPECT_EQ(w.files, (std::set<std::string>{"stays/y.pdf"}));
    EXPECT_EQ(w.stats.vanished, 1u);
    EXPECT_EQ(w.problems, (std::vector<std::string>{"gone"}));
}
#endif

TEST(WalkThreads, AnExceptionFromTheCallerStopsTheWalkCleanly) {
    TempDir dir;
    for (int i = 0; i < 50; ++i) dir.write("root/d" + std::to_string(i) + "/f.pdf", "x");
    auto fd = open_root(dir / "root");
    ASSERT_TRUE(fd);
    int seen = 0;
    EXPECT_THROW(
        {
            auto r = walk(
                fd->get(), WalkOptions{},
                [&](const FileFacts&) {
                    if (++seen == 3) throw std::runtime_error("sink failed");
                },
                [](std::string_view, const Error&) {});
            (void)r;
        },
        std::runtime_error);
    EXPECT_EQ(seen, 3);
}

// A sink per walker thread that keeps its files until flushed into a shared set.
class CollectingSink : public FileSink {
public:
    CollectingSink(std::mutex& m, std::multiset<std::string>& out, std::atomic<int>& flushes)
        : m_mutex(m), m_out(out), m_flushes(flushes) {}
    void file(const FileFacts& f) override { m_held.push_back(f.path); }
    void flush() override {
        std::lock_guard g(m_mutex);
        m_out.insert(m_held.begin(), m_held.end());
        m_held.clear();
        ++m_flushes;
    }

private:
    std::mutex& m_mutex;
    std::multiset<std::string>& m_out;
    std::atomic<int>& m_flushes;
    std::vector<std::string> m_held;
};

class ThrowingSink : public FileSink {
public:
    explicit ThrowingSink(std::atomic<int>& calls) : m_calls(calls) {}
    void file(const FileFacts&) override {
        if (++m_calls >= 3) throw std::runtime_error("sink failed");
    }
    void flush() override {}

private:
    std::atomic<int>& m_calls;
};

TEST(WalkThreads, EveryFileReachesExactlyOneThreadSinkAndEverySinkIsFlushed) {
    TempDir dir;
    for (int d = 0; d < 40; ++d) {
        for (int f = 0; f < 25; ++f) {
            dir.write("root/d" + std::to_string(d) + "/f" + std::to_string(f) + ".pdf", "x");
        }
    }
    auto fd = open_root(dir / "root");
    ASSERT_TRUE(fd);
    std::mutex m;
    std::multiset<std::string> seen;
    std::atomic<int> flushes{0};
    int sinks = 0;
    WalkOptions options;
    options.threads = 3;
    auto stats = walk_concurrently(
        fd->get(), options,
        [&]() -> std::unique_ptr<FileSink> {
            ++sinks;
            return std::make_unique<CollectingSink>(m, seen, flushes);
        },
        [](std::string_view, const Error&) {});
    ASSERT_TRUE(stats);
    EXPECT_EQ(sinks, 3);
    EXPECT_GE(flushes.load(), 3);  // at least once per thread, at its end
    EXPECT_EQ(stats->files, 1000u);
    EXPECT_EQ(seen.size(), 1000u);
    EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 1000u);

    std::atomic<int> calls{0};
    EXPECT_THROW(
        {
            auto r = walk_concurrently(
                fd->get(), WalkOptions{},
                [&]() -> std::unique_ptr<FileSink> { return std::make_unique<ThrowingSink>(calls); },
                [](std::string_view, const Error&) {});
            (void)r;
        },
        std::runtime_error);
    EXPECT_LT(calls.load(), 1000);  // stopped early, not after the whole tree
}

}  // namespace
}  // namespace lethe::scan

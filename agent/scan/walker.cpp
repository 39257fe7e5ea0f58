#include "agent/scan/walker.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "agent/util/encoding.hpp"
#include "agent/util/fs.hpp"

namespace lethe::scan {

void WalkStats::add(const WalkStats& o) {
    files += o.files;
    bytes += o.bytes;
    folders += o.folders;
    symlinks += o.symlinks;
    special += o.special;
    sockets += o.sockets;
    fifos += o.fifos;
    devices += o.devices;
    excluded += o.excluded;
    mount_points += o.mount_points;
    refused_mounts += o.refused_mounts;
    unreadable += o.unreadable;
    vanished += o.vanished;
    errors += o.errors;
    non_utf8_names += o.non_utf8_names;
    newline_names += o.newline_names;
    largest_folder = std::max(largest_folder, o.largest_folder);
}

namespace {

#ifdef LETHE_TEST_HOOKS
std::function<void(std::string_view)>& before_open_folder_hook() {
    static std::function<void(std::string_view)> hook;
    return hook;
}
#endif

constexpr size_t kBatchFiles = 512;       // results per hand-over to the caller
constexpr size_t kQueueBatches = 8;       // batches waiting for the caller: bounds memory
constexpr size_t kDirentBuffer = 32768;   // getdents64 chunk, per walker

bool is_excluded(const WalkOptions& options, const std::string& path, bool folder) {
    for (const auto& g : options.exclude) {
        if (g.matches(path)) return true;
        // A folder is excluded when the pattern covers what lies inside it ("**/.snapshot/**").
        if (folder && g.matches(path + "/")) return true;
    }
    return false;
}

// A folder that has been opened. Its descriptor is what its subfolders are opened from,
// so it stays open while any of them waits in the queue (they hold the Folder). When too
// many folders are held open, a folder is "anchored" instead: its own descriptor is closed
// once it has been listed, and its subfolders are opened from its nearest held ancestor
// through the path between them (still beneath that ancestor, symlinks refused).
struct Folder {
    UniqueFd fd;                            // for listing; after that only if !anchored
    std::string path;                       // relative to the root
    std::shared_ptr<const Folder> anchor;   // set when anchored: the ancestor holding its fd
    std::string anchor_path;                // this folder's path relative to `anchor`
    std::atomic<unsigned>* held = nullptr;  // the budget this folder counts against

    Folder() = default;
    Folder(const Folder&) = delete;
    Folder& operator=(const Folder&) = delete;
    ~Folder() {
        if (held != nullptr) held->fetch_sub(1, std::memory_order_relaxed);
    }
};

// A subfolder waiting to be opened from its parent.
struct FolderTask {
    std::shared_ptr<const Folder> parent;  // null for the root
    std::string path;                      // relative to the root
    size_t name_offset = 0;                // where the last component starts in `path`
};

struct Batch {
    std::vector<FileFacts> files;
    std::vector<std::pair<std::string, Error>> problems;
    WalkStats delta;

    [[nodiscard]] bool empty() const {
        return files.empty() && problems.empty() && delta.files == 0 && delta.folders == 0 && delta.symlinks == 0 &&
               delta.special == 0 && delta.excluded == 0 && delta.mount_points == 0 &&
               delta.errors == 0 && delta.refused_mounts == 0;
    }
};

class Walk {
public:
    // With `sinks` (one per walker thread), files go to the thread's own sink instead of
    // being batched for the caller.
    Walk(const WalkOptions& options, unsigned open_budget,
         std::vector<std::unique_ptr<FileSink>>* sinks)
        : m_options(options), m_budget(open_budget), m_sinks(sinks) {}

    // Runs `threads` walkers from `root` and hands every batch to `consume` on this thread.
    template <typename Consume>
    std::optional<Error> run(UniqueFd root, unsigned threads, Consume&& consume) {
        auto root_folder = std::make_shared<Folder>();
        root_folder->fd = std::move(root);
        m_tasks.push_back(FolderTask{nullptr, {}, 0});
        m_root_folder = std::move(root_folder);

        struct Joiner {
            Walk& walk;
            std::vector<std::thread> threads;
            ~Joiner() {
                walk.stop();
                for (auto& t : threads) t.join();
            }
        } joiner{*this, {}};
        m_live_workers = threads;
        for (unsigned i = 0; i < threads; ++i) {
            FileSink* sink = m_sinks != nullptr ? (*m_sinks)[i].get() : nullptr;
            joiner.threads.emplace_back([this, sink] { work(sink); });
        }

        for (;;) {
            Batch batch;
            {
                std::unique_lock lock(m_out_mutex);
                m_out_ready.wait(lock, [&] { return !m_out.empty() || m_live_workers == 0; });
                if (m_out.empty()) break;
                batch = std::move(m_out.front());
                m_out.pop_front();
            }
            m_out_space.notify_one();
            consume(batch);
        }
        std::lock_guard lock(m_task_mutex);
        if (m_failure) std::rethrow_exception(m_failure);
        if (m_root_error) return m_root_error;
        if (m_stopped) {
            return Error(ErrorKind::Stopped,
                         "the walk stopped on request before it had listed every folder");
        }
        return std::nullopt;
    }

private:
    // One atomic load while nobody asks. Once asked, every walker stops listing and drops
    // the folders still waiting: what the walk found so far is incomplete.
    bool stop_asked() {
        if (m_options.stop == nullptr || !m_options.stop->load(std::memory_order_relaxed)) {
            return false;
        }
        {
            std::lock_guard lock(m_task_mutex);
            m_stopped = true;
            m_stopping = true;
            m_abort.store(true, std::memory_order_relaxed);
            m_tasks.clear();
        }
        m_task_ready.notify_all();
        return true;
    }

    void stop() {
        {
            std::lock_guard lock(m_task_mutex);
            m_stopping = true;
        }
        m_task_ready.notify_all();
        {
            std::lock_guard lock(m_out_mutex);
            m_out_stopping = true;
        }
        m_out_space.notify_all();
    }

    void work(FileSink* sink) {
        std::vector<char> buffer(kDirentBuffer);
        Batch batch;
        for (;;) {
            FolderTask task;
            {
                std::unique_lock lock(m_task_mutex);
                if (m_tasks.empty() && (!batch.empty() || sink != nullptr)) {
                    // Nothing to take right now: hand over what this walker holds before
                    // waiting, so the caller is never kept waiting on an idle walker.
                    lock.unlock();
                    if (sink != nullptr) guarded([&] { sink->flush(); });
                    if (!batch.empty()) deliver(batch);
                    lock.lock();
                }
                m_task_ready.wait(lock, [&] {
                    return m_stopping || !m_tasks.empty() || m_busy_workers == 0;
                });
                if (m_stopping || m_tasks.empty()) break;
                task = std::move(m_tasks.back());
                m_tasks.pop_back();
                ++m_busy_workers;
            }
            process(task, buffer, batch, sink);
            bool all_done = false;
            {
                std::lock_guard lock(m_task_mutex);
                --m_busy_workers;
                all_done = m_busy_workers == 0 && m_tasks.empty();
            }
            if (all_done) m_task_ready.notify_all();
        }
        if (sink != nullptr) guarded([&] { sink->flush(); });
        if (!batch.empty()) deliver(batch);
        {
            std::lock_guard lock(m_out_mutex);
            --m_live_workers;
        }
        m_out_ready.notify_all();
        m_task_ready.notify_all();
    }

    void deliver(Batch& batch) {
        {
            std::unique_lock lock(m_out_mutex);
            m_out_space.wait(lock, [&] { return m_out.size() < kQueueBatches || m_out_stopping; });
            if (m_out_stopping) {
                batch = Batch{};
                return;
            }
            m_out.push_back(std::move(batch));
        }
        m_out_ready.notify_one();
        batch = Batch{};
        batch.files.reserve(kBatchFiles);
    }

    void problem(Batch& batch, std::string path, Error error, bool vanished) {
        (vanished ? batch.delta.vanished : batch.delta.unreadable) += 1;
        ++batch.delta.errors;
        batch.problems.emplace_back(std::move(path), std::move(error));
    }

    // Opens the folder of `task` from its parent; nullptr when it is not to be listed.
    std::shared_ptr<Folder> open_folder(FolderTask& task, Batch& batch) {
        if (!task.parent) return std::move(m_root_folder);
#ifdef LETHE_TEST_HOOKS
        if (auto& hook = before_open_folder_hook()) hook(task.path);
#endif
        std::string_view name = std::string_view(task.path).substr(task.name_offset);
        // An anchored parent's own descriptor is closed once it is listed: never read it.
        int from = -1;
        std::string through;
        if (task.parent->anchor) {
            from = task.parent->anchor->fd.get();
            through = fmt::format("{}/{}", task.parent->anchor_path, name);
            name = through;
        } else {
            from = task.parent->fd.get();
        }
        auto fd = util::open_beneath(from, name, O_RDONLY | O_DIRECTORY, 0,
                                     m_options.one_filesystem);
        if (!fd) {
            int err = fd.error().sys_errno();
            if (err == EXDEV) {
                ++batch.delta.mount_points;  // another filesystem (or a bind mount): not entered
            } else if (err == ENOENT || err == ELOOP || err == ENOTDIR) {
                problem(batch, task.path,
                        Error(ErrorKind::Io,
                              fmt::format("open folder {}: vanished or replaced by a symlink or "
                                          "a file during the walk (not followed)",
                                          util::utf8_display(task.path)),
                              err),
                        true);
            } else {
                problem(batch, task.path,
                        errno_error(fmt::format("open folder {}", util::utf8_display(task.path)),
                                    err),
                        false);
            }
            return nullptr;
        }
        const bool mount_root = !m_options.one_filesystem && is_mount_root(fd->get());
        if (mount_root) ++batch.delta.mount_points;  // entered: one_filesystem is off
        if (mount_root && refused_mount(fd->get(), task.path, batch)) return nullptr;
        auto folder = std::make_shared<Folder>();
        folder->fd = std::move(*fd);
        folder->path = std::move(task.path);
        if (m_open.fetch_add(1, std::memory_order_relaxed) < m_budget) {
            folder->held = &m_open;
        } else {
            m_open.fetch_sub(1, std::memory_order_relaxed);
            const Folder& parent = *task.parent;
            std::string_view own = std::string_view(folder->path).substr(task.name_offset);
            if (parent.anchor) {
                folder->anchor = parent.anchor;
                folder->anchor_path = fmt::format("{}/{}", parent.anchor_path, own);
            } else {
                folder->anchor = task.parent;
                folder->anchor_path = std::string(own);
            }
        }
        return folder;
    }

    // Whether the open folder is the top of a mount: STATX_ATTR_MOUNT_ROOT where the kernel
    // reports it (5.8 on), else a device that is not its parent's (which misses a bind
    // mount of the same filesystem).
    static bool is_mount_root(int fd) {
        struct statx stx {};
        if (::statx(fd, "", AT_EMPTY_PATH, STATX_TYPE, &stx) == 0 &&
            (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) != 0) {
            return (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
        }
        return filesystem_top(fd);
    }

    // Asks check_mount about a mount the walk is entering; true when it is not to be walked.
    bool refused_mount(int fd, const std::string& path, Batch& batch) {
        if (!m_options.check_mount) return false;
        std::optional<std::string> why;
        guarded([&] { why = m_options.check_mount(fd, path); });
        if (!why) return m_abort.load(std::memory_order_relaxed);
        ++batch.delta.refused_mounts;
        batch.problems.emplace_back(path.empty() ? std::string(".") : path,
                                    Error(ErrorKind::Refused, std::move(*why)));
        return true;
    }

    void process(FolderTask& task, std::vector<char>& buffer, Batch& batch, FileSink* sink) {
        bool is_root = !task.parent;
        std::shared_ptr<Folder> folder = open_folder(task, batch);
        task.parent.reset();  // the parent may close as soon as its last subfolder is open
        if (!folder) return;
        if (is_root && is_mount_root(folder->fd.get()) &&
            refused_mount(folder->fd.get(), folder->path, batch)) {
            return;
        }
        if (stop_asked()) return;  // between two folders
        ++batch.delta.folders;

        std::vector<FolderTask> subfolders;
        uint64_t entries = 0;
        const std::string& dir_path = folder->path;
        const int dir_fd = folder->fd.get();
        std::shared_ptr<const Folder> shared_folder = folder;
        for (;;) {
            ssize_t n = ::getdents64(dir_fd, buffer.data(), buffer.size());
            if (n < 0) {
                if (errno == EINTR) continue;
                int err = errno;
                if (is_root) {
                    std::lock_guard lock(m_task_mutex);
                    m_root_error = errno_error("read root folder", err);
                    m_stopping = true;
                    m_task_ready.notify_all();
                    return;
                }
                problem(batch, dir_path,
                        errno_error(fmt::format("read folder {}", util::utf8_display(dir_path)),
                                    err),
                        err == ENOENT);
                break;
            }
            if (n == 0 || m_abort.load(std::memory_order_relaxed) || stop_asked()) break;
            for (ssize_t pos = 0; pos < n && !m_abort.load(std::memory_order_relaxed);) {
                auto* entry = reinterpret_cast<struct dirent64*>(buffer.data() + pos);
                pos += entry->d_reclen;
                std::string_view name(entry->d_name);
                if (name == "." || name == "..") continue;
                ++entries;
                visit(entry, name, dir_fd, dir_path, shared_folder, subfolders, batch, sink);
            }
            if (!subfolders.empty()) push_tasks(subfolders);
        }
        batch.delta.largest_folder = std::max(batch.delta.largest_folder, entries);
        if (folder->anchor) folder->fd.reset();  // subfolders open from the anchor instead
    }

    void visit(const struct dirent64* entry, std::string_view name, int dir_fd,
               const std::string& dir_path, const std::shared_ptr<const Folder>& folder,
               std::vector<FolderTask>& subfolders, Batch& batch, FileSink* sink) {
        if (!util::is_valid_utf8(name)) ++batch.delta.non_utf8_names;
        if (name.find('\n') != std::string_view::npos) ++batch.delta.newline_names;
        std::string rel;
        rel.reserve(dir_path.size() + 1 + name.size());
        if (!dir_path.empty()) {
            rel += dir_path;
            rel += '/';
        }
        size_t name_offset = rel.size();
        rel += name;

        unsigned char type = entry->d_type;
        struct statx stx {};
        bool stated = false;
        if (type == DT_REG || type == DT_UNKNOWN) {
            if (type == DT_REG && is_excluded(m_options, rel, false)) {
                ++batch.delta.excluded;
                return;
            }
            if (::statx(dir_fd, entry->d_name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT,
                        STATX_BASIC_STATS | STATX_BTIME, &stx) != 0) {
                int err = errno;
                problem(batch, rel,
                        errno_error(fmt::format("stat {}", util::utf8_display(rel)), err),
                        err == ENOENT);
                return;
            }
            stated = true;
            // The entry may have changed type since it was listed; what statx saw counts.
            mode_t mode = stx.stx_mode & S_IFMT;
            type = S_ISREG(mode)    ? DT_REG
                   : S_ISDIR(mode)  ? DT_DIR
                   : S_ISLNK(mode)  ? DT_LNK
                   : S_ISSOCK(mode) ? DT_SOCK
                   : S_ISFIFO(mode) ? DT_FIFO
                                    : DT_CHR;
        }
        switch (type) {
            case DT_REG:
                if (!stated) return;  // unreachable: regular files are always stat'ed
                if (entry->d_type == DT_UNKNOWN && is_excluded(m_options, rel, false)) {
                    ++batch.delta.excluded;
                    return;
                }
                ++batch.delta.files;
                batch.delta.bytes += stx.stx_size;
                if (sink != nullptr) {
                    FileFacts facts = facts_from_statx(stx, std::move(rel));
                    guarded([&] { sink->file(facts); });
                    if (batch.delta.files % kBatchFiles == 0) deliver(batch);  // progress
                    return;
                }
                batch.files.push_back(facts_from_statx(stx, std::move(rel)));
                if (batch.files.size() >= kBatchFiles) deliver(batch);
                return;
            case DT_DIR:
                if (name == kDisposalFolder && lethes_disposal_folder(dir_fd, entry->d_name) &&
                    (dir_path.empty() || filesystem_top(dir_fd))) {
                    return;  // lethe's own, never planned or listed
                }
                if (is_excluded(m_options, rel, true)) {
                    ++batch.delta.excluded;
                    return;
                }
                subfolders.push_back(FolderTask{folder, std::move(rel), name_offset});
                return;
            case DT_LNK:
                ++batch.delta.symlinks;
                return;
            case DT_SOCK:
                ++batch.delta.sockets;
                ++batch.delta.special;
                return;
            case DT_FIFO:
                ++batch.delta.fifos;
                ++batch.delta.special;
                return;
            default:  // block and character devices, whiteouts
                ++batch.delta.devices;
                ++batch.delta.special;
                return;
        }
    }

    // Whether the entry `name` in `dir_fd` is a folder as lethe makes its disposal folder:
    // not a symlink, owned by lethe's (this process's effective) user, mode exactly 0700
    // (act/disposal_folder.cpp refuses any other). A folder of that name that anyone else
    // made is walked like any other: hiding its files would keep them out of every plan.
    static bool lethes_disposal_folder(int dir_fd, const char* name) {
        struct stat st {};
        return ::fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
               st.st_uid == ::geteuid() && (st.st_mode & 07777) == 0700;
    }

    // Whether the open folder is the top of a filesystem or btrfs subvolume (its device is
    // not its parent's), where lethe keeps a disposal folder. Asked only for a folder that
    // holds an entry of that name.
    static bool filesystem_top(int dir_fd) {
        struct stat here {};
        struct stat above {};
        if (::fstat(dir_fd, &here) != 0 || ::fstatat(dir_fd, "..", &above, AT_SYMLINK_NOFOLLOW) != 0) {
            return false;
        }
        return here.st_dev != above.st_dev;
    }

    // Runs a sink call; its exception stops the walk and is rethrown to the caller.
    template <typename F>
    void guarded(F&& call) {
        if (m_abort.load(std::memory_order_relaxed)) return;
        try {
            call();
        } catch (...) {
            {
                std::lock_guard lock(m_task_mutex);
                if (!m_failure) m_failure = std::current_exception();
                m_stopping = true;
                m_abort.store(true, std::memory_order_relaxed);
                m_tasks.clear();
            }
            m_task_ready.notify_all();
        }
    }

    void push_tasks(std::vector<FolderTask>& subfolders) {
        {
            std::lock_guard lock(m_task_mutex);
            for (auto& t : subfolders) m_tasks.push_back(std::move(t));
        }
        subfolders.clear();
        m_task_ready.notify_all();
    }

    const WalkOptions& m_options;
    const unsigned m_budget;
    std::vector<std::unique_ptr<FileSink>>* m_sinks;
    std::exception_ptr m_failure;  // the first exception from a sink
    std::atomic<bool> m_abort{false};  // stop listing the current folders at once
    std::atomic<unsigned> m_open{0};
    std::shared_ptr<Folder> m_root_folder;

    std::mutex m_task_mutex;
    std::condition_variable m_task_ready;
    std::vector<FolderTask> m_tasks;  // a stack: depth first keeps it short
    unsigned m_busy_workers = 0;
    bool m_stopping = false;
    bool m_stopped = false;  // options.stop asked the walk to stop
    std::optional<Error> m_root_error;

    std::mutex m_out_mutex;
    std::condition_variable m_out_ready;
    std::condition_variable m_out_space;
    std::deque<Batch> m_out;
    unsigned m_live_workers = 0;
    bool m_out_stopping = false;
};

unsigned default_threads() {
    unsigned cpus = std::thread::hardware_concurrency();
    return std::clamp(cpus, 2u, 4u);
}

unsigned default_open_budget() {
    struct rlimit rl {};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 4096;
    return static_cast<unsigned>(std::clamp<rlim_t>(rl.rlim_cur / 4, 16, 4096));
}

}  // namespace

#ifdef LETHE_TEST_HOOKS
void set_before_open_folder_hook(std::function<void(std::string_view)> hook) {
    before_open_folder_hook() = std::move(hook);
}
#endif

namespace {

Result<WalkStats> run_walk(int root_fd, const WalkOptions& options,
                           const std::function<void(const FileFacts&)>& on_file,
                           const std::function<void(std::string_view, const Error&)>& on_problem,
                           const std::function<std::unique_ptr<FileSink>()>* make_sink) {
    // A descriptor of our own: getdents64 moves the file offset, which the caller's shares.
    auto root = util::open_beneath(root_fd, ".", O_RDONLY | O_DIRECTORY);
    if (!root) return fail(root.error().with_context("root"));

    unsigned threads = options.threads != 0 ? options.threads : default_threads();
    unsigned budget = options.max_open_folders != 0 ? options.max_open_folders
                                                    : default_open_budget();
    WalkStats stats;
    std::vector<std::unique_ptr<FileSink>> sinks;
    if (make_sink != nullptr) {
        for (unsigned i = 0; i < threads; ++i) sinks.push_back((*make_sink)());
    }
    Walk walk(options, budget, make_sink != nullptr ? &sinks : nullptr);
    auto root_error = walk.run(std::move(*root), threads, [&](Batch& batch) {
        stats.add(batch.delta);
        if (on_file) {
            for (const auto& f : batch.files) on_file(f);
        }
        for (const auto& [path, error] : batch.problems) on_problem(path, error);
        if (options.on_progress) options.on_progress(stats);
    });
    if (root_error) return fail(*root_error);
    return stats;
}

}  // namespace

Result<WalkStats> walk(int root_fd, const WalkOptions& options,
                       const std::function<void(const FileFacts&)>& on_file,
                       const std::function<void(std::string_view, const Error&)>& on_problem) {
    return run_walk(root_fd, options, on_file, on_problem, nullptr);
}

Result<WalkStats> walk_concurrently(
    int root_fd, const WalkOptions& options,
    const std::function<std::unique_ptr<FileSink>()>& make_sink,
    const std::function<void(std::string_view, const Error&)>& on_problem) {
    return run_walk(root_fd, options, {}, on_problem, &make_sink);
}

}  // namespace lethe::scan

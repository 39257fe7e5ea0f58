#include "agent/ledger/ledger.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "agent/ledger/canonical.hpp"
#include "agent/ledger/dsse.hpp"
#include "agent/util/encoding.hpp"
#include "agent/util/fs.hpp"
#include "agent/util/log.hpp"
#include "agent/util/sha256.hpp"

namespace lethe::ledger {

std::string host_name() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
    return buf;
}

namespace {

// The keyid that may sign the entry after `env`: its signer's, or the new key of a rotation.
std::string next_signer(const Envelope& env, const nlohmann::json& payload) {
    if (payload.value("type", "") == "key-rotated") {
        auto it = payload.find("new_key");
        if (it != payload.end() && it->is_object() && it->contains("keyid") &&
            (*it)["keyid"].is_string()) {
            return (*it)["keyid"].get<std::string>();
        }
    }
    return env.signatures.empty() ? std::string() : env.signatures.front().keyid;
}

}  // namespace

std::string Ledger::lock_path(const std::string& path) { return path + ".lock"; }

Result<UniqueFd> Ledger::lock() const {
    std::string path = lock_path(m_path);
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640));
    if (!fd) return fail(errno_error(fmt::format("open ledger lock {}", path), errno));
    while (::flock(fd.get(), LOCK_EX) != 0) {
        if (errno != EINTR) return fail(errno_error(fmt::format("lock {}", path), errno));
    }
    return fd;
}

Result<Ledger> Ledger::open(const std::string& path, const SigningKey& key,
                            const LedgerClock& clock) {
    // Read and write: catch-up reads, with pread, what other appenders wrote.
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640));
    if (!fd) return fail(errno_error(fmt::format("open ledger {}", path), errno));
    Ledger ledger(path, std::move(fd), key, clock);
    auto held = ledger.lock();
    if (!held) return fail(held.error());
    struct stat st {};
    if (::fstat(ledger.m_fd.get(), &st) != 0) {
        return fail(errno_error(fmt::format("stat ledger {}", path), errno));
    }
    if (st.st_size == 0) {
        // A new ledger: make its directory entry durable before anything is certified in it.
        if (auto done = util::fsync_dir(util::folder_of(path)); !done) return fail(done.error());
        return ledger;
    }
    if (auto done = ledger.catch_up(); !done) return fail(done.error());
    return ledger;
}

Status Ledger::take_last_line(const std::string& last, uint64_t line_no) {
    auto env = Envelope::parse(last);
    if (!env) {
        return fail(ErrorKind::Refused,
                    fmt::format("ledger {}: line {} is not an envelope ({}); nothing will be "
                                "appended until it is inspected (`lethe certs verify`)",
                                m_path, line_no, env.error().message()));
    }
    auto payload = nlohmann::json::parse(env->payload, nullptr, false);
    if (payload.is_discarded() || !payload.is_object() || !payload.contains("seq") ||
        !payload["seq"].is_number_unsigned()) {
        return fail(ErrorKind::Refused,
                    fmt::format("ledger {}: line {} has no sequence number", m_path, line_no));
    }
    std::string signer = next_signer(*env, payload);
    if (signer != m_key->keyid()) {
        return fail(ErrorKind::Refused,
                    fmt::format("ledger {}: its last entry (line {}) was signed by key {}, but "
                                "the signing key has keyid {}; a ledger continues only with "
                                "the key that signed it or the key it was rotated to "
                                "(`lethe keygen --rotate`)",
                                m_path, line_no, signer, m_key->keyid()));
    }
    m_last_seq = payload["seq"].get<uint64_t>();
    m_head = util::sha256_hex(last);
    m_last_payload = std::move(payload);
    return {};
}

Status Ledger::catch_up() {
    struct stat st {};
    if (::fstat(m_fd.get(), &st) != 0) {
        return fail(errno_error(fmt::format("stat ledger {}", m_path), errno));
    }
    // Appends go to the file this object opened; a ledger renamed or deleted meanwhile must
    // not receive entries nobody will read.
    struct stat named {};
    if (::stat(m_path.c_str(), &named) != 0 || named.st_ino != st.st_ino ||
        named.st_dev != st.st_dev) {
        return fail(ErrorKind::Refused,
                    fmt::format("ledger {} was replaced or removed while lethe had it open; "
                                "nothing more is appended to it",
                                m_path));
    }
    auto size = static_cast<uint64_t>(st.st_size);
    if (size == m_size) return {};
    if (size < m_size) {
        return fail(ErrorKind::Refused,
                    fmt::format("ledger {} shrank from {} to {} bytes while lethe had it open; "
                                "nothing more is appended to it",
                                m_path, m_size, size));
    }
    // In blocks, so memory does not grow with the ledger (open() reads all of it).
    constexpr size_t kBlock = size_t{1} << 20;
    std::string block(kBlock, '\0');
    std::string line;  // the line being read, across blocks
    std::string last;
    bool any = false;
    uint64_t at = m_size;
    while (at < size) {
        size_t want = static_cast<size_t>(std::min<uint64_t>(kBlock, size - at));
        ssize_t n = ::pread(m_fd.get(), block.data(), want, static_cast<off_t>(at));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(errno_error(fmt::format("read ledger {}", m_path), errno));
        if (n == 0) break;
        std::string_view got(block.data(), static_cast<size_t>(n));
        at += static_cast<uint64_t>(n);
        for (size_t nl = got.find('\n'); nl != std::string_view::npos; nl = got.find('\n')) {
            line.append(got.substr(0, nl));
            got.remove_prefix(nl + 1);
            m_frontier.append_line(line);
            ++m_lines;
            m_size += line.size() + 1;
            last.swap(line);
            line.clear();
            any = true;
        }
        line.append(got);
    }
    if (any) {
        if (auto done = take_last_line(last, m_lines); !done) return done;
    }
    if (!line.empty()) return repair_torn(line, m_lines + 1, m_size);
    return {};
}

Status Ledger::repair_torn(std::string_view torn, uint64_t line, uint64_t offset) {
    std::string dir = util::folder_of(m_path);
    std::string name = fmt::format("{}.torn-{}-{}", util::name_of(m_path), line,
                                   util::random_suffix(4));
    std::string saved = dir + "/" + name;
    // Saved durably before anything is cut: the bytes are never lost, only moved aside.
    if (auto st = util::create_file_exclusive(saved, torn, 0640); !st) {
        return fail(st.error().with_context("saving the torn last line of the ledger"));
    }
    if (::ftruncate(m_fd.get(), static_cast<off_t>(offset)) != 0) {
        return fail(errno_error(fmt::format("cut the torn line from ledger {}", m_path), errno));
    }
    if (::fdatasync(m_fd.get()) != 0) {
        return fail(errno_error(fmt::format("fsync ledger {}", m_path), errno));
    }
    m_size = offset;
    const LedgerClock& clock = m_clock;
    util::TimePoint now =
        clock.now ? *clock.now
                  : util::TimePoint{std::chrono::system_clock::now().time_since_epoch()};
    nlohmann::json payload = {
        {"type", "ledger-repaired"},
        {"time", util::format_timestamp(now)},
        {"host", host_name()},
        {"agent", fmt::format("lethe {}", LETHE_VERSION)},
        {"reason", "the last line had no newline: a write cut short by a crash or a full "
                   "disk, never acknowledged; its bytes were moved aside"},
        {"cut",
         {{"line", line},
          {"offset", offset},
          {"bytes", torn.size()},
          {"sha256", util::sha256_hex(torn)},
          {"saved_as", name}}},
    };
    if (clock.injected) payload["clock"] = "injected (test build)";
    std::vector<nlohmann::json> one;
    one.push_back(std::move(payload));
    auto seq = append_locked(std::move(one));  // the caller holds the lock
    if (!seq) return fail(seq.error().with_context("recording the ledger repair"));
    m_repair = Repair{line, offset, torn.size(), saved, *seq};
    util::log_warning("ledger {}: the last line (line {}, {} bytes) was torn; moved it to {} and "
                      "recorded the repair as entry {}",
                      m_path, line, torn.size(), saved, *seq);
    return {};
}

std::string Ledger::merkle_root() const { return util::hex_encode(m_frontier.root()); }

nlohmann::json Ledger::tree_head() const {
    return {{"entries", m_last_seq}, {"head", m_head}, {"merkle_root", merkle_root()}};
}

Result<uint64_t> Ledger::append(nlohmann::json payload) {
    std::vector<nlohmann::json> one;
    one.push_back(std::move(payload));
    return append_batch(std::move(one));
}

Result<uint64_t> Ledger::append_batch(std::vector<nlohmann::json> payloads) {
    if (payloads.empty()) return m_last_seq;
    auto held = lock();
    if (!held) return fail(held.error());
    if (auto done = catch_up(); !done) return fail(done.error());
    return append_locked(std::move(payloads));
}

Result<uint64_t> Ledger::append_checkpoint(nlohmann::json payload) {
    auto held = lock();
    if (!held) return fail(held.error());
    if (auto done = catch_up(); !done) return fail(done.error());
    payload.update(tree_head());
    std::vector<nlohmann::json> one;
    one.push_back(std::move(payload));
    return append_locked(std::move(one));
}

Result<uint64_t> Ledger::append_locked(std::vector<nlohmann::json> payloads) {
    // Built aside and committed only once durable, so a failure leaves the ledger as it was.
    uint64_t seq = m_last_seq;
    std::string head = m_head;
    MerkleFrontier frontier = m_frontier;
    std::string record;
    for (auto& payload : payloads) {
        ++seq;
        payload["schema"] = kSchemaVersion;
        payload["seq"] = seq;
        payload["prev"] = head;
        auto body = canonical_json(payload);
        if (!body) return fail(body.error());
        Envelope env;
        env.payload_type = std::string(kPayloadType);
        env.payload = std::move(*body);
        env.signatures.push_back({m_key->keyid(), m_signer->sign(pae(env.payload_type, env.payload))});
        std::string line = env.to_json();
        head = util::sha256_hex(line);
        frontier.append_line(line);
        record += line;
        record += '\n';
    }
    if (auto st = util::write_all(m_fd.get(), record, m_path); !st) {
        // Leave no half line for the next append to follow (a full disk, say); if even the
        // cut fails, the next open() finds the torn line and repairs it.
        if (::ftruncate(m_fd.get(), static_cast<off_t>(m_size)) != 0) {
            util::log_warning("ledger {}: cannot cut back a failed write", m_path);
        }
        return fail(st.error());
    }
    if (::fdatasync(m_fd.get()) != 0) {
        return fail(errno_error(fmt::format("fsync ledger {}", m_path), errno));
    }
    m_size += record.size();
    m_lines += payloads.size();
    m_last_seq = seq;
    m_head = std::move(head);
    m_frontier = std::move(frontier);
    m_last_payload = std::move(payloads.back());
    return seq;
}

}  // namespace lethe::ledger

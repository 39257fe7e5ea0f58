#include "agent/ledger/ledger.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>

#include <fmt/format.h>

#include "agent/ledger/canonical.hpp"
#include "agent/ledger/dsse.hpp"
#include "agent/util/encoding.hpp"
#include "agent/util/fs.hpp"
#include "agent/util/line_reader.hpp"
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

Result<Ledger> Ledger::open(const std::string& path, const SigningKey& key,
                            const LedgerClock& clock) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640));
    if (!fd) return fail(errno_error(fmt::format("open ledger {}", path), errno));
    Ledger ledger(path, std::move(fd), key);
    // The head needs only the last line, the Merkle edge every line's hash; the chain and
    // signatures are `certs verify`'s job.
    auto reader = util::LineReader::open(path);
    if (!reader) return fail(reader.error());
    std::string line;
    std::string last;
    bool complete = true;
    uint64_t whole = 0;      // whole lines
    uint64_t offset = 0;     // bytes in whole lines
    std::string torn;
    bool has_torn = false;
    for (;;) {
        auto more = reader->next(line, complete);
        if (!more) return fail(more.error());
        if (!*more) break;
        if (!complete) {
            torn.swap(line);
            has_torn = true;
            break;
        }
        ++whole;
        offset += line.size() + 1;
        ledger.m_frontier.append_line(line);
        last.swap(line);
    }
    if (whole == 0 && !has_torn) {
        // A new ledger: make its directory entry durable before anything is certified in it.
        if (auto st = util::fsync_dir(util::folder_of(path)); !st) return fail(st.error());
        return ledger;
    }
    if (whole > 0) {
        auto env = Envelope::parse(last);
        if (!env) {
            return fail(ErrorKind::Refused,
                        fmt::format("ledger {}: line {} is not an envelope ({}); nothing will be "
                                    "appended until it is inspected (`lethe certs verify`)",
                                    path, whole, env.error().message()));
        }
        auto payload = nlohmann::json::parse(env->payload, nullptr, false);
        if (payload.is_discarded() || !payload.is_object() || !payload.contains("seq") ||
            !payload["seq"].is_number_unsigned()) {
            return fail(ErrorKind::Refused,
                        fmt::format("ledger {}: line {} has no sequence number", path, whole));
        }
        std::string signer = next_signer(*env, payload);
        if (signer != key.keyid()) {
            return fail(ErrorKind::Refused,
                        fmt::format("ledger {}: its last entry (line {}) was signed by key {}, but "
                                    "the signing key has keyid {}; a ledger continues only with "
                                    "the key that signed it or the key it was rotated to "
                                    "(`lethe keygen --rotate`)",
                                    path, whole, signer, key.keyid()));
        }
        ledger.m_last_seq = payload["seq"].get<uint64_t>();
        ledger.m_head = util::sha256_hex(last);
        ledger.m_last_payload = std::move(payload);
    }
    ledger.m_size = offset;
    if (has_torn) {
        if (auto st = ledger.repair_torn(torn, whole + 1, offset, clock); !st) return fail(st.error());
    }
    return ledger;
}

Status Ledger::repair_torn(std::string_view torn, uint64_t line, uint64_t offset,
                           const LedgerClock& clock) {
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
    auto seq = append(std::move(payload));
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
    m_last_seq = seq;
    m_head = std::move(head);
    m_frontier = std::move(frontier);
    m_last_payload = std::move(payloads.back());
    return seq;
}

}  // namespace lethe::ledger

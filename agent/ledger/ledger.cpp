#include "agent/ledger/ledger.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "agent/ledger/dsse.hpp"
#include "agent/util/fs.hpp"
#include "agent/util/line_reader.hpp"
#include "agent/util/sha256.hpp"

namespace lethe::ledger {

Result<nlohmann::json> open_envelope(std::string_view line, const std::vector<VerifyKey>& trusted) {
    auto env = Envelope::parse(line);
    if (!env) return fail(env.error());
    if (env->payload_type != kPayloadType) {
        return fail(ErrorKind::Verification,
                    fmt::format("unexpected payloadType '{}'", env->payload_type));
    }
    std::string message = pae(env->payload_type, env->payload);
    bool verified = false;
    for (const auto& sig : env->signatures) {
        for (const auto& key : trusted) {
            if (key.keyid() == sig.keyid && key.verify(message, sig.sig)) {
                verified = true;
            }
        }
    }
    if (!verified) {
        return fail(ErrorKind::Verification,
                    fmt::format("no valid signature by a trusted key (keyid {})",
                                env->signatures.front().keyid));
    }
    auto payload = nlohmann::json::parse(env->payload, nullptr, false);
    if (payload.is_discarded() || !payload.is_object()) {
        return fail(ErrorKind::Verification, "payload is not a JSON object");
    }
    return payload;
}

namespace {

// Checks one payload's place in the chain.
Status check_chain(const nlohmann::json& payload, uint64_t expected_seq,
                   const std::string& expected_prev) {
    auto seq = payload.find("seq");
    if (seq == payload.end() || !seq->is_number_unsigned() ||
        seq->get<uint64_t>() != expected_seq) {
        return fail(ErrorKind::Verification,
                    fmt::format("sequence number is not {} (an entry was removed, added or "
                                "reordered)", expected_seq));
    }
    auto prev = payload.find("prev");
    if (prev == payload.end() || !prev->is_string() || prev->get<std::string>() != expected_prev) {
        return fail(ErrorKind::Verification,
                    "prev does not match the hash of the previous line (the chain is broken)");
    }
    auto type = payload.find("type");
    if (type == payload.end() || !type->is_string()) {
        return fail(ErrorKind::Verification, "payload has no type");
    }
    return {};
}

}  // namespace

Result<VerifyReport> verify_ledger(const std::string& path, const std::vector<VerifyKey>& trusted) {
    auto reader = util::LineReader::open(path);
    if (!reader) return fail(reader.error());
    VerifyReport report;
    std::string line;
    bool complete = true;
    uint64_t line_no = 0;
    for (;;) {
        auto more = reader->next(line, complete);
        if (!more) return fail(more.error());
        if (!*more) break;
        ++line_no;
        auto bad = [&](std::string problem) {
            report.bad_line = line_no;
            report.problem = std::move(problem);
            return report;
        };
        if (!complete) return bad("torn line: the ledger ends without a newline (cut write?)");
        auto payload = open_envelope(line, trusted);
        if (!payload) return bad(payload.error().message());
        if (auto st = check_chain(*payload, line_no, report.head); !st) {
            return bad(st.error().message());
        }
        ++report.entries;
        ++report.by_type[(*payload)["type"].get<std::string>()];
        report.head = util::sha256_hex(line);
    }
    return report;
}

Result<Ledger> Ledger::open(const std::string& path, const SigningKey& key) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640));
    if (!fd) return fail(errno_error(fmt::format("open ledger {}", path), errno));
    Ledger ledger(path, std::move(fd), key);
    // Finding the head needs only the last line; chain checks are `certs verify`'s job.
    auto reader = util::LineReader::open(path);
    if (!reader) return fail(reader.error());
    std::string line;
    std::string last;
    bool complete = true;
    uint64_t count = 0;
    for (;;) {
        auto more = reader->next(line, complete);
        if (!more) return fail(more.error());
        if (!*more) break;
        ++count;
        last.swap(line);
    }
    if (count == 0) {
        // A new ledger: make its directory entry durable before anything is certified in it.
        auto dir = util::folder_of(path);
        if (auto st = util::fsync_dir(dir); !st) return fail(st.error());
        return ledger;
    }
    if (!complete) {
        return fail(ErrorKind::Refused,
                    fmt::format("ledger {}: the last line (line {}) is torn; nothing will be "
                                "appended until it is inspected (`lethe certs verify`)",
                                path, count));
    }
    auto env = Envelope::parse(last);
    if (!env) {
        return fail(ErrorKind::Refused,
                    fmt::format("ledger {}: line {} is not an envelope ({}); run `lethe certs "
                                "verify`", path, count, env.error().message()));
    }
    auto payload = nlohmann::json::parse(env->payload, nullptr, false);
    if (payload.is_discarded() || !payload.contains("seq") || !payload["seq"].is_number_unsigned()) {
        return fail(ErrorKind::Refused,
                    fmt::format("ledger {}: line {} has no sequence number", path, count));
    }
    ledger.m_last_seq = payload["seq"].get<uint64_t>();
    ledger.m_head = util::sha256_hex(last);
    ledger.m_last_payload = std::move(payload);
    return ledger;
}

Result<uint64_t> Ledger::append(nlohmann::json payload) {
    uint64_t seq = m_last_seq + 1;
    payload["schema"] = kSchemaVersion;
    payload["seq"] = seq;
    payload["prev"] = m_head;
    std::string body;
    try {
        body = payload.dump();  // std::map keys: sorted; compact; strict UTF-8
    } catch (const nlohmann::json::exception& e) {
        return fail(ErrorKind::Internal, fmt::format("certificate payload: {}", e.what()));
    }
    Envelope env;
    env.payload_type = std::string(kPayloadType);
    env.payload = body;
    env.signatures.push_back({m_key->keyid(), m_key->sign(pae(env.payload_type, body))});
    std::string line = env.to_json();
    std::string record = line + "\n";
    if (auto st = util::write_all(m_fd.get(), record, m_path); !st) return fail(st.error());
    if (::fdatasync(m_fd.get()) != 0) {
        return fail(errno_error(fmt::format("fsync ledger {}", m_path), errno));
    }
    m_last_seq = seq;
    m_head = util::sha256_hex(line);
    m_last_payload = std::move(payload);
    return seq;
}

}  // namespace lethe::ledger

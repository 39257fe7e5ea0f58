#include "agent/ledger/verify.hpp"

#include <algorithm>
#include <memory>

#include <fmt/format.h>

#include "agent/ledger/canonical.hpp"
#include "agent/ledger/dsse.hpp"
#include "agent/ledger/ledger.hpp"
#include "agent/ledger/merkle.hpp"
#include "agent/util/encoding.hpp"
#include "agent/util/fs.hpp"
#include "agent/util/line_reader.hpp"
#include "agent/util/sha256.hpp"

namespace lethe::ledger {

std::string_view to_string(Finding finding) {
    switch (finding) {
        case Finding::Torn: return "torn";
        case Finding::NotEnvelope: return "not-an-envelope";
        case Finding::NotCanonical: return "not-canonical";
        case Finding::UntrustedKey: return "untrusted-key";
        case Finding::RetiredKey: return "retired-key";
        case Finding::BadSignature: return "bad-signature";
        case Finding::BadPayload: return "bad-payload";
        case Finding::Missing: return "missing";
        case Finding::Reordered: return "reordered";
        case Finding::Duplicate: return "duplicate";
        case Finding::ChainBroken: return "chain-broken";
        case Finding::BadCheckpoint: return "bad-checkpoint";
        case Finding::BadRotation: return "bad-rotation";
        case Finding::Cut: return "cut";
        case Finding::Rewritten: return "rewritten";
    }
    return "unknown";
}

Result<nlohmann::json> decode_payload(std::string_view line) {
    auto env = Envelope::parse(line);
    if (!env) return fail(env.error());
    auto payload = nlohmann::json::parse(env->payload, nullptr, false);
    if (payload.is_discarded() || !payload.is_object()) {
        return fail(ErrorKind::Verification, "payload is not a JSON object");
    }
    return payload;
}

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
            if (key.keyid() == sig.keyid && key.verify(message, sig.sig)) verified = true;
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

Result<ExportedCheckpoint> load_checkpoint(const std::string& path) {
    auto text = util::read_file(path);
    if (!text) return fail(text.error());
    std::string line = *text;
    if (!line.empty() && line.back() == '\n') line.pop_back();
    if (line.find('\n') != std::string::npos) {
        return fail(ErrorKind::BadInput,
                    fmt::format("{}: an exported checkpoint is one line; this file has several",
                                path));
    }
    auto payload = decode_payload(line);
    if (!payload) {
        return fail(ErrorKind::BadInput, fmt::format("{}: not a lethe checkpoint ({})", path,
                                                     payload.error().message()));
    }
    auto type = payload->find("type");
    auto seq = payload->find("seq");
    if (type == payload->end() || *type != "checkpoint" || seq == payload->end() ||
        !seq->is_number_unsigned()) {
        return fail(ErrorKind::BadInput,
                    fmt::format("{}: the certificate in it is not a checkpoint with a seq", path));
    }
    ExportedCheckpoint cp;
    cp.source = path;
    cp.line = std::move(line);
    cp.seq = seq->get<uint64_t>();
    cp.host = payload->value("host", "");
    cp.payload = std::move(*payload);
    return cp;
}

namespace {

std::optional<uint64_t> seq_of(const nlohmann::json& payload) {
    auto it = payload.find("seq");
    if (it == payload.end() || !it->is_number_unsigned()) return std::nullopt;
    return it->get<uint64_t>();
}

// Reads the ledger again (only after a sequence problem was found) to tell a deleted entry
// from a moved or duplicated one.
class Diagnosis {
public:
    explicit Diagnosis(std::string path) : m_path(std::move(path)) {}

    // The bytes of line `n`, if the file has it.
    std::optional<std::string> line_at(uint64_t n) const {
        auto reader = util::LineReader::open(m_path);
        if (!reader) return std::nullopt;
        std::string line;
        bool complete = true;
        for (uint64_t i = 1;; ++i) {
            auto more = reader->next(line, complete);
            if (!more || !*more) return std::nullopt;
            if (i == n) return line;
        }
    }

    // The first line after `after` whose payload has sequence number `seq`.
    std::optional<uint64_t> find_seq(uint64_t seq, uint64_t after) const {
        auto reader = util::LineReader::open(m_path);
        if (!reader) return std::nullopt;
        std::string line;
        bool complete = true;
        for (uint64_t i = 1;; ++i) {
            auto more = reader->next(line, complete);
            if (!more || !*more) return std::nullopt;
            if (i <= after) continue;
            auto payload = decode_payload(line);
            if (payload && seq_of(*payload) == seq) return i;
        }
    }

private:
    std::string m_path;
};

class Verifier {
public:
    Verifier(const std::string& path, const std::vector<VerifyKey>& trusted,
             const std::vector<ExportedCheckpoint>& checkpoints)
        : m_active(trusted), m_known(trusted), m_checkpoints(checkpoints) {
        m_report.path = path;
        m_report.head = kGenesisPrev;
    }

    Result<VerifyReport> run() {
        auto reader = util::LineReader::open(m_report.path);
        if (!reader) return fail(reader.error());
        std::string line;
        bool complete = true;
        for (;;) {
            auto more = reader->next(line, complete);
            if (!more) return fail(more.error());
            if (!*more) break;
            ++m_line_no;
            if (!complete) {
                bad(Finding::Torn,
                    "torn line: the ledger ends without a newline (cut write?); the agent "
                    "moves it aside and records a ledger-repaired entry on its next start");
                return m_report;
            }
            if (!check_line(line)) return m_report;
            accept(line);
        }
        check_exported_checkpoints();
        m_report.merkle_root = util::hex_encode(m_frontier.root());
        return m_report;
    }

private:
    void bad(Finding finding, std::string problem, bool on_line = true) {
        m_report.finding = finding;
        if (on_line) m_report.bad_line = m_line_no;
        m_report.problem = std::move(problem);
    }

    bool check_line(const std::string& line) {
        if (auto fast = Envelope::parse_canonical(line)) return check_envelope(*fast, line);
        auto env = Envelope::parse(line);
        if (!env) {
            bad(Finding::NotEnvelope, env.error().message());
            return false;
        }
        if (env->payload_type != kPayloadType) {
            bad(Finding::NotEnvelope, fmt::format("unexpected payloadType '{}'", env->payload_type));
            return false;
        }
        if (env->to_json() != line) {
            bad(Finding::NotCanonical,
                "the envelope is not in canonical form (its bytes were changed after signing)");
            return false;
        }
        return check_envelope(*env, line);
    }

    // Checks a parsed envelope in canonical form, and the payload it carries.
    bool check_envelope(const Envelope& envelope, const std::string& line) {
        const Envelope* env = &envelope;
        if (env->payload_type != kPayloadType) {
            bad(Finding::NotEnvelope, fmt::format("unexpected payloadType '{}'", env->payload_type));
            return false;
        }
        if (!check_signature(*env)) return false;
        auto payload = nlohmann::json::parse(env->payload, nullptr, false);
        if (payload.is_discarded()) {
            bad(Finding::BadPayload, "the payload is not JSON");
            return false;
        }
        if (auto canonical = canonical_json(payload); !canonical || *canonical != env->payload) {
            bad(Finding::NotCanonical, "the payload is not canonical JSON");
            return false;
        }
        if (!payload.is_object()) {
            bad(Finding::BadPayload, "payload is not a JSON object");
            return false;
        }
        if (!check_sequence(payload, line)) return false;
        auto prev = payload.find("prev");
        if (prev == payload.end() || !prev->is_string() || *prev != m_report.head) {
            bad(Finding::ChainBroken,
                "prev does not match the hash of the previous line (the chain is broken)");
            return false;
        }
        auto type = payload.find("type");
        if (type == payload.end() || !type->is_string()) {
            bad(Finding::BadPayload, "payload has no type");
            return false;
        }
        m_type = type->get<std::string>();
        if (m_type == "checkpoint" && !check_checkpoint(payload)) return false;
        if (m_type == "key-rotated" && !follow_rotation(payload)) return false;
        for (const auto& cp : m_checkpoints) {
            if (cp.seq == m_line_no && cp.line != line) {
                bad(Finding::Rewritten,
                    fmt::format("line {} differs from the exported checkpoint {} (seq {}): the "
                                "ledger was rewritten up to that checkpoint",
                                m_line_no, cp.source, cp.seq));
                return false;
            }
        }
        return true;
    }

    bool check_signature(const Envelope& env) {
        std::string message = pae(env.payload_type, env.payload);
        const DsseSignature* mismatched = nullptr;
        for (const auto& sig : env.signatures) {
            for (const auto& key : m_active) {
                if (key.keyid() != sig.keyid) continue;
                if (checker(key).verify(message, sig.sig)) {
                    m_signer = sig.keyid;
                    return true;
                }
                mismatched = &sig;
            }
        }
        if (mismatched != nullptr) {
            bad(Finding::BadSignature,
                fmt::format("the signature by trusted key {} does not match the line's content "
                            "(the line was altered after signing)",
                            mismatched->keyid));
            return false;
        }
        for (const auto& sig : env.signatures) {
            if (auto it = m_retired.find(sig.keyid); it != m_retired.end()) {
                bad(Finding::RetiredKey,
                    fmt::format("signed by key {}, which was rotated out at line {}",
                                sig.keyid, it->second));
                return false;
            }
        }
        bad(Finding::UntrustedKey,
            fmt::format("no valid signature by a trusted key (signed by keyid {}, which is not "
                        "trusted: re-signed with another key, or signed before a key rotation "
                        "whose earlier key was not given?)",
                        env.signatures.front().keyid));
        return false;
    }

    bool check_sequence(const nlohmann::json& payload, const std::string& line) {
        auto seq = seq_of(payload);
        if (!seq) {
            bad(Finding::BadPayload, "payload has no sequence number (seq)");
            return false;
        }
        uint64_t n = m_line_no;
        if (*seq == n) return true;
        Diagnosis diag(m_report.path);
        if (*seq < n) {
            if (diag.line_at(*seq) == line) {
                bad(Finding::Duplicate,
                    fmt::format("line {} is a duplicate of line {} (seq {} appears twice)", n,
                                *seq, *seq));
            } else {
                bad(Finding::Reordered,
                    fmt::format("line {} holds seq {}, which belongs before it: entries were "
                                "reordered",
                                n, *seq));
            }
            return false;
        }
        if (auto found = diag.find_seq(n, n)) {
            bad(Finding::Reordered,
                fmt::format("line {} holds seq {}, and seq {} is at line {}: entries were "
                            "swapped or moved",
                            n, *seq, n, *found));
        } else if (*seq == n + 1) {
            bad(Finding::Missing,
                fmt::format("line {} holds seq {}: the entry with seq {} was deleted", n, *seq, n));
        } else {
            bad(Finding::Missing, fmt::format("line {} holds seq {}: the entries with seq {} to {} "
                                              "were deleted",
                                              n, *seq, n, *seq - 1));
        }
        return false;
    }

    bool check_checkpoint(const nlohmann::json& payload) {
        auto head = payload.find("head");
        auto entries = payload.find("entries");
        if (head == payload.end() || *head != m_report.head) {
            bad(Finding::BadCheckpoint, "checkpoint head is not the hash of the previous line");
            return false;
        }
        if (entries == payload.end() || !entries->is_number_unsigned() ||
            entries->get<uint64_t>() != m_line_no - 1) {
            bad(Finding::BadCheckpoint,
                fmt::format("checkpoint entries is not {} (the number of lines before it)",
                            m_line_no - 1));
            return false;
        }
        if (auto root = payload.find("merkle_root"); root != payload.end()) {
            if (!root->is_string() || *root != util::hex_encode(m_frontier.root())) {
                bad(Finding::BadCheckpoint,
                    "checkpoint merkle_root is not the Merkle tree hash of the lines before it");
                return false;
            }
        }
        return true;
    }

    bool follow_rotation(const nlohmann::json& payload) {
        auto new_key = payload.find("new_key");
        if (new_key == payload.end() || !new_key->is_object() ||
            !new_key->contains("public_key") || !(*new_key)["public_key"].is_string() ||
            !new_key->contains("keyid") || !(*new_key)["keyid"].is_string()) {
            bad(Finding::BadRotation, "key-rotated entry lacks new_key.public_key or keyid");
            return false;
        }
        auto key = VerifyKey::from_pem((*new_key)["public_key"].get<std::string>(),
                                       fmt::format("line {} new_key", m_line_no));
        if (!key) {
            bad(Finding::BadRotation, key.error().message());
            return false;
        }
        if (key->keyid() != (*new_key)["keyid"]) {
            bad(Finding::BadRotation, "key-rotated entry: new_key.keyid is not the key's keyid");
            return false;
        }
        // Accepted below (accept()), once the whole line has passed.
        m_rotation_to.emplace(std::move(*key));
        return true;
    }

    void accept(const std::string& line) {
        ++m_report.entries;
        ++m_report.by_type[m_type];
        if (std::find(m_report.signers.begin(), m_report.signers.end(), m_signer) ==
            m_report.signers.end()) {
            m_report.signers.push_back(m_signer);
        }
        for (const auto& cp : m_checkpoints) {
            if (cp.seq == m_line_no) ++m_report.checkpoints_matched;
        }
        if (m_rotation_to) {
            std::erase_if(m_active, [&](const VerifyKey& k) { return k.keyid() == m_signer; });
            m_retired[m_signer] = m_line_no;
            m_active.push_back(*m_rotation_to);
            m_known.push_back(*m_rotation_to);
            m_rotation_to.reset();
        }
        m_report.head = util::sha256_hex(line);
        m_frontier.append_line(line);
    }

    void check_exported_checkpoints() {
        for (const auto& cp : m_checkpoints) {
            if (cp.seq <= m_report.entries) continue;
            bool signed_ok = static_cast<bool>(open_envelope(cp.line, m_known));
            bad(Finding::Cut,
                fmt::format("the ledger ends at seq {}, but the exported checkpoint {} was taken "
                            "at seq {}: entries {} to {} were cut from its end{}",
                            m_report.entries, cp.source, cp.seq, m_report.entries + 1, cp.seq,
                            signed_ok ? "" : " (the checkpoint's own signature is not by a "
                                             "trusted key)"),
                false);
            return;
        }
    }

    // One prepared context per key, kept for the whole ledger.
    SignatureChecker& checker(const VerifyKey& key) {
        auto it = m_checkers.find(key.keyid());
        if (it == m_checkers.end()) {
            m_keys_in_use.push_back(std::make_unique<VerifyKey>(key));
            it = m_checkers.emplace(key.keyid(), SignatureChecker(*m_keys_in_use.back())).first;
        }
        return it->second;
    }

    std::vector<std::unique_ptr<VerifyKey>> m_keys_in_use;  // stable addresses for checkers
    std::map<std::string, SignatureChecker> m_checkers;
    std::vector<VerifyKey> m_active;
    std::vector<VerifyKey> m_known;
    std::map<std::string, uint64_t> m_retired;  // keyid → line of the rotation
    const std::vector<ExportedCheckpoint>& m_checkpoints;
    VerifyReport m_report;
    MerkleFrontier m_frontier;
    uint64_t m_line_no = 0;
    std::string m_signer;
    std::string m_type;
    std::optional<VerifyKey> m_rotation_to;
};

}  // namespace

Result<VerifyReport> verify_ledger(const std::string& path, const std::vector<VerifyKey>& trusted,
                                   const std::vector<ExportedCheckpoint>& checkpoints) {
    return Verifier(path, trusted, checkpoints).run();
}

}  // namespace lethe::ledger

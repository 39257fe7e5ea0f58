#include "agent/ledger/entries.hpp"

#include <fmt/format.h>

#include "agent/ledger/dsse.hpp"
#include "agent/ledger/merkle.hpp"
#include "agent/util/encoding.hpp"
#include "agent/util/line_reader.hpp"
#include "agent/util/sha256.hpp"

namespace lethe::ledger {

uint64_t Entry::seq() const {
    if (!payload.is_object()) return 0;
    auto it = payload.find("seq");
    return it != payload.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}

std::string Entry::type() const {
    if (!payload.is_object()) return "";
    auto it = payload.find("type");
    return it != payload.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string Entry::hash() const { return util::sha256_hex(line); }

Status for_each_entry(const std::string& path, const std::function<bool(const Entry&)>& visit) {
    auto reader = util::LineReader::open(path);
    if (!reader) return fail(reader.error());
    Entry entry;
    bool complete = true;
    for (;;) {
        auto more = reader->next(entry.line, complete);
        if (!more) return fail(more.error());
        if (!*more || !complete) return {};
        ++entry.line_no;
        entry.payload = nullptr;
        entry.keyid.clear();
        if (auto env = Envelope::parse(entry.line)) {
            auto payload = nlohmann::json::parse(env->payload, nullptr, false);
            if (payload.is_object()) entry.payload = std::move(payload);
            entry.keyid = env->signatures.front().keyid;
        }
        if (!visit(entry)) return {};
    }
}

nlohmann::json InclusionProof::to_json() const {
    return {{"type", "inclusion-proof"},
            {"seq", seq},
            {"leaf_index", seq - 1},
            {"certificate", certificate},
            {"checkpoint_seq", checkpoint_seq},
            {"checkpoint", checkpoint},
            {"tree_size", tree_size},
            {"merkle_root", merkle_root},
            {"audit_path", audit_path}};
}

Result<InclusionProof> InclusionProof::from_json(const nlohmann::json& j) {
    try {
        InclusionProof p;
        p.seq = j.at("seq").get<uint64_t>();
        p.certificate = j.at("certificate").get<std::string>();
        p.checkpoint_seq = j.at("checkpoint_seq").get<uint64_t>();
        p.checkpoint = j.at("checkpoint").get<std::string>();
        p.tree_size = j.at("tree_size").get<uint64_t>();
        p.merkle_root = j.at("merkle_root").get<std::string>();
        p.audit_path = j.at("audit_path").get<std::vector<std::string>>();
        return p;
    } catch (const nlohmann::json::exception& e) {
        return fail(ErrorKind::BadInput, fmt::format("not an inclusion proof: {}", e.what()));
    }
}

Result<InclusionProof> prove_inclusion(const std::string& path, uint64_t seq,
                                       const std::optional<ExportedCheckpoint>& checkpoint) {
    std::vector<std::string> leaves;
    InclusionProof proof;
    proof.seq = seq;
    bool found_checkpoint = false;
    auto read = for_each_entry(path, [&](const Entry& e) {
        if (e.line_no == seq) proof.certificate = e.line;
        if (checkpoint) {
            if (e.line_no == checkpoint->seq) {
                if (e.line != checkpoint->line) return false;  // reported below
                found_checkpoint = true;
                return false;
            }
        } else if (e.line_no > seq && e.type() == "checkpoint" &&
                   e.payload.contains("merkle_root")) {
            proof.checkpoint = e.line;
            proof.checkpoint_seq = e.line_no;
            found_checkpoint = true;
            return false;
        }
        leaves.push_back(merkle_leaf_hash(e.line));
        return true;
    });
    if (!read) return fail(read.error());
    if (seq == 0 || proof.certificate.empty()) {
        return fail(ErrorKind::BadInput, fmt::format("{} has no certificate with seq {}", path, seq));
    }
    if (checkpoint) {
        if (!found_checkpoint) {
            return fail(ErrorKind::Verification,
                        fmt::format("the ledger does not hold the checkpoint {} at line {} (cut "
                                    "or rewritten: run `lethe certs verify --checkpoint`)",
                                    checkpoint->source, checkpoint->seq));
        }
        if (checkpoint->seq <= seq) {
            return fail(ErrorKind::BadInput,
                        fmt::format("the checkpoint {} (seq {}) was written before certificate "
                                    "{}: it cannot prove it",
                                    checkpoint->source, checkpoint->seq, seq));
        }
        proof.checkpoint = checkpoint->line;
        proof.checkpoint_seq = checkpoint->seq;
    } else if (!found_checkpoint) {
        return fail(ErrorKind::BadInput,
                    fmt::format("no checkpoint with a Merkle root follows certificate {} yet; "
                                "the next pass writes one",
                                seq));
    }
    auto cp = decode_payload(proof.checkpoint);
    if (!cp || !cp->contains("merkle_root") || !(*cp)["merkle_root"].is_string()) {
        return fail(ErrorKind::BadInput, "the checkpoint has no merkle_root");
    }
    proof.tree_size = leaves.size();
    proof.merkle_root = (*cp)["merkle_root"].get<std::string>();
    if (util::hex_encode(merkle_root(leaves)) != proof.merkle_root) {
        return fail(ErrorKind::Verification,
                    "the checkpoint's merkle_root is not the root of the ledger's lines before it "
                    "(the ledger changed: run `lethe certs verify`)");
    }
    for (const auto& h : merkle_inclusion_proof(leaves, seq - 1)) {
        proof.audit_path.push_back(util::hex_encode(h));
    }
    return proof;
}

namespace {

std::optional<std::string> unhex(std::string_view hex) {
    if (hex.size() != 64) return std::nullopt;
    std::string out;
    for (size_t i = 0; i < hex.size(); i += 2) {
        auto digit = [](char c) -> int {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            return -1;
        };
        int hi = digit(hex[i]);
        int lo = digit(hex[i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out.push_back(static_cast<char>(hi * 16 + lo));
    }
    return out;
}

}  // namespace

Status check_inclusion(const InclusionProof& proof, const std::vector<VerifyKey>& trusted) {
    auto cp = open_envelope(proof.checkpoint, trusted);
    if (!cp) return fail(cp.error().with_context("the checkpoint"));
    auto cert = open_envelope(proof.certificate, trusted);
    if (!cert) return fail(cert.error().with_context("the certificate"));
    if (cp->value("type", "") != "checkpoint" || cp->value("seq", uint64_t{0}) != proof.checkpoint_seq ||
        cp->value("entries", uint64_t{0}) != proof.tree_size ||
        cp->value("merkle_root", "") != proof.merkle_root) {
        return fail(ErrorKind::Verification,
                    "the proof's checkpoint_seq, tree_size or merkle_root are not the signed "
                    "checkpoint's");
    }
    if (cert->value("seq", uint64_t{0}) != proof.seq) {
        return fail(ErrorKind::Verification, "the certificate's seq is not the proof's");
    }
    std::vector<std::string> path;
    for (const auto& h : proof.audit_path) {
        auto raw = unhex(h);
        if (!raw) return fail(ErrorKind::Verification, "an audit path hash is not 64 hex digits");
        path.push_back(std::move(*raw));
    }
    auto root = unhex(proof.merkle_root);
    if (!root || proof.seq == 0 ||
        !merkle_verify_inclusion(merkle_leaf_hash(proof.certificate), proof.seq - 1,
                                 proof.tree_size, path, *root)) {
        return fail(ErrorKind::Verification,
                    fmt::format("the audit path does not lead from certificate {} to the "
                                "checkpoint's merkle_root",
                                proof.seq));
    }
    return {};
}

}  // namespace lethe::ledger

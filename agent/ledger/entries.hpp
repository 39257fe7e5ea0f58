#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/ledger/verify.hpp"
#include "agent/util/error.hpp"

namespace lethe::ledger {

// One ledger line as read back, without any signature check: for listing and showing.
// `certs verify` is what checks them. (The NOLINT: as on ExportedCheckpoint in verify.hpp.)
struct Entry {  // NOLINT(bugprone-exception-escape): false positive in nlohmann::json's move
    uint64_t line_no = 0;
    std::string line;       // the envelope, without newline
    nlohmann::json payload;  // decoded; null when the line is not an envelope
    std::string keyid;      // of the first signature, if any

    [[nodiscard]] uint64_t seq() const;       // 0 when the payload has none
    [[nodiscard]] std::string type() const;   // "" when the payload has none
    [[nodiscard]] std::string hash() const;   // hex SHA-256 of the line: the next `prev`
};

// Calls `visit` for each whole line of the ledger in order until it returns false. A torn
// last line is skipped. Fails only when the file cannot be read.
[[nodiscard]] Status for_each_entry(const std::string& path,
                                    const std::function<bool(const Entry&)>& visit);

// An RFC 6962 inclusion proof of one certificate against a checkpoint's Merkle root.
struct InclusionProof {
    uint64_t seq = 0;              // the certificate's sequence number (leaf index seq - 1)
    std::string certificate;       // its ledger line
    uint64_t checkpoint_seq = 0;   // the checkpoint whose merkle_root the proof leads to
    std::string checkpoint;        // the checkpoint's ledger line (signed)
    uint64_t tree_size = 0;        // the checkpoint's `entries`
    std::string merkle_root;       // hex
    std::vector<std::string> audit_path;  // hex, nearest sibling first

    [[nodiscard]] nlohmann::json to_json() const;
    [[nodiscard]] static Result<InclusionProof> from_json(const nlohmann::json& j);
};

// Builds the proof for entry `seq` against `checkpoint` (an exported one) or, when none is
// given, the first checkpoint in the ledger written after the entry. Fails with BadInput
// when there is no such entry or checkpoint, or Verification when the checkpoint's
// merkle_root is not the root of the ledger's lines (the ledger changed).
[[nodiscard]] Result<InclusionProof> prove_inclusion(
    const std::string& path, uint64_t seq, const std::optional<ExportedCheckpoint>& checkpoint);

// Checks a proof without the ledger: the checkpoint is signed by one of `trusted`, its
// `entries` and `merkle_root` are the proof's, and the audit path leads from the
// certificate's leaf hash to that root. The certificate's own signature is checked too.
// Returns a Verification error that says which check failed.
[[nodiscard]] Status check_inclusion(const InclusionProof& proof,
                                     const std::vector<VerifyKey>& trusted);

}  // namespace lethe::ledger

#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/ledger/keys.hpp"
#include "agent/util/error.hpp"

namespace lethe::ledger {

// Why a ledger failed verification. Each tamper case has its own finding, so an auditor
// (and a test) can tell a deleted line from a reordered or duplicated one.
enum class Finding {
    Torn,           // the last line has no newline: a write was cut short
    NotEnvelope,    // the line is not a lethe DSSE envelope
    NotCanonical,   // the envelope or payload is not in canonical form (bytes were changed)
    UntrustedKey,   // signed by a key that is not trusted (re-signed by someone else)
    RetiredKey,     // signed by a key after that key was rotated out
    BadSignature,   // signed by a trusted key, but the signature does not match the bytes
    BadPayload,     // required payload fields are missing or of the wrong type
    Missing,        // entries were deleted: the sequence jumps ahead
    Reordered,      // entries were swapped or moved
    Duplicate,      // an entry appears twice
    ChainBroken,    // `prev` is not the hash of the previous line
    BadCheckpoint,  // a checkpoint entry's head, count or Merkle root is wrong
    BadRotation,    // a key-rotated entry does not name a usable new key
    Cut,            // the ledger ends before an exported checkpoint's sequence number
    Rewritten,      // the ledger's line at an exported checkpoint's sequence differs from it
};

// A short stable name for a finding ("missing", "reordered", ...), printed by the CLI.
std::string_view to_string(Finding finding);

// A checkpoint exported with `lethe certs checkpoint --out`: the checkpoint's ledger line
// (a signed DSSE envelope) kept off the host. It proves what lines 1..seq of the ledger were.
// Its implicit move is noexcept; clang-tidy 14 follows it into nlohmann::json's own noexcept
// move and reports a throw there that cannot escape (llvm/llvm-project#54956).
struct ExportedCheckpoint {  // NOLINT(bugprone-exception-escape): false positive, see above
    std::string source;  // file name, for messages
    std::string line;    // the envelope line, without newline
    uint64_t seq = 0;
    std::string host;
    nlohmann::json payload;
};

// Reads an exported checkpoint file (one envelope line, a final newline optional). Fails
// with BadInput when it is not an envelope whose payload is a checkpoint with a `seq`; the
// signature is checked by verify_ledger against the keys it trusts.
[[nodiscard]] Result<ExportedCheckpoint> load_checkpoint(const std::string& path);

// The outcome of checking one ledger.
struct VerifyReport {
    std::string path;
    uint64_t entries = 0;                     // lines checked and found good
    std::map<std::string, uint64_t> by_type;  // good entries per payload type
    std::string head;                         // hex hash of the last good line (64 zeros if none)
    std::string merkle_root;                  // hex RFC 6962 root over the good lines
    std::vector<std::string> signers;         // keyids that signed good lines, in order of use
    uint64_t checkpoints_matched = 0;         // exported checkpoints found intact in the ledger

    std::optional<Finding> finding;           // set when verification failed
    std::optional<uint64_t> bad_line;         // 1-based line of the first problem, if any
    std::string problem;                      // what is wrong, for people

    [[nodiscard]] bool ok() const { return !finding.has_value(); }
};

// Checks every line of the ledger at `path`: the envelope and its canonical form, a signature
// by a trusted key over the DSSE PAE, the payload's canonical form, `seq` (consecutive from
// 1), the `prev` chain, each checkpoint entry's head, count and Merkle root, and a final
// newline. A key-rotated entry signed by a trusted key makes its new key trusted and retires
// the key that signed it. Each of `checkpoints` must be found byte for byte at its sequence
// number (else Cut or Rewritten). Stops at the first problem. Fails (as opposed to reporting)
// only when the file cannot be read.
[[nodiscard]] Result<VerifyReport> verify_ledger(
    const std::string& path, const std::vector<VerifyKey>& trusted,
    const std::vector<ExportedCheckpoint>& checkpoints = {});

// The decoded, signature-checked payload of one envelope line, signed by one of `trusted`.
[[nodiscard]] Result<nlohmann::json> open_envelope(std::string_view line,
                                                   const std::vector<VerifyKey>& trusted);

// The decoded payload of one envelope line, without any signature check (for listing).
[[nodiscard]] Result<nlohmann::json> decode_payload(std::string_view line);

}  // namespace lethe::ledger

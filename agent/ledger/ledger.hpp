#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/ledger/keys.hpp"
#include "agent/util/error.hpp"
#include "agent/util/fd.hpp"

namespace lethe::ledger {

inline constexpr int kSchemaVersion = 1;
inline const std::string kGenesisPrev(64, '0');

// The append-only, hash-chained ledger of signed certificates (`state_dir/ledger.jsonl`).
// Each line is one DSSE envelope; its payload carries `seq` (1, 2, ...) and `prev`, the
// lowercase hex SHA-256 of the previous line's bytes without its newline (64 zeros for the
// first). One writer at a time: callers hold the state lock. Not thread safe.
class Ledger {
public:
    // Opens the ledger for appending, creating it (mode 0640) if absent, and reads it to
    // find the head. Refuses a ledger whose last line is torn or not an envelope, since a new
    // entry could not be chained to it.
    [[nodiscard]] static Result<Ledger> open(const std::string& path, const SigningKey& key);

    // Canonicalises `payload` (sorted keys, compact, UTF-8), sets `schema`, `seq` and
    // `prev`, signs it, appends the envelope and fsyncs. Durable when it returns; returns
    // the sequence number.
    [[nodiscard]] Result<uint64_t> append(nlohmann::json payload);

    [[nodiscard]] uint64_t last_seq() const { return m_last_seq; }
    [[nodiscard]] const std::string& head() const { return m_head; }
    [[nodiscard]] const std::string& path() const { return m_path; }
    // The payload of the last entry (null when the ledger is empty).
    [[nodiscard]] const nlohmann::json& last_payload() const { return m_last_payload; }

private:
    Ledger(std::string path, UniqueFd fd, const SigningKey& key)
        : m_path(std::move(path)), m_fd(std::move(fd)), m_key(&key) {}
    std::string m_path;
    UniqueFd m_fd;
    const SigningKey* m_key;
    uint64_t m_last_seq = 0;
    std::string m_head = kGenesisPrev;
    nlohmann::json m_last_payload;
};

// The outcome of checking a whole ledger.
struct VerifyReport {
    uint64_t entries = 0;                     // lines checked and found good
    std::map<std::string, uint64_t> by_type;  // good entries per payload type
    std::string head = kGenesisPrev;          // hash of the last good line
    std::optional<uint64_t> bad_line;         // 1-based line number of the first problem
    std::string problem;                      // what is wrong with it

    [[nodiscard]] bool ok() const { return !bad_line.has_value(); }
};

// Checks every line: the envelope, its signature by one of `trusted` (over the DSSE PAE),
// the payload's `seq` (consecutive from 1) and `prev` chain, and a final newline. Stops at
// the first bad line. Fails (as opposed to reporting) only when the file cannot be read.
[[nodiscard]] Result<VerifyReport> verify_ledger(const std::string& path,
                                                 const std::vector<VerifyKey>& trusted);

// The decoded, signature-checked payload of one envelope line.
[[nodiscard]] Result<nlohmann::json> open_envelope(std::string_view line,
                                                   const std::vector<VerifyKey>& trusted);

}  // namespace lethe::ledger

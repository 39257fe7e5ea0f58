#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/ledger/keys.hpp"
#include "agent/ledger/merkle.hpp"
#include "agent/ledger/verify.hpp"
#include "agent/util/error.hpp"
#include "agent/util/fd.hpp"
#include "agent/util/time.hpp"

namespace lethe::ledger {

inline constexpr int kSchemaVersion = 1;
inline const std::string kGenesisPrev(64, '0');

// How the ledger stamps entries it writes on its own (ledger-repaired).
struct LedgerClock {
    std::optional<util::TimePoint> now;  // the real clock when empty
    bool injected = false;               // a test build's injected time: stated in the entry
};

// What Ledger::open did to a torn last line.
struct Repair {
    uint64_t line = 0;       // the torn line's number
    uint64_t offset = 0;     // where it began; the ledger was cut back to this size
    uint64_t bytes = 0;      // how many bytes were moved aside
    std::string saved_as;    // the file in the ledger's folder that holds them
    uint64_t seq = 0;        // the ledger-repaired entry that records it
};

// The append-only, hash-chained ledger of signed certificates (`state_dir/ledger.jsonl`).
// Each line is one DSSE envelope; its payload carries `seq` (1, 2, ...) and `prev`, the
// lowercase hex SHA-256 of the previous line's bytes without its newline (64 zeros for the
// first).
//
// Several processes may append: a running pass, and `lethe hold` / `lethe review`, which
// record each change before they exit. Every append, and open(), holds an flock on
// `<ledger>.lock` beside the ledger only for the write; on taking it an appender first reads
// what others appended since it last looked (catch-up), so its `seq` and `prev` follow
// the true head, and a torn line another appender left is repaired there. A pass's group
// commit is still one write and one fsync per group. One object is not thread safe.
class Ledger {
public:
    // Opens the ledger for appending, creating it (mode 0640) if absent, and reads it to
    // find the head and the Merkle tree's edge.
    //
    // A torn last line (no newline: a write cut short by a crash, never acknowledged since
    // each append is fsynced before it returns) is repaired: its bytes are saved, durably,
    // to `ledger.torn-<line>-<random>` beside the ledger, the ledger is cut back to the end
    // of the last whole line, and a signed `ledger-repaired` entry recording what was cut is
    // appended. Refuses (Refused) a ledger whose last whole line is not an envelope, and one
    // whose last entry was signed by another key than `key`, unless that entry rotated the
    // signing key to `key`.
    [[nodiscard]] static Result<Ledger> open(const std::string& path, const SigningKey& key,
                                             const LedgerClock& clock = {});

    // Sets `schema`, `seq` and `prev`, writes `payload` in canonical JSON (sorted keys,
    // compact, integers only, UTF-8; a float or invalid UTF-8 is refused), signs it, appends
    // the envelope and fsyncs. Durable when it returns; returns the sequence number.
    [[nodiscard]] Result<uint64_t> append(nlohmann::json payload);

    // Appends several entries with one write and one fsync (group commit), for many small
    // disposals. All or none are appended; durable when it returns; returns the last seq.
    [[nodiscard]] Result<uint64_t> append_batch(std::vector<nlohmann::json> payloads);

    // Appends a checkpoint: `payload` gets tree_head() of the ledger as it is under the lock
    // (another process may have appended since this object last looked), so the checkpoint
    // always describes the lines right before it.
    [[nodiscard]] Result<uint64_t> append_checkpoint(nlohmann::json payload);

    [[nodiscard]] uint64_t last_seq() const { return m_last_seq; }
    [[nodiscard]] const std::string& head() const { return m_head; }
    [[nodiscard]] const std::string& path() const { return m_path; }
    // The payload of the last entry (null when the ledger is empty).
    [[nodiscard]] const nlohmann::json& last_payload() const { return m_last_payload; }
    // Hex RFC 6962 Merkle tree hash over every line so far.
    [[nodiscard]] std::string merkle_root() const;
    // The fields a checkpoint entry carries about the ledger before it: `entries` (lines so
    // far), `head` (hash of the last line) and `merkle_root`.
    [[nodiscard]] nlohmann::json tree_head() const;
    // Set when open() (or a catch-up) repaired a torn last line.
    [[nodiscard]] const std::optional<Repair>& repair() const { return m_repair; }

    // The lock file of the ledger at `path` (`<path>.lock`).
    [[nodiscard]] static std::string lock_path(const std::string& path);

private:
    Ledger(std::string path, UniqueFd fd, const SigningKey& key, LedgerClock clock)
        : m_path(std::move(path)), m_fd(std::move(fd)), m_key(&key),
          m_signer(std::make_unique<SigningContext>(key)), m_clock(clock) {}
    [[nodiscard]] Result<UniqueFd> lock() const;
    // Reads the lines appended after m_size (by anyone) into the head and Merkle edge. The
    // caller holds the lock.
    Status catch_up();
    Status take_last_line(const std::string& last, uint64_t line_no);
    [[nodiscard]] Result<uint64_t> append_locked(std::vector<nlohmann::json> payloads);
    Status repair_torn(std::string_view torn, uint64_t line, uint64_t offset);

    std::string m_path;
    UniqueFd m_fd;
    const SigningKey* m_key;
    std::unique_ptr<SigningContext> m_signer;
    LedgerClock m_clock;
    uint64_t m_size = 0;  // bytes of whole lines
    uint64_t m_lines = 0;  // whole lines
    uint64_t m_last_seq = 0;
    std::string m_head = kGenesisPrev;
    nlohmann::json m_last_payload;
    MerkleFrontier m_frontier;
    std::optional<Repair> m_repair;
};

// This host's name, as entries record it.
std::string host_name();

}  // namespace lethe::ledger

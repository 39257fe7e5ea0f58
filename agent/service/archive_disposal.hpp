#pragma once

// Disposal of whole archives that lethe wrote: when every archived copy in one has expired
// (the pass) or when a client's erasure request reaches it (`lethe erase`).
//
// An archive is disposed of like a file: its intent is recorded durably first
// (`state_dir/archive-intent.json`), the archive file is checked to be the one indexed
// (device and inode stable, SHA-256 equal to the index), sanitized through act/ (overwrite,
// read-back, rename, fsync), certified in the ledger ("archive-disposal", listing its
// members), unlinked, and only then marked disposed in the archive index. A pass that was
// interrupted completes the disposal and certifies it (recover()).
//
// Stopping (SIGTERM): the hash, the overwrite and the read-back of an archive check the
// stop token between two 4 MiB blocks. Stopped while hashing, nothing has changed and no
// intent is recorded; stopped later, the archive stays under its name, partly overwritten,
// indexed and uncertified, and its intent record stays, so the next pass overwrites it again
// from the start, verifies it and certifies it (recover()).

#include <atomic>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "agent/ledger/ledger.hpp"
#include "agent/policy/config.hpp"
#include "agent/policy/local_today.hpp"
#include "agent/policy/schedule.hpp"
#include "agent/service/archive_index.hpp"
#include "agent/service/holds.hpp"
#include "agent/util/error.hpp"
#include "agent/util/stop.hpp"
#include "agent/util/time.hpp"

namespace lethe::service {

// Why an archive is disposed of, for its certificate and the index.
struct ArchiveDisposalReason {
    std::string reason;    // "expired" or "erasure request"
    nlohmann::json extra;  // added to the certificate payload (e.g. "request"), or null
    std::optional<std::string> request;  // the erasure request's reference
};

// Sanitizes indexed archives and certifies them. The caller holds the pass lock and owns
// the ledger and `stop` (may be null: never stops), which must outlive this object. Not
// thread safe.
class ArchiveDisposer {
  public:
    ArchiveDisposer(const policy::AgentConfig& config, ledger::Ledger& ledger, util::TimePoint now,
                    bool injected_time, const util::StopToken* stop = nullptr)
        : m_config(config), m_ledger(ledger), m_now(now), m_injected(injected_time),
          m_stop(stop) {}

    // Completes an archive disposal an earlier process was interrupted in, if any. Returns
    // whether there was one. Fails (Refused) on an unreadable intent record; stopped on
    // request (ErrorKind::Stopped), its intent record stays for the next pass.
    [[nodiscard]] Result<bool> recover();

    // Disposes of `archive`: returns the certificate's sequence number. Refuses
    // (ErrorKind::Refused, nothing changed) an archive file that is missing, not the one
    // indexed (changed content or identity), hard-linked, or in use. A failed read-back
    // (ErrorKind::Verification) leaves it in place, uncertified. Stopped on request
    // (ErrorKind::Stopped), it is left uncertified and, once its overwrite began, with its
    // intent record, which recover() completes.
    [[nodiscard]] Result<uint64_t> dispose(const IndexedArchive& archive,
                                           const ArchiveDisposalReason& why,
                                           const nlohmann::json& holds_checked);

  private:
    [[nodiscard]] std::string intent_path() const;
    [[nodiscard]] Status clear_intent();

    const policy::AgentConfig& m_config;
    ledger::Ledger& m_ledger;
    util::TimePoint m_now;
    bool m_injected;
    const util::StopToken* m_stop;
};

// What the pass's archive-expiry step did.
struct ArchiveExpirySummary {
    uint64_t disposed = 0;   // archives sanitized and certified
    uint64_t held = 0;       // archives whose members have all expired but a hold keeps
    uint64_t kept = 0;       // expired but kept for another reason (observe mode, schedule gone)
    uint64_t failed = 0;     // refused or failed: left in place
    uint64_t first_seq = 0;  // first certificate appended, 0 if none
    bool stopped = false;    // asked to stop before every expired archive was handled
};

// The archive-expiry step of a pass: every archive in the index (limited to `root` when
// given) whose members have all expired, each on today in its own schedule's zone (UTC for
// a schedule no longer loaded), none of them held, and all of whose
// members' schedules are loaded and in enforce mode, is disposed of with reason "expired".
// Fails (and disposes of nothing) when the index or the hold store cannot be read, and
// refuses (Refused) when more archived copies expired than max_disposals_per_pass, unless
// `confirmed_large` is given (`lethe run --confirm-large`): then the step goes on, logs the
// numbers and appends them to it (for the pass's checkpoint).
// `stop` (may be null) is checked before each archive; when it is set, or the disposer was
// stopped in the middle of one archive, the step ends with `stopped` (not an error).
[[nodiscard]] Result<ArchiveExpirySummary> expire_archives(
    const policy::AgentConfig& config, const std::vector<policy::RetentionSchedule>& schedules,
    ArchiveDisposer& disposer, HoldWatch& holds, const policy::LocalToday& today,
    const std::optional<std::string>& root, const std::atomic<bool>* stop = nullptr,
    std::vector<std::string>* confirmed_large = nullptr);

// The certificate's description of an archive and its members.
[[nodiscard]] nlohmann::json archive_subject(const IndexedArchive& archive);

}  // namespace lethe::service

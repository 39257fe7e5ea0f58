#include "agent/service/pass.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "agent/act/disposal.hpp"
#include "agent/act/disposal_folder.hpp"
#include "agent/act/encrypt.hpp"
#include "agent/act/disposal_folder.hpp"
#include "agent/act/unmoved.hpp"
#include "agent/service/encrypted_index.hpp"
#include "agent/service/archive_disposal.hpp"
#include "agent/service/archive_stage.hpp"
#include "agent/service/archived_sources.hpp"
#include "agent/service/erase.hpp"
#include "agent/ledger/ledger.hpp"
#include "agent/scan/file_facts.hpp"
#include "agent/scan/walker.hpp"
#include "agent/service/failed_store.hpp"
#include "agent/service/holds.hpp"
#include "agent/service/journal.hpp"
#include "agent/service/plan.hpp"
#include "agent/service/review_stage.hpp"
#include "agent/service/state_check.hpp"
#include "agent/service/state.hpp"
#include "agent/service/test_hooks.hpp"
#include "agent/util/encoding.hpp"
#include "agent/util/fault.hpp"
#include "agent/util/fs.hpp"
#include "agent/util/line_reader.hpp"
#include "agent/util/log.hpp"
#include "agent/util/plural.hpp"

namespace lethe::service {

namespace {

std::string host_name() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
    return buf;
}

// The record of a disposal about to happen, fsynced before anything is destroyed, so an
// interrupted pass can be completed and certified by the next one.
struct Intent {
    std::string id;
    PlanEntry entry;
    act::DisposalRecord prepared;  // hash and filesystem limits found before destruction
    std::string temp_name;
    nlohmann::json extra;  // method fields of archive/encrypt (where the copy is), or null
    // The ledger's last sequence number when the intent was recorded: its certificate, if
    // one was written, comes after it. 0 in records of older versions (search everything).
    uint64_t after_seq = 0;
    nlohmann::json request = nullptr;  // the erasure request it belongs to, or null
    // Set when the overwrite's read-back failed: when, where, and the message. The file was
    // left in place; the next pass overwrites it once more, says so, and gives up (and says
    // so) if that fails too.
    nlohmann::json verification_failed = nullptr;
    bool verify = true;  // whether the overwrite is read back ([sanitize] verify)
    // A large file's hash is taken while it is overwritten (act::ContentHash::Overlap): its
    // `sha256` is then empty until the last durable checkpoint holds the digest. The latest
    // checkpoint ({"bytes", "state"} or {"bytes", "sha256"}), or null.
    nlohmann::json hash_checkpoint = nullptr;
    // lethe's disposal folder (below the root) the file is moved into as `temp_name` before
    // anything is destroyed; "" in records of older versions, which renamed it in its folder.
    std::string disposal_folder{};

    // The checkpoint to finish the hash from (nothing hashed yet when there is none).
    [[nodiscard]] act::HashCheckpoint checkpoint() const {
        act::HashCheckpoint c;
        if (hash_checkpoint.is_object()) {
            c.bytes = hash_checkpoint.value("bytes", uint64_t{0});
            c.state = hash_checkpoint.value("state", "");
            c.sha256 = hash_checkpoint.value("sha256", "");
        }
        return c;
    }
    // Takes a checkpoint recorded for this intent; one holding the digest completes the hash.
    void take(const nlohmann::json& checkpoint) {
        hash_checkpoint = checkpoint;
        hash_checkpoint.erase("intent");
        if (auto sha = checkpoint.value("sha256", ""); !sha.empty()) prepared.sha256_before = sha;
    }

    [[nodiscard]] nlohmann::json to_json() const {
        nlohmann::json j = {{"id", id},
                {"entry", entry.to_json()},
                {"sha256", prepared.sha256_before},
                {"size", prepared.size},
                {"filesystem", prepared.filesystem},
                {"residual_risks", prepared.residual_risks},
                {"handling", prepared.handling},
                {"temp_name", temp_name},
                {"after_seq", after_seq}};
        if (!disposal_folder.empty()) j["disposal_folder"] = disposal_folder;
        if (!extra.is_null()) j["method_extra"] = extra;
        if (!request.is_null()) j["request"] = request;
        if (!verification_failed.is_null()) j["verification_failed"] = verification_failed;
        if (!verify) j["verify"] = false;
        if (!hash_checkpoint.is_null()) j["hash_checkpoint"] = hash_checkpoint;
        return j;
    }
    [[nodiscard]] static Result<Intent> from_json(const nlohmann::json& j) {
        try {
            Intent in;
            in.id = j.at("id").get<std::string>();
            auto entry = PlanEntry::from_json(j.at("entry"));
            if (!entry) return fail(entry.error());
            in.entry = std::move(*entry);
            in.prepared.sha256_before = j.at("sha256").get<std::string>();
            in.prepared.size = j.at("size").get<uint64_t>();
            in.prepared.filesystem = j.at("filesystem").get<std::string>();
            in.prepared.residual_risks = j.at("residual_risks").get<std::vector<std::string>>();
            in.temp_name = j.at("temp_name").get<std::string>();
            in.disposal_folder = j.value("disposal_folder", "");
            in.prepared.handling = j.value("handling", std::vector<std::string>{});
            if (j.contains("method_extra")) in.extra = j.at("method_extra");
            in.after_seq = j.value("after_seq", uint64_t{0});
            if (j.contains("request")) in.request = j.at("request");
            in.verify = j.value("verify", true);
            if (j.contains("verification_failed")) {
                in.verification_failed = j.at("verification_failed");
            }
            if (j.contains("hash_checkpoint")) in.take(j.at("hash_checkpoint"));
            return in;
        } catch (const nlohmann::json::exception& e) {
            return fail(ErrorKind::BadInput, fmt::format("intent record: {}", e.what()));
        }
    }
};

// Stated in every certificate, so that nobody reads more into it than was done.
constexpr const char* kMethodScope =
    "file-level disposal through the filesystem; not a NIST SP 800-88 Clear or Purge of the "
    "storage medium";

// Archived files are removed by overwriting them too; only `delete` merely unlinks.
bool overwrites(policy::Action action) { return action != policy::Action::Delete; }

// The disposal folder a moved file is in, held open (a descriptor of its own) until its
// disposal is finished; null when the file was not moved.
std::shared_ptr<const UniqueFd> held_folder(const act::PreparedFile& file) {
    if (!file.detached()) return nullptr;
    auto fd = std::make_shared<UniqueFd>(::fcntl(file.folder_fd(), F_DUPFD_CLOEXEC, 0));
    if (!*fd) return nullptr;  // finished by its path, as before
    return fd;
}

nlohmann::json disposal_payload(const PlanEntry& e, const act::DisposalRecord& rec,
                                const RunOptions& options, const std::string& intent_id,
                                const nlohmann::json& extra) {
    nlohmann::json method = {{"kind", rec.method},
                             {"passes", rec.passes},
                             {"pattern", rec.pattern},
                             {"verified", rec.verified},
                             {"read_back", rec.read_back},
                             {"filesystem", rec.filesystem},
                             {"residual_risks", rec.residual_risks},
                             {"scope", kMethodScope}};
    if (!rec.handling.empty()) method["handling"] = rec.handling;
    if (rec.links_after_overwrite > 0) {
        method["links_after_overwrite"] = {{"count", rec.links_after_overwrite},
                                           {"found", rec.other_links}};
    }
    if (extra.is_object()) {
        for (const auto& [k, v] : extra.items()) method[k] = v;
    }
    nlohmann::json p = {
        {"type", "disposal"},
        {"time", util::format_timestamp(options.now)},
        {"host", host_name()},
        {"agent", fmt::format("lethe {}", LETHE_VERSION)},
        {"root", e.root},
        {"subject",
         {{"size", rec.size},
          {"inode", e.facts.inode},
          {"device", e.facts.device},
          {"mtime", util::format_timestamp(e.facts.mtime, true)},
          {"sha256", rec.sha256_before}}},
        {"schedule",
         {{"id", e.schedule_id}, {"version", e.schedule_version}, {"sha256", e.schedule_sha256}}},
        {"category", e.category},
        {"trigger", "modified"},
        {"trigger_date", util::format_date(e.trigger_date)},
        {"expires", e.expires ? util::format_date(*e.expires) : "permanent"},
        {"action", std::string(policy::to_string(e.action))},
        {"method", method},
        {"intent", intent_id},
    };
    put_path(p, e.facts.path);
    if (!e.mandate.empty()) p["mandate"] = e.mandate;
    if (e.client) p["client"] = *e.client;
    if (e.matter) p["matter"] = *e.matter;
    if (!e.review.is_null()) p["review"] = e.review;  // the approval of a reviewed file
    if (options.injected_time) p["clock"] = "injected (test build)";
    return p;
}

// "20261125T225700Z-1a2b": when the pass ran, unique per pass; names its archives.
std::string pass_id(util::TimePoint now) {
    std::string id;
    for (char c : util::format_timestamp(now)) {
        if (c != '-' && c != ':') id += c;
    }
    return id + "-" + util::random_suffix(2);
}

// The `intent` ids of the disposal certificates after sequence number `after_seq`, read
// from the end of the ledger backwards: the certificates an interrupted pass wrote for the
// intents it left. Lines that do not parse are passed over (the ledger was opened, so its
// tail is whole; `lethe certs verify` judges the rest).
Result<std::set<std::string>> intents_certified_after(const std::string& ledger_path,
                                                      uint64_t after_seq) {
    std::set<std::string> ids;
    UniqueFd fd(::open(ledger_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) return fail(errno_error(fmt::format("open {}", ledger_path), errno));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        return fail(errno_error(fmt::format("stat {}", ledger_path), errno));
    }
    const auto size = static_cast<uint64_t>(st.st_size);
    for (uint64_t tail = uint64_t{1} << 20;; tail *= 4) {
        uint64_t start = size > tail ? size - tail : 0;
        std::string buf(static_cast<size_t>(size - start), '\0');
        size_t got = 0;
        while (got < buf.size()) {
            ssize_t n = ::pread(fd.get(), buf.data() + got, buf.size() - got,
                                static_cast<off_t>(start + got));
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return fail(errno_error(fmt::format("read {}", ledger_path), errno));
            if (n == 0) break;
            got += static_cast<size_t>(n);
        }
        buf.resize(got);
        size_t pos = 0;
        if (start > 0) pos = buf.find('\n') == std::string::npos ? buf.size() : buf.find('\n') + 1;
        bool reached = start == 0;
        while (pos < buf.size()) {
            size_t end = buf.find('\n', pos);
            if (end == std::string::npos) end = buf.size();
            auto env = nlohmann::json::parse(buf.begin() + static_cast<std::ptrdiff_t>(pos),
                                             buf.begin() + static_cast<std::ptrdiff_t>(end),
                                             nullptr, false);
            pos = end + 1;
            if (!env.is_object() || !env.contains("payload") || !env["payload"].is_string()) {
                continue;
            }
            auto raw = util::base64_decode(env["payload"].get<std::string>());
            if (!raw) continue;
            auto payload = nlohmann::json::parse(*raw, nullptr, false);
            if (!payload.is_object()) continue;
            uint64_t seq = payload.value("seq", uint64_t{0});
            if (seq <= after_seq) {
                reached = true;
                continue;
            }
            if (payload.value("type", "") == "disposal" && payload.contains("intent") &&
                payload["intent"].is_string()) {
                ids.insert(payload["intent"].get<std::string>());
            }
        }
        if (reached) return ids;
        ids.clear();
    }
}

// Certificates are appended in groups (one write, one fsync) of at most this many files or
// bytes; every intent of a group stays recorded until the group is in the ledger.
constexpr size_t kBatchFiles = 64;
constexpr uint64_t kBatchBytes = uint64_t{64} << 20;
// A file of a group at least this large stops between two blocks on SIGTERM; smaller ones
// are finished once their group has begun.
constexpr uint64_t kInterruptibleBytes = uint64_t{16} << 20;

// The state index's record of `copy`, the encrypted copy of `entry` made by intent `id`.
EncryptedEntry encrypted_entry(const PlanEntry& entry, const act::EncryptedCopy& copy,
                               const std::string& id, util::Date made, util::TimePoint now) {
    EncryptedEntry e;
    e.root = entry.root;
    e.path = entry.facts.path + ".age";
    e.copy.device = copy.device;
    e.copy.inode = copy.inode;
    e.copy.size = copy.bytes;
    e.copy.mtime = copy.mtime;
    e.copy.category = entry.category;
    e.copy.schedule = entry.schedule_id;
    e.copy.trigger_date = entry.trigger_date;
    e.copy.expires = entry.expires;
    e.copy.encrypted = made;
    e.copy.client = entry.client;
    e.copy.matter = entry.matter;
    e.time = util::format_timestamp(now);
    e.intent = id;
    return e;
}

class Pass {
public:
    Pass(const policy::AgentConfig& config, const std::vector<policy::RetentionSchedule>& schedules,
         const RunOptions& options, ledger::Ledger& ledger)
        : m_config(config),
          m_schedules(schedules),
          m_options(options),
          m_ledger(ledger),
          m_archives(config, pass_id(options.now), policy::LocalToday(schedules, options.now)),
          m_holds(config.state_dir),
          m_disposer(config, ledger, options.now, options.injected_time, &m_stop_token),
          m_review(config.state_dir, policy::LocalToday(schedules, options.now), options.root),
          m_archived(config.state_dir, &m_stop_token),
          m_stop_token(options.interrupt, options.on_block),
          m_block_token(nullptr, options.on_block) {}

    Result<RunSummary> run();

private:
    Result<RunSummary> run_steps();
    Result<RunSummary> finish();
    Result<RunSummary> run_erasure();
    Status write_erasure_plan(const ErasureRequest& request, const HoldSet& holds);
    Result<uint64_t> write_checkpoint();
    // Tells the caller about an item of the erasure; the summary certificate lists those kept.
    void report(const ErasureItem& item) {
        if (item.outcome == ErasureItem::Outcome::Kept ||
            item.outcome == ErasureItem::Outcome::Failed) {
            m_erasure_kept.push_back(item.to_json());
        }
        if (m_options.erasure != nullptr && m_options.erasure->on_item) m_options.erasure->on_item(item);
    }
    std::string intent_path() const { return m_config.state_dir + "/intent.json"; }
    std::string plan_path() const { return m_config.state_dir + "/plan.jsonl"; }

    Result<int> root_fd(const std::string& name);
    Status recover();
    Status write_plan(PlanSummary& summary);
    Status check_guards(const PlanSummary& summary);
    Status act_on(const PlanEntry& entry, const nlohmann::json& extra = nullptr,
                  const std::string& archived_sha256 = "", bool* changed_since_archived = nullptr);
    Status archive_or_dispose(PlanEntry entry);
    Result<nlohmann::json> encrypt_copy(const act::PreparedFile& file, const PlanEntry& entry,
                                        const std::string& intent_id, const std::string& temp);
    [[nodiscard]] const policy::Category* category_of(const PlanEntry& entry) const;
    Status expire_archives_step();
    Result<bool> held_now(const PlanEntry& entry);
    Status write_intents();
    Status record_intents(std::vector<Intent> intents);
    Status append_intent_lines(const std::string& lines);
    Status record_hash_checkpoint(const std::string& id, const act::HashCheckpoint& checkpoint);
    Status finish_interrupted_hash(Intent& intent, int root, bool detached);
    Status finish_hash_of(Intent& intent, const act::PreparedFile& file);
    Status flush_staged();
    Status drop_intent(const std::string& id);
    Status mark_verification_failed(const std::string& id,
                                    const std::optional<act::ReadBackMismatch>& mismatch,
                                    const std::string& message);
    Status recover_one(Intent& intent, const std::set<std::string>& certified);
    Result<bool> keep_if_held(const Intent& intent, int root, bool detached);
    Result<bool> roll_back_unmoved(const Intent& intent, int root);
    Status resolve_failed(const Intent& intent, const std::string& reason,
                          nlohmann::json detail = nlohmann::json::object());
    Status not_detached(const PlanEntry& entry, const std::string& id, const Error& error);
    Result<std::string> put_back(const PlanEntry& entry, const std::string& folder,
                                 const std::string& temp_name);
    void note_links(const PlanEntry& entry, act::DisposalRecord& rec);
    void count_recovered(const PlanEntry& entry);
    [[nodiscard]] nlohmann::json certificate_payload(const PlanEntry& entry,
                                                     const act::DisposalRecord& rec,
                                                     const std::string& id,
                                                     const nlohmann::json& extra) const;
    Status certify(const PlanEntry& entry, const act::DisposalRecord& rec, const std::string& id,
                   const nlohmann::json& extra = nullptr);
    Status commit_certificates();
    [[nodiscard]] act::SanitizeOptions sanitize_options() const {
        return {m_config.sanitize_passes, m_config.sanitize_final_zero, true, &m_stop_token,
                m_config.sanitize_verify};
    }
    Status finish_sanitize(int root, const PlanEntry& entry, const std::string& folder,
                           const std::string& temp_name, bool sync = true);
    template <typename Group>
    Status sync_folders(const Group& group);

    const policy::AgentConfig& m_config;
    const std::vector<policy::RetentionSchedule>& m_schedules;
    const RunOptions& m_options;
    ledger::Ledger& m_ledger;
    std::map<std::string, UniqueFd> m_roots;
    RunSummary m_summary;
    ArchiveStage m_archives;
    HoldWatch m_holds;
    ArchiveDisposer m_disposer;
    ReviewStage m_review;
    ArchivedSources m_archived;  // sources an earlier pass archived but did not dispose of
    bool m_walked = false;           // the walk that plans the pass is complete
    nlohmann::json m_holds_checked;  // the store version checked before the current file
    std::vector<std::string> m_guards_overridden;  // guards --confirm-large let this pass exceed
    util::StopToken m_stop_token;    // between blocks of a long file
    util::StopToken m_block_token;   // reports blocks, never stops

    // A disposal done whose certificate waits for the group commit. Its intent is in
    // m_intents (and intent.json) until the certificate is in the ledger.
    struct Pending {
        PlanEntry entry;
        nlohmann::json payload;
        std::string intent_id;
        std::string temp_name;
        std::string folder;  // the disposal folder it is in, or "" (its own folder)
        uint64_t size = 0;
        // That folder, held open since the file was moved into it: finished through it
        // wherever the folder is now (finish_held). Null for a file in its own folder.
        std::shared_ptr<const UniqueFd> folder_fd;
    };
    Status finish_held(const Pending& pending);
    Status report_moved_folders(const std::vector<Pending>& group);
    std::set<std::string> m_moved_folders;  // disposal folders found moved, reported once
    std::vector<Intent> m_intents;  // what intent.json holds
    std::vector<Pending> m_pending;
    // A file to sanitize, prepared (opened, checked, hashed) but not yet touched and without
    // an intent: flush_staged() records the intents of a group with one sync, then
    // overwrites, syncs, verifies and certifies the group.
    struct Staged {
        PlanEntry entry;
        act::PreparedFile file;
        nlohmann::json extra;
        Intent intent;
        nlohmann::json holds_checked = nullptr;
    };
    std::vector<Staged> m_staged;
    uint64_t m_staged_bytes = 0;
    uint64_t m_pending_bytes = 0;
    nlohmann::json m_request = nullptr;  // erasure: the request every certificate carries
    std::vector<nlohmann::json> m_erasure_kept;  // erasure: items kept or failed, for its summary
    std::set<std::string> m_unusable_folders;    // "root/path" of each one already reported
    void kept_without_folder(const PlanEntry& entry, const EventFields& fields,
                             const act::UnusableFolder& unusable, const Error& error);
};

// A due file kept because the disposal folder of its filesystem cannot be used (one that
// lethe did not make, or cannot create or open): a failure of the pass (exit 1), said once
// per folder with its path and what to do, and once per file kept. A refusal before the
// folder was reached is a skip, as before.
void Pass::kept_without_folder(const PlanEntry& entry, const EventFields& fields,
                               const act::UnusableFolder& unusable, const Error& error) {
    const std::string shown = fmt::format("{}/{}", entry.root, util::utf8_display(entry.facts.path));
    if (unusable.path.empty()) {
        // Not the folder itself (the file's folders changed meanwhile): skipped as any change.
        m_summary.skip("changed_or_in_use");
        log_event(util::LogLevel::Warning, Event::Skipped, fields,
                  fmt::format("skipped {}: {}", shown, error.message()));
        return;
    }
    ++m_summary.failed;
    const policy::RootConfig* root = m_config.find_root(entry.root);
    std::string base = root == nullptr ? entry.root : root->path;
    if (!base.empty() && base.back() != '/') base += '/';
    const std::string where = util::utf8_display(base + unusable.path);
    if (m_unusable_folders.insert(entry.root + "/" + unusable.path).second) {
        EventFields folder;
        folder.root = entry.root;
        folder.path = util::utf8_display(unusable.path);
        log_event(util::LogLevel::Warning, Event::Error, folder,
                  fmt::format("disposals in {} skipped: {} at {} {}; no due file on its "
                              "filesystem is disposed of{}",
                              entry.root, act::kDisposalFolder, where, unusable.why,
                              unusable.foreign
                                  ? " (its files are planned and kept like any other): move "
                                    "what is in it elsewhere and remove it; lethe then creates "
                                    "its own"
                                  : " until lethe can create it"));
    }
    log_event(util::LogLevel::Warning, Event::Skipped, fields,
              fmt::format("kept {}: {} at {} cannot be used", shown, act::kDisposalFolder, where));
}

Result<int> Pass::root_fd(const std::string& name) {
    if (auto it = m_roots.find(name); it != m_roots.end()) return it->second.get();
    const policy::RootConfig* root = m_config.find_root(name);
    if (root == nullptr) {
        return fail(ErrorKind::BadInput, fmt::format("root '{}' is no longer in the config", name));
    }
    auto fd = scan::open_root(root->path);
    if (!fd) return fail(fd.error());
    int raw = fd->get();
    m_roots.emplace(name, std::move(*fd));
    return raw;
}

// Replaces intent.json durably with the open intents, or removes it when there are none.
Status Pass::write_intents() {
    if (m_intents.empty()) {
        if (::unlink(intent_path().c_str()) != 0 && errno != ENOENT) {
            return fail(errno_error(fmt::format("remove {}", intent_path()), errno));
        }
        return util::fsync_dir(m_config.state_dir);
    }
    std::string lines;
    for (const auto& in : m_intents) lines += in.to_json().dump() + "\n";
    if (auto st = util::write_file_atomic(intent_path(), lines, 0600); !st) {
        return fail(st.error().with_context("intent record"));
    }
    return {};
}

// Appends intents to intent.json (one JSON object per line) and makes them durable with one
// write and one fdatasync (and the folder's fsync when the file is new), however many there
// are: a group of files gets its intents recorded together before any of them is touched.
// The rewrites (write_intents) that drop or mark intents stay atomic.
Status Pass::record_intents(std::vector<Intent> intents) {
    std::string lines;
    for (auto& intent : intents) {
        lines += intent.to_json().dump() + "\n";
        m_intents.push_back(std::move(intent));
    }
    return append_intent_lines(lines);
}

// Appends a checkpoint of the hash of a file being overwritten to intent.json, durable
// (fdatasync) before the overwrite goes past it: {"hash_checkpoint": {"intent": ID, "bytes":
// K, "state": MIDSTATE}} or, once the whole file is hashed, {..., "sha256": DIGEST}. Fails
// closed: when it cannot be written, the overwrite writes nothing more. Called on the
// overwrite's hashing thread while the pass's own thread waits inside act::overwrite(), so
// nothing else touches m_intents or intent.json meanwhile.
Status Pass::record_hash_checkpoint(const std::string& id, const act::HashCheckpoint& checkpoint) {
#ifdef LETHE_TEST_HOOKS
    // Test-only: LETHE_TEST_CHECKPOINT_ENOSPC=<n> fails the n-th checkpoint as a full disk would.
    static int checkpoints = 0;
    if (const char* n = std::getenv("LETHE_TEST_CHECKPOINT_ENOSPC");
        n != nullptr && ++checkpoints == std::atoi(n)) {
        return fail(errno_error(fmt::format("write {}", intent_path()), ENOSPC)
                        .with_context("intent record"));
    }
#endif
    nlohmann::json point = {{"intent", id}, {"bytes", checkpoint.bytes}};
    if (checkpoint.sha256.empty()) {
        point["state"] = checkpoint.state;
    } else {
        point["sha256"] = checkpoint.sha256;
    }
    if (auto st = append_intent_lines(nlohmann::json{{"hash_checkpoint", point}}.dump() + "\n"); !st) {
        return st;
    }
    for (auto& in : m_intents) {
        if (in.id == id) in.take(point);
    }
    return {};
}

Status Pass::append_intent_lines(const std::string& lines) {
    const std::string path = intent_path();
    bool created = true;
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                       0600));
    if (!fd && errno == EEXIST) {
        created = false;
        fd.reset(::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW));
    }
    if (!fd) return fail(errno_error(fmt::format("open {}", path), errno).with_context("intent record"));
    if (auto st = util::write_all(fd.get(), lines, path); !st) {
        return fail(st.error().with_context("intent record"));
    }
    if (::fdatasync(fd.get()) != 0) {
        return fail(errno_error(fmt::format("fdatasync {}", path), errno).with_context("intent record"));
    }
    if (created) return util::fsync_dir(m_config.state_dir);
    return {};
}

// Resolves the intent of an overwrite whose read-back failed: it stays recorded, marked, so
// that the next pass knows the file was overwritten but not verified and retries once,
// saying so, instead of taking it for an interrupted overwrite.
Status Pass::mark_verification_failed(const std::string& id,
                                      const std::optional<act::ReadBackMismatch>& mismatch,
                                      const std::string& message) {
    for (auto& in : m_intents) {
        if (in.id != id) continue;
        nlohmann::json failed = {{"time", util::format_timestamp(m_options.now)},
                                 {"message", message},
                                 {"attempts", in.verification_failed.is_null()
                                                  ? 1
                                                  : in.verification_failed.value("attempts", 1) + 1}};
        if (mismatch) {
            failed["block"] = mismatch->block;
            failed["offset"] = mismatch->offset;
            failed["length"] = mismatch->length;
            failed["blocks"] = mismatch->blocks;
            failed["first_difference"] = mismatch->first_difference;
        }
        in.verification_failed = std::move(failed);
    }
    return write_intents();
}

Status Pass::drop_intent(const std::string& id) {
    std::erase_if(m_intents, [&id](const Intent& in) { return in.id == id; });
    return write_intents();
}

// Fsyncs each folder that holds an overwritten file of `group` once.
template <typename Group>
Status Pass::sync_folders(const Group& group) {
    std::set<std::pair<std::string, std::string>> done;
    for (const auto& p : group) {
        if (!overwrites(p.entry.action)) continue;
        const std::string folder =
            p.folder.empty() ? std::string(util::parent_of(p.entry.facts.path)) : p.folder;
        if (!done.emplace(p.entry.root, folder).second) continue;
        auto fd = root_fd(p.entry.root);
        if (!fd) return fail(fd.error());
        auto st = p.folder.empty() ? act::sync_folder(*fd, p.entry.facts.path)
                  : p.folder_fd   ? util::fsync_fd(p.folder_fd->get(), p.folder)
                                  : act::sync_disposal_folder(*fd, p.folder);
        if (!st) return st;
    }
    return {};
}

// Appends the certificates of the disposals done since the last commit with one write and
// one fsync, then removes the renamed, overwritten files and their intents. The renames, and
// then the unlinks, are made durable with one fsync per folder of the group.
Status Pass::commit_certificates() {
    if (m_pending.empty()) return {};
    // Taken out first: a failed append is never retried within this pass (the intents make
    // the next pass certify those disposals), so nothing is ever certified twice.
    std::vector<Pending> group = std::move(m_pending);
    m_pending.clear();
    m_pending_bytes = 0;
    // A certificate never precedes the durable rename that proves its overwrite was verified.
    if (auto st = sync_folders(group); !st) return st;
    std::vector<nlohmann::json> payloads;
    payloads.reserve(group.size());
    for (const auto& p : group) payloads.push_back(p.payload);
    auto last = m_ledger.append_batch(std::move(payloads));
    if (!last) return fail(last.error().with_context("ledger"));
    uint64_t seq = *last + 1 - group.size();
    if (m_summary.first_seq == 0) m_summary.first_seq = seq;
    util::fault_point("certified");
    for (const auto& p : group) {
        const PlanEntry& e = p.entry;
        if (overwrites(e.action)) {
            auto fd = root_fd(e.root);
            if (!fd) return fail(fd.error());
            auto st = p.folder_fd ? finish_held(p)
                                  : finish_sanitize(*fd, e, p.folder, p.temp_name, false);
            if (!st) return st;
        }
        ++m_summary.disposed;
        ++m_summary.disposed_by_action[std::string(policy::to_string(e.action))];
        m_summary.bytes += p.size;
        EventFields fields = EventFields::file(e.root, util::utf8_display(e.facts.path), e.category,
                                               std::string(policy::to_string(e.action)));
        fields.cert_seq = seq;
        if (!e.review.is_null()) m_review.disposed(e, seq);
        log_event(util::LogLevel::Info, Event::Disposed, fields,
                  fmt::format("{} {}/{} ({}), certificate {}",
                              e.action == policy::Action::Archive   ? "archived and sanitized"
                              : e.action == policy::Action::Encrypt ? "encrypted and sanitized"
                              : e.action == policy::Action::Delete  ? "deleted"
                                                                    : "sanitized",
                              e.root, util::utf8_display(e.facts.path),
                              util::counted(p.size, "byte", "bytes"), seq));
        ++seq;
    }
    // The unlinks are durable before the intents that would complete them are dropped.
    if (auto st = sync_folders(group); !st) return st;
    if (auto st = report_moved_folders(group); !st) return st;
    std::set<std::string> done;
    for (const auto& p : group) done.insert(p.intent_id);
    std::erase_if(m_intents, [&done](const Intent& in) { return done.count(in.id) != 0; });
    return write_intents();
}

// The end of a certified sanitize, in the disposal folder held open since the file was moved
// into it, wherever that folder is now (see report_moved_folders()).
Status Pass::finish_held(const Pending& p) {
    auto removed = act::finish_detached_in(p.folder_fd->get(), p.folder, p.temp_name, false);
    if (!removed) return fail(removed.error());
    return {};
}

// Someone may rename a disposal folder, or put a symlink or another folder at its name, while
// files are in it. Its files' overwrites, read-backs, certificates and unlinks went through
// the descriptor held open, so the certificates say what happened; what is left is to say
// where lethe's folder is now and what it still holds (a file whose disposal did not
// finish: the next pass looks for it at the folder's old name), once per folder, and to
// exit 1.
Status Pass::report_moved_folders(const std::vector<Pending>& group) {
    for (const auto& p : group) {
        if (!p.folder_fd || m_moved_folders.count(p.entry.root + "/" + p.folder) != 0) continue;
        auto fd = root_fd(p.entry.root);
        if (!fd) return fail(fd.error());
        auto moved = act::moved_disposal_folder(*fd, p.folder, p.folder_fd->get());
        if (!moved) return fail(moved.error());
        if (!*moved) continue;
        m_moved_folders.insert(p.entry.root + "/" + p.folder);
        auto left = act::entries_in(p.folder_fd->get());
        const std::string holds =
            !left ? fmt::format("what it holds cannot be read ({})", left.error().message())
            : left->empty()
                ? std::string("it holds nothing of lethe's now: remove it (or move it back); "
                              "lethe makes a new disposal folder when it needs one")
                : fmt::format("it still holds {} of lethe's, whose disposal did not finish: {}; "
                              "move the folder back to {}/{} so that the next pass completes "
                              "them", util::counted(left->size(), "entry", "entries"),
                              util::utf8_display(fmt::format("{}", fmt::join(*left, ", "))),
                              p.entry.root, util::utf8_display(p.folder));
        ++m_summary.failed;
        log_event(util::LogLevel::Error, Event::Error,
                  EventFields::file(p.entry.root, util::utf8_display(p.entry.facts.path),
                                    p.entry.category, std::string(policy::to_string(p.entry.action))),
                  fmt::format("lethe's disposal folder {}/{} was moved while files were in it: "
                              "it is now at {}. lethe finished through the folder it held open: "
                              "{}/{} was overwritten, verified and removed there, and certified; "
                              "{}", p.entry.root, util::utf8_display(p.folder),
                              util::utf8_display(**moved), p.entry.root,
                              util::utf8_display(p.entry.facts.path), holds));
    }
    return {};
}

// The disposal certificate of one file: what was done, the holds checked just before, and
// the erasure request it belongs to, if any.
nlohmann::json Pass::certificate_payload(const PlanEntry& entry, const act::DisposalRecord& rec,
                                         const std::string& id, const nlohmann::json& extra) const {
    auto payload = disposal_payload(entry, rec, m_options, id, extra);
    payload["holds_checked"] = m_holds_checked;
    if (!m_request.is_null()) {
        payload["request"] = m_request;
        payload["reason"] = "erasure request";
        if (const policy::Category* c = category_of(entry)) {
            payload["category_action"] = std::string(policy::to_string(c->action));
        }
    }
    return payload;
}

Status Pass::certify(const PlanEntry& entry, const act::DisposalRecord& rec, const std::string& id,
                     const nlohmann::json& extra) {
    auto seq = m_ledger.append(certificate_payload(entry, rec, id, extra));
    if (!seq) return fail(seq.error().with_context("ledger"));
    if (m_summary.first_seq == 0) m_summary.first_seq = *seq;
    return {};
}

// Completes what an interrupted pass began: each intent record names the file, its hash
// before destruction and the name it was to be renamed to. Records are resolved one by one
// and dropped from intent.json as they are, so a crash in the middle repeats nothing.
Status Pass::recover() {
    auto text = util::read_file(intent_path());
    if (!text) {
        if (text.error().sys_errno() == ENOENT) return {};
        return fail(text.error());
    }
    auto j = nlohmann::json::parse(*text, nullptr, false);
    std::vector<Intent> intents;
    Status parsed;
    if (j.is_object() && j.contains("intents") && j["intents"].is_array()) {
        for (const auto& one : j["intents"]) {
            auto in = Intent::from_json(one);
            if (!in) {
                parsed = fail(in.error());
                break;
            }
            intents.push_back(std::move(*in));
        }
    } else if (j.is_object()) {
        // One record: one line, or as lethe wrote it before certificates were grouped.
        auto in = Intent::from_json(j);
        if (in) {
            intents.push_back(std::move(*in));
        } else {
            parsed = fail(in.error());
        }
    } else if (!text->empty()) {
        // One record per line, and the checkpoints of hashes taken during overwrites. A
        // checkpoint whose line was cut short by a crash was not durable, so nothing was
        // written past the one before it: it is left out. Any other incomplete line is not.
        constexpr std::string_view kCheckpointLine = "{\"hash_checkpoint\"";
        if (text->back() != '\n') {
            const size_t newline = text->rfind('\n');
            const size_t last = newline == std::string::npos ? 0 : newline + 1;
            const std::string_view torn = std::string_view(*text).substr(last);
            const size_t common = std::min(torn.size(), kCheckpointLine.size());
            if (last > 0 && torn.substr(0, common) == kCheckpointLine.substr(0, common)) {
                text->resize(last);
            } else {
                parsed = fail(ErrorKind::BadInput, "not JSON, or its last line is incomplete");
            }
        }
        size_t pos = 0;
        while (parsed && pos < text->size()) {
            size_t end = text->find('\n', pos);
            auto line = nlohmann::json::parse(text->begin() + static_cast<std::ptrdiff_t>(pos),
                                              text->begin() + static_cast<std::ptrdiff_t>(end),
                                              nullptr, false);
            pos = end + 1;
            if (line.is_object() && line.contains("hash_checkpoint") && line.size() == 1) {
                const nlohmann::json& point = line["hash_checkpoint"];
                auto of = std::find_if(intents.begin(), intents.end(), [&point](const Intent& in) {
                    return point.is_object() && in.id == point.value("intent", "");
                });
                if (of == intents.end()) {
                    parsed = fail(ErrorKind::BadInput, "a hash checkpoint of no recorded intent");
                } else {
                    of->take(point);
                }
                continue;
            }
            auto in = line.is_object() ? Intent::from_json(line)
                                       : Result<Intent>(fail(ErrorKind::BadInput, "a line is not JSON"));
            if (!in) {
                parsed = fail(in.error());
            } else {
                intents.push_back(std::move(*in));
            }
        }
    } else {
        parsed = fail(ErrorKind::BadInput, "not JSON, or its last line is incomplete");
    }
    if (!parsed) {
        return fail(ErrorKind::Refused,
                    fmt::format("{} is unreadable ({}); refusing to dispose until it is inspected",
                                intent_path(), parsed.error().message()));
    }
    uint64_t after = UINT64_MAX;
    for (const auto& in : intents) after = std::min(after, in.after_seq);
    auto certified = intents.empty() ? Result<std::set<std::string>>(std::set<std::string>{})
                                     : intents_certified_after(m_ledger.path(), after);
    if (!certified) return fail(certified.error());
    m_intents = intents;
    for (auto& in : intents) {
        auto st = recover_one(in, *certified);
        m_request = nullptr;
        if (!st && st.error().kind() == ErrorKind::Stopped) return st;
        if (!st) {
            // One file's trouble stays one file's: an intent that cannot be completed is a
            // failed disposal of that file, in the ledger, never a pass that fails forever.
            if (auto failed = resolve_failed(in, st.error().message()); !failed) return failed;
            continue;
        }
        if (auto done = drop_intent(in.id); !done) return done;
    }
    return {};
}

Status Pass::recover_one(Intent& in, const std::set<std::string>& certified) {
    Intent* intent = &in;
    const PlanEntry& e = intent->entry;
    if (certified.count(intent->id) != 0) {
        // Certified; only the cleanup was interrupted.
        if (overwrites(e.action)) {
            auto fd = root_fd(e.root);
            if (!fd) return fail(fd.error());
            if (auto st = finish_sanitize(*fd, e, intent->disposal_folder, intent->temp_name);
                !st) {
                return st;
            }
        }
        count_recovered(e);
        return {};
    }
    m_holds_checked = "checked by the interrupted pass before it began this disposal";
    m_request = intent->request;
    auto fd = root_fd(e.root);
    if (!fd) return fail(fd.error());
    // Where an interrupted pass left a file it had moved into the disposal folder.
    act::Detached where = act::Detached::Absent;
    if (!intent->disposal_folder.empty()) {
        auto found = act::find_detached(*fd, intent->disposal_folder, intent->temp_name);
        if (!found) return fail(found.error());
        where = *found;
    }
    // Holds win over recovery: a file a hold now covers is not overwritten any further.
    if (where != act::Detached::Verified) {
        auto kept = keep_if_held(*intent, *fd, where == act::Detached::Moved);
        if (!kept) return fail(kept.error());
        if (*kept) return {};
    }
    // Never moved into the disposal folder: nothing of it was destroyed, and it is not
    // completed now (a file changed since would be destroyed unchecked).
    // (An intent without a disposal folder was written by a lethe that overwrote in place.)
    if (where == act::Detached::Absent && !intent->disposal_folder.empty() &&
        intent->verification_failed.is_null()) {
        auto rolled_back = roll_back_unmoved(*intent, *fd);
        if (!rolled_back) return fail(rolled_back.error());
        if (*rolled_back) return {};
    }
    const nlohmann::json& failed_before = intent->verification_failed;
    std::string earlier_failure;
    if (!failed_before.is_null()) {
        earlier_failure = fmt::format(
            "the read-back of its overwrite failed in the pass of {}{}",
            failed_before.value("time", "?"),
            failed_before.contains("block")
                ? fmt::format(" from block {} (byte {})", failed_before["block"].get<uint64_t>(),
                              failed_before["offset"].get<uint64_t>())
                : "");
        auto now = scan::stat_beneath(*fd, e.facts.path);
        if (where != act::Detached::Moved &&
            (!now || now->inode != e.facts.inode || now->device != e.facts.device)) {
            // Someone removed or replaced it since: nothing of this disposal can be certified.
            util::log_warning("{}/{}: {}, and it is no longer there (removed or replaced since); "
                              "nothing is certified", e.root, util::utf8_display(e.facts.path),
                              earlier_failure);
            m_request = nullptr;
            return {};
        }
        util::log_warning("{}/{}: {}; overwriting it once more", e.root,
                          util::utf8_display(e.facts.path), earlier_failure);
    } else {
        util::log_warning("completing the interrupted disposal of {}/{}", e.root,
                          util::utf8_display(e.facts.path));
    }

    if (overwrites(e.action) && intent->prepared.sha256_before.empty()) {
        if (auto st = finish_interrupted_hash(*intent, *fd, where == act::Detached::Moved); !st) {
            return st;
        }
        if (intent->prepared.sha256_before.empty()) {
            ++m_summary.failed;
            m_request = nullptr;
            return {};
        }
    }
    act::DisposalRecord rec = intent->prepared;
    rec.method = overwrites(e.action) ? "file overwrite" : "unlink";
    // encrypt: the original is overwritten only once its verified NAME.age exists.
    std::optional<act::EncryptedCopy> copy;
    if (e.action == policy::Action::Encrypt) {
        auto index = load_encrypted_index(m_config.state_dir);
        if (!index) return fail(index.error());
        const EncryptedEntry* recorded = index->by_intent(intent->id);
        auto found = act::find_encrypted_copy(*fd, e.facts.path, intent->id,
                                              recorded != nullptr ? &recorded->copy : nullptr,
                                              &m_stop_token);
        if (!found && found.error().kind() == ErrorKind::Stopped) return fail(found.error());
        if (!found) {
            util::log_error("{}/{}: {}", e.root, util::utf8_display(e.facts.path),
                            found.error().message());
            ++m_summary.failed;
            return {};  // nothing of the original was changed
        }
        copy = *found;
        if (copy && (recorded == nullptr || recorded->copy.inode != copy->inode ||
                     recorded->copy.device != copy->device)) {
            // Proven by its xattrs but not in the index (written before lethe kept one):
            // recorded now, with the date its attribute gives.
            util::Date made = util::date_of(m_options.now);
            if (auto dir = util::open_beneath(*fd, util::parent_of(e.facts.path),
                                              O_PATH | O_DIRECTORY)) {
                std::string attr = std::string(act::kXattrPrefix) + "encrypted";
                if (auto v = util::read_xattr_at(dir->get(), copy->name, attr)) {
                    if (auto d = util::parse_date(*v)) made = *d;
                }
            }
            if (auto st = append_encrypted(m_config.state_dir,
                                           encrypted_entry(e, *copy, intent->id, made,
                                                           m_options.now));
                !st) {
                return st;
            }
        }
    }
    auto still_there = scan::stat_beneath(*fd, e.facts.path);
    if (e.action == policy::Action::Encrypt && !copy && !still_there) {
        util::log_error("{}/{}: neither the file nor its encrypted copy is there; nothing to "
                        "complete", e.root, util::utf8_display(e.facts.path));
        ++m_summary.failed;
        return {};
    }
    const bool at_name = still_there && still_there->inode == e.facts.inode &&
                         still_there->device == e.facts.device;
    if (where == act::Detached::Moved || at_name) {
        // Interrupted before the overwrite was verified: done again from the start (from the
        // disposal folder, or moved there first); the certificate keeps the hash taken
        // before the first attempt changed anything.
        auto file = where == act::Detached::Moved
                        ? act::prepare_detached(*fd, intent->disposal_folder, intent->temp_name,
                                                e.facts, overwrites(e.action), &m_stop_token)
                        : act::prepare(*fd, e.facts, overwrites(e.action), true, &m_stop_token);
        if (!file) return fail(file.error());
        if (e.action == policy::Action::Encrypt && !copy) {
            if (where == act::Detached::Moved) {
                return fail(ErrorKind::Refused,
                            "moved to the disposal folder without its verified encrypted copy; "
                            "not overwritten");
            }
            auto made = encrypt_copy(*file, e, intent->id, intent->temp_name);
            if (!made) return fail(made.error());
            intent->extra = {{"encrypted_copy", *made}};
        }
        if (where != act::Detached::Moved) {
            // Moved into the disposal folder first, as in any pass; the intent says where
            // before the move.
            if (auto st = act::use_disposal_folder(*file, *fd); !st) return fail(st.error());
            if (intent->disposal_folder != file->disposal_folder()) {
                intent->disposal_folder = file->disposal_folder();
                for (auto& in_list : m_intents) {
                    if (in_list.id == intent->id) in_list.disposal_folder = intent->disposal_folder;
                }
                if (auto st = write_intents(); !st) return st;
            }
            if (auto st = act::detach(*file, intent->temp_name); !st) return fail(st.error());
        }
        auto done = overwrites(e.action)
                        ? act::sanitize(*file, intent->temp_name, sanitize_options())
                        : act::remove(*file);
        if (!done && done.error().kind() == ErrorKind::Verification && !earlier_failure.empty()) {
            // Twice is a pattern (failing storage, or another writer): no more retries. The
            // file goes back to its name, overwritten, kept.
            if (file->detached()) {
                if (auto back = put_back(e, intent->disposal_folder, intent->temp_name); !back) {
                    util::log_error("{}/{}: {}", e.root, util::utf8_display(e.facts.path),
                                    back.error().message());
                }
            }
            ++m_summary.failed;
            ++m_summary.failed_verifications;
            m_request = nullptr;
            log_event(util::LogLevel::Error, Event::Error,
                      EventFields::file(e.root, util::utf8_display(e.facts.path), e.category,
                                        std::string(policy::to_string(e.action))),
                      fmt::format("verification failed again: {}; lethe does not retry it again: "
                                  "check the storage and dispose of the file by hand",
                                  done.error().message()));
            return {};
        }
        if (!done) return fail(done.error());
        done->sha256_before = intent->prepared.sha256_before;
        done->size = intent->prepared.size;
        if (!earlier_failure.empty()) {
            done->handling.push_back(earlier_failure + "; overwritten again and verified");
        }
        note_links(e, *done);
        rec = *done;
    } else if (overwrites(e.action) && !intent->disposal_folder.empty()) {
        if (where != act::Detached::Verified) {
            return fail(ErrorKind::Refused,
                        fmt::format("neither at its name nor in {} (removed or replaced by someone "
                                    "else?); nothing of it can be certified",
                                    intent->disposal_folder));
        }
        // The verified name exists only after a verified (or, with verification off, a
        // synced) overwrite and truncation.
        rec.verified = intent->verify;
        rec.passes = sanitize_options().passes + (sanitize_options().final_zero ? 1 : 0);
        rec.pattern = sanitize_options().final_zero ? "random+zero" : "random";
        rec.read_back = intent->verify ? "verified before the interruption (the file had taken its "
                                         "verified name in the disposal folder)"
                                       : std::string(act::kNoReadBack);
    } else if (overwrites(e.action)) {
        auto finished = act::finish_interrupted(*fd, e.facts.path, intent->temp_name);
        if (!finished) return fail(finished.error());
        // Our renamed file exists only after a verified (or, with verification off, a
        // synced) overwrite and truncation.
        rec.verified = *finished && intent->verify;
        rec.passes = sanitize_options().passes + (sanitize_options().final_zero ? 1 : 0);
        rec.pattern = sanitize_options().final_zero ? "random+zero" : "random";
        rec.read_back = !*finished      ? "not confirmed: the file was gone when the pass resumed"
                        : intent->verify ? "verified before the interruption (the file had been renamed)"
                                         : std::string(act::kNoReadBack);
    } else {
        rec.verified = !still_there && still_there.error().sys_errno() == ENOENT;
        rec.read_back = "name no longer present after unlink (confirmed after an interruption)";
    }
    if (copy) {
        intent->extra = {{"encrypted_copy",
                          {{"name", copy->name}, {"sha256", copy->sha256}, {"bytes", copy->bytes},
                           {"format", "age v1 (X25519)"},
                           {"retention_attributes", copy->attributes_kept}}}};
    }
    auto certificate = certify(e, rec, intent->id, intent->extra);
    m_request = nullptr;
    if (!certificate) return certificate;
    if (!e.review.is_null()) m_review.disposed(e, m_ledger.last_seq());
    util::fault_point("recovery-certified");
    if (overwrites(e.action)) {
        if (auto st = finish_sanitize(*fd, e, intent->disposal_folder, intent->temp_name); !st) {
            return st;
        }
    }
    count_recovered(e);
    return {};
}

// What could not be done to a file whose disposal was begun, resolved: its entry put back at
// its name if it is in the disposal folder, a `disposal-failed` entry in the ledger (what was
// planned, why it failed, where the file is now), the intent dropped, the pass's exit 1.
Status Pass::resolve_failed(const Intent& intent, const std::string& reason, nlohmann::json detail) {
    const PlanEntry& e = intent.entry;
    const std::string shown = fmt::format("{}/{}", e.root, util::utf8_display(e.facts.path));
    std::string state = "nothing of it was overwritten or removed";
    if (!intent.disposal_folder.empty() && !detail.contains("now_at")) {
        auto fd = root_fd(e.root);
        auto where = fd ? act::find_detached(*fd, intent.disposal_folder, intent.temp_name)
                        : Result<act::Detached>(fail(fd.error()));
        if (fd && !where) {
            // Its disposal folder cannot be opened where it was (moved, or a symlink put in
            // its place): whether the file was moved into it, or overwritten there, is not
            // known.
            state = fmt::format("not known: lethe's disposal folder {} cannot be opened there "
                                "({}), so whether it was overwritten cannot be told; look for {} "
                                "(or {}{}) in that folder or where it was moved",
                                intent.disposal_folder, where.error().message(), intent.temp_name,
                                intent.temp_name, act::kVerifiedSuffix);
        }
        if (where && *where != act::Detached::Absent) {
            auto back = put_back(e, intent.disposal_folder, intent.temp_name);
            detail["now_at"] = back ? *back
                                    : fmt::format("{}/{} (could not be put back: {})",
                                                  intent.disposal_folder, intent.temp_name,
                                                  back.error().message());
            state = *where == act::Detached::Verified
                        ? "overwritten, verified and emptied"
                        : "possibly partly overwritten (its overwrite had begun or was about to)";
        }
    }
    if (!intent.verification_failed.is_null()) state = "overwritten; its read-back had failed";
    nlohmann::json p = {{"type", "disposal-failed"},
                        {"time", util::format_timestamp(m_options.now)},
                        {"host", host_name()},
                        {"agent", fmt::format("lethe {}", LETHE_VERSION)},
                        {"root", e.root},
                        {"subject",
                         {{"size", intent.prepared.size},
                          {"inode", e.facts.inode},
                          {"device", e.facts.device},
                          {"sha256", intent.prepared.sha256_before}}},
                        {"category", e.category},
                        {"action", std::string(policy::to_string(e.action))},
                        {"intent", intent.id},
                        {"reason", reason},
                        {"state", state}};
    put_path(p, e.facts.path);
    for (const auto& [k, v] : detail.items()) p[k] = v;
    if (m_options.injected_time) p["clock"] = "injected (test build)";
    if (auto st = commit_certificates(); !st) return st;
    auto seq = m_ledger.append(std::move(p));
    if (!seq) return fail(seq.error().with_context("ledger"));
    if (m_summary.first_seq == 0) m_summary.first_seq = *seq;
    ++m_summary.failed;
    // Kept out of later passes while unchanged; a rolled-back file is left to the plan.
    if (auto fd = root_fd(e.root); fd && !detail.contains("rolled_back")) {
        if (auto st = record_failed(m_config.state_dir, *fd, e.root, e.facts.path,
                                    e.facts.device, e.facts.inode, reason, *seq,
                                    util::format_timestamp(m_options.now));
            !st) {
            return st;
        }
    }
    log_event(util::LogLevel::Error, Event::Error,
              EventFields::file(e.root, util::utf8_display(e.facts.path), e.category,
                                std::string(policy::to_string(e.action))),
              fmt::format("{}: its disposal could not be completed: {}; {}; recorded in the "
                          "ledger (entry {}, disposal-failed){}", shown, reason, state, *seq,
                          detail.contains("now_at")
                              ? fmt::format("; it is at {}", detail["now_at"].get<std::string>())
                              : std::string()));
    m_request = nullptr;
    return drop_intent(intent.id);
}

// detach() failed after the intent was recorded. Refused: nothing was changed (the entry is
// at its name, or beside it when its name was taken meanwhile): skipped with the reason.
// Otherwise the entry is stuck in the disposal folder, not overwritten: a failed disposal.
Status Pass::not_detached(const PlanEntry& entry, const std::string& id, const Error& error) {
    const std::string shown = fmt::format("{}/{}", entry.root, util::utf8_display(entry.facts.path));
    if (error.kind() == ErrorKind::Refused) {
        m_summary.skip("changed_or_in_use");
        log_event(util::LogLevel::Warning, Event::Skipped,
                  EventFields::file(entry.root, util::utf8_display(entry.facts.path),
                                    entry.category, std::string(policy::to_string(entry.action))),
                  fmt::format("skipped {}: {}", shown, error.message()));
        return drop_intent(id);
    }
    for (const auto& in : m_intents) {
        if (in.id == id) {
            const Intent copy = in;
            return resolve_failed(copy, error.message(), {{"now_at", error.message()}});
        }
    }
    return fail(error);
}

// Puts an entry back from the disposal folder at its name (never over a newer one: then
// beside it, which is said loudly). Returns the path it is at.
Result<std::string> Pass::put_back(const PlanEntry& entry, const std::string& folder,
                                   const std::string& temp_name) {
    auto fd = root_fd(entry.root);
    if (!fd) return fail(fd.error());
    auto at = act::put_back(*fd, folder, temp_name, entry.facts.path);
    if (!at) return fail(at.error());
    if (*at != entry.facts.path) {
        util::log_error("{}/{}: its name was taken by a newer file meanwhile; lethe's entry was put "
                        "back beside it as {}/{}, untouched by lethe since", entry.root,
                        util::utf8_display(entry.facts.path), entry.root, util::utf8_display(*at));
    }
    return at;
}

// Holds win over recovery: a file an interrupted pass began to dispose of, which a hold now
// covers, is not overwritten further. An entry in the disposal folder goes back to its name.
// Whether its content is still what was hashed says whether anything was destroyed; when it
// was (or cannot be known), a `disposal-failed` entry records what happened. True when kept.
Result<bool> Pass::keep_if_held(const Intent& intent, int root, bool detached) {
    const PlanEntry& e = intent.entry;
    auto holds = m_holds.current();
    if (!holds) return fail(holds.error());
    auto ids = (*holds)->covering(e.root, e.facts.path, e.client, e.matter,
                                  policy::zone_of(m_schedules, e.schedule_id).local_date(m_options.now));
    if (ids.empty()) return false;
    auto now = scan::stat_beneath(root, e.facts.path);
    const bool at_name = now && now->inode == e.facts.inode && now->device == e.facts.device;
    if (!detached && !at_name) return false;  // renamed after a verified overwrite: completed
    auto file = detached ? act::prepare_detached(root, intent.disposal_folder, intent.temp_name,
                                                 e.facts, false, &m_stop_token)
                         : act::prepare(root, e.facts, false, true, &m_stop_token);
    if (!file && file.error().kind() == ErrorKind::Stopped) return fail(file.error());
    const bool file_hashed = file.has_value();
    const bool intact = file && !intent.prepared.sha256_before.empty() &&
                        file->record().sha256_before == intent.prepared.sha256_before &&
                        intent.verification_failed.is_null();
    file = fail(ErrorKind::Internal, "closed");  // its descriptors closed before it moves back
    std::string at = e.facts.path;
    if (detached) {
        auto back = put_back(e, intent.disposal_folder, intent.temp_name);
        if (!back) return fail(back.error());
        at = *back;
    }
    ++m_summary.held;
    const std::string shown = fmt::format("{}/{}", e.root, util::utf8_display(e.facts.path));
    if (intact) {
        log_event(util::LogLevel::Info, Event::HoldChanged,
                  EventFields::file(e.root, util::utf8_display(e.facts.path), e.category,
                                    std::string(policy::to_string(e.action))),
                  fmt::format("kept {}: legal hold {} placed since an interrupted pass began its "
                              "disposal; its content is unchanged", shown, fmt::join(ids, ", ")));
        m_request = nullptr;
        return true;
    }
    --m_summary.held;  // counted as failed by resolve_failed instead
    auto st = resolve_failed(intent,
                             fmt::format("legal hold {} placed since an interrupted pass began its "
                                         "disposal: not overwritten further, kept under the hold",
                                         fmt::join(ids, ", ")),
                             {{"now_at", at},
                              {"holds", ids},
                              {"kept_under_hold", true},
                              {"state", !file_hashed ? "not known: its content could not be read"
                                                     : "partly overwritten: its overwrite had "
                                                       "begun (its content is no longer what "
                                                       "was hashed)"}});
    if (!st) return fail(st.error());
    return true;
}

// An intent whose file is still at its own name, the inode it names: the interrupted pass
// recorded the intent and stopped before it moved the file into the disposal folder, so
// nothing of it was overwritten or removed. Rolled back (true) rather than completed: the
// file is left to this pass's own plan, which decides again from what it is now. A file
// changed since also gets a `disposal-failed` entry with `rolled_back`. Two kinds of intent
// whose file is unchanged are completed instead (false): an encrypt (its verified NAME.age
// of exactly that content may exist, and a new copy is never written over it) and an
// erasure's (the request asked for this file). False too when the file is not at its name.
Result<bool> Pass::roll_back_unmoved(const Intent& intent, int root) {
    const PlanEntry& e = intent.entry;
    auto found = act::check_unmoved(root, e.facts, intent.prepared.sha256_before, &m_stop_token);
    if (!found) return fail(found.error());
    if (!*found) return false;
    const std::string shown = fmt::format("{}/{}", e.root, util::utf8_display(e.facts.path));
    if ((*found)->unchanged) {
        if (e.action == policy::Action::Encrypt || !intent.request.is_null()) return false;
        util::log_warning("{}: the interrupted pass had not moved it (unchanged); its intent is "
                          "rolled back and the file is planned again", shown);
        m_request = nullptr;
        return true;
    }
    std::string state = "nothing of it was overwritten or removed (the interrupted pass had not "
                        "moved it); it is at its name as it is now";
    if (e.action == policy::Action::Encrypt) {
        auto index = load_encrypted_index(m_config.state_dir);
        if (!index) return fail(index.error());
        const EncryptedEntry* recorded = index->by_intent(intent.id);
        auto copy = act::find_encrypted_copy(root, e.facts.path, intent.id,
                                             recorded != nullptr ? &recorded->copy : nullptr);
        if (copy && *copy) {
            state += fmt::format("; its encrypted copy {} (of the version checked before, the "
                                 "copy's SHA-256 {}) is kept beside it",
                                 (**copy).name, (**copy).sha256);
        } else {
            auto removed = act::remove_partial_copy(root, e.facts.path,
                                                    intent.temp_name + ".age.partial");
            if (!removed) return fail(removed.error());
            if (*removed) state += "; the incomplete encrypted copy it had begun was removed";
        }
    }
    auto st = resolve_failed(intent,
                             fmt::format("changed since an interrupted pass recorded its intent "
                                         "({}); its intent is rolled back and the file is left "
                                         "to this pass's plan", (*found)->change),
                             {{"now_at", e.facts.path}, {"rolled_back", true}, {"state", state}});
    if (!st) return fail(st.error());
    return true;
}

// A link to the inode made during its overwrite through a descriptor opened before (which
// nothing can prevent): its certificate names the links a search of the roots finds, and
// the pass exits 1.
void Pass::note_links(const PlanEntry& entry, act::DisposalRecord& rec) {
    if (rec.links_after_overwrite == 0) return;
    for (const auto& root : m_config.roots) {
        auto fd = scan::open_root(root.path);
        if (!fd) continue;
        scan::WalkOptions options;
        options.one_filesystem = root.one_filesystem;
        (void)scan::walk(
            fd->get(), options,
            [&](const scan::FileFacts& f) {
                if (f.device == entry.facts.device && f.inode == entry.facts.inode &&
                    rec.other_links.size() < 16) {
                    rec.other_links.push_back(fmt::format("{}/{}", root.name, f.path));
                }
            },
            [](std::string_view, const Error&) {});
    }
    const std::string found =
        rec.other_links.empty()
            ? std::string("none was found in the roots (it is outside them)")
            : fmt::format("found: {}", fmt::join(rec.other_links, ", "));
    rec.residual_risks.push_back(fmt::format(
        "{} other hard link(s) to this file were made while it was being overwritten (through a "
        "descriptor opened before lethe moved it); they hold the overwritten content; {}",
        rec.links_after_overwrite, found));
    ++m_summary.failed;
    log_event(util::LogLevel::Error, Event::Error,
              EventFields::file(entry.root, util::utf8_display(entry.facts.path), entry.category,
                                std::string(policy::to_string(entry.action))),
              fmt::format("{}/{}: {} other hard link(s) were made while it was being overwritten; "
                          "{}", entry.root, util::utf8_display(entry.facts.path),
                          rec.links_after_overwrite, found));
}

// A disposal an interrupted pass began, completed and certified now, is one this pass
// disposed of, so its summary says so ("disposed 1 file ..., of which 1 completed an
// interrupted disposal"); an erasure's counts stay those of the request's own files.
void Pass::count_recovered(const PlanEntry& e) {
    ++m_summary.recovered;
    if (m_options.erasure != nullptr) return;
    ++m_summary.disposed;
    ++m_summary.disposed_by_action[std::string(policy::to_string(e.action))];
    m_summary.bytes += e.facts.size;
}

// The overwrite of a large file was interrupted before the hash of its original content was
// complete. Every byte from its last durable checkpoint on is still original (nothing is
// written past a checkpoint before it is durable), so the hash is finished from there, and
// recorded durably in the intent before anything overwrites those bytes again. A file that
// is no longer there (removed by someone else) leaves the hash empty: nothing is certified.
Status Pass::finish_interrupted_hash(Intent& intent, int root, bool detached) {
    const PlanEntry& e = intent.entry;
    auto now = scan::stat_beneath(root, e.facts.path);
    if (detached) {
        auto file = act::prepare_detached(root, intent.disposal_folder, intent.temp_name, e.facts,
                                          true, &m_stop_token, act::ContentHash::Skip);
        if (!file) return fail(file.error());
        return finish_hash_of(intent, *file);
    }
    if (!now || now->inode != e.facts.inode || now->device != e.facts.device) {
        util::log_error("{}/{}: its overwrite was interrupted before the hash of its content was "
                        "complete, and it is no longer there (removed or replaced since); nothing "
                        "is certified", e.root, util::utf8_display(e.facts.path));
        return {};
    }
    auto file = act::prepare(root, e.facts, true, true, &m_stop_token, act::ContentHash::Skip);
    if (!file) return fail(file.error());
    return finish_hash_of(intent, *file);
}

Status Pass::finish_hash_of(Intent& intent, const act::PreparedFile& file) {
    const PlanEntry& e = intent.entry;
    auto sha = act::finish_hash(file, intent.checkpoint(), intent.prepared.size, &m_stop_token);
    if (!sha) return fail(sha.error());
    util::log_info("{}/{}: the hash of its original content finished from the checkpoint after "
                   "{} bytes", e.root, util::utf8_display(e.facts.path), intent.checkpoint().bytes);
    intent.prepared.sha256_before = *sha;
    intent.hash_checkpoint = nullptr;
    for (auto& in : m_intents) {
        if (in.id != intent.id) continue;
        in.prepared.sha256_before = *sha;
        in.hash_checkpoint = nullptr;
    }
    return write_intents();
}

// Mounts the walk did not enter because they showed lethe's own files or another root (each
// logged by make_plan as an error): failures of the pass, which exits 1.
uint64_t refused_mounts(const PlanSummary& summary) {
    uint64_t n = 0;
    for (const auto& [root, walk] : summary.walks) n += walk.refused_mounts;
    return n;
}

Status Pass::write_plan(PlanSummary& summary) {
    UniqueFd out(::open(plan_path().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!out) return fail(errno_error(fmt::format("create {}", plan_path()), errno));
    std::string buffer;
    Status write_error;
    auto flush = [&] {
        if (write_error) write_error = util::write_all(out.get(), buffer, plan_path());
        buffer.clear();
    };
    PlanOptions plan_options;
    plan_options.now = m_options.now;
    plan_options.root = m_options.root;
    plan_options.stop = m_options.stop;
    auto holds = m_holds.current();
    if (!holds) return fail(holds.error());
    plan_options.holds = *holds;
    auto failed = load_failed_for_pass(
        m_config.state_dir, [this](const std::string& root) { return root_fd(root); },
        m_options.root);
    if (!failed) return fail(failed.error());
    test_pause_before_walk();
    auto planned = make_plan(m_config, m_schedules, plan_options, [&](const PlanEntry& e) {
        if (!e.review.is_null() && e.mode == policy::Mode::Enforce &&
            (e.status == classify::Status::Review || e.status == classify::Status::Held)) {
            m_review.seen(e);
        }
        if (e.status == classify::Status::Skipped && e.mode == policy::Mode::Enforce) {
            m_summary.skip(e.facts.nlink > 1 ? "hard_links" : "policy_problem");
            log_event(util::LogLevel::Warning, Event::Skipped,
                      EventFields::file(e.root, util::utf8_display(e.facts.path), e.category,
                                        std::string(policy::to_string(e.action))),
                      fmt::format("skipped {}/{}: {}", e.root, util::utf8_display(e.facts.path),
                                  e.reason));
            return;
        }
        if (e.status == classify::Status::Held && e.mode == policy::Mode::Enforce) {
            ++m_summary.held;
            log_event(util::LogLevel::Info, Event::HoldChanged,
                      EventFields::file(e.root, util::utf8_display(e.facts.path), e.category,
                                        std::string(policy::to_string(e.action))),
                      fmt::format("kept {}/{}: {}", e.root, util::utf8_display(e.facts.path),
                                  e.reason));
            return;
        }
        if (e.status != classify::Status::Due) return;
        if (e.mode != policy::Mode::Enforce) {
            ++m_summary.observed;
            return;
        }
        if (const FailedFile* f = failed->find(e.root, e.facts.path);
            f != nullptr && f->same_version(e.facts)) {
            ++m_summary.failed_earlier;
            util::log_info("kept {}/{}: its disposal failed in an earlier pass (ledger entry {}: "
                           "{}) and it is unchanged since; `lethe state retry` lets a pass try "
                           "it again", e.root, util::utf8_display(e.facts.path), f->seq, f->reason);
            return;
        }
        ++m_summary.planned;
        buffer += e.to_json().dump();
        buffer += '\n';
        if (buffer.size() > (1u << 16)) flush();
    });
    if (!planned) return fail(planned.error());
    m_summary.failed += refused_mounts(*planned);
    // Files a records manager approved join the plan, counted by the guards like any other.
    m_walked = true;
    auto approved = m_review.sync([this](const std::string& root) { return root_fd(root); },
                                  m_options.stop, &m_stop_token);
    if (!approved) return fail(approved.error());
    for (const auto& e : *approved) {
        ++m_summary.planned;
        planned->due_enforced_by_root[e.root].add(e.facts.size);
        buffer += e.to_json().dump();
        buffer += '\n';
    }
    m_summary.in_review = m_review.counts().waiting;
    flush();
    if (!write_error) return write_error;
    summary = std::move(*planned);
    return {};
}

Status Pass::check_guards(const PlanSummary& summary) {
    std::vector<std::string> exceeded;
    if (m_summary.planned > static_cast<uint64_t>(m_config.max_disposals_per_pass)) {
        exceeded.push_back(fmt::format("{} due, more than max_disposals_per_pass = {}",
                                       m_summary.planned == 1
                                           ? std::string("1 file is")
                                           : fmt::format("{} files are", m_summary.planned),
                                       m_config.max_disposals_per_pass));
    }
    for (const auto& [root, due] : summary.due_enforced_by_root) {
        auto walk = summary.walks.find(root);
        uint64_t total = walk == summary.walks.end() ? 0 : walk->second.files;
        if (total == 0) continue;
        double fraction = static_cast<double>(due.files) / static_cast<double>(total);
        if (fraction > m_config.max_fraction_per_root) {
            exceeded.push_back(fmt::format("{} of {} files in root '{}' are due ({:.1f}%), more "
                                           "than max_fraction_per_root = {:.1f}%",
                                           due.files, total, root, fraction * 100.0,
                                           m_config.max_fraction_per_root * 100.0));
        }
    }
    if (exceeded.empty()) return {};
    if (m_options.confirm_large) {
        for (const auto& what : exceeded) {
            util::log_warning("allowed by --confirm-large for this pass: {}", what);
            m_guards_overridden.push_back(what);
        }
        return {};
    }
    return fail(ErrorKind::Refused,
                fmt::format("refusing the pass: {}; nothing was disposed (check the list with "
                            "`lethe plan`, then allow this one pass with `lethe run "
                            "--confirm-large`)",
                            exceeded.front()));
}

// Unlinks the renamed, overwritten and certified file.
Status Pass::finish_sanitize(int root, const PlanEntry& entry, const std::string& folder,
                             const std::string& temp_name, bool sync) {
    auto removed = folder.empty() ? act::finish_interrupted(root, entry.facts.path, temp_name, sync)
                                  : act::finish_detached(root, folder, temp_name, sync);
    if (!removed) return fail(removed.error());
    return {};
}

const policy::Category* Pass::category_of(const PlanEntry& entry) const {
    for (const auto& schedule : m_schedules) {
        if (schedule.id != entry.schedule_id) continue;
        for (const auto& c : schedule.categories) {
            if (c.id == entry.category) return &c;
        }
    }
    return nullptr;
}

// Archives whose every copy has expired are sanitized and certified. An unreadable archive
// index stops only this step (nothing archived is disposed of) and fails the pass's exit.
Status Pass::expire_archives_step() {
    auto expired = expire_archives(m_config, m_schedules, m_disposer, m_holds,
                                   policy::LocalToday(m_schedules, m_options.now), m_options.root,
                                   m_options.stop, m_options.confirm_large ? &m_guards_overridden
                                                                           : nullptr);
    if (!expired) {
        if (expired.error().kind() != ErrorKind::Refused) return fail(expired.error());
        ++m_summary.failed;
        util::log_error("{}", expired.error().message());
        return {};
    }
    m_summary.archives_disposed += expired->disposed;
    m_summary.archives_held += expired->held;
    m_summary.failed += expired->failed;
    m_summary.stopped = m_summary.stopped || expired->stopped;
    if (m_summary.first_seq == 0) m_summary.first_seq = expired->first_seq;
    return {};
}

// Writes the verified NAME.age beside the file, carrying its retention in xattrs and in the
// state index.
Result<nlohmann::json> Pass::encrypt_copy(const act::PreparedFile& file, const PlanEntry& entry,
                                          const std::string& intent_id, const std::string& temp) {
    std::vector<act::age::Recipient> recipients;
    for (const auto& text : m_config.archive_recipients) {
        auto r = act::age::Recipient::parse(text);
        if (!r) return fail(ErrorKind::Refused, "[archive] recipients: " + r.error().message());
        recipients.push_back(*r);
    }
    if (recipients.empty()) {
        return fail(ErrorKind::Refused, "action encrypt needs [archive] recipients in the config");
    }
    // The copy's date as classify reads it back: a local date in the schedule's zone.
    util::Date made = util::date_of(m_options.now);
    for (const auto& schedule : m_schedules) {
        if (schedule.id == entry.schedule_id) made = schedule.zone.local_date(m_options.now);
    }
    std::map<std::string, std::string> attributes = {
        {"category", entry.category},
        {"schedule", entry.schedule_id},
        {"trigger_date", util::format_date(entry.trigger_date)},
        {"expires", entry.expires ? util::format_date(*entry.expires) : "permanent"},
        {"encrypted", util::format_date(made)},
        {"intent", intent_id}};
    if (entry.client) attributes["client"] = *entry.client;
    if (entry.matter) attributes["matter"] = *entry.matter;
    // Recorded in the state index before the copy takes its final name (and so before the
    // original is overwritten): where the filesystem drops the xattrs, the index alone keeps
    // the copy's retention, and proves the copy lethe's to the recovery of this intent.
    auto record = [&](const act::EncryptedCopy& made_copy) {
        return append_encrypted(m_config.state_dir,
                                encrypted_entry(entry, made_copy, intent_id, made, m_options.now));
    };
    auto copy = act::encrypt_beside(file, recipients, attributes, temp + ".age.partial",
                                    &m_stop_token, record);
    if (!copy) return fail(copy.error());
    return nlohmann::json{{"name", copy->name},
                          {"sha256", copy->sha256},
                          {"bytes", copy->bytes},
                          {"format", "age v1 (X25519)"},
                          {"retention_attributes", copy->attributes_kept}};
}

// A due file whose action is archive: disposed of against the archive an earlier pass put
// it in (stopped or killed before it removed the sources), when that archive is still as
// the index recorded it; else collected for this pass's archive.
Status Pass::archive_or_dispose(PlanEntry entry) {
    std::string shown = fmt::format("{}/{}", entry.root, util::utf8_display(entry.facts.path));
    auto archived = m_archived.find(entry);
    if (!archived) {
        // Stopped while hashing that archive: the source is kept, as it is, for the next pass
        // to dispose of against the archive, which that pass checks again.
        if (archived.error().kind() != ErrorKind::Stopped) return fail(archived.error());
        m_summary.stopped = true;
        util::log_info("stopped on request while checking the archive that holds {} ({}): kept, "
                       "untouched", shown, archived.error().message());
        return {};
    }
    if (const auto& found = *archived) {
        if (found->problem.empty()) {
            util::log_info("{} is already in archive {} (written {} by a pass that did not "
                           "dispose of it): disposing of it against that archive", shown,
                           found->archive->name, found->archive->created);
            nlohmann::json extra = {
                {"archive", indexed_archive_method(*found->archive, *found->member)}};
            bool changed = false;
            if (auto st = act_on(entry, extra, found->member->sha256, &changed); !st) return st;
            if (!changed) return {};
            util::log_warning("{}: its content is not the copy in archive {}; archived again",
                              shown, found->archive->name);
        } else {
            util::log_warning("{}: archive {}, which the archive index says holds it, {}; the "
                              "source is kept and archived again", shown, found->archive->name,
                              found->problem);
        }
    }
    const policy::Category* c = category_of(entry);
    bool encrypt = c != nullptr && c->encrypt;
    auto archive_for = c != nullptr ? c->archive_for : std::nullopt;
    m_archives.add(std::move(entry), encrypt, archive_for);
    return {};
}

Status Pass::act_on(const PlanEntry& entry, const nlohmann::json& extra_in,
                    const std::string& archived_sha256, bool* changed_since_archived) {
    nlohmann::json extra = extra_in;
    auto fd = root_fd(entry.root);
    if (!fd) return fail(fd.error());
    std::string shown = fmt::format("{}/{}", entry.root, util::utf8_display(entry.facts.path));
    EventFields fields = EventFields::file(entry.root, util::utf8_display(entry.facts.path),
                                           entry.category,
                                           std::string(policy::to_string(entry.action)));
    bool overwrite = overwrites(entry.action);
    // A large file to sanitize is hashed while it is overwritten, with durable checkpoints in
    // its intent record, rather than read once before; a file whose hash decides whether it
    // is disposed of (an archived or a reviewed copy) is hashed first.
    const bool overlap = overwrite && entry.action != policy::Action::Encrypt &&
                         archived_sha256.empty() && entry.review.is_null() &&
                         entry.facts.size > act::hash_ahead_above();
    auto file = act::prepare(*fd, entry.facts, overwrite, false, &m_stop_token,
                             overlap ? act::ContentHash::Overlap : act::ContentHash::Read);
    if (!file && file.error().kind() == ErrorKind::Stopped) {
        // Stopped while hashing it: nothing was changed and no intent recorded.
        m_summary.stopped = true;
        util::log_info("stopped on request while hashing {}: kept, untouched", shown);
        return {};
    }
    if (!file) {
        if (file.error().kind() == ErrorKind::Refused) {
            m_summary.skip("changed_or_in_use");
            log_event(util::LogLevel::Warning, Event::Skipped, fields,
                      fmt::format("skipped {}: {}", shown, file.error().message()));
            return {};
        }
        ++m_summary.failed;
        log_event(util::LogLevel::Error, Event::Error, fields,
                  fmt::format("{}: {}", shown, file.error().message()));
        return {};
    }
    if (!archived_sha256.empty() && file->record().sha256_before != archived_sha256) {
        if (changed_since_archived != nullptr) {
            *changed_since_archived = true;
            return {};
        }
        m_summary.skip("changed_or_in_use");
        util::log_warning("skipped {}: changed since it was archived; kept (the archived copy "
                          "remains)", shown);
        return {};
    }
    if (!entry.review.is_null() && file->record().sha256_before != entry.review.value("sha256", "")) {
        ++m_summary.skipped;
        m_review.changed(entry, file->record().sha256_before);
        util::log_warning("kept {}: its content is not the version approved in review {}; back in "
                          "review", shown, entry.review.value("id", ""));
        return {};
    }
    // The file is moved into lethe's disposal folder before anything is destroyed: a folder
    // that cannot be used skips it now, before its intent.
    act::UnusableFolder unusable;
    if (auto st = act::use_disposal_folder(*file, *fd, &unusable); !st) {
        kept_without_folder(entry, fields, unusable, st.error());
        return {};
    }
    Intent intent{util::random_suffix(16), entry, file->record(),
                  fmt::format(".lethe-{}", util::random_suffix(8)), extra, m_ledger.last_seq(), m_request};
    intent.verify = m_config.sanitize_verify;
    intent.disposal_folder = file->disposal_folder();
    if (overwrite && entry.action != policy::Action::Encrypt && m_options.erasure == nullptr) {
        // Sanitized with its group (an erasure reports each file's certificate at once, so it
        // sanitizes one file at a time): the intents of the group are recorded together just
        // before the group is overwritten.
        m_staged_bytes += file->record().size;
        m_staged.push_back({entry, std::move(*file), extra, std::move(intent), nullptr});
        if (m_staged.size() >= kBatchFiles || m_staged_bytes >= kBatchBytes) return flush_staged();
        return {};
    }
    const std::string id = intent.id;
    const std::string temp_name = intent.temp_name;
    // Durable before anything is destroyed, beside the intents of the disposals whose
    // certificates wait for the group commit.
    if (auto st = record_intents({std::move(intent)}); !st) return st;
    util::fault_point("intent-written");
    if (entry.action == policy::Action::Encrypt) {
        auto copy = encrypt_copy(*file, entry, id, temp_name);
        if (!copy && copy.error().kind() == ErrorKind::Stopped) {
            // Nothing of the original was changed and the partial copy is removed.
            m_summary.stopped = true;
            util::log_info("stopped on request while encrypting {}: kept, not encrypted", shown);
            return drop_intent(id);
        }
        if (!copy) {
            // Nothing of the original was changed; a partial copy was removed.
            bool refused = copy.error().kind() == ErrorKind::Refused;
            if (refused) {
                m_summary.skip("encrypt_refused");
            } else {
                ++m_summary.failed;
            }
            util::log_error("{} not encrypted, kept: {}", shown, copy.error().message());
            return drop_intent(id);
        }
        extra = {{"encrypted_copy", *copy}};
    }
    // Detached from its name (and checked again) before anything is destroyed.
    if (auto st = act::detach(*file, temp_name); !st) return not_detached(entry, id, st.error());
    act::SanitizeOptions grouped = sanitize_options();
    grouped.sync_folder = false;  // once per folder of the group, before it is certified
    grouped.checkpoint = [this, id](const act::HashCheckpoint& c) {
        return record_hash_checkpoint(id, c);
    };
    auto done = overwrite ? act::sanitize(*file, temp_name, grouped) : act::remove(*file);
    if (!done && done.error().kind() == ErrorKind::Refused) {
        // Refused before anything was changed (the file grew or shrank since prepare): back
        // to its name.
        m_summary.skip("changed_or_in_use");
        util::log_warning("skipped {}: {}", shown, done.error().message());
        if (auto back = put_back(entry, file->disposal_folder(), temp_name); !back) {
            return fail(back.error());
        }
        return drop_intent(id);
    }
    if (!done && done.error().kind() == ErrorKind::Stopped) {
        // Partly overwritten, still under its name, not certified: the intent record stays
        // and the next pass overwrites the file again before anything else, then certifies.
        m_summary.stopped = true;
        util::log_info("stopped on request while overwriting {}: the next pass completes it",
                       shown);
        return {};
    }
    if (!done) {
        if (done.error().kind() == ErrorKind::Verification) {
            // The file goes back to its name, overwritten but not removed, and uncertified.
            ++m_summary.failed;
            ++m_summary.failed_verifications;
            log_event(util::LogLevel::Error, Event::Error, fields,
                      fmt::format("verification failed: {}; the next pass overwrites it once "
                                  "more", done.error().message()));
            if (auto st = mark_verification_failed(id, file->read_back_mismatch(),
                                                   done.error().message());
                !st) {
                return st;
            }
            // Failing that, it stays in the disposal folder, where the next pass finds it.
            if (auto back = put_back(entry, file->disposal_folder(), temp_name); !back) {
                util::log_error("{}: {}", shown, back.error().message());
            }
            return {};
        }
        // The intent stays, so the next pass completes this file before anything else.
        return fail(done.error());
    }
    // The certificate joins the group; the intent stays until the group is in the ledger.
    note_links(entry, *done);
    auto payload = certificate_payload(entry, *done, id, extra);
    m_pending.push_back({entry, std::move(payload), id, temp_name, file->disposal_folder(),
                         done->size, held_folder(*file)});
    m_pending_bytes += done->size;
    if (m_pending.size() >= kBatchFiles || m_pending_bytes >= kBatchBytes) {
        return commit_certificates();
    }
    return {};
}

// Sanitizes the staged group. Its intents are made durable together (one write, one
// fdatasync) before any file of the group is touched; holds are checked again just before
// each file is overwritten; the overwrites are written one after the other with their
// writeback started, then each is fdatasynced (the device has all of them to write at
// once), then each is read back from the device, truncated and renamed; the certificates,
// the unlinks and the intents' removal follow as one group (commit_certificates). A file
// left untouched (held meanwhile, changed, or the pass asked to stop) has its intent
// dropped; after a crash, the next pass finds such a file's content unchanged (its hash) and
// rolls its intent back instead of completing it (recover_one).
Status Pass::flush_staged() {
    if (m_staged.empty()) return {};
    std::vector<Staged> staged = std::move(m_staged);
    m_staged.clear();
    m_staged_bytes = 0;
    // Holds first: a held file gets no intent.
    std::vector<Staged> group;
    for (auto& g : staged) {
        auto held = held_now(g.entry);
        if (!held) return fail(held.error());
        if (!*held) group.push_back(std::move(g));
    }
    if (group.empty()) return {};
    std::vector<Intent> intents;
    for (auto& g : group) {
        g.intent.after_seq = m_ledger.last_seq();
        intents.push_back(g.intent);
    }
    if (auto st = record_intents(std::move(intents)); !st) return st;
    util::fault_point("group-intents-written");

    auto shown = [](const PlanEntry& e) {
        return fmt::format("{}/{}", e.root, util::utf8_display(e.facts.path));
    };
    auto fields = [](const PlanEntry& e) {
        return EventFields::file(e.root, util::utf8_display(e.facts.path), e.category,
                                 std::string(policy::to_string(e.action)));
    };
    act::SanitizeOptions options = sanitize_options();
    options.sync_folder = false;  // once per folder of the group, before it is certified
    // The files of a group were reached before any stop request, and a stop waits for
    // them (a group is at most kBatchBytes); only a large file stops between two blocks
    // (SIGTERM), as a file sanitized on its own does. Either way blocks are reported.
    auto options_for = [&](const Staged& g) {
        act::SanitizeOptions o = options;
        if (g.file.record().size < kInterruptibleBytes) o.stop = &m_block_token;
        o.checkpoint = [this, id = g.intent.id](const act::HashCheckpoint& c) {
            return record_hash_checkpoint(id, c);
        };
        return o;
    };
    std::set<std::string> untouched;  // intents to drop: nothing of their file was changed
    std::vector<Staged*> overwritten;
    bool interrupted = false;
    for (auto& g : group) {
        const PlanEntry& e = g.entry;
        if (interrupted) {
            untouched.insert(g.intent.id);
            continue;
        }
        // Again just before the file is touched.
        auto held = held_now(e);
        if (!held) return fail(held.error());
        if (*held) {
            untouched.insert(g.intent.id);
            continue;
        }
        g.holds_checked = m_holds_checked;
        // Detached from its name (and checked again) before anything is destroyed.
        if (auto moved = act::detach(g.file, g.intent.temp_name); !moved) {
            if (moved.error().kind() != ErrorKind::Refused) {
                // Its entry is stuck in the disposal folder, not overwritten: said and recorded.
                if (auto st = not_detached(e, g.intent.id, moved.error()); !st) return st;
                continue;
            }
            m_summary.skip("changed_or_in_use");
            log_event(util::LogLevel::Warning, Event::Skipped, fields(e),
                      fmt::format("skipped {}: {}", shown(e), moved.error().message()));
            untouched.insert(g.intent.id);
            continue;
        }
        auto st = act::overwrite(g.file, options_for(g));
        if (!st && st.error().kind() == ErrorKind::Refused) {
            // Refused before anything was changed (the file grew or shrank since prepare):
            // back to its name.
            m_summary.skip("changed_or_in_use");
            util::log_warning("skipped {}: {}", shown(e), st.error().message());
            if (auto back = put_back(e, g.intent.disposal_folder, g.intent.temp_name); !back) {
                return fail(back.error());
            }
            untouched.insert(g.intent.id);
            continue;
        }
        if (!st && st.error().kind() == ErrorKind::Stopped) {
            // Partly overwritten, still under its name, not certified: the intent record
            // stays and the next pass overwrites the file again, then certifies it.
            m_summary.stopped = true;
            interrupted = true;
            util::log_info("stopped on request while overwriting {}: the next pass completes it",
                           shown(e));
            continue;
        }
        // Any other error: the intents stay, so the next pass completes the group.
        if (!st) return st;
        overwritten.push_back(&g);
    }
    util::fault_point("group-overwritten");
    for (Staged* g : overwritten) {
        if (auto st = act::sync_overwrite(g->file); !st) return st;
    }
    util::fault_point("group-synced");
    for (Staged* g : overwritten) {
        const PlanEntry& e = g->entry;
        auto done = act::complete_sanitize(g->file, g->intent.temp_name, options_for(*g));
        if (!done && done.error().kind() == ErrorKind::Stopped) {
            m_summary.stopped = true;
            util::log_info("stopped on request while reading back {}: the next pass completes it",
                           shown(e));
            continue;
        }
        if (!done && done.error().kind() == ErrorKind::Verification) {
            // The file stays where it is, overwritten but not removed, and uncertified.
            ++m_summary.failed;
            ++m_summary.failed_verifications;
            log_event(util::LogLevel::Error, Event::Error, fields(e),
                      fmt::format("verification failed: {}; the next pass overwrites it once "
                                  "more", done.error().message()));
            if (auto st = mark_verification_failed(g->intent.id, g->file.read_back_mismatch(),
                                                   done.error().message());
                !st) {
                return st;
            }
            // Back to its name, kept; failing that, the next pass finds it where it is.
            if (auto back = put_back(e, g->intent.disposal_folder, g->intent.temp_name); !back) {
                util::log_error("{}: {}", shown(e), back.error().message());
            }
            continue;
        }
        if (!done) return fail(done.error());
        m_holds_checked = g->holds_checked;
        note_links(e, *done);
        auto payload = certificate_payload(e, *done, g->intent.id, g->extra);
        m_pending.push_back({e, std::move(payload), g->intent.id, g->intent.temp_name,
                             g->intent.disposal_folder, done->size, held_folder(g->file)});
        m_pending_bytes += done->size;
    }
    if (!untouched.empty()) {
        std::erase_if(m_intents, [&untouched](const Intent& in) { return untouched.count(in.id) != 0; });
        if (m_pending.empty()) return write_intents();
    }
    return commit_certificates();
}

// Re-reads the hold store if it changed (one stat otherwise) and tells whether a hold now
// covers the file, so a hold placed while the pass runs protects every file not yet
// reached. Only protection can come from here: a file a hold covered when the plan was made
// is not in the plan, so a release in the store never reaches a file before the next
// pass's state check has judged it against the ledger. The pass never enters a store change
// in the ledger (the hold commands append their own entries). An unreadable store stops the
// pass.
Result<bool> Pass::held_now(const PlanEntry& entry) {
    auto holds = m_holds.current();
    if (!holds) return fail(holds.error());
    m_holds_checked = (*holds)->certificate_fields();
    PlanEntry held = entry;
    // Holds are judged on today in the zone of the file's schedule, as the plan judged them.
    apply_holds(held, **holds,
                policy::zone_of(m_schedules, entry.schedule_id).local_date(m_options.now));
    if (held.status != classify::Status::Held) return false;
    ++m_summary.held;
    log_event(util::LogLevel::Info, Event::HoldChanged,
              EventFields::file(entry.root, util::utf8_display(entry.facts.path), entry.category,
                                std::string(policy::to_string(entry.action))),
              fmt::format("kept {}/{}: {} (placed while the pass ran)", entry.root,
                          util::utf8_display(entry.facts.path), held.reason));
    return true;
}

Result<uint64_t> Pass::write_checkpoint() {
    nlohmann::json checkpoint = {
        {"type", "checkpoint"},
        {"time", util::format_timestamp(m_options.now)},
        {"host", host_name()},
        {"agent", fmt::format("lethe {}", LETHE_VERSION)},
        {"head", m_ledger.head()},
        {"entries", m_ledger.last_seq()},
        {"pass",
         {{"planned", m_summary.planned},
          {"disposed", m_summary.disposed},
          {"bytes", m_summary.bytes},
          {"skipped", m_summary.skipped},
          {"held", m_summary.held},
          {"in_review", m_summary.in_review},
          {"failed", m_summary.failed},
          {"failed_verifications", m_summary.failed_verifications},
          {"observed", m_summary.observed},
          {"recovered", m_summary.recovered},
          {"archives_disposed", m_summary.archives_disposed},
          {"archives_recovered", m_summary.archives_recovered},
          {"archives_held", m_summary.archives_held},
          {"stopped", m_summary.stopped}}},
    };
    if (!m_guards_overridden.empty()) {
        checkpoint["pass"]["confirm_large"] = m_guards_overridden;
    }
    if (m_options.injected_time) checkpoint["clock"] = "injected (test build)";
    // entries, head and merkle_root as the ledger is when the checkpoint is appended (other
    // processes append hold and review entries meanwhile).
    auto seq = m_ledger.append_checkpoint(std::move(checkpoint));
    if (!seq) return fail(seq.error().with_context("ledger checkpoint"));
    m_summary.checkpoint_seq = *seq;
    m_summary.checkpoint_head = m_ledger.head();
    util::log_info("checkpoint: ledger entry {}, head {}", *seq, m_ledger.head());
    return *seq;
}

Result<RunSummary> Pass::run() {
    auto result = m_options.erasure != nullptr ? run_erasure() : run_steps();
    if (!result && !m_pending.empty()) {
        // Certify what was done before the error; if that fails too, the intent records
        // let the next pass do it.
        if (auto st = commit_certificates(); !st) {
            util::log_error("certificates of this pass left to the next one: {}",
                            st.error().message());
        }
    }
    return result;
}

Result<RunSummary> Pass::run_steps() {
    if (auto st = recover(); !st) {
        if (st.error().kind() != ErrorKind::Stopped) return fail(st.error());
        // The intent record stays; the next pass tries again.
        m_summary.stopped = true;
        util::log_info("stopped on request while completing an interrupted disposal");
        return finish();
    }
    auto archive_recovered = m_disposer.recover();
    if (!archive_recovered) {
        if (archive_recovered.error().kind() != ErrorKind::Stopped) {
            return fail(archive_recovered.error());
        }
        m_summary.stopped = true;
        util::log_info("stopped on request while completing an interrupted archive disposal");
        return finish();
    }
    if (*archive_recovered) {
        ++m_summary.archives_recovered;
        ++m_summary.archives_disposed;
    }
    auto committed = recover_archive_commit(m_config.state_dir, &m_stop_token);
    if (!committed && committed.error().kind() == ErrorKind::Stopped) {
        // The commit record stays; the next pass hashes the archive again.
        m_summary.stopped = true;
        util::log_info("stopped on request while checking an archive an interrupted pass "
                       "wrote ({})", committed.error().message());
        return finish();
    }
    if (!committed) return fail(committed.error());
    if (*committed) util::log_warning("{}", **committed);
    // A corrupt review queue stops the pass like a corrupt hold store.
    if (auto st = m_review.check(); !st) return fail(st.error());

    PlanSummary plan;
    const RunSummary before_walk = m_summary;
    if (auto st = write_plan(plan); !st) {
        if (st.error().kind() != ErrorKind::Stopped) return fail(st.error());
        // A plan cut short is never acted on, and the review queue is not brought up to
        // date from it (files not walked would look gone). Its counts are dropped too.
        ::unlink(plan_path().c_str());
        m_summary = before_walk;
        m_summary.stopped = true;
        util::log_info("stopped on request {} ({}): nothing was disposed of; the next pass walks "
                       "again",
                       m_walked ? "while hashing the files newly due for review"
                                : "during the walk",
                       st.error().message());
        return finish();
    }
    for (const auto& [root, walk] : plan.walks) m_summary.scanned_by_root[root] = walk.files;
    if (auto it = plan.by_status.find("review"); it != plan.by_status.end()) {
        m_summary.review = it->second.files;
    }
    if (auto st = check_guards(plan); !st) {
        ::unlink(plan_path().c_str());
        return fail(st.error());
    }

    auto reader = util::LineReader::open(plan_path());
    if (!reader) return fail(reader.error());
    std::string line;
    bool complete = true;
    uint64_t done = 0;
    uint64_t reached = 0;
    for (;;) {
        auto more = reader->next(line, complete);
        if (!more) return fail(more.error());
        if (!*more) break;
        auto j = nlohmann::json::parse(line, nullptr, false);
        auto entry = j.is_discarded()
                         ? Result<PlanEntry>(fail(ErrorKind::Internal, "plan line is not JSON"))
                         : PlanEntry::from_json(j);
        if (!entry) return fail(entry.error().with_context(plan_path()));
        if (m_options.progress) m_options.progress(entry->root, done++, m_summary.planned);
        // Between files no intent record is open: the safe point to stop at.
        if (m_summary.stopped || (m_options.stop != nullptr && m_options.stop->load())) {
            m_summary.stopped = true;
            break;
        }
        if (test_pause_due(reached)) {
            if (auto st = flush_staged(); !st) return fail(st.error());
        }
        test_pause_between_files(reached++);
        auto held = held_now(*entry);
        if (!held) return fail(held.error());
        if (*held) continue;
        if (!entry->review.is_null()) {
            // Certificates in the group go first: the approval entries the check may append
            // never fall between a disposal and its certificate.
            if (auto st = commit_certificates(); !st) return fail(st.error());
            auto approved = m_review.still_approved(*entry, m_ledger);
            if (!approved) return fail(approved.error());
            if (!*approved) {
                ++m_summary.in_review;
                continue;
            }
        }
        if (entry->action == policy::Action::Archive) {
            if (auto st = archive_or_dispose(std::move(*entry)); !st) return fail(st.error());
            continue;
        }
        if (auto st = act_on(*entry); !st) return fail(st.error());
    }
    // One verified archive per root, client/matter and encryption setting; only then are
    // the archived sources removed and certified. A pass asked to stop archives nothing.
    // Writing archives takes a while: certify what is done first.
    if (auto st = flush_staged(); !st) return fail(st.error());
    if (auto st = commit_certificates(); !st) return fail(st.error());
    std::vector<ArchivedGroup> archived;
    if (!m_summary.stopped) {
        archived = m_archives.write_all(
            [this](const std::string& root) { return root_fd(root); }, m_summary, &m_stop_token);
    }
    for (const auto& group : archived) {
        for (size_t i = 0; i < group.entries.size(); ++i) {
            const PlanEntry& e = group.entries[i];
            // A source not removed now stays; the next pass finds it in this archive (the
            // index) and disposes of it against it.
            if (m_summary.stopped || (m_options.stop != nullptr && m_options.stop->load())) {
                m_summary.stopped = true;
                break;
            }
            // The archive is written; a hold placed meanwhile still keeps the source.
            auto held = held_now(e);
            if (!held) return fail(held.error());
            if (*held) continue;
            if (!e.review.is_null()) {
                PlanEntry again = e;
                if (auto st = commit_certificates(); !st) return fail(st.error());
                auto approved = m_review.still_approved(again, m_ledger);
                if (!approved) return fail(approved.error());
                if (!*approved) {
                    ++m_summary.in_review;
                    continue;
                }
            }
            nlohmann::json extra = {{"archive", archive_method(group, e)}};
            if (auto st = act_on(e, extra, group.archive.members[i].sha256); !st) {
                return fail(st.error());
            }
        }
    }
    if (auto st = flush_staged(); !st) return fail(st.error());
    if (!m_summary.stopped) {
        if (auto st = commit_certificates(); !st) return fail(st.error());
        if (auto st = expire_archives_step(); !st) return fail(st.error());
    }
    return finish();
}

// Ends the pass with its signed checkpoint.
Result<RunSummary> Pass::finish() {
    if (auto st = flush_staged(); !st) return fail(st.error());
    if (auto st = commit_certificates(); !st) return fail(st.error());
    auto seq = write_checkpoint();
    if (!seq) return fail(seq.error());
    ::unlink(plan_path().c_str());
    return m_summary;
}

// The erasure's plan: the client's files to erase, in the plan file as due entries with the
// erasure's action; those kept are reported at once.
Status Pass::write_erasure_plan(const ErasureRequest& request, const HoldSet& holds) {
    UniqueFd out(::open(plan_path().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!out) return fail(errno_error(fmt::format("create {}", plan_path()), errno));
    std::string buffer;
    Status write_error;
    auto flush = [&] {
        if (write_error) write_error = util::write_all(out.get(), buffer, plan_path());
        buffer.clear();
    };
    PlanOptions plan_options;
    plan_options.now = m_options.now;
    plan_options.root = m_options.root;
    plan_options.client = request.client;
    plan_options.matter = request.matter;
    plan_options.list_all = true;
    const policy::LocalToday today(m_schedules, plan_options.now);
    auto planned = make_plan(m_config, m_schedules, plan_options, [&](const PlanEntry& e) {
        ErasureVerdict v = erasure_verdict(e, m_schedules, holds, today);
        if (!v.erase) {
            ++(v.holds.empty() ? m_summary.kept : m_summary.held);
            ErasureItem item;
            item.root = e.root;
            item.path = e.facts.path;
            item.category = e.category;
            item.size = e.facts.size;
            item.reason = v.reason;
            item.holds = v.holds;
            item.mandate = v.mandate;
            report(item);
            return;
        }
        PlanEntry due = e;
        due.status = classify::Status::Due;
        due.reason.clear();
        due.action = v.action;
        ++m_summary.planned;
        buffer += due.to_json().dump();
        buffer += '\n';
        if (buffer.size() > (1u << 16)) flush();
    });
    if (!planned) return fail(planned.error());
    m_summary.failed += refused_mounts(*planned);
    flush();
    return write_error;
}

// Carries out an erasure request: the client's files, then its archives, then a summary
// certificate that closes the request, then the checkpoint. (A dry run is
// dry_run_erasure(): it never gets here, so it takes no lock and writes nothing.)
Result<RunSummary> Pass::run_erasure() {
    const ErasureRequest& request = *m_options.erasure;
    if (auto st = recover(); !st) return fail(st.error());
    auto recovered = m_disposer.recover();
    if (!recovered) return fail(recovered.error());
    if (*recovered) ++m_summary.archives_recovered;
    // An archive renamed into place but not yet indexed holds the client's files too.
    auto committed = recover_archive_commit(m_config.state_dir);
    if (!committed) return fail(committed.error());
    if (*committed) util::log_warning("{}", **committed);
    // Both must be readable before anything is decided: an unreadable index would hide
    // archived copies, an unreadable hold store would hide holds.
    auto index = load_archive_index(m_config.state_dir);
    if (!index) return fail(index.error());
    auto holds = m_holds.current();
    if (!holds) return fail(holds.error());
    const policy::LocalToday today(m_schedules, m_options.now);

    if (auto st = write_erasure_plan(request, **holds); !st) return fail(st.error());
    std::vector<const IndexedArchive*> to_erase;
    uint64_t copies = 0;
    for (const auto& a : archives_in_scope(*index, m_schedules, **holds, request, today)) {
        if (m_options.root && a.archive->root != *m_options.root) continue;
        if (a.verdict.erase) {
            to_erase.push_back(a.archive);
            copies += a.archive->members.size();
            continue;
        }
        ++(a.verdict.holds.empty() ? m_summary.kept : m_summary.held);
        ErasureItem item;
        item.kind = ErasureItem::Kind::Archive;
        item.root = a.archive->root;
        item.path = a.archive->name;
        item.size = a.archive->bytes;
        item.members = a.archive->members.size();
        item.reason = a.verdict.reason;
        item.holds = a.verdict.holds;
        item.mandate = a.verdict.mandate;
        report(item);
    }
    uint64_t total = m_summary.planned + copies;
    if (!request.confirm_large && total > static_cast<uint64_t>(m_config.max_disposals_per_pass)) {
        ::unlink(plan_path().c_str());
        return fail(ErrorKind::Refused,
                    fmt::format("refusing the erasure: it would dispose of {} and {}, more than "
                                "max_disposals_per_pass = {}; nothing was disposed (check the "
                                "list with --dry-run, then add --confirm-large)",
                                util::counted(m_summary.planned, "file", "files"),
                                util::counted(copies, "archived copy", "archived copies"),
                                m_config.max_disposals_per_pass));
    }

    auto reader = util::LineReader::open(plan_path());
    if (!reader) return fail(reader.error());
    m_request = request.certificate_field();
    std::vector<uint64_t> certificates;
    std::string line;
    bool complete = true;
    for (;;) {
        auto more = reader->next(line, complete);
        if (!more) return fail(more.error());
        if (!*more) break;
        auto j = nlohmann::json::parse(line, nullptr, false);
        auto entry = j.is_discarded()
                         ? Result<PlanEntry>(fail(ErrorKind::Internal, "plan line is not JSON"))
                         : PlanEntry::from_json(j);
        if (!entry) return fail(entry.error().with_context(plan_path()));
        ErasureItem item;
        item.root = entry->root;
        item.path = entry->facts.path;
        item.category = entry->category;
        item.size = entry->facts.size;
        item.action = std::string(policy::to_string(entry->action));
        if (m_options.stop != nullptr && m_options.stop->load()) {
            m_summary.stopped = true;
            break;
        }
        auto held = held_now(*entry);
        if (!held) return fail(held.error());
        if (*held) {
            auto now_holds = m_holds.current();
            if (!now_holds) return fail(now_holds.error());
            item.holds = (*now_holds)->covering(entry->root, entry->facts.path, entry->client,
                                                entry->matter, today.of(entry->schedule_id));
            item.reason = fmt::format("legal hold {} (placed while the erasure ran)",
                                      fmt::join(item.holds, ", "));
            item.action.clear();
            report(item);
            continue;
        }
        RunSummary before = m_summary;
        if (auto st = act_on(*entry); !st) return fail(st.error());
        // An erasure reports each file's certificate number: commit its group now.
        if (auto st = commit_certificates(); !st) return fail(st.error());
        if (m_summary.disposed > before.disposed) {
            item.outcome = ErasureItem::Outcome::Erased;
            item.certificate = m_ledger.last_seq();
            certificates.push_back(item.certificate);
        } else if (m_summary.skipped > before.skipped) {
            ++m_summary.kept;
            item.reason = "changed since it was listed, in use, or refused by the file checks "
                          "(see the log)";
        } else {
            item.outcome = ErasureItem::Outcome::Failed;
            item.reason = "disposal failed (see the log); the file is kept";
        }
        report(item);
    }
    ::unlink(plan_path().c_str());

    for (const IndexedArchive* a : to_erase) {
        ErasureItem item;
        item.kind = ErasureItem::Kind::Archive;
        item.root = a->root;
        item.path = a->name;
        item.size = a->bytes;
        item.members = a->members.size();
        item.action = "sanitize";
        if (m_summary.stopped) break;
        auto now_holds = m_holds.current();
        if (!now_holds) return fail(now_holds.error());
        item.holds = holds_on_archive(*a, **now_holds, today);
        if (!item.holds.empty()) {
            ++m_summary.held;
            item.reason = fmt::format("legal hold {} (placed while the erasure ran)",
                                      fmt::join(item.holds, ", "));
            item.action.clear();
            report(item);
            continue;
        }
        ArchiveDisposalReason why{"erasure request", {{"request", m_request}}, request.reference};
        auto seq = m_disposer.dispose(*a, why, (*now_holds)->certificate_fields());
        if (!seq && seq.error().kind() == ErrorKind::Stopped) {
            // Its intent record (if its overwrite began) lets the next pass complete it.
            m_summary.stopped = true;
            util::log_info("stopped on request while sanitizing archive {}", a->name);
            break;
        }
        if (!seq) {
            if (seq.error().kind() != ErrorKind::Refused &&
                seq.error().kind() != ErrorKind::Verification) {
                return fail(seq.error());
            }
            ++m_summary.failed;
            item.outcome = ErasureItem::Outcome::Failed;
            item.reason = seq.error().message();
            report(item);
            continue;
        }
        ++m_summary.archives_disposed;
        if (m_summary.first_seq == 0) m_summary.first_seq = *seq;
        item.outcome = ErasureItem::Outcome::Erased;
        item.certificate = *seq;
        certificates.push_back(*seq);
        report(item);
    }
    if (auto st = commit_certificates(); !st) return fail(st.error());

    nlohmann::json summary = {
        {"type", "erasure-request"},
        {"time", util::format_timestamp(m_options.now)},
        {"host", host_name()},
        {"agent", fmt::format("lethe {}", LETHE_VERSION)},
        {"request", m_request},
        {"erased",
         {{"files", m_summary.disposed},
          {"bytes", m_summary.bytes},
          {"archives", m_summary.archives_disposed},
          {"certificates", certificates}}},
        {"kept", {{"held", m_summary.held}, {"other", m_summary.kept}, {"items", m_erasure_kept}}},
        {"failed", m_summary.failed},
        {"complete", !m_summary.stopped && m_summary.failed == 0},
    };
    if (m_options.injected_time) summary["clock"] = "injected (test build)";
    auto seq = m_ledger.append(std::move(summary));
    if (!seq) return fail(seq.error().with_context("ledger"));
    m_summary.request_seq = *seq;
    m_request = nullptr;
    auto cp = write_checkpoint();
    if (!cp) return fail(cp.error());
    return m_summary;
}

}  // namespace

Result<RunSummary> run_pass(const policy::AgentConfig& config,
                            const std::vector<policy::RetentionSchedule>& schedules,
                            const ledger::SigningKey& key, const RunOptions& options) {
    auto lock = StateLock::acquire(config.state_dir);
    if (!lock) return fail(lock.error());
    auto ledger = ledger::Ledger::open(config.ledger_path(), key,
                                         {options.now, options.injected_time});
    if (!ledger) return fail(ledger.error());
    // Before anything else: the ledger reaches what state_dir recorded, and the hold and
    // review stores say what the ledger says (rebuilt from it if not).
    // A release or an approval counts only when signed by lethe's keys.
    std::vector<ledger::VerifyKey> trusted{key.public_key()};
    auto retired = ledger_keys(config.public_key_path(),
                               util::folder_of(config.signing_key) + "/retired");
    if (retired) trusted = std::move(*retired);
    if (auto checked = check_state(config.state_dir, *ledger, trusted); !checked) {
        return fail(checked.error());
    }
    Pass pass(config, schedules, options, *ledger);
    return pass.run();
}

}  // namespace lethe::service

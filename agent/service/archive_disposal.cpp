#include "agent/service/archive_disposal.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>

#include "agent/act/disposal.hpp"
#include "agent/scan/file_facts.hpp"
#include "agent/service/plan.hpp"
#include "agent/util/encoding.hpp"
#include "agent/util/fault.hpp"
#include "agent/util/fs.hpp"
#include "agent/util/log.hpp"
#include "agent/util/plural.hpp"

namespace lethe::service {

namespace {

std::string host_name() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
    return buf;
}

// The archive's folder and file name, from the path recorded when it was written.
std::pair<std::string, std::string> split_path(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos) return {".", path};
    if (slash == 0) return {"/", path.substr(1)};
    return {path.substr(0, slash), path.substr(slash + 1)};
}

act::SanitizeOptions sanitize_options(const policy::AgentConfig& config,
                                      const util::StopToken* stop) {
    return {config.sanitize_passes, config.sanitize_final_zero, true, stop,
            config.sanitize_verify};
}

nlohmann::json payload_for(const IndexedArchive& archive, const act::DisposalRecord& rec,
                           const scan::FileFacts& facts, const std::string& intent_id,
                           const ArchiveDisposalReason& why, const nlohmann::json& holds_checked,
                           util::TimePoint now, bool injected) {
    nlohmann::json method = {{"kind", rec.method},
                             {"passes", rec.passes},
                             {"pattern", rec.pattern},
                             {"verified", rec.verified},
                             {"read_back", rec.read_back},
                             {"filesystem", rec.filesystem},
                             {"residual_risks", rec.residual_risks},
                             {"scope",
                              "file-level disposal of the archive file through the filesystem; "
                              "not a NIST SP 800-88 Clear or Purge of the storage medium"}};
    if (!rec.handling.empty()) method["handling"] = rec.handling;
    nlohmann::json p = {{"type", "archive-disposal"},
                        {"time", util::format_timestamp(now)},
                        {"host", host_name()},
                        {"agent", fmt::format("lethe {}", LETHE_VERSION)},
                        {"reason", why.reason},
                        {"archive", archive_subject(archive)},
                        {"subject",
                         {{"size", rec.size},
                          {"inode", facts.inode},
                          {"device", facts.device},
                          {"mtime", util::format_timestamp(facts.mtime, true)},
                          {"sha256", rec.sha256_before}}},
                        {"action", "sanitize"},
                        {"method", method},
                        {"holds_checked", holds_checked},
                        {"intent", intent_id}};
    if (archive.client) p["client"] = *archive.client;
    if (archive.matter) p["matter"] = *archive.matter;
    if (why.extra.is_object()) {
        for (const auto& [k, v] : why.extra.items()) p[k] = v;
    }
    if (injected) p["clock"] = "injected (test build)";
    return p;
}

}  // namespace

nlohmann::json archive_subject(const IndexedArchive& archive) {
    nlohmann::json members = nlohmann::json::array();
    for (const auto& m : archive.members) {
        nlohmann::json j = {{"sha256", m.sha256},
                            {"size", m.size},
                            {"category", m.category},
                            {"archived", util::format_date(m.archived)},
                            {"expires", m.expires ? util::format_date(*m.expires) : "permanent"}};
        put_path(j, m.path);
        members.push_back(std::move(j));
    }
    nlohmann::json j = {{"name", archive.name},           {"path", archive.path},
                        {"sha256", archive.sha256},       {"bytes", archive.bytes},
                        {"created", archive.created},     {"root", archive.root},
                        {"encrypted", archive.encrypted}, {"members", std::move(members)}};
    if (archive.client) j["client"] = *archive.client;
    if (archive.matter) j["matter"] = *archive.matter;
    return j;
}

std::string ArchiveDisposer::intent_path() const {
    return m_config.state_dir + "/archive-intent.json";
}

Status ArchiveDisposer::clear_intent() {
    if (::unlink(intent_path().c_str()) != 0 && errno != ENOENT) {
        return fail(errno_error(fmt::format("remove {}", intent_path()), errno));
    }
    return util::fsync_dir(m_config.state_dir);
}

Result<uint64_t> ArchiveDisposer::dispose(const IndexedArchive& archive,
                                          const ArchiveDisposalReason& why,
                                          const nlohmann::json& holds_checked) {
    auto [dir, name] = split_path(archive.path);
    auto dir_fd = scan::open_root(dir);
    if (!dir_fd) return fail(ErrorKind::Refused, dir_fd.error().message());
    auto facts = scan::stat_beneath(dir_fd->get(), name);
    if (!facts) {
        return fail(ErrorKind::Refused, fmt::format("archive {} is not where it was written: {}",
                                                    archive.path, facts.error().message()));
    }
    // Stopped while hashing, nothing has changed and no intent is recorded yet.
    auto file = act::prepare(dir_fd->get(), *facts, true, false, m_stop);
    if (!file) return fail(file.error());
    if (file->record().sha256_before != archive.sha256) {
        return fail(ErrorKind::Refused,
                    fmt::format("archive {} is not the one indexed (its SHA-256 changed); kept",
                                archive.path));
    }
    std::string id = util::random_suffix(16);
    std::string temp = fmt::format(".lethe-{}", util::random_suffix(8));
    nlohmann::json intent = {{"id", id},
                             {"name", archive.name},
                             {"temp_name", temp},
                             {"sha256", file->record().sha256_before},
                             {"size", file->record().size},
                             {"inode", facts->inode},
                             {"device", facts->device},
                             {"mtime", util::format_timestamp(facts->mtime, true)},
                             {"filesystem", file->record().filesystem},
                             {"residual_risks", file->record().residual_risks},
                             {"reason", why.reason},
                             {"holds_checked", holds_checked}};
    if (why.extra.is_object()) intent["extra"] = why.extra;
    if (why.request) intent["request"] = *why.request;
    if (!m_config.sanitize_verify) intent["verify"] = false;
    if (auto st = util::write_file_atomic(intent_path(), intent.dump(), 0600); !st) {
        return fail(st.error().with_context("archive intent record"));
    }
    util::fault_point("archive-intent-written");
    auto done = act::sanitize(*file, temp, sanitize_options(m_config, m_stop));
    if (!done) {
        // Stopped on request, the intent record stays: the next pass overwrites the archive
        // again from the start and certifies it.
        if (done.error().kind() == ErrorKind::Refused ||
            done.error().kind() == ErrorKind::Verification) {
            // Nothing to complete later: the archive stays where it is.
            if (auto st = clear_intent(); !st) return fail(st.error());
        }
        return fail(done.error());
    }
    auto seq = m_ledger.append(
        payload_for(archive, *done, *facts, id, why, holds_checked, m_now, m_injected));
    if (!seq) return fail(seq.error().with_context("ledger"));
    util::fault_point("archive-certified");
    auto removed = act::finish_interrupted(dir_fd->get(), name, temp);
    if (!removed) return fail(removed.error());
    if (auto st = append_archive_disposed(
            m_config.state_dir,
            {archive.name, util::format_timestamp(m_now), why.reason, *seq, why.request});
        !st) {
        return fail(st.error().with_context("archive index"));
    }
    if (auto st = clear_intent(); !st) return fail(st.error());
    return *seq;
}

Result<bool> ArchiveDisposer::recover() {
    auto text = util::read_file(intent_path());
    if (!text) {
        if (text.error().sys_errno() == ENOENT) return false;
        return fail(text.error());
    }
    auto refuse = [&](const std::string& why) {
        return fail(ErrorKind::Refused,
                    fmt::format("{} is unreadable ({}); refusing to dispose until it is inspected",
                                intent_path(), why));
    };
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return refuse("not JSON");
    auto index = load_archive_index(m_config.state_dir);
    if (!index) return fail(index.error());
    try {
        std::string id = j.at("id").get<std::string>();
        std::string temp = j.at("temp_name").get<std::string>();
        const IndexedArchive* archive = index->find(j.at("name").get<std::string>());
        if (archive == nullptr) return refuse("it names an archive that is not indexed");
        ArchiveDisposalReason why{j.at("reason").get<std::string>(),
                                  j.contains("extra") ? j.at("extra") : nlohmann::json(),
                                  std::nullopt};
        if (j.contains("request")) why.request = j.at("request").get<std::string>();
        auto [dir, name] = split_path(archive->path);
        auto dir_fd = scan::open_root(dir);
        if (!dir_fd) return fail(dir_fd.error());
        uint64_t seq = 0;
        const nlohmann::json& last = m_ledger.last_payload();
        if (last.is_object() && last.value("intent", "") == id) {
            seq = m_ledger.last_seq();  // certified; only the cleanup was interrupted
        } else {
            util::log_warning("completing the interrupted disposal of archive {}", archive->path);
            act::DisposalRecord rec;
            rec.sha256_before = j.at("sha256").get<std::string>();
            rec.size = j.at("size").get<uint64_t>();
            rec.filesystem = j.at("filesystem").get<std::string>();
            rec.residual_risks = j.at("residual_risks").get<std::vector<std::string>>();
            rec.method = "file overwrite";
            scan::FileFacts facts;
            facts.inode = j.at("inode").get<uint64_t>();
            facts.device = j.at("device").get<uint64_t>();
            auto still = scan::stat_beneath(dir_fd->get(), name);
            if (still && still->inode == facts.inode && still->device == facts.device) {
                // Interrupted before the rename: overwrite again from the start.
                auto file = act::prepare(dir_fd->get(), *still, true, true, m_stop);
                if (!file) return fail(file.error());
                auto done = act::sanitize(*file, temp, sanitize_options(m_config, m_stop));
                if (!done) return fail(done.error());
                done->sha256_before = rec.sha256_before;
                done->size = rec.size;
                rec = *done;
                facts.mtime = still->mtime;
            } else {
                auto finished = act::finish_interrupted(dir_fd->get(), name, temp);
                if (!finished) return fail(finished.error());
                auto o = sanitize_options(m_config, nullptr);
                bool verify = j.value("verify", true);
                rec.verified = *finished && verify;
                rec.passes = o.passes + (o.final_zero ? 1 : 0);
                rec.pattern = o.final_zero ? "random+zero" : "random";
                rec.read_back =
                    !*finished ? "not confirmed: the file was gone when the pass resumed"
                    : verify   ? "verified before the interruption (the file had been renamed)"
                               : std::string(act::kNoReadBack);
            }
            auto appended = m_ledger.append(
                payload_for(*archive, rec, facts, id, why,
                            "checked by the interrupted process before it began this disposal",
                            m_now, m_injected));
            if (!appended) return fail(appended.error().with_context("ledger"));
            seq = *appended;
        }
        if (auto removed = act::finish_interrupted(dir_fd->get(), name, temp); !removed) {
            return fail(removed.error());
        }
        if (!archive->disposed) {
            if (auto st = append_archive_disposed(
                    m_config.state_dir,
                    {archive->name, util::format_timestamp(m_now), why.reason, seq, why.request});
                !st) {
                return fail(st.error().with_context("archive index"));
            }
        }
        if (auto st = clear_intent(); !st) return fail(st.error());
        return true;
    } catch (const nlohmann::json::exception& e) {
        return refuse(e.what());
    }
}

Result<ArchiveExpirySummary> expire_archives(
    const policy::AgentConfig& config, const std::vector<policy::RetentionSchedule>& schedules,
    ArchiveDisposer& disposer, HoldWatch& holds, const policy::LocalToday& today,
    const std::optional<std::string>& root, const std::atomic<bool>* stop,
    std::vector<std::string>* confirmed_large) {
    ArchiveExpirySummary out;
    auto index = load_archive_index(config.state_dir);
    if (!index) return fail(index.error());
    auto enforced = [&](const std::string& schedule_id) {
        for (const auto& s : schedules) {
            if (s.id == schedule_id) return s.mode == policy::Mode::Enforce;
        }
        return false;
    };
    // The blast-radius guard counts archived copies as a pass counts files.
    uint64_t expiring = 0;
    for (const IndexedArchive* a : index->live()) {
        if (root && a->root != *root) continue;
        if (std::all_of(a->members.begin(), a->members.end(),
                        [&](const ArchivedMember& m) { return m.expired_on(today.of(m.schedule)); })) {
            expiring += a->members.size();
        }
    }
    if (expiring > static_cast<uint64_t>(config.max_disposals_per_pass)) {
        std::string what = fmt::format(
            "{} expired, more than max_disposals_per_pass = {}",
            expiring == 1 ? "1 archived copy has" : fmt::format("{} archived copies have", expiring),
            config.max_disposals_per_pass);
        if (confirmed_large == nullptr) {
            return fail(ErrorKind::Refused,
                        fmt::format("refusing archive expiry: {}; no archive was disposed of "
                                    "(allow this one pass with `lethe run --confirm-large`)",
                                    what));
        }
        util::log_warning("allowed by --confirm-large for this pass: {}", what);
        confirmed_large->push_back(std::move(what));
    }
    for (const IndexedArchive* a : index->live()) {
        if (root && a->root != *root) continue;
        bool all_expired = true;
        bool all_enforced = true;
        for (const auto& m : a->members) {
            all_expired = all_expired && m.expired_on(today.of(m.schedule));
            all_enforced = all_enforced && enforced(m.schedule);
        }
        if (!all_expired) continue;
        // Between two archives nothing is half done: the safe point to stop at.
        if (stop != nullptr && stop->load()) {
            out.stopped = true;
            util::log_info("stopped on request before archive {}: the next pass disposes of it",
                           a->name);
            break;
        }
        if (!all_enforced) {
            ++out.kept;
            util::log_info(
                "kept archive {}: its copies have expired but a member's schedule is "
                "not loaded or is in observe mode",
                a->name);
            continue;
        }
        // Checked just before acting, as for files: a hold placed meanwhile keeps it.
        auto set = holds.current();
        if (!set) return fail(set.error());
        auto held = holds_on_archive(*a, **set, today);
        if (!held.empty()) {
            ++out.held;
            util::log_info("kept archive {}: its copies have expired but hold {} covers them",
                           a->name, fmt::join(held, ", "));
            continue;
        }
        auto seq =
            disposer.dispose(*a, {"expired", nullptr, std::nullopt}, (*set)->certificate_fields());
        if (!seq && seq.error().kind() == ErrorKind::Stopped) {
            out.stopped = true;
            util::log_info(
                "stopped on request while sanitizing archive {}: kept under its name, not "
                "certified; the next pass completes its disposal",
                a->name);
            break;
        }
        if (!seq) {
            ++out.failed;
            util::log_error("archive {} not disposed of: {}", a->name, seq.error().message());
            if (seq.error().kind() != ErrorKind::Refused &&
                seq.error().kind() != ErrorKind::Verification) {
                return fail(seq.error());
            }
            continue;
        }
        if (out.first_seq == 0) out.first_seq = *seq;
        ++out.disposed;
        util::log_info("archive {} expired: sanitized, certificate {}", a->name, *seq);
    }
    return out;
}

}  // namespace lethe::service

#include "agent/service/archive_stage.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "agent/act/age.hpp"
#include "agent/act/disposal.hpp"
#include "agent/scan/file_facts.hpp"
#include "agent/service/archive_index.hpp"
#include "agent/util/encoding.hpp"
#include "agent/util/fault.hpp"
#include "agent/util/fs.hpp"
#include "agent/util/log.hpp"
#include "agent/util/plural.hpp"

namespace lethe::service {

namespace {

// Whether the open file still has the size and mtime it was planned with.
bool unchanged(int fd, const scan::FileFacts& planned) {
    struct ::statx stx {};
    if (::statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &stx) != 0) return false;
    scan::FileFacts now = scan::facts_from_statx(stx, planned.path);
    return now.same_identity(planned);
}

}  // namespace

void ArchiveStage::add(PlanEntry entry, bool encrypt,
                       std::optional<policy::Retention> archive_for) {
    m_archive_for[entry.category] = archive_for;
    Key key{entry.root, entry.client, entry.matter, encrypt};
    m_groups[key].push_back(std::move(entry));
}

nlohmann::json archive_method(const ArchivedGroup& group, const PlanEntry& entry) {
    nlohmann::json j = {{"name", group.archive.name},
                        {"sha256", group.archive.sha256},
                        {"encrypted", group.encrypted},
                        {"format", group.encrypted ? "pax tar, zstd, age v1 (X25519)"
                                                   : "pax tar, zstd"}};
    put_path(j, entry.facts.path);  // the member name is the path relative to the root
    j["member"] = j["path"];
    j.erase("path");
    if (j.contains("path_b64")) {
        j["member_b64"] = j["path_b64"];
        j.erase("path_b64");
    }
    return j;
}

IndexedArchive ArchiveStage::indexed(const ArchivedGroup& group) const {
    const PlanEntry& first = group.entries.front();
    IndexedArchive a;
    a.name = group.archive.name;
    a.path = group.archive.path;
    a.sha256 = group.archive.sha256;
    a.bytes = group.archive.bytes;
    a.created = util::format_timestamp(m_now);
    a.root = first.root;
    a.client = first.client;
    a.matter = first.matter;
    a.encrypted = group.encrypted;
    for (size_t i = 0; i < group.entries.size(); ++i) {
        const PlanEntry& e = group.entries[i];
        // The copy's date in its schedule's zone, as the file's own dates are.
        util::Date today = m_today.of(e.schedule_id);
        ArchivedMember m;
        m.path = e.facts.path;
        m.sha256 = group.archive.members[i].sha256;
        m.size = group.archive.members[i].size;
        m.category = e.category;
        m.schedule = e.schedule_id;
        m.device = e.facts.device;
        m.inode = e.facts.inode;
        m.mtime = util::format_timestamp(e.facts.mtime, true);
        m.archived = today;
        // Fixed when the copy is made, as a file's expiry is fixed by its trigger date.
        if (auto it = m_archive_for.find(e.category); it != m_archive_for.end() && it->second) {
            m.expires = it->second->add_to(today);
        }
        a.members.push_back(std::move(m));
    }
    return a;
}

std::vector<ArchivedGroup> ArchiveStage::write_all(const RootFd& root_fd, RunSummary& summary,
                                                   const util::StopToken* stop) {
    std::vector<ArchivedGroup> done;
    if (m_groups.empty()) return done;
    const std::string& dest = m_config.archive_destination;
    auto fail_group = [&summary](const std::vector<PlanEntry>& entries, const std::string& why) {
        summary.failed += entries.size();
        util::log_error("{} not archived and kept: {}",
                        util::counted(entries.size(), "file", "files"), why);
    };
    if (dest.empty()) {
        for (const auto& [key, entries] : m_groups) {
            fail_group(entries, "no [archive] destination in the config");
        }
        return done;
    }
    if (auto removed = act::remove_partial_archives(dest); removed && *removed > 0) {
        util::log_warning("removed {} partial archives left by an interrupted pass in {}", *removed,
                          dest);
    }
    std::vector<act::age::Recipient> recipients;
    std::string recipient_error;
    for (const auto& text : m_config.archive_recipients) {
        auto r = act::age::Recipient::parse(text);
        if (!r) {
            recipient_error = fmt::format("[archive] recipients: {}", r.error().message());
            break;
        }
        recipients.push_back(*r);
    }
    auto stopped = [&summary](size_t kept) {
        summary.stopped = true;
        util::log_info("stopped on request while archiving: the unfinished archive was removed and "
                       "its {} kept; the next pass archives them",
                       util::counted(kept, "file", "files"));
    };
    for (auto& item : m_groups) {
        // Plain references, not a structured binding: clang 14 cannot capture one in a lambda.
        const auto& key = item.first;
        auto& entries = item.second;
        if (stop != nullptr && stop->stop_requested()) {
            summary.stopped = true;
            break;
        }
        bool encrypt = std::get<3>(key);
        if (encrypt && !recipient_error.empty()) {
            fail_group(entries, recipient_error);
            continue;
        }
        act::ArchiveKey akey{std::get<0>(key), std::get<1>(key), std::get<2>(key), encrypt};
        auto writer = act::ArchiveWriter::create(dest, akey, m_pass_id, recipients);
        if (!writer) {
            fail_group(entries, writer.error().message());
            continue;
        }
        ArchivedGroup group;
        group.encrypted = encrypt;
        bool broken = false;
        // Files already in the abandoned archive and those not yet reached are kept.
        auto abandon = [&](size_t next, const std::string& why) {
            summary.failed += group.entries.size() + (entries.size() - next);
            util::log_error("{} not archived and kept: {}",
                            util::counted(group.entries.size() + (entries.size() - next), "file",
                                          "files"),
                            why);
            broken = true;
        };
        for (size_t i = 0; i < entries.size() && !broken; ++i) {
            const PlanEntry& e = entries[i];
            std::string shown = fmt::format("{}/{}", e.root, util::utf8_display(e.facts.path));
            auto fd = root_fd(e.root);
            if (!fd) {
                abandon(i, fd.error().message());
                break;
            }
            // The content is read once, by the writer, which hashes it as it archives it.
            auto file = act::prepare(*fd, e.facts, false, false, stop, act::ContentHash::Skip);
            if (!file && file.error().kind() == ErrorKind::Stopped) {
                stopped(entries.size());
                return done;
            }
            if (!file) {
                if (file.error().kind() == ErrorKind::Refused) {
                    summary.skip("changed_or_in_use");
                    util::log_warning("skipped {}: {}", shown, file.error().message());
                } else {
                    ++summary.failed;
                    util::log_error("{}: {}; not archived, kept", shown, file.error().message());
                }
                continue;
            }
            act::ArchiveMember m;
            m.path = e.facts.path;
            m.size = file->record().size;
            m.mtime = std::chrono::duration_cast<std::chrono::seconds>(
                          e.facts.mtime.time_since_epoch()).count();
            // Mode and owner from the open file itself: the plan file does not carry them.
            struct stat opened {};
            if (::fstat(file->content_fd(), &opened) != 0) {
                abandon(i, errno_error(fmt::format("stat {}", shown), errno).message());
                break;
            }
            m.mode = static_cast<uint32_t>(opened.st_mode & 07777);
            m.uid = opened.st_uid;
            m.gid = opened.st_gid;
            if (auto st = writer->add(file->content_fd(), m, stop); !st) {
                if (st.error().kind() == ErrorKind::Stopped) {
                    stopped(entries.size());
                    return done;
                }
                abandon(i, fmt::format("{}: {}", shown, st.error().message()));
                break;
            }
            // Written to while it was read: what was archived may be neither the old content
            // nor the new one. (Before a source is removed it is hashed again and compared
            // with its archived copy, so a later change is caught there.)
            if (!unchanged(file->content_fd(), e.facts)) {
                abandon(i, fmt::format("{}: changed while being archived; the archive was "
                                       "abandoned and no source was removed", shown));
                break;
            }
            group.entries.push_back(e);
        }
        if (broken) continue;
        if (group.entries.empty()) continue;  // nothing left to archive; the writer cleans up
        // Recorded before the rename, so that a crash right after it leaves an archive the
        // next pass indexes instead of archiving these sources a second time.
        auto result = writer->commit(stop, [&](const act::ArchiveResult& r) {
            ArchivedGroup pending{r, group.encrypted, group.entries};
            return record_archive_commit(m_config.state_dir, indexed(pending));
        });
        if (!result && result.error().kind() == ErrorKind::Stopped) {
            stopped(entries.size());
            return done;
        }
        if (!result) {
            fail_group(group.entries, result.error().message());
            continue;
        }
        group.archive = std::move(*result);
        if (auto st = append_archive(m_config.state_dir, indexed(group)); !st) {
            // The archive is complete and verified but unindexed: keep the sources (its
            // commit record lets the next pass index it).
            fail_group(group.entries, fmt::format("archive index: {}", st.error().message()));
            continue;
        }
        util::fault_point("archive-indexed");
        if (auto st = clear_archive_commit(m_config.state_dir); !st) {
            util::log_warning("{}", st.error().message());
        }
        util::log_info("archived {} into {} ({})",
                       util::counted(group.entries.size(), "file", "files"), group.archive.path,
                       util::counted(group.archive.bytes, "byte", "bytes"));
        done.push_back(std::move(group));
    }
    return done;
}

}  // namespace lethe::service

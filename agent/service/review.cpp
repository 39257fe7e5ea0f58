#include "agent/service/review.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "agent/service/plan.hpp"
#include "agent/service/marked_store.hpp"
#include "agent/util/fs.hpp"
#include "agent/util/sha256.hpp"

namespace lethe::service {

namespace {

constexpr int kStoreSchema = 1;

MarkedStore review_store(const std::string& state_dir) {
    return {review_path(state_dir), state_dir + "/review.lock", "a review queue exists here",
            "review queue", "a review queue was kept here"};
}

Error corrupt(const std::string& source, std::string_view what) {
    return corrupt_store(review_store(""), source, what);
}


template <typename T>
std::optional<T> optional_field(const nlohmann::json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::nullopt;
    return it->get<T>();
}

Result<policy::Action> action_named(const std::string& text) {
    for (auto a : {policy::Action::Archive, policy::Action::Encrypt, policy::Action::Sanitize,
                   policy::Action::Delete}) {
        if (policy::to_string(a) == text) return a;
    }
    return fail(ErrorKind::BadInput, fmt::format("unknown action '{}'", text));
}

Result<ReviewState> state_named(const std::string& text) {
    for (auto s : {ReviewState::Pending, ReviewState::Approved, ReviewState::Rejected,
                   ReviewState::Disposed, ReviewState::Withdrawn}) {
        if (to_string(s) == text) return s;
    }
    return fail(ErrorKind::BadInput, fmt::format("unknown state '{}'", text));
}

}  // namespace

std::string_view to_string(ReviewState state) {
    switch (state) {
        case ReviewState::Pending:
            return "pending";
        case ReviewState::Approved:
            return "approved";
        case ReviewState::Rejected:
            return "rejected";
        case ReviewState::Disposed:
            return "disposed";
        case ReviewState::Withdrawn:
            return "withdrawn";
    }
    return "pending";
}

nlohmann::json ReviewDecision::to_json() const {
    nlohmann::json j = {{"decision", approved ? "approved" : "rejected"},
                        {"by", by},
                        {"at", at},
                        {"sha256", sha256}};
    if (approved) {
        if (!note.empty()) j["note"] = note;
    } else {
        j["reason"] = note;
        j["extend"] = extend;
        if (until) j["until"] = util::format_date(*until);
    }
    if (seq) j["seq"] = *seq;
    return j;
}

Result<ReviewDecision> ReviewDecision::from_json(const nlohmann::json& j) {
    try {
        ReviewDecision d;
        std::string decision = j.at("decision").get<std::string>();
        if (decision != "approved" && decision != "rejected") {
            return fail(ErrorKind::BadInput, fmt::format("unknown decision '{}'", decision));
        }
        d.approved = decision == "approved";
        d.by = j.at("by").get<std::string>();
        d.at = j.at("at").get<std::string>();
        d.sha256 = j.at("sha256").get<std::string>();
        if (d.approved) {
            d.note = j.value("note", "");
        } else {
            d.note = j.at("reason").get<std::string>();
            d.extend = j.at("extend").get<std::string>();
            auto until = util::parse_date(j.at("until").get<std::string>());
            if (!until) return fail(until.error().with_context("until"));
            d.until = *until;
        }
        d.seq = optional_field<uint64_t>(j, "seq");
        return d;
    } catch (const nlohmann::json::exception& e) {
        return fail(ErrorKind::BadInput, e.what());
    }
}

bool ReviewItem::same_version(const scan::FileFacts& facts) const {
    return device == facts.device && inode == facts.inode && size == facts.size &&
           mtime == facts.mtime;
}

nlohmann::json ReviewItem::subject_fields() const {
    nlohmann::json j = {{"id", id},
                        {"root", root},
                        {"category", category},
                        {"schedule", schedule_id},
                        {"schedule_version", schedule_version},
                        {"expires", expires ? util::format_date(*expires) : "permanent"},
                        {"action", std::string(policy::to_string(action))},
                        {"size", size},
                        {"inode", inode},
                        {"device", device},
                        {"mtime", util::format_timestamp(mtime, true)},
                        {"sha256", sha256},
                        {"queued_at", queued_at}};
    put_path(j, path);
    if (client) j["client"] = *client;
    if (matter) j["matter"] = *matter;
    return j;
}

nlohmann::json ReviewItem::approval_fields() const {
    const ReviewDecision* d = last_decision();
    if (d == nullptr || !d->approved) return nullptr;
    nlohmann::json j = {{"id", id},
                        {"approved_by", d->by},
                        {"approved_at", d->at},
                        {"queued_at", queued_at},
                        {"sha256", d->sha256}};
    if (!d->note.empty()) j["note"] = d->note;
    if (d->seq) j["approval_seq"] = *d->seq;
    return j;
}

nlohmann::json ReviewItem::to_json() const {
    nlohmann::json j = subject_fields();
    j["state"] = std::string(to_string(state));
    if (!note.empty()) j["note"] = note;
    nlohmann::json ds = nlohmann::json::array();
    for (const auto& d : decisions) ds.push_back(d.to_json());
    j["decisions"] = ds;
    if (disposal_seq) j["disposal_seq"] = *disposal_seq;
    return j;
}

Result<ReviewItem> ReviewItem::from_json(const nlohmann::json& j) {
    try {
        ReviewItem r;
        r.id = j.at("id").get<std::string>();
        if (r.id.empty()) return fail(ErrorKind::BadInput, "an item has an empty id");
        r.root = j.at("root").get<std::string>();
        auto path = get_path(j);
        if (!path) return fail(path.error());
        r.path = *path;
        r.category = j.at("category").get<std::string>();
        r.schedule_id = j.at("schedule").get<std::string>();
        r.schedule_version = j.at("schedule_version").get<int64_t>();
        r.client = optional_field<std::string>(j, "client");
        r.matter = optional_field<std::string>(j, "matter");
        std::string expires = j.at("expires").get<std::string>();
        if (expires != "permanent") {
            auto d = util::parse_date(expires);
            if (!d) return fail(d.error().with_context(fmt::format("item {}: expires", r.id)));
            r.expires = *d;
        }
        auto action = action_named(j.at("action").get<std::string>());
        if (!action) return fail(action.error().with_context(fmt::format("item {}", r.id)));
        r.action = *action;
        r.size = j.at("size").get<uint64_t>();
        r.inode = j.at("inode").get<uint64_t>();
        r.device = j.at("device").get<uint64_t>();
        auto mtime = util::parse_timestamp(j.at("mtime").get<std::string>());
        if (!mtime) return fail(mtime.error().with_context(fmt::format("item {}: mtime", r.id)));
        r.mtime = *mtime;
        r.sha256 = j.at("sha256").get<std::string>();
        if (r.sha256.size() != 64) {
            return fail(ErrorKind::BadInput,
                        fmt::format("item {}: sha256 is not 64 hex digits", r.id));
        }
        r.queued_at = j.at("queued_at").get<std::string>();
        auto state = state_named(j.at("state").get<std::string>());
        if (!state) return fail(state.error().with_context(fmt::format("item {}", r.id)));
        r.state = *state;
        r.note = j.value("note", "");
        for (const auto& dj : j.at("decisions")) {
            auto d = ReviewDecision::from_json(dj);
            if (!d) return fail(d.error().with_context(fmt::format("item {}", r.id)));
            r.decisions.push_back(std::move(*d));
        }
        // An approval is what allows a disposal: an approved item must carry one.
        if (r.state == ReviewState::Approved &&
            (r.last_decision() == nullptr || !r.last_decision()->approved)) {
            return fail(ErrorKind::BadInput,
                        fmt::format("item {} is approved without an approval", r.id));
        }
        r.disposal_seq = optional_field<uint64_t>(j, "disposal_seq");
        return r;
    } catch (const nlohmann::json::exception& e) {
        return fail(ErrorKind::BadInput, e.what());
    }
}

ReviewItem* ReviewQueue::find(std::string_view id) {
    auto it =
        std::find_if(items.begin(), items.end(), [&](const ReviewItem& r) { return r.id == id; });
    return it == items.end() ? nullptr : &*it;
}

const ReviewItem* ReviewQueue::find(std::string_view id) const {
    auto it =
        std::find_if(items.begin(), items.end(), [&](const ReviewItem& r) { return r.id == id; });
    return it == items.end() ? nullptr : &*it;
}

ReviewItem* ReviewQueue::find_open(const std::string& root, const std::string& path) {
    auto it = std::find_if(items.begin(), items.end(), [&](const ReviewItem& r) {
        return r.open() && r.root == root && r.path == path;
    });
    return it == items.end() ? nullptr : &*it;
}

const ReviewItem* ReviewQueue::find_open(const std::string& root, const std::string& path) const {
    auto it = std::find_if(items.begin(), items.end(), [&](const ReviewItem& r) {
        return r.open() && r.root == root && r.path == path;
    });
    return it == items.end() ? nullptr : &*it;
}

uint64_t ReviewQueue::unrecorded() const {
    uint64_t n = 0;
    for (const auto& r : items) {
        for (const auto& d : r.decisions) {
            if (!d.seq) ++n;
        }
    }
    return n;
}

std::string review_path(const std::string& state_dir) { return state_dir + "/review.json"; }

Result<ReviewQueue> parse_review_queue(std::string_view text, const std::string& source) {
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return fail(corrupt(source, "not a JSON object"));
    ReviewQueue queue;
    try {
        if (j.at("schema").get<int>() != kStoreSchema) {
            return fail(corrupt(source, fmt::format("unknown schema {}", j.at("schema").dump())));
        }
        queue.version = j.at("version").get<uint64_t>();
        queue.next_id = j.at("next_id").get<uint64_t>();
        for (const auto& ij : j.at("items")) {
            auto item = ReviewItem::from_json(ij);
            if (!item) return fail(corrupt(source, item.error().message()));
            if (queue.find(item->id) != nullptr) {
                return fail(corrupt(source, fmt::format("item {} appears twice", item->id)));
            }
            if (item->open() && queue.find_open(item->root, item->path) != nullptr) {
                return fail(corrupt(source, fmt::format("item {} is a second open item for "
                                                        "the same file",
                                                        item->id)));
            }
            queue.items.push_back(std::move(*item));
        }
    } catch (const nlohmann::json::exception& e) {
        return fail(corrupt(source, e.what()));
    }
    return queue;
}

Result<ReviewQueue> load_review_queue(const std::string& state_dir) {
    auto text = read_marked_store(review_store(state_dir));
    if (!text) return fail(text.error());
    if (!*text) return ReviewQueue{};
    return parse_review_queue(**text, review_path(state_dir));
}

Result<ReviewStoreLock> ReviewStoreLock::acquire(const std::string& state_dir) {
    auto fd = lock_marked_store(state_dir, review_store(state_dir));
    if (!fd) return fail(fd.error());
    return ReviewStoreLock(std::move(*fd));
}

Status save_review_queue(const std::string& state_dir, ReviewQueue& queue) {
    nlohmann::json items = nlohmann::json::array();
    for (const auto& r : queue.items) items.push_back(r.to_json());
    nlohmann::json j = {{"schema", kStoreSchema},
                        {"version", queue.version + 1},
                        {"next_id", queue.next_id},
                        {"items", items}};
    if (auto st = write_marked_store(review_store(state_dir), j.dump(2) + "\n"); !st) return st;
    ++queue.version;
    return {};
}

nlohmann::json decision_entry(const ReviewItem& item, const ReviewDecision& d,
                              util::TimePoint now) {
    nlohmann::json review = item.subject_fields();
    review["sha256"] = d.sha256;  // the version decided on
    nlohmann::json payload = {{"type", d.approved ? "review-approved" : "review-rejected"},
                              {"time", d.at},
                              {"recorded", util::format_timestamp(now)},
                              {"review", review}};
    if (d.approved) {
        payload["approved_by"] = d.by;
        if (!d.note.empty()) payload["note"] = d.note;
    } else {
        payload["rejected_by"] = d.by;
        payload["reason"] = d.note;
        payload["extend"] = d.extend;
        if (d.until) payload["until"] = util::format_date(*d.until);
    }
    return payload;
}

void describe_review(PlanEntry& entry, const ReviewQueue& queue, util::Date today) {
    if (entry.review.is_null()) return;
    const ReviewItem* item = queue.find_open(entry.root, entry.facts.path);
    std::string text;
    nlohmann::json j;
    if (item == nullptr) {
        j = {{"state", "not queued"}};
        text = fmt::format("{}; the next pass queues it for review", entry.reason);
    } else {
        j = {{"id", item->id},
             {"state", std::string(to_string(item->state))},
             {"queued_at", item->queued_at}};
        bool changed = !item->same_version(entry.facts) || item->category != entry.category ||
                       item->action != entry.action;
        if (changed) j["changed"] = true;
        const ReviewDecision* d = item->last_decision();
        switch (item->state) {
            case ReviewState::Pending:
                text = fmt::format("review {}: pending since {}", item->id, item->queued_at);
                break;
            case ReviewState::Approved:
                j["approved_by"] = d->by;
                j["approved_at"] = d->at;
                text = changed ? fmt::format(
                                     "review {}: approved by {}, but the file changed "
                                     "since; back in review at the next pass",
                                     item->id, d->by)
                               : fmt::format(
                                     "review {}: approved by {} at {}; the next pass "
                                     "disposes of it",
                                     item->id, d->by, d->at);
                break;
            case ReviewState::Rejected:
                j["rejected_by"] = d->by;
                if (d->until) j["until"] = util::format_date(*d->until);
                text = d->until && today >= *d->until
                           ? fmt::format(
                                 "review {}: rejected by {} until {}; back in review at "
                                 "the next pass",
                                 item->id, d->by, util::format_date(*d->until))
                           : fmt::format("review {}: rejected by {}, kept until {}", item->id,
                                         d->by, d->until ? util::format_date(*d->until) : "?");
                break;
            case ReviewState::Disposed:
            case ReviewState::Withdrawn:
                break;  // not open
        }
    }
    entry.review = j;
    if (entry.status == classify::Status::Review) entry.reason = text;
}

Result<std::string> hash_file_version(int root_fd, const scan::FileFacts& facts,
                                      const util::StopToken* stop) {
    // O_NONBLOCK: a FIFO put in the file's place must not stall the pass; O_NOATIME keeps
    // the access time lethe may judge by, where the kernel allows it (owner or CAP_FOWNER).
    auto fd = util::open_beneath(root_fd, facts.path, O_RDONLY | O_NONBLOCK | O_NOATIME);
    if (!fd && fd.error().sys_errno() == EPERM) {
        fd = util::open_beneath(root_fd, facts.path, O_RDONLY | O_NONBLOCK);
    }
    if (!fd) return fail(ErrorKind::Refused, fd.error().message());
    struct stat st {};
    if (::fstat(fd->get(), &st) != 0) return fail(errno_error("fstat", errno));
    auto mtime = util::from_timespec(st.st_mtim.tv_sec, static_cast<uint32_t>(st.st_mtim.tv_nsec));
    if (!S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_ino) != facts.inode ||
        static_cast<uint64_t>(st.st_dev) != facts.device ||
        static_cast<uint64_t>(st.st_size) != facts.size || mtime != facts.mtime) {
        return fail(ErrorKind::Refused, "changed since the walk found it");
    }
    return util::sha256_fd_hex(fd->get(), facts.path, stop);
}

}  // namespace lethe::service

#include "agent/service/journal.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <vector>

#include "agent/util/encoding.hpp"

namespace lethe::service {

namespace {

constexpr const char* kJournalSocket = "/run/systemd/journal/socket";

int priority_of(util::LogLevel level) {
    switch (level) {
        case util::LogLevel::Debug:
            return 7;
        case util::LogLevel::Info:
            return 6;
        case util::LogLevel::Warning:
            return 4;
        case util::LogLevel::Error:
            return 3;
    }
    return 6;
}

// Sends records to journald over its native protocol. When journald cannot be reached the
// record becomes a stderr line, so nothing is lost silently.
class JournalSink : public util::LogSink {
  public:
    explicit JournalSink(bool also_stderr) : m_also_stderr(also_stderr) {}

    void write(const util::LogRecord& record) override {
        std::vector<std::string> items;
        items.reserve(record.fields.size() + 3);
        // MESSAGE is what journalctl and syslog show as a line: escaped, so a file name cannot
        // forge one. The LETHE_* fields keep the exact bytes (the native protocol is binary
        // safe, and journalctl -o json shows them as byte arrays).
        items.push_back("MESSAGE=" + util::display_name(record.message));
        items.push_back(fmt::format("PRIORITY={}", priority_of(record.level)));
        items.emplace_back("SYSLOG_IDENTIFIER=lethe");
        for (const auto& f : record.fields) items.push_back(f.name + "=" + f.value);
        std::vector<iovec> iov(items.size());
        for (size_t i = 0; i < items.size(); ++i) {
            iov[i].iov_base = items[i].data();
            iov[i].iov_len = items[i].size();
        }
        int r = sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
        if (m_also_stderr || r < 0) util::write_stderr_line(record.level, record.message);
    }

  private:
    bool m_also_stderr;
};

// systemd sets JOURNAL_STREAM=<dev>:<inode> when it connects stderr to the journal.
bool stderr_is_journal_stream() {
    const char* env = std::getenv("JOURNAL_STREAM");
    if (env == nullptr) return false;
    struct stat st {};
    if (::fstat(STDERR_FILENO, &st) != 0) return false;
    return fmt::format("{}:{}", st.st_dev, st.st_ino) == env;
}

}  // namespace

Result<LogTarget> parse_log_target(std::string_view text) {
    if (text == "auto") return LogTarget::Auto;
    if (text == "journal") return LogTarget::Journal;
    if (text == "stderr") return LogTarget::Stderr;
    return fail(ErrorKind::BadInput,
                fmt::format("log target '{}': expected auto, journal or stderr", text));
}

void install_log_target(LogTarget target) {
    switch (target) {
        case LogTarget::Stderr:
            util::set_log_sink(nullptr);
            return;
        case LogTarget::Journal:
            util::set_log_sink(std::make_shared<JournalSink>(false));
            return;
        case LogTarget::Auto:
            break;
    }
    // A terminal gets readable lines; otherwise the journal when there is one.
    std::shared_ptr<util::LogSink> sink;
    if (::isatty(STDERR_FILENO) != 1) {
        if (stderr_is_journal_stream()) {
            sink = std::make_shared<JournalSink>(false);
        } else if (::access(kJournalSocket, W_OK) == 0) {
            sink = std::make_shared<JournalSink>(true);
        }
    }
    util::set_log_sink(std::move(sink));
}

std::string_view message_id(Event event) {
    switch (event) {
        case Event::PassStarted:
            return "1c6e8de360ca9a70b2c96bda37e48b6c";
        case Event::PassFinished:
            return "4bba0fb16eddbb8f66eb16fa5f9fa66f";
        case Event::Disposed:
            return "0ddab0bc14d496526bfb5a49a09a06e8";
        case Event::Skipped:
            return "0602b83897849533a2afe075150615ce";
        case Event::HoldChanged:
            return "8874f5a36f693517a4f48d6ddd24b342";
        case Event::Error:
            return "76c5f3a168f1e96613b575a469ec3d0e";
        case Event::AgentStarted:
            return "105454896d000acfa738ce0de3fd7a52";
        case Event::AgentStopping:
            return "fa58242441ecdac598aef7270aedff96";
        case Event::ConfigReloaded:
            return "30205f470214f85a04d1e79d54caa77f";
        case Event::StateRollback:
            return "72a11f6f1ff64a00a45434ab2e6a8e8f";
        case Event::LedgerAnchored:
            return "dc24a3b5b572403db58c64b28ce7d6bb";
    }
    return "76c5f3a168f1e96613b575a469ec3d0e";
}

void log_event(util::LogLevel level, Event event, const EventFields& fields, std::string message) {
    util::LogRecord record{level, std::move(message), {}};
    record.fields.push_back({"MESSAGE_ID", std::string(message_id(event))});
    if (!fields.root.empty()) record.fields.push_back({"LETHE_ROOT", fields.root});
    if (!fields.path.empty()) record.fields.push_back({"LETHE_PATH", fields.path});
    if (!fields.category.empty()) record.fields.push_back({"LETHE_CATEGORY", fields.category});
    if (!fields.action.empty()) record.fields.push_back({"LETHE_ACTION", fields.action});
    if (fields.cert_seq) {
        record.fields.push_back({"LETHE_CERT_SEQ", fmt::format("{}", *fields.cert_seq)});
    }
    if (!fields.ledger_head.empty())
        record.fields.push_back({"LETHE_LEDGER_HEAD", fields.ledger_head});
    if (fields.ledger_seq) {
        record.fields.push_back({"LETHE_LEDGER_SEQ", fmt::format("{}", *fields.ledger_seq)});
    }
    if (!fields.state_dir.empty()) record.fields.push_back({"LETHE_STATE_DIR", fields.state_dir});
    util::log_record(record);
}

}  // namespace lethe::service

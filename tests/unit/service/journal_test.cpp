#include "agent/service/journal.hpp"

#include <gtest/gtest.h>

#include <mutex>
#include <set>

namespace lethe::service {
namespace {

class CapturingSink : public util::LogSink {
  public:
    void write(const util::LogRecord& record) override {
        std::lock_guard lock(m_mutex);
        records.push_back(record);
    }
    std::vector<util::LogRecord> records;

  private:
    std::mutex m_mutex;
};

std::string field(const util::LogRecord& r, const std::string& name) {
    for (const auto& f : r.fields) {
        if (f.name == name) return f.value;
    }
    return "<absent>";
}

TEST(Events, EveryKindHasItsOwnFixed128BitId) {
    std::set<std::string> ids;
    for (Event e : {Event::PassStarted, Event::PassFinished, Event::Disposed, Event::Skipped,
                    Event::HoldChanged, Event::Error, Event::AgentStarted, Event::AgentStopping,
                    Event::ConfigReloaded}) {
        std::string id(message_id(e));
        EXPECT_EQ(id.size(), 32u) << id;
        EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
        ids.insert(id);
    }
    EXPECT_EQ(ids.size(), 9u);
}

TEST(Events, CarryTheirFieldsAndLeaveOutEmptyOnes) {
    auto sink = std::make_shared<CapturingSink>();
    util::set_log_sink(sink);
    EventFields fields =
        EventFields::file("clients", "acme/brief.pdf", "client-matter", "sanitize");
    fields.cert_seq = 17;
    log_event(util::LogLevel::Info, Event::Disposed, fields, "sanitized");
    log_event(util::LogLevel::Info, Event::PassStarted, {}, "pass started");
    util::set_log_level(util::LogLevel::Warning);
    log_event(util::LogLevel::Info, Event::PassFinished, {}, "dropped below the threshold");
    util::set_log_level(util::LogLevel::Info);
    util::set_log_sink(nullptr);

    ASSERT_EQ(sink->records.size(), 2u);
    const auto& d = sink->records[0];
    EXPECT_EQ(d.message, "sanitized");
    EXPECT_EQ(field(d, "MESSAGE_ID"), "0ddab0bc14d496526bfb5a49a09a06e8");
    EXPECT_EQ(field(d, "LETHE_ROOT"), "clients");
    EXPECT_EQ(field(d, "LETHE_PATH"), "acme/brief.pdf");
    EXPECT_EQ(field(d, "LETHE_CATEGORY"), "client-matter");
    EXPECT_EQ(field(d, "LETHE_ACTION"), "sanitize");
    EXPECT_EQ(field(d, "LETHE_CERT_SEQ"), "17");
    const auto& s = sink->records[1];
    EXPECT_EQ(field(s, "MESSAGE_ID"), "1c6e8de360ca9a70b2c96bda37e48b6c");
    EXPECT_EQ(field(s, "LETHE_ROOT"), "<absent>");
    EXPECT_EQ(field(s, "LETHE_CERT_SEQ"), "<absent>");
}

TEST(LogTarget, ParsesTheThreeTargets) {
    EXPECT_EQ(*parse_log_target("auto"), LogTarget::Auto);
    EXPECT_EQ(*parse_log_target("journal"), LogTarget::Journal);
    EXPECT_EQ(*parse_log_target("stderr"), LogTarget::Stderr);
    EXPECT_FALSE(parse_log_target("syslog"));
}

}  // namespace
}  // namespace lethe::service

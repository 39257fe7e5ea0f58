// End-to-end tests of the disposal actions' user-facing commands: age identities for records
// managers (`lethe keygen --age-identity`), checked against Debian's `age` tool.

#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "tests/support/temp_dir.hpp"

namespace lethe {
namespace {

using testing::slurp;
using testing::TempDir;

struct Output {
    int code = -1;
    std::string out;
    std::string err;
};

class ActionsE2E : public ::testing::Test {
protected:
    Output sh(const std::string& cmd) {
        Output o;
        std::string out = m_dir / ".out";
        std::string err = m_dir / ".err";
        int status = std::system((cmd + " >'" + out + "' 2>'" + err + "'").c_str());
        o.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        o.out = slurp(out);
        o.err = slurp(err);
        return o;
    }
    Output lethe(const std::string& args) {
        return sh(std::string("'") + LETHE_BINARY + "' " + args);
    }
    TempDir m_dir;
};

TEST_F(ActionsE2E, KeygenWritesAnAgeIdentityThatTheAgeToolUses) {
    std::string id = m_dir / "records-manager.key";
    Output k = lethe("keygen --age-identity '" + id + "'");
    ASSERT_EQ(k.code, 0) << k.err;
    std::string recipient = k.out.substr(0, k.out.find('\n'));
    ASSERT_EQ(recipient.rfind("age1", 0), 0u) << k.out;
    struct stat st {};
    ASSERT_EQ(::stat(id.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    std::string key_text = slurp(id);
    EXPECT_NE(key_text.find("# public key: " + recipient), std::string::npos);

    // A records manager decrypts with the standard tool what was encrypted to the recipient.
    Output roundtrip = sh("echo 'matter 2011-004 closing memo' | age -r " + recipient +
                          " | age -d -i '" + id + "'");
    ASSERT_EQ(roundtrip.code, 0) << roundtrip.err;
    EXPECT_EQ(roundtrip.out, "matter 2011-004 closing memo\n");

    // An existing identity is never overwritten.
    Output again = lethe("keygen --age-identity '" + id + "'");
    EXPECT_EQ(again.code, 2);
    EXPECT_NE(again.err.find("exists"), std::string::npos) << again.err;
    EXPECT_EQ(slurp(id), key_text);
}

}  // namespace
}  // namespace lethe

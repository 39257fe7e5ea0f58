#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

namespace lethe {

// What kind of failure an Error is; decides the exit code at the top.
enum class ErrorKind {
    BadInput,   // the user's input (config, schedule, arguments, ledger) is wrong
    Refused,    // a safety rule refused the operation (missing key, guard, hold)
    Io,         // the operating system failed an operation
    Verification,  // something failed a check (signature, read-back, identity)
    Internal,   // a bug or an impossible state
    Stopped,    // asked to stop (SIGTERM) between two blocks of a long operation
};

// One error value: a kind, the errno if the OS produced it, and a message that already
// carries its context ("open /srv/x: Permission denied").
class Error {
public:
    Error(ErrorKind kind, std::string message, int sys_errno = 0)
        : m_kind(kind), m_message(std::move(message)), m_errno(sys_errno) {}

    [[nodiscard]] ErrorKind kind() const { return m_kind; }
    [[nodiscard]] const std::string& message() const { return m_message; }
    [[nodiscard]] int sys_errno() const { return m_errno; }

    // Returns a copy whose message is prefixed with `context: `.
    [[nodiscard]] Error with_context(std::string_view context) const;

private:
    ErrorKind m_kind;
    std::string m_message;
    int m_errno;
};

template <typename T>
using Result = tl::expected<T, Error>;

using Status = tl::expected<void, Error>;

// The one place errno becomes an Error: "<context>: <strerror(err)>".
[[nodiscard]] Error errno_error(std::string_view context, int err);

inline tl::unexpected<Error> fail(ErrorKind kind, std::string message) {
    return tl::unexpected<Error>(Error(kind, std::move(message)));
}

inline tl::unexpected<Error> fail(Error error) { return tl::unexpected<Error>(std::move(error)); }

// Exit codes shared by every command: 0 success, 1 a finding the user asked to be strict
// about, 2 bad input or refusal, 3 internal error.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFinding = 1;
inline constexpr int kExitBadInput = 2;
inline constexpr int kExitInternal = 3;

[[nodiscard]] int exit_code_for(const Error& error);

}  // namespace lethe

#include "agent/util/error.hpp"

#include <cstring>

#include <fmt/format.h>

namespace lethe {

Error Error::with_context(std::string_view context) const {
    return Error(m_kind, fmt::format("{}: {}", context, m_message), m_errno);
}

Error errno_error(std::string_view context, int err) {
    ErrorKind kind = ErrorKind::Io;
    return Error(kind, fmt::format("{}: {}", context, std::strerror(err)), err);
}

int exit_code_for(const Error& error) {
    switch (error.kind()) {
        case ErrorKind::BadInput:
        case ErrorKind::Refused:
        case ErrorKind::Io:
            return kExitBadInput;
        case ErrorKind::Verification:
        case ErrorKind::Stopped:  // the work is not complete; the next pass completes it
            return kExitFinding;
        case ErrorKind::Internal:
            return kExitInternal;
    }
    return kExitInternal;
}

}  // namespace lethe

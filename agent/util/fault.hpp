#pragma once

#include <string_view>

namespace lethe::util {

// A step boundary of a destructive operation, for the crash harness. In test builds
// (LETHE_TEST_HOOKS) the environment variable LETHE_FAULT_AT=<step>:<n> makes the process
// kill itself with SIGKILL the n-th time (1-based) it reaches `step`, as a power cut would;
// LETHE_FAULT_AT=list:<file> appends every step reached to <file>, so a harness can learn
// the steps of a run and then crash at each one. In release builds this does nothing.
#ifdef LETHE_TEST_HOOKS
void fault_point(std::string_view step);
#else
inline void fault_point(std::string_view) {}
#endif

}  // namespace lethe::util

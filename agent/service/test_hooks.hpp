#pragma once

#include <cstdint>

namespace lethe::service {

// Test builds only (LETHE_TEST_HOOKS): when LETHE_TEST_PAUSE_AFTER=N and
// LETHE_TEST_PAUSE_DIR=DIR are set, the pass stops before acting on its file N+1 (after N
// files were handled): it writes its pid to the FIFO DIR/paused and waits until a line can
// be read from the FIFO DIR/resume. Lets an end-to-end test do something (place a hold)
// from another process at an exact point of a running pass, without sleeping. In other
// builds, and without the variables, it does nothing.
void test_pause_between_files(uint64_t files_done);

// Whether test_pause_between_files(files_done) will pause: the pass first finishes the group
// of files it has prepared, so that the N files are handled, not only prepared. False in
// other builds and without the variables.
bool test_pause_due(uint64_t files_done);

// Test builds only: with LETHE_TEST_PAUSE_BEFORE_WALK=1 and LETHE_TEST_PAUSE_DIR=DIR, the
// pass pauses the same way once its config was loaded and checked and before it walks the
// roots, so that a test can change what the walk meets (mount something) after the checks.
void test_pause_before_walk();

}  // namespace lethe::service

#pragma once

// What a legal hold covers now: the files in the roots, walked and classified as a pass
// would (so --client and --matter resolve through the schedules' captures), and the copies
// in lethe's archives; in total, and for each of its scopes on its own, so that a scope
// that matches nothing (a mistyped path, a client with no files) can be named before the
// hold is placed.

#include <cstdint>
#include <string>
#include <vector>

#include "agent/policy/config.hpp"
#include "agent/policy/schedule.hpp"
#include "agent/service/holds.hpp"
#include "agent/service/plan.hpp"
#include "agent/util/error.hpp"
#include "agent/util/time.hpp"

namespace lethe::service {

// One scope of a hold (its client, its matter, or one of its paths) taken alone.
struct ScopeCoverage {
    std::string scope;      // "client acme", "path acme/x.pdf", "glob acme/** in root clients"
    uint64_t files = 0;     // files in the roots it matches
    uint64_t archived = 0;  // copies in lethe's archives it matches
    bool exists = false;    // a path: the name is there in a root (an empty folder counts)

    [[nodiscard]] bool matches_nothing() const { return files == 0 && archived == 0 && !exists; }
};

struct HoldCoverage {
    Tally files;             // files in the roots the hold covers (and those an
                             // interrupted pass left in its disposal folder)
    uint64_t due = 0;        // of those, due (or skipped) and so kept only by holds
    Tally archived;          // copies in lethe's archives it covers
    uint64_t archives = 0;   // archives holding those copies
    uint64_t expired = 0;    // of those copies, expired and so kept only by holds
    uint64_t unreadable_roots = 0;  // roots that could not be opened (warned, not counted)
    std::vector<ScopeCoverage> scopes;  // client, matter, then each path, in order
};

// Walks every root of `config` and reads the archive index in `config.state_dir`. A root
// that cannot be opened, and entries the walk cannot read, are logged as warnings and left
// out of the counts; fails when the archive or encrypted-copy index cannot be read.
[[nodiscard]] Result<HoldCoverage> hold_coverage(
    const policy::AgentConfig& config, const std::vector<policy::RetentionSchedule>& schedules,
    const Hold& hold, util::TimePoint now);

}  // namespace lethe::service

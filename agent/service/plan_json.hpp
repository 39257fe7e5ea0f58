#pragma once

#include <fmt/format.h>

#include "agent/service/plan.hpp"

namespace lethe::service {

// Appends `entry.to_json().dump()` and a newline to `out`, byte for byte, without building a
// JSON document: `lethe plan --json` writes one such line per listed file, hundreds of
// thousands on a large share. Keys in the same (sorted) order, the same escapes (\" \\ \b \f
// \n \r \t, \u00XX for other control bytes, UTF-8 as it is) and `path_b64` for a path that
// is not UTF-8. An entry this writer cannot reproduce exactly (a review object, or a field
// other than the path that is not UTF-8, which dump() refuses) goes through to_json().dump().
void append_json_line(const PlanEntry& entry, fmt::memory_buffer& out);

}  // namespace lethe::service

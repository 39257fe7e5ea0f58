#pragma once

// Exports of certificates for people outside the host: JSON Lines, CSV (RFC 4180) and a
// self-contained HTML report for auditors. Pure rendering: the caller reads the ledger,
// filters it and runs the verifier; nothing here touches files or keys.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/ledger/verify.hpp"

namespace lethe::ledger {

// One ledger line as exported: where it is, its id and its decoded payload.
struct ExportedEntry {
    std::string ledger;      // the ledger file it was read from
    uint64_t line_no = 0;    // 1-based line in that file
    std::string hash;        // hex SHA-256 of the line: its id and the next entry's `prev`
    nlohmann::json payload;  // decoded payload (an object)
};

// What the HTML report shows.
struct ReportInput {
    std::string generated_at;                  // RFC 3339 time of the export
    std::string host;                          // where it was made
    std::string filters;                       // the filters applied, for people ("" = none)
    std::vector<VerifyReport> verification;    // one per ledger, from verify_ledger
    std::vector<ExportedEntry> entries;        // the certificates that pass the filters
    std::vector<ExportedEntry> hold_entries;   // every hold-placed / hold-released entry
};

// `&`, `<`, `>`, `"` and `'` as character references, after replacing invalid UTF-8 with
// U+FFFD: safe in element content and in quoted attribute values.
std::string html_escape(std::string_view text);

// One CSV field per RFC 4180: quoted (with `"` doubled) when it holds a comma, a quote, CR
// or LF; invalid UTF-8 replaced with U+FFFD.
std::string csv_field(std::string_view text);

// One object per line: {"hash","ledger","line","payload","seq"}, keys sorted.
std::string render_json_lines(const std::vector<ExportedEntry>& entries);

// A header row, then one row per entry; CRLF line ends as RFC 4180 says.
std::string render_csv(const std::vector<ExportedEntry>& entries);

// The whole report: one HTML file with inline CSS, inline SVG and a small inline script (the
// search box and a self-check), and a Content-Security-Policy that forbids any fetch.
std::string render_html(const ReportInput& input);

}  // namespace lethe::ledger

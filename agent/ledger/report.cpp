#include "agent/ledger/report.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "agent/util/encoding.hpp"

namespace lethe::ledger {

namespace {

using nlohmann::json;

// A payload field as text: strings as they are, numbers and booleans as JSON, "" if absent.
std::string text_of(const json& p, const char* key) {
    if (!p.is_object()) return "";
    auto it = p.find(key);
    if (it == p.end() || it->is_null()) return "";
    if (it->is_string()) return it->get<std::string>();
    return it->dump(-1, ' ', false, json::error_handler_t::replace);
}

const json& member(const json& p, const char* key) {
    static const json kNull;
    if (!p.is_object()) return kNull;
    auto it = p.find(key);
    return it == p.end() ? kNull : *it;
}

uint64_t subject_size(const json& p) {
    const json& size = member(member(p, "subject"), "size");
    return size.is_number_unsigned() ? size.get<uint64_t>() : 0;
}

std::string subject(const json& p) {
    std::string root = text_of(p, "root");
    std::string path = text_of(p, "path");
    if (root.empty()) return path;
    return root + "/" + path;
}

// "YYYY-MM" of the entry's time, or "" when it has none.
std::string month_of(const json& p) {
    std::string t = text_of(p, "time");
    if (t.size() < 7 || t[4] != '-') return "";
    for (size_t i : {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size_t{5}, size_t{6}}) {
        if (t[i] < '0' || t[i] > '9') return "";
    }
    int month = (t[5] - '0') * 10 + (t[6] - '0');
    if (month < 1 || month > 12) return "";
    return t.substr(0, 7);
}

std::string human(uint64_t bytes) {
    static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    if (bytes < 1024) return fmt::format("{} B", bytes);
    double v = static_cast<double>(bytes);
    size_t unit = 0;
    while (v >= 1024.0 && unit + 1 < std::size(kUnits)) {
        v /= 1024.0;
        ++unit;
    }
    return fmt::format("{:.1f} {}", v, kUnits[unit]);
}

// What a non-disposal entry is about, in a few words.
std::string details(const json& p, const std::string& type) {
    if (type == "disposal") return subject(p);
    if (type == "checkpoint") {
        return fmt::format("{} entries, Merkle root {}", text_of(p, "entries"),
                           text_of(p, "merkle_root"));
    }
    if (type == "key-rotated") return "new keyid " + text_of(member(p, "new_key"), "keyid");
    if (type == "ledger-repaired") {
        return fmt::format("{} torn bytes kept as {}", text_of(member(p, "cut"), "bytes"),
                           text_of(member(p, "cut"), "saved_as"));
    }
    if (type == "hold-placed" || type == "hold-released") {
        return "hold " + text_of(member(p, "hold"), "id");
    }
    if (type == "review-approved" || type == "review-rejected") {
        return fmt::format("review {} {}/{} by {}", text_of(member(p, "review"), "id"),
                           text_of(member(p, "review"), "root"), text_of(member(p, "review"), "path"),
                           text_of(p, type == "review-approved" ? "approved_by" : "rejected_by"));
    }
    return subject(p);
}

struct Tally {
    uint64_t count = 0;
    uint64_t bytes = 0;
};

void tally_table(std::string& out, const char* id, const char* heading,
                 const std::map<std::string, Tally>& rows) {
    out += fmt::format("<section class=\"tally\"><h3>{}</h3><table id=\"{}\"><thead><tr>"
                       "<th>{}</th><th class=\"n\">Disposals</th><th class=\"n\">Bytes</th>"
                       "</tr></thead><tbody>",
                       heading, id, heading);
    if (rows.empty()) out += "<tr><td colspan=\"3\">none</td></tr>";
    for (const auto& [key, t] : rows) {
        out += fmt::format("<tr data-count=\"{}\" data-bytes=\"{}\"><td>{}</td><td class=\"n\">"
                           "{}</td><td class=\"n\" title=\"{} bytes\">{}</td></tr>",
                           t.count, t.bytes, key.empty() ? "(none)" : html_escape(key), t.count,
                           t.bytes, human(t.bytes));
    }
    out += "</tbody></table></section>\n";
}

std::pair<int, int> parse_month(const std::string& m) {
    return {std::stoi(m.substr(0, 4)), std::stoi(m.substr(5, 2))};
}

// A bar chart of disposals per month, every month from the first to the last shown.
void chart(std::string& out, const std::map<std::string, Tally>& by_month) {
    out += "<section id=\"chart\"><h2>Disposals over time</h2>";
    std::map<std::string, Tally> months;
    for (const auto& [m, t] : by_month) {
        if (m.size() == 7) months[m] = t;
    }
    if (months.empty()) {
        out += "<p>No disposals in this report.</p></section>\n";
        return;
    }
    auto [y, mo] = parse_month(months.begin()->first);
    auto last = parse_month(months.rbegin()->first);
    std::vector<std::pair<std::string, Tally>> series;
    while (std::make_pair(y, mo) <= last && series.size() < 1200) {
        std::string key = fmt::format("{:04}-{:02}", y, mo);
        auto it = months.find(key);
        series.emplace_back(key, it == months.end() ? Tally{} : it->second);
        if (++mo > 12) {
            mo = 1;
            ++y;
        }
    }
    uint64_t peak = 1;
    for (const auto& [m, t] : series) peak = std::max(peak, t.count);
    const double width = 760;
    const double height = 240;
    const double left = 48;
    const double bottom = 36;
    const double top = 12;
    const double plot_w = width - left - 8;
    const double plot_h = height - top - bottom;
    const double slot = std::min(64.0, plot_w / static_cast<double>(series.size()));
    out += fmt::format("<svg id=\"disposals-chart\" role=\"img\" viewBox=\"0 0 {} {}\" "
                       "width=\"{}\" height=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">"
                       "<title>Disposals per month</title>",
                       width, height, width, height);
    for (int i = 0; i <= 2; ++i) {
        uint64_t v = peak * static_cast<uint64_t>(i) / 2;
        double yy = top + plot_h - plot_h * static_cast<double>(v) / static_cast<double>(peak);
        out += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" class=\"grid\"/>"
                           "<text x=\"{}\" y=\"{:.1f}\" class=\"axis\" text-anchor=\"end\">{}</text>",
                           left, yy, width - 8, yy, left - 6, yy + 4, v);
    }
    size_t label_every = std::max<size_t>(1, (series.size() + 11) / 12);
    for (size_t i = 0; i < series.size(); ++i) {
        const auto& [m, t] = series[i];
        double h = plot_h * static_cast<double>(t.count) / static_cast<double>(peak);
        double x = left + slot * static_cast<double>(i);
        out += fmt::format("<rect class=\"bar\" data-month=\"{}\" data-count=\"{}\" x=\"{:.1f}\" "
                           "y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\"><title>{}: {} "
                           "disposal(s), {}</title></rect>",
                           m, t.count, x + slot * 0.1, top + plot_h - h, slot * 0.8, h, m,
                           t.count, human(t.bytes));
        if (i % label_every == 0) {
            out += fmt::format("<text x=\"{:.1f}\" y=\"{}\" class=\"axis\" "
                               "text-anchor=\"middle\">{}</text>",
                               x + slot / 2, height - bottom + 16, m);
        }
    }
    out += "</svg></section>\n";
}

void holds(std::string& out, const std::vector<ExportedEntry>& entries) {
    out += "<section id=\"holds\"><h2>Legal holds in force</h2>";
    if (entries.empty()) {
        out += "<p id=\"holds-status\">No holds recorded in this ledger (no hold-placed or "
               "hold-released entries).</p></section>\n";
        return;
    }
    // A hold is in force when the ledger records it placed and not released afterwards.
    std::map<std::string, const ExportedEntry*> placed;
    std::set<std::string> released;
    for (const auto& e : entries) {
        std::string type = text_of(e.payload, "type");
        std::string id = text_of(member(e.payload, "hold"), "id");
        if (type == "hold-placed") {
            placed[id] = &e;
            released.erase(id);
        } else if (type == "hold-released") {
            released.insert(id);
        }
    }
    std::vector<const ExportedEntry*> in_force;
    for (const auto& [id, e] : placed) {
        if (!released.contains(id)) in_force.push_back(e);
    }
    out += fmt::format("<p id=\"holds-status\">{} hold(s) in force; {} hold entries in the "
                       "ledger, {} hold(s) released.</p>",
                       in_force.size(), entries.size(), released.size());
    if (in_force.empty()) {
        out += "</section>\n";
        return;
    }
    out += "<table id=\"holds-table\"><thead><tr><th>Hold</th><th>Placed</th><th>By</th>"
           "<th>Reason</th><th>Client / matter</th><th>Paths</th></tr></thead><tbody>";
    for (const ExportedEntry* e : in_force) {
        const json& h = member(e->payload, "hold");
        std::string paths;
        const json& ps = member(h, "paths");
        if (ps.is_array()) {
            for (const auto& p : ps) {
                if (!paths.empty()) paths += ", ";
                // {"path": P, "glob": escaped P} names P exactly; {"glob": G} is a pattern.
                if (p.is_object() && p.contains("path") && p["path"].is_string()) {
                    paths += "path " + p["path"].get<std::string>();
                } else if (p.is_object() && p.contains("glob") && p["glob"].is_string()) {
                    paths += "glob " + p["glob"].get<std::string>();
                } else {
                    paths += p.is_string()
                                 ? p.get<std::string>()
                                 : p.dump(-1, ' ', false, json::error_handler_t::replace);
                }
                if (p.is_object() && p.contains("root") && p["root"].is_string()) {
                    paths += " in root " + p["root"].get<std::string>();
                }
            }
        }
        std::string whose = text_of(h, "client");
        if (!text_of(h, "matter").empty()) whose += " / " + text_of(h, "matter");
        out += fmt::format("<tr><td>{}</td><td>{} (seq {})</td><td>{}</td><td>{}</td><td>{}</td>"
                           "<td>{}</td></tr>",
                           html_escape(text_of(h, "id")), html_escape(text_of(e->payload, "time")),
                           html_escape(text_of(e->payload, "seq")),
                           html_escape(text_of(h, "placed_by")), html_escape(text_of(h, "reason")),
                           html_escape(whose), html_escape(paths));
    }
    out += "</tbody></table></section>\n";
}

constexpr const char* kStyle = R"CSS(
body{font:14px/1.4 "DejaVu Sans",Arial,sans-serif;margin:0 auto;max-width:1100px;padding:16px;color:#1b1f24;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:22px 0 8px}h3{font-size:14px;margin:8px 0}
.meta{color:#57606a;margin:0}
#verification{border-radius:6px;padding:10px 14px;margin:14px 0}
#verification.ok{background:#e6f4ea;border:1px solid #1a7f37}
#verification.failed{background:#fdecea;border:1px solid #cf222e}
#verification h2{margin:0 0 6px}
.totals{display:flex;gap:14px;flex-wrap:wrap}
.totals div{border:1px solid #d0d7de;border-radius:6px;padding:8px 14px;min-width:150px}
.totals strong{display:block;font-size:20px}
.tallies{display:flex;gap:18px;flex-wrap:wrap;align-items:flex-start}
table{border-collapse:collapse}
th,td{border-bottom:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
#certs td{white-space:nowrap}
#certs td.subject{white-space:normal;word-break:break-all;min-width:220px}
#certs td.hash{white-space:normal;word-break:break-all}
#certs td.hash{font-family:"DejaVu Sans Mono",monospace;font-size:12px}
svg .bar{fill:#0969da}svg .grid{stroke:#d0d7de}svg .axis{font-size:11px;fill:#57606a}
#search{font-size:14px;padding:4px 8px;width:320px;margin-bottom:8px}
#selfcheck{color:#57606a;font-size:12px}
)CSS";

constexpr const char* kScript = R"JS(
(function () {
  'use strict';
  var rows = Array.prototype.slice.call(document.querySelectorAll('#certs tbody tr'));
  var search = document.getElementById('search');
  var shown = document.getElementById('shown');
  function filter() {
    var q = search.value.toLowerCase();
    var n = 0;
    rows.forEach(function (r) {
      var hit = !q || r.textContent.toLowerCase().indexOf(q) >= 0;
      r.hidden = !hit;
      if (hit) n++;
    });
    shown.textContent = n + ' of ' + rows.length + ' shown';
  }
  search.addEventListener('input', filter);
  // A search can be linked to: report.html#q=acme opens with "acme" searched.
  var linked = /^#q=(.*)$/.exec(window.location.hash);
  if (linked) {
    try { search.value = decodeURIComponent(linked[1]); } catch (e) { search.value = linked[1]; }
  }
  filter();
  // Self-check: the totals at the top must add up from the table and the monthly figures.
  var count = 0, bytes = 0, monthly = 0;
  rows.forEach(function (r) {
    if (r.dataset.type === 'disposal') { count++; bytes += Number(r.dataset.bytes); }
  });
  document.querySelectorAll('#by-month tbody tr').forEach(function (r) {
    monthly += Number(r.dataset.count || 0);
  });
  var totalCount = Number(document.getElementById('total-disposals').dataset.value);
  var totalBytes = Number(document.getElementById('total-bytes').dataset.value);
  var ok = count === totalCount && bytes === totalBytes && monthly === totalCount;
  var out = document.getElementById('selfcheck');
  out.dataset.result = ok ? 'ok' : 'mismatch';
  out.textContent = 'Self-check ' + (ok ? 'passed' : 'FAILED') + ': the table holds ' + count +
      ' disposals of ' + bytes + ' bytes, the months add up to ' + monthly +
      '; the totals above say ' + totalCount + ' disposals of ' + totalBytes + ' bytes.';
})();
)JS";

}  // namespace

std::string html_escape(std::string_view text) {
    std::string clean = util::utf8_display(text);
    std::string out;
    out.reserve(clean.size());
    for (char c : clean) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}

std::string csv_field(std::string_view text) {
    std::string clean = util::utf8_display(text);
    if (clean.find_first_of(",\"\r\n") == std::string::npos) return clean;
    std::string out = "\"";
    for (char c : clean) {
        if (c == '"') out += '"';
        out += c;
    }
    out += '"';
    return out;
}

std::string render_json_lines(const std::vector<ExportedEntry>& entries) {
    std::string out;
    for (const auto& e : entries) {
        json j = {{"ledger", util::utf8_display(e.ledger)},
                  {"line", e.line_no},
                  {"hash", e.hash},
                  {"seq", e.payload.value("seq", uint64_t{0})},
                  {"payload", e.payload}};
        out += j.dump(-1, ' ', false, json::error_handler_t::replace);
        out += '\n';
    }
    return out;
}

std::string render_csv(const std::vector<ExportedEntry>& entries) {
    static constexpr const char* kHeader[] = {
        "ledger",   "line",   "seq",          "type",     "time",           "host",
        "root",     "path",   "path_b64",     "client",   "matter",         "category",
        "action",   "size",   "sha256",       "schedule", "schedule_version", "trigger_date",
        "expires",  "method", "verified",     "intent",   "hash"};
    std::string out;
    for (size_t i = 0; i < std::size(kHeader); ++i) {
        if (i > 0) out += ',';
        out += kHeader[i];
    }
    out += "\r\n";
    for (const auto& e : entries) {
        const json& p = e.payload;
        const json& subj = member(p, "subject");
        const json& sched = member(p, "schedule");
        const json& method = member(p, "method");
        std::vector<std::string> row = {
            e.ledger,
            std::to_string(e.line_no),
            text_of(p, "seq"),
            text_of(p, "type"),
            text_of(p, "time"),
            text_of(p, "host"),
            text_of(p, "root"),
            text_of(p, "path"),
            text_of(p, "path_b64"),
            text_of(p, "client"),
            text_of(p, "matter"),
            text_of(p, "category"),
            text_of(p, "action"),
            text_of(subj, "size"),
            text_of(subj, "sha256"),
            text_of(sched, "id"),
            text_of(sched, "version"),
            text_of(p, "trigger_date"),
            text_of(p, "expires"),
            text_of(method, "kind"),
            text_of(method, "verified"),
            text_of(p, "intent"),
            e.hash};
        for (size_t i = 0; i < row.size(); ++i) {
            if (i > 0) out += ',';
            out += csv_field(row[i]);
        }
        out += "\r\n";
    }
    return out;
}

std::string render_html(const ReportInput& in) {
    std::map<std::string, Tally> by_category;
    std::map<std::string, Tally> by_action;
    std::map<std::string, Tally> by_month;
    Tally total;
    for (const auto& e : in.entries) {
        if (text_of(e.payload, "type") != "disposal") continue;
        uint64_t size = subject_size(e.payload);
        for (Tally* t : {&total, &by_category[text_of(e.payload, "category")],
                         &by_action[text_of(e.payload, "action")],
                         &by_month[month_of(e.payload)]}) {
            ++t->count;
            t->bytes += size;
        }
    }
    bool verified = !in.verification.empty() &&
                    std::all_of(in.verification.begin(), in.verification.end(),
                                [](const VerifyReport& r) { return r.ok(); });
    bool several = in.verification.size() > 1;

    std::string out;
    out.reserve(4096 + in.entries.size() * 400);
    out += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
           "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
           "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
           "<title>lethe: disposal certificates</title>\n<style>";
    out += kStyle;
    out += "</style></head>\n<body>\n<header><h1>Disposal certificates</h1>";
    out += fmt::format("<p class=\"meta\">Exported by lethe on {} at {}. Filters: {}.</p>"
                       "</header>\n",
                       html_escape(in.host), html_escape(in.generated_at),
                       in.filters.empty() ? "none" : html_escape(in.filters));

    out += fmt::format("<section id=\"verification\" class=\"{}\" data-status=\"{}\"><h2>"
                       "Verification: {}</h2><ul>",
                       verified ? "ok" : "failed", verified ? "passed" : "failed",
                       verified ? "PASSED" : "FAILED");
    for (const auto& r : in.verification) {
        if (r.ok()) {
            auto count = [&](const char* type) {
                auto it = r.by_type.find(type);
                return it == r.by_type.end() ? uint64_t{0} : it->second;
            };
            std::string signers;
            for (const auto& k : r.signers) signers += (signers.empty() ? "" : ", then ") + k;
            out += fmt::format("<li>{}: {} certificates ({} disposals, {} checkpoints); "
                               "signatures, hash chain and checkpoints intact. Head <code>{}"
                               "</code>, Merkle root <code>{}</code>; signed by keyid {}.</li>",
                               html_escape(r.path), r.entries, count("disposal"),
                               count("checkpoint"), r.head, r.merkle_root, html_escape(signers));
        } else {
            out += fmt::format(
                "<li><strong>{}{}: {} [{}]</strong>; {} entries before it verified. The figures "
                "below come from lines that may have been altered.</li>",
                html_escape(r.path),
                r.bad_line ? fmt::format(" line {}", *r.bad_line) : std::string(),
                html_escape(r.problem), r.finding ? to_string(*r.finding) : "", r.entries);
        }
    }
    out += "</ul><p class=\"meta\">Checked by <code>lethe certs verify</code>'s verifier when "
           "this report was made. A cut tail is caught only against a checkpoint kept off the "
           "host: run <code>lethe certs verify --checkpoint FILE</code> as well.</p></section>\n";

    out += fmt::format(
        "<section id=\"summary\"><h2>Totals</h2><div class=\"totals\">"
        "<div>Disposals<strong id=\"total-disposals\" data-value=\"{}\">{}</strong></div>"
        "<div>Bytes disposed<strong id=\"total-bytes\" data-value=\"{}\">{}</strong>{} bytes</div>"
        "<div>Certificates in this report<strong id=\"total-certificates\" data-value=\"{}\">{}"
        "</strong></div></div>\n<div class=\"tallies\">",
        total.count, total.count, total.bytes, human(total.bytes), total.bytes, in.entries.size(),
        in.entries.size());
    tally_table(out, "by-category", "Category", by_category);
    tally_table(out, "by-action", "Action", by_action);
    tally_table(out, "by-month", "Month", by_month);
    out += "</div></section>\n";

    chart(out, by_month);
    holds(out, in.hold_entries);

    out += "<section id=\"certificates\"><h2>Certificates</h2>"
           "<input id=\"search\" type=\"search\" placeholder=\"Search certificates\" "
           "aria-label=\"Search certificates\"> <span id=\"shown\"></span>"
           "<table id=\"certs\"><thead><tr>";
    if (several) out += "<th>Ledger</th>";
    out += "<th class=\"n\">Seq</th><th>Time</th><th>Type</th><th>Action</th><th>Category</th>"
           "<th>Client</th><th>Subject</th><th class=\"n\">Size</th><th>Id (SHA-256)</th>"
           "</tr></thead><tbody>\n";
    for (const auto& e : in.entries) {
        const json& p = e.payload;
        std::string type = text_of(p, "type");
        uint64_t size = subject_size(p);
        out += fmt::format("<tr data-type=\"{}\" data-bytes=\"{}\">", html_escape(type),
                           type == "disposal" ? size : 0);
        if (several) out += fmt::format("<td>{}</td>", html_escape(e.ledger));
        out += fmt::format("<td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                           "<td>{}</td><td class=\"subject\">{}</td><td class=\"n\">{}</td>"
                           "<td class=\"hash\" title=\"{}\">{}</td></tr>\n",
                           html_escape(text_of(p, "seq")), html_escape(text_of(p, "time")),
                           html_escape(type), html_escape(text_of(p, "action")),
                           html_escape(text_of(p, "category")), html_escape(text_of(p, "client")),
                           html_escape(details(p, type)),
                           type == "disposal" ? human(size) : std::string(), html_escape(e.hash),
                           html_escape(e.hash.substr(0, 16)));
    }
    out += "</tbody></table><p id=\"selfcheck\" data-result=\"not run\">Self-check not run "
           "(the page's script is off).</p></section>\n<script>";
    out += kScript;
    out += "</script>\n</body></html>\n";
    return out;
}

}  // namespace lethe::ledger

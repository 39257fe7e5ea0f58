#include "agent/policy/config.hpp"

#include <cmath>
#include <set>

#include <boost/filesystem.hpp>
#include <fmt/format.h>

#include "agent/policy/toml_reader.hpp"
#include "agent/util/fs.hpp"

namespace lethe::policy {

namespace {

using detail::TableReader;

std::string resolve(const std::string& base_dir, const std::string& p) {
    namespace fs = boost::filesystem;
    fs::path path(p);
    std::string out = (path.is_absolute() ? path : fs::path(base_dir) / path).lexically_normal().string();
    // Boost spells a trailing separator as "/." ("/srv/.." as "/.").
    if (out == "/.") return "/";
    if (out.size() > 2 && out.compare(out.size() - 2, 2, "/.") == 0) out.resize(out.size() - 2);
    return out;
}

Result<RootConfig> parse_root(const toml::table& table, const std::string& file,
                              const std::string& base_dir, size_t index) {
    TableReader reader(table, file, fmt::format("[[root]] #{}", index + 1));
    RootConfig root;
    auto name = reader.required_string("name");
    if (!name) return fail(name.error());
    root.name = *name;
    if (root.name.find('/') != std::string::npos) {
        return fail(reader.error_at("name", "a root name must not contain '/'"));
    }
    auto path = reader.required_string("path");
    if (!path) return fail(path.error());
    root.path = resolve(base_dir, *path);
    while (root.path.size() > 1 && root.path.back() == '/') root.path.pop_back();
    if (root.path == "/") {
        return fail(reader.error_at(
            "path", fmt::format("root '{}' is / (the whole filesystem): lethe's own state, "
                                "its config and the system would all be in it; name the "
                                "share's folder",
                                root.name)));
    }
    auto one_fs = reader.boolean("one_filesystem");
    if (!one_fs) return fail(one_fs.error());
    root.one_filesystem = one_fs->value_or(true);
    auto exclude = reader.string_array("exclude");
    if (!exclude) return fail(exclude.error());
    for (const auto& e : *exclude) {
        auto glob = util::Glob::compile(e);
        if (!glob) return fail(reader.error_at("exclude", glob.error().message()));
        root.exclude.push_back(std::move(*glob));
    }
    if (auto st = reader.check_no_unknown_keys(); !st) return fail(st.error());
    return root;
}

// "file:line:column" of `key`'s value, or of the table when the key is absent.
std::string located(const toml::table& table, const std::string& file, std::string_view key) {
    const toml::node* n = table.get(key);
    return detail::location(file, n != nullptr ? n->source() : table.source());
}

// The blast-radius guards of [agent]. A value that is not a finite number in range would
// switch a guard off without a word (nan compares false with every bound), so each is
// refused with its location.
Status load_guards(TableReader& a, AgentConfig& cfg) {
    auto max_disposals = a.integer("max_disposals_per_pass");
    if (!max_disposals) return fail(max_disposals.error());
    if (max_disposals->has_value()) {
        if (**max_disposals < 1) {
            return fail(a.error_at("max_disposals_per_pass",
                                   "must be at least 1 (0 would refuse every pass that has "
                                   "anything to do; leave the root out to dispose of nothing)"));
        }
        cfg.max_disposals_per_pass = **max_disposals;
    }
    auto fraction = a.number("max_fraction_per_root");
    if (!fraction) return fail(fraction.error());
    if (fraction->has_value()) {
        double f = **fraction;
        if (!std::isfinite(f) || !(f > 0.0 && f <= 1.0)) {
            return fail(a.error_at("max_fraction_per_root",
                                   fmt::format("must be a number above 0 and at most 1 (a "
                                               "fraction of a root's files, e.g. 0.05), not {}",
                                               f)));
        }
        cfg.max_fraction_per_root = f;
    }
    return {};
}

// [sanitize] and [archive] (issue 6: disposal actions).
Status load_disposal_sections(TableReader& top, const std::string& path, const std::string& base_dir,
                              AgentConfig& cfg) {
    if (const toml::node* sanitize = top.node("sanitize")) {
        if (!sanitize->is_table()) return fail(top.error_at("sanitize", "[sanitize] must be a table"));
        TableReader s(*sanitize->as_table(), path, "[sanitize]");
        auto passes = s.integer("passes");
        if (!passes) return fail(passes.error());
        if (passes->has_value()) {
            if (**passes < 1 || **passes > 10) {
                return fail(s.error_at("passes", "must be between 1 and 10 (one random pass is "
                                                 "enough on modern disks)"));
            }
            cfg.sanitize_passes = static_cast<int>(**passes);
        }
        auto zero = s.boolean("final_zero");
        if (!zero) return fail(zero.error());
        cfg.sanitize_final_zero = zero->value_or(false);
        auto verify = s.boolean("verify");
        if (!verify) return fail(verify.error());
        cfg.sanitize_verify = verify->value_or(true);
        if (auto st = s.check_no_unknown_keys(); !st) return fail(st.error());
    }
    if (const toml::node* archive = top.node("archive")) {
        if (!archive->is_table()) return fail(top.error_at("archive", "[archive] must be a table"));
        TableReader a(*archive->as_table(), path, "[archive]");
        auto dest = a.string("destination");
        if (!dest) return fail(dest.error());
        if (dest->has_value()) {
            // Resolved, "" would be the config's own folder.
            if ((*dest)->empty()) {
                return fail(a.error_at("destination",
                                       "[archive] destination must not be empty; leave it out "
                                       "or name a folder outside every root"));
            }
            cfg.archive_destination = resolve(base_dir, **dest);
        }
        auto recipients = a.string_array("recipients");
        if (!recipients) return fail(recipients.error());
        for (size_t i = 0; i < recipients->size(); ++i) {
            // Not echoed: a private key pasted here by mistake must not reach the logs.
            if ((*recipients)[i].rfind("age1", 0) != 0) {
                return fail(a.error_at("recipients",
                                       fmt::format("entry {} is not an age recipient (age1...); "
                                                   "the agent takes public keys only", i + 1)));
            }
        }
        cfg.archive_recipients = *recipients;
        if (auto st = a.check_no_unknown_keys(); !st) return fail(st.error());
    }
    return {};
}

}  // namespace

const RootConfig* AgentConfig::find_root(std::string_view name) const {
    for (const auto& r : roots) {
        if (r.name == name) return &r;
    }
    return nullptr;
}

Result<AgentConfig> load_config(const std::string& path) {
    namespace fs = boost::filesystem;
    auto text = util::read_file(path);
    if (!text) return fail(text.error().with_context("config"));
    auto doc = detail::parse_toml(*text, path);
    if (!doc) return fail(doc.error());

    boost::system::error_code ec;
    std::string base_dir = fs::absolute(fs::path(path), ec).parent_path().string();

    AgentConfig cfg;
    cfg.source_path = path;
    TableReader top(*doc, path, "config");

    auto policies = top.string("policies");
    if (!policies) return fail(policies.error());
    cfg.policies = resolve(base_dir, policies->value_or("/etc/lethe/policies.d"));
    auto metrics = top.string("metrics_file");
    if (!metrics) return fail(metrics.error());
    if (metrics->has_value()) {
        std::string_view m = **metrics;
        // node_exporter's textfile collector reads only *.prom files.
        if (m.size() <= 5 || m.substr(m.size() - 5) != ".prom" || m.back() == '/') {
            return fail(top.error_at("metrics_file",
                                     "metrics_file must name a file ending in .prom (node_exporter's textfile "
                                     "collector reads only those)"));
        }
        cfg.metrics_file = resolve(base_dir, **metrics);
    }

    cfg.state_dir = "/var/lib/lethe";
    if (const toml::node* agent = top.node("agent")) {
        if (!agent->is_table()) return fail(top.error_at("agent", "[agent] must be a table"));
        TableReader a(*agent->as_table(), path, "[agent]");
        auto state = a.string("state_dir");
        if (!state) return fail(state.error());
        if (state->has_value()) {
            // Resolved, "" would be the config's own folder (often /etc/lethe).
            if ((*state)->empty()) {
                return fail(a.error_at("state_dir",
                                       "state_dir must not be empty; leave it out for "
                                       "/var/lib/lethe or name a folder outside every root"));
            }
            cfg.state_dir = resolve(base_dir, **state);
        }
        if (cfg.state_dir == "/") {
            return fail(a.error_at("state_dir", "state_dir must not be /; name a folder of its "
                                                "own, e.g. /var/lib/lethe"));
        }
        auto interval = a.string("interval");
        if (!interval) return fail(interval.error());
        cfg.interval = interval->value_or(cfg.interval);
        cfg.interval_at = located(*agent->as_table(), path, "interval");
        auto window = a.string("window");
        if (!window) return fail(window.error());
        cfg.window = window->value_or("");
        cfg.window_at = located(*agent->as_table(), path, "window");
        if (auto st = load_guards(a, cfg); !st) return fail(st.error());
        if (auto st = a.check_no_unknown_keys(); !st) return fail(st.error());
    }

    cfg.signing_key = cfg.state_dir + "/keys/signing.pem";
    if (const toml::node* signing = top.node("signing")) {
        if (!signing->is_table()) return fail(top.error_at("signing", "[signing] must be a table"));
        TableReader s(*signing->as_table(), path, "[signing]");
        auto key = s.string("key");
        if (!key) return fail(key.error());
        if (key->has_value()) cfg.signing_key = resolve(base_dir, **key);
        if (auto st = s.check_no_unknown_keys(); !st) return fail(st.error());
    }

    if (auto st = load_disposal_sections(top, path, base_dir, cfg); !st) return fail(st.error());

    const toml::node* roots = top.node("root");
    if (roots == nullptr) {
        return fail(top.error_at("root", "no [[root]] tables: there is nothing to walk"));
    }
    const toml::array* arr = roots->as_array();
    if (arr == nullptr || !arr->is_array_of_tables()) {
        return fail(top.error_at("root", "'root' must be written as [[root]] tables"));
    }
    std::set<std::string> names;
    for (size_t i = 0; i < arr->size(); ++i) {
        auto root = parse_root(*arr->get(i)->as_table(), path, base_dir, i);
        if (!root) return fail(root.error());
        if (!names.insert(root->name).second) {
            return fail(ErrorKind::BadInput,
                        fmt::format("{}: root name '{}' is used twice",
                                    detail::location(path, arr->get(i)->source()), root->name));
        }
        cfg.roots.push_back(std::move(*root));
    }
    if (auto st = top.check_no_unknown_keys(); !st) return fail(st.error());
    return cfg;
}

}  // namespace lethe::policy

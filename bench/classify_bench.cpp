// Google Benchmark of the classifier: one million synthetic file facts of a law-firm share
// classified against the example schedules in policies/law-firm (events answered from
// memory: the disk lookups are part of the walk's cost, not the classifier's), and the cost
// of sniffing one file's content type with libmagic from a buffer already read
// (BM_SniffMime/<kind>), which a category with `mime` adds per file it has to look into.
//
// usage: lethe_classify_bench POLICY_DIR [benchmark flags]

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <random>
#include <unordered_map>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "agent/classify/decision.hpp"
#include "agent/classify/lookups.hpp"
#include "agent/classify/mime.hpp"

// Every allocation of the process is counted, so that each benchmark can report how many it
// makes per file (the classifier's hot path should make none for a file that matches nothing
// and few for one that does).
namespace {
size_t g_allocations = 0;  // the benchmarks run on one thread
}  // namespace
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"  // a replacement pair: malloc and free
void* operator new(size_t size) {
    ++g_allocations;
    if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }  // NOLINT(cppcoreguidelines-no-malloc)
void operator delete(void* p, size_t) noexcept { std::free(p); }  // NOLINT(cppcoreguidelines-no-malloc)
#pragma GCC diagnostic pop

namespace {

using namespace lethe;

constexpr size_t kFiles = 1'000'000;

std::vector<policy::RetentionSchedule> g_schedules;
std::vector<scan::FileFacts> g_facts;

// Markers and attributes from memory. The caching in front of the marker look-up is the real
// one (CachingMarkerLookups, as FsLookups on a share): only the disk side is replaced.
class MemoryLookups final : public classify::CachingMarkerLookups {
public:
    std::unordered_map<std::string, util::TimePoint> markers;  // "folder/marker"
    std::optional<util::TimePoint> marker_in(const std::string& folder, const std::string& marker) override {
        auto it = markers.find(folder.empty() ? marker : fmt::format("{}/{}", folder, marker));
        if (it == markers.end()) return std::nullopt;
        return it->second;
    }
    std::optional<std::string> xattr(std::string_view, const std::string&) override { return std::nullopt; }
    // By extension, as if sniffed: what libmagic costs is measured by BM_SniffMime.
    classify::ContentType content_type(const scan::FileFacts& facts) override {
        static const std::unordered_map<std::string_view, std::string> kTypes{
            {"pdf", "application/pdf"}, {"tif", "image/tiff"}, {"txt", "text/plain"},
            {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}};
        std::string_view path(facts.path);
        auto it = kTypes.find(path.substr(path.rfind('.') + 1));
        return classify::ContentType{it != kTypes.end() ? it->second : "application/octet-stream", ""};
    }
};
MemoryLookups g_lookups;

void make_facts() {
    std::mt19937_64 rng(42);
    auto day = [&](int from_year, int years) {
        auto start = std::chrono::sys_days{std::chrono::year{from_year} / 1 / 1};
        return util::TimePoint{start + std::chrono::days{static_cast<int64_t>(rng() % static_cast<uint64_t>(365 * years))}};
    };
    static constexpr const char* kExt[] = {"pdf", "docx", "msg", "eml", "xlsx", "csv", "tmp", "txt", "tif"};
    static constexpr const char* kTop[] = {"clients", "clients", "clients", "clients", "clients", "accounts/billing",
                                 "correspondence", "post-room", "compliance/conflicts", "hr/staff",
                                 "hr/payroll", "hr/right-to-work", "marketing/consent", "marketing/events", "precedents"};
    g_facts.reserve(kFiles);
    for (size_t i = 0; i < kFiles; ++i) {
        scan::FileFacts f;
        const char* top = kTop[rng() % std::size(kTop)];
        uint64_t client = rng() % 200;  // about 10 files per folder
        uint64_t matter = rng() % 20;
        f.path = fmt::format("{}/client-{:04}/{}-{:03}/{}/doc-{}.{}", top, client, 2000 + matter, client % 997,
                             rng() % 2 == 0 ? "work" : "originals", i, kExt[rng() % std::size(kExt)]);
        f.size = rng() % (1 << 22);
        f.uid = 1000;
        f.gid = 1000;
        f.nlink = 1;
        f.mtime = day(2000, 26);
        f.atime = f.mtime;
        if (rng() % 2 == 0) f.btime = f.mtime;
        g_facts.push_back(std::move(f));
        // Every third matter is closed.
        if (matter % 3 == 0) {
            g_lookups.markers.emplace(fmt::format("{}/client-{:04}/{}-{:03}/.matter-closed", top, client,
                                                  2000 + matter, client % 997),
                                      day(2005, 20));
        }
    }
}

// The walk reports a folder's files together; so does this.
void sort_like_a_walk() {
    std::sort(g_facts.begin(), g_facts.end(),
              [](const scan::FileFacts& a, const scan::FileFacts& b) { return a.path < b.path; });
    // Sorting moved the facts but not their paths' bytes, which stay where they were made,
    // in random order: reading each would be a cache miss. The walk hands the classifier a
    // path it has just written; copied in order (while the old ones still hold their memory,
    // so the copies are laid out one after another), the paths are read as a stream of fresh
    // facts would be.
    // LETHE_BENCH_SCATTERED_PATHS=1 keeps them scattered (how this benchmark ran before).
    if (const char* scattered = std::getenv("LETHE_BENCH_SCATTERED_PATHS"); scattered != nullptr && *scattered == '1') return;
    std::vector<scan::FileFacts> in_order(g_facts.begin(), g_facts.end());
    g_facts.swap(in_order);
}

void classify_facts(benchmark::State& state) {
    classify::ClassifyOptions options;
    options.lookups = &g_lookups;
    auto today = std::chrono::sys_days{std::chrono::year{2026} / 11 / 25};
    size_t due = 0;
    size_t allocations_before = 0;
    // As `lethe plan` does: one Classifier for the walk, built once from the schedules.
    const classify::Classifier classifier(g_schedules);
    for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): Google Benchmark's loop idiom
        if (allocations_before == 0) allocations_before = g_allocations;
        for (const auto& f : g_facts) {
            auto d = classifier.classify(f, today, options);
            due += d.status == classify::Status::Due ? 1 : 0;
        }
    }
    benchmark::DoNotOptimize(due);
    state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(g_facts.size()));
    state.counters["allocs_per_file"] =
        static_cast<double>(g_allocations - allocations_before) /
        (static_cast<double>(state.iterations()) * static_cast<double>(g_facts.size()));
}
BENCHMARK(classify_facts)->Name("BM_Classify")->Unit(benchmark::kMillisecond)->Iterations(3);

// The same through classify() without an index (every category of every schedule per file):
// what explain, policy diff and inventory use; for comparison.
void classify_facts_plain(benchmark::State& state) {
    classify::ClassifyOptions options;
    options.lookups = &g_lookups;
    auto today = std::chrono::sys_days{std::chrono::year{2026} / 11 / 25};
    size_t due = 0;
    size_t allocations_before = 0;
    for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): Google Benchmark's loop idiom
        if (allocations_before == 0) allocations_before = g_allocations;
        for (const auto& f : g_facts) {
            auto d = classify::classify(f, g_schedules, today, options);
            due += d.status == classify::Status::Due ? 1 : 0;
        }
    }
    benchmark::DoNotOptimize(due);
    state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(g_facts.size()));
    state.counters["allocs_per_file"] =
        static_cast<double>(g_allocations - allocations_before) /
        (static_cast<double>(state.iterations()) * static_cast<double>(g_facts.size()));
}
BENCHMARK(classify_facts_plain)->Name("BM_ClassifyPlainPath")->Unit(benchmark::kMillisecond)->Iterations(3);

// libmagic on one file's first bytes (classify::kSniffBytes at most), on this thread's handle.
std::string minimal_pdf() {
    return "%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
           "2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
           "trailer << /Root 1 0 R >>\n%%EOF\n";
}
std::string text_page() {
    std::string out;
    while (out.size() < classify::kSniffBytes) out += "Dear client, please find enclosed the completion statement.\n";
    return out;
}
void sniff_prefix(benchmark::State& state, const std::string& content) {
    (void)classify::sniff_mime("");  // the database loads once per thread, not per file
    size_t named = 0;
    for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): Google Benchmark's loop idiom
        auto type = classify::sniff_mime(content);
        named += type ? type->size() : 0;
    }
    benchmark::DoNotOptimize(named);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(sniff_prefix, pdf, minimal_pdf())
    ->Name("BM_SniffMime/pdf")
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(sniff_prefix, text_64k, text_page())
    ->Name("BM_SniffMime/text_64k")
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(sniff_prefix, binary_64k, std::string(classify::kSniffBytes, '\x01'))
    ->Name("BM_SniffMime/binary_64k")
    ->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s POLICY_DIR [benchmark flags]\n", argv[0]);
        return 2;
    }
    auto schedules = policy::load_schedules({argv[1]});
    if (!schedules) {
        std::fprintf(stderr, "%s\n", schedules.error().message().c_str());
        return 2;
    }
    g_schedules = std::move(*schedules);
    make_facts();
    sort_like_a_walk();
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}

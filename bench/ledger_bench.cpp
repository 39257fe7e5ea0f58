// Ledger throughput: signing and appending certificates (grouped fsync and one fsync per
// certificate) and verifying a ledger, single-threaded. Run through bench/ledger_bench,
// which compares the figures with `openssl speed ed25519` on the same machine.
//
// usage: lethe_ledger_bench DIR [ENTRIES] [BATCH]

#include <time.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "agent/ledger/dsse.hpp"
#include "agent/ledger/keys.hpp"
#include "agent/ledger/ledger.hpp"
#include "agent/ledger/verify.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// CPU time of this process, as `openssl speed` divides by (user time, by default): on a
// shared machine wall time also counts other people's work.
double cpu_seconds() {
    timespec ts{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// A payload the size and shape of a real disposal certificate.
nlohmann::json disposal(uint64_t i) {
    return {{"type", "disposal"},
            {"time", "2026-01-15T00:00:00Z"},
            {"host", "bench"},
            {"agent", "lethe bench"},
            {"root", "clients"},
            {"path", fmt::format("acme/2010-{:03}/document-{:08}.pdf", i % 1000, i)},
            {"client", "acme"},
            {"matter", fmt::format("2010-{:03}", i % 1000)},
            {"subject",
             {{"size", 123456 + i},
              {"inode", 1000000 + i},
              {"device", 2049},
              {"mtime", "2010-05-01T00:00:00Z"},
              {"sha256", std::string(64, 'a')}}},
            {"schedule", {{"id", "firm-2026"}, {"version", 3}, {"sha256", std::string(64, 'b')}}},
            {"category", "client-matter"},
            {"trigger", "modified"},
            {"trigger_date", "2010-05-01"},
            {"expires", "2017-05-01"},
            {"action", "sanitize"},
            {"method",
             {{"kind", "file overwrite"},
              {"passes", 1},
              {"pattern", "random"},
              {"verified", true},
              {"read_back", "direct I/O (O_DIRECT)"},
              {"filesystem", "ext4"},
              {"residual_risks", nlohmann::json::array()},
              {"scope", "file-level disposal through the filesystem; not a NIST SP 800-88 Clear "
                        "or Purge of the storage medium"}}},
            {"intent", std::string(32, 'c')}};
}

int fail_with(const lethe::Error& e) {
    std::fprintf(stderr, "ledger_bench: %s\n", e.message().c_str());
    return 3;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace lethe;
    if (argc < 2) {
        std::fprintf(stderr, "usage: lethe_ledger_bench DIR [ENTRIES] [BATCH]\n");
        return 2;
    }
    std::string dir = argv[1];
    uint64_t entries = argc > 2 ? std::stoull(argv[2]) : 20000;
    uint64_t batch = argc > 3 ? std::stoull(argv[3]) : 1000;
    uint64_t single = entries / 20;

    if (auto st = ledger::SigningKey::generate(dir + "/key.pem"); !st) return fail_with(st.error());
    auto key = ledger::SigningKey::load(dir + "/key.pem");
    if (!key) return fail_with(key.error());

    // Signing alone, over a PAE the size of a certificate's.
    std::string pae = ledger::pae(ledger::kPayloadType, disposal(1).dump());
    double cpu = cpu_seconds();
    ledger::SigningContext signer(*key);
    for (uint64_t i = 0; i < entries; ++i) (void)signer.sign(pae);
    double sign_rate = static_cast<double>(entries) / (cpu_seconds() - cpu);

    // Sign and append, grouped: one write and one fdatasync per batch.
    auto grouped = ledger::Ledger::open(dir + "/grouped.jsonl", *key);
    if (!grouped) return fail_with(grouped.error());
    auto start = Clock::now();
    cpu = cpu_seconds();
    for (uint64_t done = 0; done < entries;) {
        std::vector<nlohmann::json> payloads;
        for (uint64_t i = 0; i < batch && done < entries; ++i, ++done) {
            payloads.push_back(disposal(done));
        }
        auto seq = grouped->append_batch(std::move(payloads));
        if (!seq) return fail_with(seq.error());
    }
    double grouped_rate = static_cast<double>(entries) / seconds_since(start);
    double grouped_cpu_rate = static_cast<double>(entries) / (cpu_seconds() - cpu);

    // Sign and append with one fdatasync per certificate (what a pass does today).
    auto each = ledger::Ledger::open(dir + "/each.jsonl", *key);
    if (!each) return fail_with(each.error());
    start = Clock::now();
    for (uint64_t i = 0; i < single; ++i) {
        auto seq = each->append(disposal(i));
        if (!seq) return fail_with(seq.error());
    }
    double each_rate = static_cast<double>(single) / seconds_since(start);

    // Verify the grouped ledger: every signature, the chain, canonical forms, Merkle root.
    cpu = cpu_seconds();
    auto report = ledger::verify_ledger(dir + "/grouped.jsonl", {key->public_key()});
    double verify_secs = cpu_seconds() - cpu;
    if (!report) return fail_with(report.error());
    if (!report->ok()) {
        std::fprintf(stderr, "ledger_bench: verification failed: %s\n", report->problem.c_str());
        return 1;
    }
    double verify_rate = static_cast<double>(report->entries) / verify_secs;

    std::printf("entries %llu batch %llu\n", static_cast<unsigned long long>(entries),
                static_cast<unsigned long long>(batch));
    std::printf("sign_only_per_s %.0f\n", sign_rate);
    std::printf("append_grouped_per_s %.0f\n", grouped_rate);
    std::printf("append_grouped_per_cpu_s %.0f\n", grouped_cpu_rate);
    std::printf("append_fsync_each_per_s %.0f\n", each_rate);
    std::printf("verify_per_s %.0f\n", verify_rate);
    return 0;
}

// `tokenwarehouse quickstart`: the embedded store end to end in a few seconds, narrated.
//
// It plays an engine serving three requests that share a long system prompt: it stores the KV of
// each request's full blocks, and before each "prefill" asks for the longest stored prefix and loads
// it, printing what was hit, what would have been recomputed, and how fast the KV moved.
#include <cstring>
#include <random>

#include "bench_util.h"
#include "commands.h"
#include "tw/embedded_store.h"

namespace tw::cli {
namespace {

// Deterministic fake KV for a block: what a real engine would have computed from these tokens.
void FillKv(const BlockKey& key, std::span<std::byte> out) {
  uint64_t seed = key.Prefix64();
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i + 8 <= out.size(); i += 8) {
    uint64_t v = rng();
    std::memcpy(out.data() + i, &v, 8);
  }
}

int Run(uint64_t dram_mb) {
  EmbeddedStoreOptions options;
  options.dram_capacity_bytes = dram_mb << 20;
  std::printf("Opening an embedded warehouse: %llu MiB DRAM arena, pre-faulted, 2 MiB pages\n",
              static_cast<unsigned long long>(dram_mb));
  uint64_t t0 = MonotonicNanos();
  Result<std::unique_ptr<EmbeddedStore>> opened = EmbeddedStore::Open(options);
  if (!opened.ok()) {
    std::fprintf(stderr, "quickstart: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  EmbeddedStore& store = **opened;
  std::printf("  opened in %.0f ms\n", (MonotonicNanos() - t0) / 1e6);

  Namespace nspace;
  nspace.tenant = "demo";
  nspace.model_id = "TinyLlama-1.1B (shape only)";
  nspace.model_revision = "r1";
  nspace.geometry = KvGeometry{22, 4, 64, KvDtype::kF16, 256};
  NamespaceId ns = store.RegisterNamespace(nspace, {}).value();
  const uint64_t object_bytes = nspace.geometry.ObjectBytes();
  std::printf("Namespace %s: %s, %.2f MiB per block\n", ns.ToHex().substr(0, 12).c_str(),
              nspace.geometry.ToString().c_str(), object_bytes / 1048576.0);

  // A 2,048-token system prompt and tool schema shared by every request, then each user's own turn.
  std::mt19937 rng(7);
  std::vector<uint32_t> system_prompt(2048);
  for (auto& t : system_prompt) t = rng() % 32000;
  std::vector<std::byte> kv(object_bytes);
  int request_no = 0;
  for (size_t user_tokens : {1500, 2600, 900}) {
    ++request_no;
    std::vector<uint32_t> prompt = system_prompt;
    for (size_t i = 0; i < user_tokens; ++i) prompt.push_back(rng() % 32000);
    std::vector<BlockKey> keys = nspace.BlockKeys(prompt);

    uint64_t a = MonotonicNanos();
    LookupResult hit = store.Lookup(ns, keys).value();
    uint64_t b = MonotonicNanos();
    for (size_t i = 0; i < hit.matched; ++i) {
      Status s = store.Get(ns, keys[i], kv);
      if (!s.ok()) {
        std::fprintf(stderr, "quickstart: get failed: %s\n", s.ToString().c_str());
        return 1;
      }
    }
    uint64_t c = MonotonicNanos();
    uint64_t put_nanos = 0;
    for (size_t i = hit.matched; i < keys.size(); ++i) {
      FillKv(keys[i], kv);  // stands in for the engine's prefill of this block
      uint64_t p0 = MonotonicNanos();
      Status s = store.Put(ns, {keys[i], i ? keys[i - 1] : nspace.Root()}, kv);
      put_nanos += MonotonicNanos() - p0;
      if (!s.ok()) {
        std::fprintf(stderr, "quickstart: put failed: %s\n", s.ToString().c_str());
        return 1;
      }
    }
    const size_t stored = keys.size() - hit.matched;
    std::printf("Request %d: %zu tokens = %zu full blocks. Lookup %.1f us: %zu blocks hit (%zu tokens need no prefill).\n",
                request_no, prompt.size(), keys.size(), (b - a) / 1e3, hit.matched, hit.matched * 256);
    if (hit.matched) {
      std::printf("  loaded %.1f MiB of KV in %.2f ms (%.1f GB/s)\n", hit.matched * object_bytes / 1048576.0,
                  (c - b) / 1e6, Gbps(hit.matched * object_bytes, c - b));
    }
    if (stored) {
      std::printf("  stored %zu new blocks, %.1f MiB, in %.2f ms (%.1f GB/s)\n", stored, stored * object_bytes / 1048576.0,
                  put_nanos / 1e6, Gbps(stored * object_bytes, put_nanos));
    }
  }
  StoreStats s = store.Stats().value();  // embedded: always answers
  std::printf("Warehouse now holds %llu objects, %.1f MiB of %.1f MiB; %llu of %llu looked-up blocks hit.\n",
              static_cast<unsigned long long>(s.tiers[0].objects), s.tiers[0].used_bytes / 1048576.0,
              s.tiers[0].capacity_bytes / 1048576.0, static_cast<unsigned long long>(s.lookup_hits),
              static_cast<unsigned long long>(s.lookup_keys));
  std::printf("Next: `tokenwarehouse bench dram` measures the tier against memcpy; README.md says more.\n");
  return 0;
}

}  // namespace

void RegisterQuickstartCommand(CLI::App& app) {
  auto dram_mb = std::make_shared<uint64_t>(512);
  CLI::App* cmd = app.add_subcommand("quickstart", "Run the embedded warehouse through three requests and narrate");
  cmd->add_option("--dram-mb", *dram_mb, "DRAM arena size in MiB")->capture_default_str()->check(CLI::Range(64, 1 << 20));
  cmd->callback([dram_mb] { ExitCode() = Run(*dram_mb); });
}

}  // namespace tw::cli

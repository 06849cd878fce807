// `tokenwarehouse bench dram`: the DRAM tier against its ceiling, single-threaded memcpy, in one run.
//
// For each object size the same bytes move three ways: plain memcpy (source buffer -> rotating
// destinations in a region as large as the tier's share), Put (source buffer -> arena pages) and Get
// (arena pages -> destination buffer). Ratios compare like with like: Put against memcpy into cold
// destinations, Get against memcpy out of a large region. Lookup latency is timed on a 512-block chain.
#include <cstring>
#include <numeric>
#include <random>

#include "bench_util.h"
#include "commands.h"
#include "tw/embedded_store.h"

namespace tw::cli {
namespace {

struct BenchDramOptions {
  uint64_t capacity_mb = 2048;
  int reps = 5;
  bool json = false;
};

struct SizeResult {
  uint64_t object_bytes;
  double memcpy_in_gbps, memcpy_out_gbps, put_gbps, get_gbps;
};

// 1 KV head of 128 x f16, 256 tokens: 128 KiB per layer; `layers` sets the object size.
Namespace BenchNamespace(uint32_t layers, const std::string& name) {
  Namespace ns;
  ns.tenant = "bench";
  ns.model_id = name;
  ns.geometry = KvGeometry{layers, 1, 128, KvDtype::kF16, 256};
  return ns;
}

// Random-looking distinct keys chained from the root, so Put's chain check passes.
std::vector<BlockRef> Chain(const Namespace& ns, size_t n, uint32_t salt) {
  std::vector<BlockRef> refs;
  BlockKey parent = ns.Root();
  for (size_t i = 0; i < n; ++i) {
    uint32_t tokens[2] = {static_cast<uint32_t>(i), salt};
    BlockKey key = ChainKey(ns.Id(), parent, tokens);
    refs.push_back({key, parent});
    parent = key;
  }
  return refs;
}

Result<SizeResult> MeasureSize(EmbeddedStore& store, uint32_t layers, uint64_t region_bytes, int reps, uint32_t* salt) {
  Namespace nspace = BenchNamespace(layers, "bench-dram-" + std::to_string(layers));
  TW_ASSIGN_OR_RETURN(NamespaceId ns, store.RegisterNamespace(nspace, {}));
  const uint64_t size = nspace.geometry.ObjectBytes();
  const size_t count = std::max<uint64_t>(4, region_bytes / size);
  Buffer src(size), dst(size), region(count * size);
  if (!src.data || !dst.data || !region.data) return Status::ResourceExhausted("cannot map benchmark buffers");
  std::memset(src.data, 0x5a, size);

  std::vector<double> mem_in, mem_out, put, get;
  for (int rep = 0; rep < reps; ++rep) {
    uint64_t t0 = MonotonicNanos();
    for (size_t i = 0; i < count; ++i) std::memcpy(region.data + i * size, src.data, size);
    uint64_t t1 = MonotonicNanos();
    for (size_t i = 0; i < count; ++i) std::memcpy(dst.data, region.data + i * size, size);
    uint64_t t2 = MonotonicNanos();
    mem_in.push_back(Gbps(count * size, t1 - t0));
    mem_out.push_back(Gbps(count * size, t2 - t1));

    std::vector<BlockRef> chain = Chain(nspace, count, (*salt)++);
    uint64_t t3 = MonotonicNanos();
    for (const BlockRef& ref : chain) TW_RETURN_IF_ERROR(store.Put(ns, ref, {src.data, size}));
    uint64_t t4 = MonotonicNanos();
    for (const BlockRef& ref : chain) TW_RETURN_IF_ERROR(store.Get(ns, ref.key, {dst.data, size}));
    uint64_t t5 = MonotonicNanos();
    put.push_back(Gbps(count * size, t4 - t3));
    get.push_back(Gbps(count * size, t5 - t4));
    for (const BlockRef& ref : chain) (void)store.Remove(ns, ref.key);
    Progress("bench dram: %llu MiB objects, rep %d/%d", static_cast<unsigned long long>(size >> 20), rep + 1, reps);
  }
  return SizeResult{size, Median(mem_in), Median(mem_out), Median(put), Median(get)};
}

Result<std::vector<double>> MeasureLookup(int reps) {
  EmbeddedStoreOptions o;
  o.dram_capacity_bytes = 64ull << 20;
  o.page_bytes = 64 << 10;
  TW_ASSIGN_OR_RETURN(std::unique_ptr<EmbeddedStore> store, EmbeddedStore::Open(o));
  Namespace nspace = BenchNamespace(1, "bench-lookup");
  nspace.geometry.block_tokens = 16;  // 8 KiB objects: lookups do not depend on object size
  TW_ASSIGN_OR_RETURN(NamespaceId ns, store->RegisterNamespace(nspace, {}));
  std::vector<std::byte> data(nspace.geometry.ObjectBytes());
  std::vector<BlockKey> keys;
  for (const BlockRef& ref : Chain(nspace, 512, 0)) {
    TW_RETURN_IF_ERROR(store->Put(ns, ref, data));
    keys.push_back(ref.key);
  }
  std::vector<double> us;
  const int iterations = 2000 * reps;
  for (int i = 0; i < iterations; ++i) {
    uint64_t t0 = MonotonicNanos();
    Result<LookupResult> r = store->Lookup(ns, keys);
    uint64_t t1 = MonotonicNanos();
    if (!r.ok() || r->matched != keys.size()) return Status::Internal("lookup of the bench chain did not match all keys");
    us.push_back(static_cast<double>(t1 - t0) / 1000.0);
  }
  return us;
}

int Run(const BenchDramOptions& opt) {
  EmbeddedStoreOptions o;
  o.dram_capacity_bytes = opt.capacity_mb << 20;
  Result<std::unique_ptr<EmbeddedStore>> store = EmbeddedStore::Open(o);
  if (!store.ok()) {
    std::fprintf(stderr, "bench dram: %s\n", store.status().ToString().c_str());
    return 1;
  }
  // Half the arena per size: large enough to defeat the CPU caches, small enough to need no eviction.
  const uint64_t region = o.dram_capacity_bytes / 2;
  std::vector<SizeResult> results;
  uint32_t salt = 1;
  for (uint32_t layers : {8u, 16u, 32u, 64u, 128u, 256u}) {  // 1, 2, 4, 8, 16, 32 MiB
    Result<SizeResult> r = MeasureSize(**store, layers, region, opt.reps, &salt);
    if (!r.ok()) {
      std::fprintf(stderr, "\nbench dram: %s\n", r.status().ToString().c_str());
      return 1;
    }
    results.push_back(*r);
  }
  Result<std::vector<double>> lookup = MeasureLookup(opt.reps);
  Progress("%s", "");
  if (!lookup.ok()) {
    std::fprintf(stderr, "bench dram: %s\n", lookup.status().ToString().c_str());
    return 1;
  }
  std::vector<double> mem_in, mem_out, put, get;
  for (const SizeResult& r : results) {
    mem_in.push_back(r.memcpy_in_gbps);
    mem_out.push_back(r.memcpy_out_gbps);
    put.push_back(r.put_gbps);
    get.push_back(r.get_gbps);
  }
  // The headline memcpy figure is the slower direction's median, the ceiling both ops share.
  const double memcpy_gbps = std::min(Median(mem_in), Median(mem_out));
  const double p50 = Percentile(*lookup, 50), p99 = Percentile(*lookup, 99);
  if (opt.json) {
    std::printf("{\"memcpy_gbps\": %.3f, \"put_gbps\": %.3f, \"get_gbps\": %.3f, \"put_vs_memcpy\": %.3f, "
                "\"get_vs_memcpy\": %.3f, \"lookup_us_p50\": %.2f, \"lookup_us_p99\": %.2f, \"lookup_chain_blocks\": 512, "
                "\"reps\": %d, \"sizes\": [",
                memcpy_gbps, Median(put), Median(get), Median(put) / Median(mem_in), Median(get) / Median(mem_out), p50,
                p99, opt.reps);
    for (size_t i = 0; i < results.size(); ++i) {
      const SizeResult& r = results[i];
      std::printf("%s{\"object_bytes\": %llu, \"memcpy_in_gbps\": %.3f, \"memcpy_out_gbps\": %.3f, \"put_gbps\": %.3f, "
                  "\"get_gbps\": %.3f}",
                  i ? ", " : "", static_cast<unsigned long long>(r.object_bytes), r.memcpy_in_gbps, r.memcpy_out_gbps,
                  r.put_gbps, r.get_gbps);
    }
    std::printf("]}\n");
    return 0;
  }
  std::printf("DRAM tier vs single-thread memcpy (GB/s, median of %d runs)\n", opt.reps);
  std::printf("%10s %12s %10s %8s %13s %10s %8s\n", "object", "memcpy in", "Put", "ratio", "memcpy out", "Get", "ratio");
  for (const SizeResult& r : results) {
    std::printf("%7llu MiB %12.2f %10.2f %7.2fx %13.2f %10.2f %7.2fx\n",
                static_cast<unsigned long long>(r.object_bytes >> 20), r.memcpy_in_gbps, r.put_gbps,
                r.put_gbps / r.memcpy_in_gbps, r.memcpy_out_gbps, r.get_gbps, r.get_gbps / r.memcpy_out_gbps);
  }
  std::printf("median: Put %.2f GB/s = %.2fx memcpy, Get %.2f GB/s = %.2fx memcpy\n", Median(put),
              Median(put) / Median(mem_in), Median(get), Median(get) / Median(mem_out));
  std::printf("Lookup of a 512-block chain: p50 %.1f us, p99 %.1f us\n", p50, p99);
  return 0;
}

}  // namespace

void RegisterBenchDramCommand(CLI::App& bench) {
  auto opt = std::make_shared<BenchDramOptions>();
  CLI::App* cmd = bench.add_subcommand("dram", "DRAM tier Put/Get bandwidth vs memcpy, and Lookup latency");
  cmd->add_option("--capacity-mb", opt->capacity_mb, "DRAM arena size in MiB")->capture_default_str()->check(CLI::Range(256, 1 << 20));
  cmd->add_option("--reps", opt->reps, "Repetitions per measurement (the median is reported)")->capture_default_str()->check(CLI::Range(1, 100));
  cmd->add_flag("--json", opt->json, "Print one JSON object instead of a table");
  cmd->callback([opt] { ExitCode() = Run(*opt); });
}

}  // namespace tw::cli

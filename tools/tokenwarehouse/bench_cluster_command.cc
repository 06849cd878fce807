// `tokenwarehouse bench cluster`: what a cluster of warehouse nodes moves, and how long a read
// waits when a node dies.
//
// In one run, on this machine: an etcd and 1, then 3, `serve --cluster` daemons on loopback, driven
// through the cluster client (ClusterStore over RemoteStores):
//   1. aggregate PUT and GET bandwidth with 1 node (R = 1) and with 3 nodes (R = 2);
//   2. the failover gap: readers read acknowledged objects non-stop while one node is killed with
//      SIGKILL; the longest single read, the p99, and failed reads (must be 0) until its lease ends.
// The ceiling quoted beside the figures is a single-threaded memcpy of the same objects: every byte
// crosses loopback TCP at least twice (client -> daemon, daemon copy), so a small machine is bound
// by CPU, not network, and 3 nodes on the same cores cannot go 3x faster. The report says so.
#include <sys/utsname.h>
#include <unistd.h>

#include <atomic>
#include <cinttypes>
#include <cstring>
#include <ctime>
#include <fstream>
#include <random>
#include <thread>

#include "bench_util.h"
#include "cluster/local_cluster.h"
#include "commands.h"
#include "tw/cluster.h"

namespace tw::cli {
namespace {

struct Opts {
  uint32_t object_kib = 1024;
  double seconds = 2.0;
  uint32_t threads = 4;
  std::string out;
};

constexpr uint64_t kNodeDramBytes = 1ull << 30;

struct Figure {
  std::string setup;
  double put_gbps = 0, get_gbps = 0;
  uint64_t puts = 0, gets = 0, failures = 0;
};

Namespace BenchNamespace(uint32_t object_kib) {
  Namespace ns;
  ns.tenant = "default";
  ns.model_id = "bench-cluster";
  ns.model_revision = "1";
  // 8 layers x 2 heads x 64 dims x f16 x block_tokens = object_kib KiB.
  ns.geometry = KvGeometry{8, 2, 64, KvDtype::kF16, std::max<uint32_t>(1, object_kib * 1024 / (8 * 2 * 2 * 64 * 2))};
  return ns;
}

std::string SelfExe() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, n) : std::string();
}

std::string Shell(const char* cmd) {
  std::string out;
  if (FILE* p = popen(cmd, "r")) {
    char buf[256];
    while (fgets(buf, sizeof buf, p)) out += buf;
    pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// PUT for `seconds` from `threads` threads (distinct keys), then GET random written keys as long.
// PUTs stop at `max_objects` (half the cluster's capacity): an evicted object would read as a miss.
Result<Figure> Measure(const std::string& setup, Store& store, const Namespace& nspace, const Opts& o, uint64_t max_objects) {
  TW_ASSIGN_OR_RETURN(NamespaceId ns, store.RegisterNamespace(nspace, {}));
  const uint64_t bytes = nspace.geometry.ObjectBytes();
  std::vector<std::vector<BlockKey>> written(o.threads);
  std::atomic<uint64_t> failures{0};
  Figure f;
  f.setup = setup;
  auto run = [&](auto&& body) {
    std::vector<std::thread> ts;
    std::atomic<uint64_t> ops{0};
    const uint64_t t0 = MonotonicNanos();
    const uint64_t end = t0 + static_cast<uint64_t>(o.seconds * 1e9);
    for (uint32_t t = 0; t < o.threads; ++t) ts.emplace_back([&, t] { body(t, end, ops); });
    for (auto& t : ts) t.join();
    return std::make_pair(ops.load(), MonotonicNanos() - t0);
  };
  auto [puts, put_ns] = run([&](uint32_t t, uint64_t end, std::atomic<uint64_t>& ops) {
    std::vector<std::byte> data(bytes, std::byte(t));
    uint32_t i = 0;
    while (MonotonicNanos() < end && ops.load() < max_objects) {
      std::vector<uint32_t> tokens(nspace.geometry.block_tokens, 0);
      tokens[0] = t;
      tokens[1 % tokens.size()] = ++i;
      BlockKey key = ChainKey(nspace.Id(), nspace.Root(), tokens);
      std::memcpy(data.data(), key.bytes, 16);
      if (store.Put(ns, {key, nspace.Root()}, data).ok()) {
        written[t].push_back(key);
        ops.fetch_add(1);
      } else {
        failures.fetch_add(1);
      }
    }
  });
  std::vector<BlockKey> all;
  for (auto& w : written) all.insert(all.end(), w.begin(), w.end());
  if (all.empty()) return Status::Unavailable(setup + ": no PUT succeeded");
  auto [gets, get_ns] = run([&](uint32_t t, uint64_t end, std::atomic<uint64_t>& ops) {
    std::vector<std::byte> out(bytes);
    std::mt19937_64 rng(t + 7);
    while (MonotonicNanos() < end) {
      const BlockKey& key = all[rng() % all.size()];
      if (store.Get(ns, key, out).ok() && std::memcmp(out.data(), key.bytes, 16) == 0) {
        ops.fetch_add(1);
      } else {
        failures.fetch_add(1);
      }
    }
  });
  f.puts = puts;
  f.gets = gets;
  f.put_gbps = Gbps(puts * bytes, put_ns);
  f.get_gbps = Gbps(gets * bytes, get_ns);
  f.failures = failures.load();
  return f;
}

struct Gap {
  uint64_t reads = 0, failures = 0;
  double max_ms = 0, p99_ms = 0, p50_ms = 0, window_s = 0;
};

// Readers read acknowledged objects while node-1 is killed; until its lease ends and a bit beyond.
Result<Gap> MeasureFailover(cluster::LocalCluster& c, Store& store, const Namespace& nspace, const Opts& o) {
  TW_ASSIGN_OR_RETURN(NamespaceId ns, store.RegisterNamespace(nspace, {}));
  const uint64_t bytes = nspace.geometry.ObjectBytes();
  std::vector<BlockKey> keys;
  std::vector<std::byte> data(bytes);
  for (uint32_t i = 0; i < 64; ++i) {
    std::vector<uint32_t> tokens(nspace.geometry.block_tokens, 0);
    tokens[0] = 1000000 + i;
    BlockKey key = ChainKey(nspace.Id(), nspace.Root(), tokens);
    std::memcpy(data.data(), key.bytes, 16);
    TW_RETURN_IF_ERROR(store.Put(ns, {key, nspace.Root()}, data));
    keys.push_back(key);
  }
  std::atomic<bool> stop{false};
  std::vector<std::vector<double>> lat(o.threads);
  std::atomic<uint64_t> failures{0};
  std::vector<std::thread> ts;
  for (uint32_t t = 0; t < o.threads; ++t) {
    ts.emplace_back([&, t] {
      std::vector<std::byte> out(bytes);
      std::mt19937_64 rng(t + 99);
      while (!stop.load()) {
        const BlockKey& key = keys[rng() % keys.size()];
        const uint64_t t0 = MonotonicNanos();
        const bool ok = store.Get(ns, key, out).ok() && std::memcmp(out.data(), key.bytes, 16) == 0;
        lat[t].push_back((MonotonicNanos() - t0) / 1e6);
        if (!ok) failures.fetch_add(1);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const uint64_t t0 = MonotonicNanos();
  c.Kill(1);
  c.WaitForMembers(c.size() - 1, 15000);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  stop = true;
  for (auto& t : ts) t.join();
  Gap g;
  std::vector<double> all;
  for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  g.reads = all.size();
  g.failures = failures.load();
  g.max_ms = all.empty() ? 0 : *std::max_element(all.begin(), all.end());
  g.p99_ms = Percentile(all, 99);
  g.p50_ms = Percentile(all, 50);
  g.window_s = (MonotonicNanos() - t0) / 1e9;
  return g;
}

double MemcpyGbps(uint64_t bytes) {
  Buffer a(bytes), b(bytes);
  std::vector<double> v;
  for (int r = 0; r < 5; ++r) {
    const uint64_t t0 = MonotonicNanos();
    std::memcpy(b.data, a.data, bytes);
    v.push_back(Gbps(bytes, MonotonicNanos() - t0));
  }
  return Median(v);
}

int Run(const Opts& o) {
  const Namespace nspace = BenchNamespace(o.object_kib);
  const uint64_t bytes = nspace.geometry.ObjectBytes();
  const double memcpy_gbps = MemcpyGbps(64ull << 20);
  cluster::LocalClusterOptions lo;
  lo.binary = SelfExe();
  lo.dram = std::to_string(kNodeDramBytes);
  lo.lease_ttl_s = 2;
  ClusterClientOptions co;
  co.node.io_timeout_ms = 1000;
  co.node.connect_timeout_ms = 300;
  co.join_ramp_ms = 0;
  co.repair_bytes_per_s = 0;
  std::vector<Figure> figures;
  Gap gap;
  for (int nodes : {1, 3}) {
    Progress("bench cluster: starting etcd and %d node(s)...\n", nodes);
    lo.nodes = nodes;
    lo.replicas = nodes == 1 ? 1 : 2;
    auto c = cluster::LocalCluster::Start(lo);
    if (!c.ok()) {
      std::fprintf(stderr, "bench cluster: %s\n", c.status().ToString().c_str());
      return 1;
    }
    co.replicas = lo.replicas;
    auto store = OpenClusterStore((*c)->url(), co);
    if (!store.ok()) {
      std::fprintf(stderr, "bench cluster: %s\n", store.status().ToString().c_str());
      return 1;
    }
    Progress("bench cluster: %d node(s), R=%u: PUT then GET, %.1f s each, %u threads\n", nodes, lo.replicas, o.seconds, o.threads);
    const uint64_t max_objects = nodes * kNodeDramBytes / lo.replicas / bytes / 2;
    auto f = Measure(std::to_string(nodes) + (nodes == 1 ? " node, R=1" : " nodes, R=2"), **store, nspace, o, max_objects);
    if (!f.ok()) {
      std::fprintf(stderr, "bench cluster: %s\n", f.status().ToString().c_str());
      return 1;
    }
    figures.push_back(*f);
    if (nodes == 3) {
      Progress("bench cluster: failover: kill -9 node-1 under reads (lease %u s)\n", lo.lease_ttl_s);
      Namespace other = nspace;
      other.model_id = "bench-cluster-failover";
      auto g = MeasureFailover(**c, **store, other, o);
      if (!g.ok()) {
        std::fprintf(stderr, "bench cluster: %s\n", g.status().ToString().c_str());
        return 1;
      }
      gap = *g;
    }
  }

  char date[32];
  time_t now = time(nullptr);
  strftime(date, sizeof date, "%Y-%m-%d", gmtime(&now));
  utsname u{};
  uname(&u);
  const std::string cpu = Shell("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'");
  const std::string commit = Shell("git rev-parse --short HEAD 2>/dev/null");
  std::string report;
  char line[512];
  report += "# bench cluster, " + std::string(date) + "\n\n";
  report += "- machine: " + cpu + ", " + std::to_string(std::thread::hardware_concurrency()) + " cores, " + u.sysname + " " + u.release + "\n";
  report += "- commit: " + (commit.empty() ? std::string("unknown") : commit) + "\n";
  std::snprintf(line, sizeof line, "- command: `tokenwarehouse bench cluster --object-kib %u --seconds %.1f --threads %u`\n",
                o.object_kib, o.seconds, o.threads);
  report += line;
  std::snprintf(line, sizeof line, "- objects of %.2f MiB; etcd and every daemon on this machine, loopback TCP; lease TTL %u s\n\n",
                bytes / 1048576.0, lo.lease_ttl_s);
  report += line;
  report += "| setup | PUT GB/s (logical) | GET GB/s | PUTs | GETs | failed |\n|---|---:|---:|---:|---:|---:|\n";
  for (const Figure& f : figures) {
    std::snprintf(line, sizeof line, "| %s | %.2f | %.2f | %" PRIu64 " | %" PRIu64 " | %" PRIu64 " |\n", f.setup.c_str(),
                  f.put_gbps, f.get_gbps, f.puts, f.gets, f.failures);
    report += line;
  }
  std::snprintf(line, sizeof line, "| ceiling: memcpy, 1 thread | %.2f | %.2f | | | |\n\n", memcpy_gbps, memcpy_gbps);
  report += line;
  std::snprintf(line, sizeof line,
                "Failover (3 nodes, R=2, %u reader threads, node-1 killed with SIGKILL, %.1f s window until its lease "
                "ended and 1 s beyond): %" PRIu64 " reads, %" PRIu64 " failed, longest read (the failover gap) %.1f ms, "
                "p99 %.2f ms, p50 %.2f ms.\n\n",
                o.threads, gap.window_s, gap.reads, gap.failures, gap.max_ms, gap.p99_ms, gap.p50_ms);
  report += line;
  std::snprintf(line, sizeof line,
                "This machine has %u cores shared by the client, etcd and every daemon: with 3 nodes the same cores "
                "serve 3 daemons, and R=2 writes every byte twice, so the 3-node figures show the cluster's overhead, not "
                "its scaling. On separate hosts each node adds its own NIC and cores.\n",
                std::thread::hardware_concurrency());
  report += line;
  std::printf("\n%s", report.c_str());
  std::string out = o.out.empty() ? "bench/results/cluster_" + std::string(date) + ".md" : o.out;
  if (out != "-") {
    std::ofstream f(out);
    if (f) {
      f << report;
      std::printf("\nwritten to %s\n", out.c_str());
    } else {
      std::fprintf(stderr, "bench cluster: cannot write %s (run from the repository root, or pass --out)\n", out.c_str());
    }
  }
  return gap.failures == 0 ? 0 : 1;
}

}  // namespace

void RegisterBenchClusterCommand(CLI::App& bench) {
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = bench.add_subcommand("cluster", "Aggregate PUT/GET bandwidth of 1 and 3 local nodes, and the failover gap");
  cmd->add_option("--object-kib", o->object_kib, "object size in KiB (default 1024)");
  cmd->add_option("--seconds", o->seconds, "seconds per PUT and per GET phase (default 2)");
  cmd->add_option("--threads", o->threads, "client threads (default 4)");
  cmd->add_option("--out", o->out, "markdown report path (default bench/results/cluster_<date>.md; '-' for none)");
  cmd->callback([o] { ExitCode() = Run(*o); });
}

}  // namespace tw::cli

// `tokenwarehouse simulate`: replays a Mooncake-format trace through the real eviction policies and
// prints hit ratio, per-tier traffic and what the hits buy in prefill time. See docs/simulator.md.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>

#include "commands.h"
#include "sim/model.h"
#include "sim/progress_bar.h"
#include "sim/replay.h"
#include "sim/report.h"
#include "sim/routing.h"
#include "sim/routing_report.h"
#include "sim/svg_plot.h"

namespace tw::cli {
namespace {

struct SimulateArgs {
  std::string trace;
  uint32_t block_tokens = 512;
  uint64_t capacity_blocks = 0;
  double capacity_fraction = 0;
  std::string dram_size, disk_size;
  std::string model = "llama-3-8b";
  uint32_t layers = 0, kv_heads = 0, head_dim = 0;
  std::string dtype = "bf16";
  std::string policy = "default";
  std::string prefill_points;
  double dram_gbps = 55, disk_gbps = 1.5;
  bool json = false;
  std::string plot;
  // Routing mode (--engines > 0): a fleet of engines behind a router, sim/routing.h.
  uint32_t engines = 0;
  uint32_t engines_per_node = 0;  // 0: every engine on one node
  std::string gpu_size;
  uint64_t gpu_blocks = 0;
  std::vector<std::string> routing;
  bool cluster = false;
  double peer_gbps = 10;
  double arrival_speedup = 1;
};

// `simulate --engines N`: every routing policy on the same fleet, one table row each.
int RunRouting(const SimulateArgs& a, const sim::Trace& trace, const sim::SimOptions& o) {
  auto fail = [](const Status& s) {
    std::fprintf(stderr, "simulate: %s\n", s.ToString().c_str());
    return 1;
  };
  sim::RoutingOptions ro;
  ro.engines = a.engines;
  ro.engines_per_node = a.engines_per_node ? a.engines_per_node : a.engines;
  ro.gpu_blocks = a.gpu_blocks;
  if (!a.gpu_size.empty()) {
    auto b = sim::ParseBytes(a.gpu_size);
    if (!b.ok()) return fail(b.status());
    ro.gpu_blocks = *b / o.object_bytes;
  }
  ro.dram_blocks = o.tiers[0].capacity_blocks;
  ro.disk_blocks = o.tiers.size() > 1 ? o.tiers[1].capacity_blocks : 0;
  ro.cluster = a.cluster;
  ro.costs.cost = o.cost;
  ro.costs.peer_bytes_per_s = a.cluster ? a.peer_gbps * 1e9 : 0;
  ro.costs.object_bytes = o.object_bytes;
  ro.costs.block_tokens = o.block_tokens;
  ro.arrival_speedup = a.arrival_speedup;
  std::vector<sim::RoutingPolicy> policies;
  for (const std::string& name : a.routing) {
    auto p = sim::ParseRoutingPolicy(name);
    if (!p.ok()) return fail(p.status());
    policies.push_back(*p);
  }
  if (policies.empty()) policies = sim::AllRoutingPolicies();
  std::vector<sim::RoutingResult> results;
  for (sim::RoutingPolicy p : policies) {
    sim::ProgressBar bar("route " + std::string(sim::RoutingPolicyName(p)));
    ro.progress = [&bar](uint64_t d, uint64_t t) { bar.Update(d, t); };
    auto r = sim::SimulateRouting(trace, ro, p);
    if (!r.ok()) return fail(r.status());
    results.push_back(std::move(*r));
  }
  const uint32_t nodes = (ro.engines + ro.engines_per_node - 1) / ro.engines_per_node;
  if (!a.plot.empty()) {
    const std::string name = a.trace.substr(a.trace.find_last_of('/') + 1);
    sim::PlotSpec spec = sim::RoutingPlot(results, "TTFT by routing policy (" + name + ", " + std::to_string(ro.engines) +
                                                       " engines, " + std::to_string(nodes) + " node(s))");
    if (Status s = sim::WriteSvg(a.plot, spec); !s.ok()) return fail(s);
  }
  if (a.json) {
    std::cout << sim::RoutingJson(results) << "\n";
    return 0;
  }
  std::cout << "fleet    " << ro.engines << " engines on " << nodes << " node(s); GPU cache " << ro.gpu_blocks
            << " blocks an engine; warehouse a node: DRAM " << ro.dram_blocks << " blocks, disk " << ro.disk_blocks
            << " blocks" << (ro.cluster ? "; peers at " + std::to_string(a.peer_gbps).substr(0, 5) + " GB/s" : "") << "\n";
  std::cout << "model    " << a.model << ", " << sim::FormatBytes(static_cast<double>(o.object_bytes)) << " a block of "
            << o.block_tokens << " tokens; prefill " << o.cost.prefill.ToString() << "; trace time / " << ro.arrival_speedup << "\n";
  std::cout << sim::RoutingTable(results);
  return 0;
}

int RunSimulate(const SimulateArgs& a) {
  auto fail = [](const Status& s) {
    std::fprintf(stderr, "simulate: %s\n", s.ToString().c_str());
    return 1;
  };
  auto model = sim::FindModel(a.model);
  if (!model.ok()) return fail(model.status());
  KvGeometry geometry = model->geometry;
  if (a.layers || a.kv_heads || a.head_dim) {
    auto dtype = ParseKvDtype(a.dtype);
    if (!dtype.ok()) return fail(dtype.status());
    geometry = KvGeometry{a.layers, a.kv_heads, a.head_dim, *dtype, 0};
  }
  geometry.block_tokens = a.block_tokens;
  if (Status s = geometry.Validate(); !s.ok()) return fail(s);
  sim::SimOptions o;
  o.policy = a.policy == "default" ? sim::DefaultPolicyName() : a.policy;
  o.block_tokens = a.block_tokens;
  o.object_bytes = geometry.ObjectBytes();
  o.cost.prefill = model->prefill;
  if (!a.prefill_points.empty()) {
    auto c = sim::PrefillCurve::Parse(a.prefill_points);
    if (!c.ok()) return fail(c.status());
    o.cost.prefill = *c;
  }
  o.cost.dram_bytes_per_s = a.dram_gbps * 1e9;
  o.cost.disk_bytes_per_s = a.disk_gbps * 1e9;

  auto trace = sim::ReadMooncakeTrace(a.trace);
  if (!trace.ok()) return fail(trace.status());
  uint64_t dram_blocks = a.capacity_blocks;
  if (a.capacity_fraction > 0) dram_blocks = static_cast<uint64_t>(std::llround(a.capacity_fraction * trace->unique_blocks));
  if (!a.dram_size.empty()) {
    auto b = sim::ParseBytes(a.dram_size);
    if (!b.ok()) return fail(b.status());
    dram_blocks = *b / o.object_bytes;
  }
  if (dram_blocks == 0) {
    return fail(Status::InvalidArgument("give --capacity-blocks, --capacity-fraction or --dram (at least one block)"));
  }
  o.tiers.push_back({"dram", dram_blocks, o.cost.dram_bytes_per_s});
  if (!a.disk_size.empty()) {
    auto b = sim::ParseBytes(a.disk_size);
    if (!b.ok()) return fail(b.status());
    if (*b / o.object_bytes > 0) o.tiers.push_back({"disk", *b / o.object_bytes, o.cost.disk_bytes_per_s});
  }

  if (a.engines > 0) return RunRouting(a, *trace, o);

  sim::ProgressBar bar("simulate " + o.policy);
  o.progress = [&bar](uint64_t d, uint64_t t) { bar.Update(d, t); };
  auto r = sim::Simulate(*trace, o);
  if (!r.ok()) return fail(r.status());

  if (!a.plot.empty()) {
    // The hit ratio of every policy at fractions around the chosen capacity, this run marked.
    sim::PlotSpec spec;
    spec.title = "Prefix hit ratio vs capacity (" + a.trace.substr(a.trace.find_last_of('/') + 1) + ")";
    spec.x_label = "capacity (% of unique blocks)";
    spec.y_label = "prefix hit ratio";
    spec.log_x = true;
    double here = 100.0 * dram_blocks / trace->unique_blocks;
    std::vector<double> pcts = {here / 4, here / 2, here, here * 2, here * 4};
    for (const std::string& p : sim::SimPolicyNames()) {
      sim::PlotSeries s{p, {}, p == "belady"};
      for (double pct : pcts) {
        sim::SimOptions po = o;
        po.policy = p;
        po.progress = nullptr;
        po.tiers = {{"dram", std::max<uint64_t>(1, static_cast<uint64_t>(pct / 100 * trace->unique_blocks)), 0}};
        auto pr = sim::Simulate(*trace, po);
        if (!pr.ok()) return fail(pr.status());
        s.points.push_back({pct, pr->hit_ratio});
        bar.Update(s.points.size(), pcts.size());
      }
      spec.series.push_back(std::move(s));
    }
    if (Status s = sim::WriteSvg(a.plot, spec); !s.ok()) return fail(s);
  }
  if (a.json) {
    std::cout << sim::SimResultJson(*r) << "\n";
  } else {
    std::cout << "model                   " << a.model << " (" << geometry.ToString() << ", "
              << sim::FormatBytes(static_cast<double>(o.object_bytes)) << " a block)\n";
    std::cout << sim::SimResultTable(*r);
  }
  return 0;
}

}  // namespace

void RegisterSimulateCommand(CLI::App& app) {
  auto a = std::make_shared<SimulateArgs>();
  CLI::App* cmd = app.add_subcommand("simulate", "Replay a request trace through the eviction policies (hit ratio, tier traffic, TTFT)");
  cmd->add_option("--trace", a->trace, "Trace in Mooncake JSONL format (timestamp, input_length, output_length, hash_ids)")->required();
  cmd->add_option("--block-tokens", a->block_tokens, "Tokens per block of the trace's hash_ids (512 for Mooncake traces)")->capture_default_str();
  cmd->add_option("--capacity-blocks", a->capacity_blocks, "DRAM capacity in blocks");
  cmd->add_option("--capacity-fraction", a->capacity_fraction, "DRAM capacity as a fraction of the trace's unique blocks (e.g. 0.05)");
  cmd->add_option("--dram", a->dram_size, "DRAM tier size in bytes (e.g. 64GiB), converted with the model geometry");
  cmd->add_option("--disk", a->disk_size, "Disk tier size in bytes (e.g. 2TB); DRAM evictions are demoted to it");
  cmd->add_option("--model", a->model, "Named model: llama-3-8b, qwen2.5-32b, tinyllama-1.1b")->capture_default_str();
  cmd->add_option("--layers", a->layers, "Explicit geometry: layers (overrides the model's shape)");
  cmd->add_option("--kv-heads", a->kv_heads, "Explicit geometry: KV heads");
  cmd->add_option("--head-dim", a->head_dim, "Explicit geometry: head dimension");
  cmd->add_option("--dtype", a->dtype, "Explicit geometry: KV dtype (f32, f16, bf16, f8e4m3, i8)")->capture_default_str();
  cmd->add_option("--policy", a->policy, "lru, s3fifo, prefix-aware, chain-hd, chain-reuse, belady (offline optimum) or default (chain-reuse)")->capture_default_str();
  cmd->add_option("--prefill-points", a->prefill_points, "Prefill cost as tokens:seconds points, e.g. 4096:0.20,32768:1.48 (default: the model's measured curve)");
  cmd->add_option("--dram-gbps", a->dram_gbps, "DRAM-to-GPU bandwidth, GB/s (measured pinned copy: 55)")->capture_default_str();
  cmd->add_option("--disk-gbps", a->disk_gbps, "Disk-to-GPU bandwidth, GB/s (measured O_DIRECT: 1.5)")->capture_default_str();
  cmd->add_flag("--json", a->json, "Print one JSON object instead of the table");
  cmd->add_option("--plot", a->plot, "Write an SVG of hit ratio vs capacity for every policy around this capacity "
                  "(with --engines: the TTFT distribution of every routing policy)");
  cmd->add_option("--engines", a->engines, "Routing mode: this many engines behind a router (--dram/--disk are then each node's warehouse)");
  cmd->add_option("--engines-per-node", a->engines_per_node, "Engines sharing one warehouse (default: all on one node)");
  cmd->add_option("--gpu", a->gpu_size, "Each engine's GPU prefix cache in bytes, e.g. 40GiB");
  cmd->add_option("--gpu-blocks", a->gpu_blocks, "Each engine's GPU prefix cache in blocks");
  cmd->add_option("--routing", a->routing, "Routing policies to compare: round-robin, least-loaded, gpu-prefix, warehouse-aware (default: all)")->delimiter(',');
  cmd->add_flag("--cluster", a->cluster, "Nodes read each other's warehouses (peer tier at --peer-gbps)");
  cmd->add_option("--peer-gbps", a->peer_gbps, "Another node's warehouse to GPU, GB/s (with --cluster)")->capture_default_str();
  cmd->add_option("--arrival-speedup", a->arrival_speedup, "Divide the trace's timestamps by this (more load on the same fleet)")->capture_default_str();
  cmd->callback([a] { ExitCode() = RunSimulate(*a); });
}

}  // namespace tw::cli

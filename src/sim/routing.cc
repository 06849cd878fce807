#include "sim/routing.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "sim/block_lru.h"

namespace tw::sim {

namespace {

enum class Source : uint8_t { kGpu, kDram, kDisk, kPeer };

struct Node {
  BlockLru dram, disk;
  Node(uint64_t dram_blocks, uint64_t disk_blocks) : dram(dram_blocks), disk(disk_blocks) {}
  bool Holds(uint32_t b) const { return dram.Contains(b) || disk.Contains(b); }
};

class Fleet {
 public:
  explicit Fleet(const RoutingOptions& o) : o_(o) {
    const uint32_t nodes = (o.engines + o.engines_per_node - 1) / o.engines_per_node;
    for (uint32_t i = 0; i < nodes; ++i) nodes_.emplace_back(o.dram_blocks, o.disk_blocks);
    for (uint32_t i = 0; i < o.engines; ++i) gpus_.emplace_back(o.gpu_blocks);
    busy_until_.assign(o.engines, 0);
    busy_s_.assign(o.engines, 0);
  }

  // Where each block of the request's longest cached prefix would come from on `engine`.
  std::vector<Source> Prefix(uint32_t engine, const std::vector<uint32_t>& blocks) const {
    std::vector<Source> out;
    const Node& home = nodes_[NodeOf(engine)];
    for (uint32_t b : blocks) {
      if (gpus_[engine].Contains(b)) out.push_back(Source::kGpu);
      else if (home.dram.Contains(b)) out.push_back(Source::kDram);
      else if (home.disk.Contains(b)) out.push_back(Source::kDisk);
      else if (OnPeer(engine, b)) out.push_back(Source::kPeer);
      else break;
    }
    return out;
  }

  EngineView View(uint32_t engine, const std::vector<uint32_t>& blocks, double now) const {
    EngineView v;
    v.queue_s = std::max(0.0, busy_until_[engine] - now);
    for (Source s : Prefix(engine, blocks)) {
      switch (s) {
        case Source::kGpu: ++v.gpu_blocks; break;
        case Source::kDram: ++v.dram_blocks; break;
        case Source::kDisk: ++v.disk_blocks; break;
        case Source::kPeer: ++v.peer_blocks; break;
      }
    }
    return v;
  }

  // Serves the request on `engine`: returns its TTFT and counts tokens by source into *r.
  double Serve(uint32_t engine, const TraceRequest& req, double now, RoutingResult* r) {
    const RouteCosts& c = o_.costs;
    const EngineView v = View(engine, req.blocks, now);
    const double prompt = req.input_tokens ? req.input_tokens : static_cast<double>(req.blocks.size()) * c.block_tokens;
    // The hit prefix, in tier order, capped at the prompt (the last block of a prompt is partial).
    double left = prompt;
    auto take = [&](uint32_t blocks) {
      const double t = std::min(left, static_cast<double>(blocks) * c.block_tokens);
      left -= t;
      return static_cast<uint64_t>(t);
    };
    r->gpu_hit_tokens += take(v.gpu_blocks);
    r->dram_hit_tokens += take(v.dram_blocks);
    r->disk_hit_tokens += take(v.disk_blocks);
    r->peer_hit_tokens += take(v.peer_blocks);
    r->computed_tokens += static_cast<uint64_t>(left);
    r->prompt_tokens += static_cast<uint64_t>(prompt);
    const double load_s = LoadSeconds(v.dram_blocks, c.cost.dram_bytes_per_s, c.object_bytes) +
                          LoadSeconds(v.disk_blocks, c.cost.disk_bytes_per_s, c.object_bytes) +
                          LoadSeconds(v.peer_blocks, c.peer_bytes_per_s, c.object_bytes);
    const double service_s = load_s + c.cost.prefill.Seconds(prompt) - c.cost.prefill.Seconds(prompt - left);
    const double start = std::max(now, busy_until_[engine]);
    busy_until_[engine] = start + service_s;
    busy_s_[engine] += service_s;
    r->queue_mean_s += start - now;
    Store(engine, req.blocks);
    return busy_until_[engine] - now;
  }

  const std::vector<double>& busy_s() const { return busy_s_; }

 private:
  uint32_t NodeOf(uint32_t engine) const { return engine / o_.engines_per_node; }

  bool OnPeer(uint32_t engine, uint32_t b) const {
    if (!o_.cluster || o_.costs.peer_bytes_per_s <= 0) return false;
    const uint32_t home = NodeOf(engine);
    for (uint32_t n = 0; n < nodes_.size(); ++n) {
      if (n != home && nodes_[n].Holds(b)) return true;
    }
    return false;
  }

  void Store(uint32_t engine, const std::vector<uint32_t>& blocks) {
    Node& home = nodes_[NodeOf(engine)];
    for (uint32_t b : blocks) {
      (void)gpus_[engine].Insert(b);  // a GPU eviction just frees the block: the warehouse has it
      if (home.dram.capacity() == 0) continue;
      home.disk.Erase(b);  // promoted (or written) to DRAM: tiers are exclusive
      if (std::optional<uint32_t> out = home.dram.Insert(b)) (void)home.disk.Insert(*out);  // demote; disk drops
    }
  }

  const RoutingOptions& o_;
  std::vector<Node> nodes_;
  std::vector<BlockLru> gpus_;
  std::vector<double> busy_until_;
  std::vector<double> busy_s_;
};

double Quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const size_t k = std::min(sorted.size() - 1, static_cast<size_t>(q * static_cast<double>(sorted.size())));
  return sorted[k];
}

}  // namespace

Result<RoutingResult> SimulateRouting(const Trace& trace, const RoutingOptions& o, RoutingPolicy policy) {
  if (o.engines == 0 || o.engines_per_node == 0) return Status::InvalidArgument("routing needs at least one engine and one engine a node");
  if (!(o.arrival_speedup > 0)) return Status::InvalidArgument("arrival speedup must be > 0");
  Fleet fleet(o);
  RoutingResult r;
  r.policy = policy;
  r.requests = trace.requests.size();
  r.ttft_sorted_s.reserve(trace.requests.size());
  std::vector<EngineView> views(o.engines);
  uint64_t turn = 0;
  for (size_t i = 0; i < trace.requests.size(); ++i) {
    const TraceRequest& req = trace.requests[i];
    const double now = static_cast<double>(req.timestamp_ms) / 1000.0 / o.arrival_speedup;
    for (uint32_t e = 0; e < o.engines; ++e) views[e] = fleet.View(e, req.blocks, now);
    const double prompt = req.input_tokens ? req.input_tokens : static_cast<double>(req.blocks.size()) * o.costs.block_tokens;
    const size_t engine = Route(policy, views, prompt, o.costs, &turn);
    r.ttft_sorted_s.push_back(fleet.Serve(static_cast<uint32_t>(engine), req, now, &r));
    if (o.progress && (i % 512 == 0 || i + 1 == trace.requests.size())) o.progress(i + 1, trace.requests.size());
  }
  std::sort(r.ttft_sorted_s.begin(), r.ttft_sorted_s.end());
  if (!r.ttft_sorted_s.empty()) {
    const double n = static_cast<double>(r.ttft_sorted_s.size());
    r.ttft_mean_s = std::accumulate(r.ttft_sorted_s.begin(), r.ttft_sorted_s.end(), 0.0) / n;
    r.queue_mean_s /= n;
  }
  r.ttft_p50_s = Quantile(r.ttft_sorted_s, 0.5);
  r.ttft_p90_s = Quantile(r.ttft_sorted_s, 0.9);
  r.ttft_p99_s = Quantile(r.ttft_sorted_s, 0.99);
  r.engine_busy_s = fleet.busy_s();
  const double mean = std::accumulate(r.engine_busy_s.begin(), r.engine_busy_s.end(), 0.0) / o.engines;
  const double max = *std::max_element(r.engine_busy_s.begin(), r.engine_busy_s.end());
  r.load_imbalance = mean > 0 ? max / mean : 1;
  return r;
}

}  // namespace tw::sim

#include "sim/router_policy.h"

#include <gtest/gtest.h>

#include "sim/block_lru.h"
#include "sim/routing.h"

namespace tw::sim {
namespace {

// Linear prefill at 1 ms a token; 1 MB blocks of 100 tokens; DRAM 1 GB/s (1 ms a block), disk
// 0.1 GB/s (10 ms a block), peer 0.5 GB/s (2 ms a block).
RouteCosts Costs() {
  RouteCosts c;
  c.cost.prefill = *PrefillCurve::FromPoints({{1000, 1.0}});
  c.cost.dram_bytes_per_s = 1e9;
  c.cost.disk_bytes_per_s = 1e8;
  c.peer_bytes_per_s = 5e8;
  c.object_bytes = 1'000'000;
  c.block_tokens = 100;
  return c;
}

TEST(RouterPolicy, NamesRoundTrip) {
  for (RoutingPolicy p : AllRoutingPolicies()) EXPECT_EQ(*ParseRoutingPolicy(RoutingPolicyName(p)), p);
  EXPECT_FALSE(ParseRoutingPolicy("random").ok());
}

TEST(RouterPolicy, RoundRobinTakesTurns) {
  std::vector<EngineView> v(3);
  uint64_t turn = 0;
  std::vector<size_t> got;
  for (int i = 0; i < 4; ++i) got.push_back(Route(RoutingPolicy::kRoundRobin, v, 500, Costs(), &turn));
  EXPECT_EQ(got, (std::vector<size_t>{0, 1, 2, 0}));
}

TEST(RouterPolicy, TiesRotateInsteadOfPilingOntoOneEngine) {
  std::vector<EngineView> v(3);  // an idle fleet: every engine scores the same
  for (RoutingPolicy p : {RoutingPolicy::kLeastLoaded, RoutingPolicy::kGpuPrefix, RoutingPolicy::kWarehouseAware}) {
    uint64_t turn = 0;
    std::vector<size_t> got;
    for (int i = 0; i < 3; ++i) got.push_back(Route(p, v, 500, Costs(), &turn));
    EXPECT_EQ(got, (std::vector<size_t>{0, 1, 2})) << RoutingPolicyName(p);
  }
}

TEST(RouterPolicy, LeastLoadedIgnoresHits) {
  std::vector<EngineView> v(2);
  v[0].queue_s = 0.2;
  v[0].gpu_blocks = 5;
  v[1].queue_s = 0.1;
  uint64_t turn = 0;
  EXPECT_EQ(Route(RoutingPolicy::kLeastLoaded, v, 500, Costs(), &turn), 1u);
}

TEST(RouterPolicy, EstimateChargesEachTierAtItsRate) {
  EngineView v;
  v.queue_s = 0.05;
  v.gpu_blocks = 1;
  v.dram_blocks = 1;
  v.disk_blocks = 1;
  v.peer_blocks = 1;
  // 500 tokens: 400 hit (gpu free, dram 1 ms, disk 10 ms, peer 2 ms), 100 computed (100 ms).
  EXPECT_NEAR(EstimateTtft(v, 500, Costs(), true), 0.05 + 0.001 + 0.010 + 0.002 + 0.1, 1e-9);
  // Seeing the GPU only: 100 hit, 400 computed.
  EXPECT_NEAR(EstimateTtft(v, 500, Costs(), false), 0.05 + 0.4, 1e-9);
}

TEST(RouterPolicy, GpuPrefixMissesWhatOnlyTheWarehouseHolds) {
  // Engine 1 holds the first block on its GPU; engine 0's node holds the whole prefix in warehouse
  // DRAM. A GPU-only router sends the request to engine 1 (400 tokens to compute); ours to engine 0
  // (5 ms of loading).
  std::vector<EngineView> v(2);
  v[0].dram_blocks = 5;
  v[1].gpu_blocks = 1;
  uint64_t turn = 0;
  EXPECT_EQ(Route(RoutingPolicy::kGpuPrefix, v, 500, Costs(), &turn), 1u);
  EXPECT_EQ(Route(RoutingPolicy::kWarehouseAware, v, 500, Costs(), &turn), 0u);
}

TEST(RouterPolicy, PrefixPoliciesTradeHitsAgainstQueue) {
  // A full GPU hit behind a 1 s queue loses to a cold, idle engine (500 ms of prefill).
  std::vector<EngineView> v(2);
  v[0].gpu_blocks = 5;
  v[0].queue_s = 1.0;
  uint64_t turn = 0;
  EXPECT_EQ(Route(RoutingPolicy::kGpuPrefix, v, 500, Costs(), &turn), 1u);
  EXPECT_EQ(Route(RoutingPolicy::kWarehouseAware, v, 500, Costs(), &turn), 1u);
  v[0].queue_s = 0.3;  // now the hit wins
  EXPECT_EQ(Route(RoutingPolicy::kGpuPrefix, v, 500, Costs(), &turn), 0u);
}

TEST(RouterPolicy, PeerHitsCountOnlyWithAPeerRate) {
  EngineView v;
  v.peer_blocks = 5;
  RouteCosts c = Costs();
  c.peer_bytes_per_s = 0;
  EXPECT_NEAR(EstimateTtft(v, 500, c, true), 0.5, 1e-9);
}

TEST(BlockLru, EvictsTheLeastRecentlyUsed) {
  BlockLru lru(2);
  EXPECT_FALSE(lru.Insert(1));
  EXPECT_FALSE(lru.Insert(2));
  EXPECT_TRUE(lru.Touch(1));
  EXPECT_EQ(lru.Insert(3), std::optional<uint32_t>(2));
  EXPECT_TRUE(lru.Contains(1) && lru.Contains(3) && !lru.Contains(2));
  BlockLru none(0);
  EXPECT_EQ(none.Insert(7), std::optional<uint32_t>(7));
}

// Two engines on two nodes; a prefix stored through engine 0 is found again by both prefix
// policies on a repeat, and the warehouse-aware one also finds it when the GPU has lost it.
TEST(Routing, WarehouseAwareFollowsTheWarehouseWhenTheGpuForgot) {
  Trace t;
  auto add = [&](int64_t ms, std::vector<uint32_t> blocks) {
    TraceRequest r;
    r.timestamp_ms = ms;
    r.blocks = std::move(blocks);
    r.input_tokens = static_cast<uint32_t>(r.blocks.size() * 100);
    t.requests.push_back(r);
  };
  add(0, {0, 1, 2, 3, 4});      // the document, first seen
  add(10'000, {5, 6});          // evicts it from the (2-block) GPU of whichever engine serves it
  add(20'000, {7, 8});
  add(30'000, {0, 1, 2, 3, 4});  // the document again
  t.unique_blocks = 9;
  RoutingOptions o;
  o.engines = 2;
  o.engines_per_node = 1;
  o.gpu_blocks = 2;
  o.dram_blocks = 100;
  o.costs = Costs();
  auto wa = SimulateRouting(t, o, RoutingPolicy::kWarehouseAware);
  ASSERT_TRUE(wa.ok());
  EXPECT_EQ(wa->dram_hit_tokens, 500u);  // all five blocks from the right node's DRAM
  EXPECT_EQ(wa->computed_tokens, 900u);
  auto rr = SimulateRouting(t, o, RoutingPolicy::kRoundRobin);
  ASSERT_TRUE(rr.ok());
  // Round-robin sends the repeat to engine 1, whose node never saw the document.
  EXPECT_EQ(rr->dram_hit_tokens, 0u);
  EXPECT_EQ(rr->computed_tokens, 1400u);
  EXPECT_LT(wa->ttft_mean_s, rr->ttft_mean_s);
  EXPECT_EQ(wa->gpu_hit_tokens + wa->dram_hit_tokens + wa->disk_hit_tokens + wa->peer_hit_tokens + wa->computed_tokens,
            wa->prompt_tokens);
}

TEST(Routing, ClusterPeersServeAnotherNodesBlocks) {
  Trace t;
  TraceRequest a;
  a.blocks = {0, 1};
  a.input_tokens = 200;
  TraceRequest b = a;
  b.timestamp_ms = 1000;
  t.requests = {a, b};
  t.unique_blocks = 2;
  RoutingOptions o;
  o.engines = 2;
  o.engines_per_node = 1;
  o.dram_blocks = 10;
  o.cluster = true;
  o.costs = Costs();
  auto rr = SimulateRouting(t, o, RoutingPolicy::kRoundRobin);  // the repeat lands on the other node
  ASSERT_TRUE(rr.ok());
  EXPECT_EQ(rr->peer_hit_tokens, 200u);
}

TEST(Routing, RejectsAnEmptyFleet) {
  RoutingOptions o;
  o.engines = 0;
  EXPECT_FALSE(SimulateRouting(Trace{}, o, RoutingPolicy::kRoundRobin).ok());
}

}  // namespace
}  // namespace tw::sim

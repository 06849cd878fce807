#include "router/scoring.h"

#include <gtest/gtest.h>

namespace tw::router {
namespace {

// Prefill at 1 ms a token (linear), KV of 1 MB a token, DRAM 1 GB/s (1 ms a token), disk 0.1 GB/s
// (10 ms a token); a queued request is worth 0.5 s.
ScoringCosts Costs() {
  ScoringCosts c;
  c.route.cost.prefill = *sim::PrefillCurve::FromPoints({{1000, 1.0}});
  c.route.cost.dram_bytes_per_s = 1e9;
  c.route.cost.disk_bytes_per_s = 1e8;
  c.route.object_bytes = 1'000'000;
  c.route.block_tokens = 1;
  c.queued_request_s = 0.5;
  return c;
}

WarehouseHit Stored(std::vector<Tier> tiers, uint32_t block_tokens = 32) {
  WarehouseHit w;
  w.up = true;
  w.block_tokens = block_tokens;
  w.tiers = std::move(tiers);
  return w;
}

TEST(RouterScoring, WarehouseTokensBeyondTheGpuPrefixCountByTier) {
  Candidate c{0, 2, 40, Stored({Tier::kDram, Tier::kDram, Tier::kDisk})};
  sim::EngineView v = ViewOf(c, Costs());
  EXPECT_DOUBLE_EQ(v.queue_s, 1.0);
  EXPECT_EQ(v.gpu_blocks, 40u);
  EXPECT_EQ(v.dram_blocks, 24u);  // tokens 40..64 of the two DRAM blocks
  EXPECT_EQ(v.disk_blocks, 32u);
  // A warehouse that is away counts nothing.
  c.warehouse.up = false;
  EXPECT_EQ(ViewOf(c, Costs()).dram_blocks, 0u);
}

TEST(RouterScoring, TheEngineHoldingTheDocumentWinsOnAnIdleFleet) {
  // The document (96 tokens) is in both the warehouse's DRAM and engine 1's GPU.
  const WarehouseHit shared = Stored({Tier::kDram, Tier::kDram, Tier::kDram});
  std::vector<Candidate> c = {{0, 0, 0, shared}, {1, 0, 96, shared}};
  uint64_t turn = 0;
  for (int i = 0; i < 2; ++i) {  // whatever the round-robin cursor
    Choice ch = Choose(sim::RoutingPolicy::kWarehouseAware, c, 120, Costs(), &turn);
    EXPECT_EQ(ch.engine, 1u);
    EXPECT_EQ(ch.reason, Reason::kGpuPrefix);
    EXPECT_EQ(ch.view.gpu_blocks, 96u);
  }
}

TEST(RouterScoring, ANewDocumentGoesByLoad) {
  std::vector<Candidate> c = {{0, 1, 0}, {1, 0, 0}};
  uint64_t turn = 0;
  for (int i = 0; i < 2; ++i) {
    Choice ch = Choose(sim::RoutingPolicy::kWarehouseAware, c, 500, Costs(), &turn);
    EXPECT_EQ(ch.engine, 1u);
    EXPECT_EQ(ch.reason, Reason::kLoad);
  }
}

TEST(RouterScoring, AnIdleFleetWithoutHitsTakesTurns) {
  std::vector<Candidate> c = {{0, 0, 0}, {1, 0, 0}};
  uint64_t turn = 0;
  Choice a = Choose(sim::RoutingPolicy::kWarehouseAware, c, 500, Costs(), &turn);
  Choice b = Choose(sim::RoutingPolicy::kWarehouseAware, c, 500, Costs(), &turn);
  EXPECT_NE(a.engine, b.engine);
  EXPECT_EQ(a.reason, Reason::kRoundRobin);
  Choice only = Choose(sim::RoutingPolicy::kWarehouseAware, std::span(c).first(1), 500, Costs(), &turn);
  EXPECT_EQ(only.reason, Reason::kOnlyEngine);
}

TEST(RouterScoring, LoadOutweighsAPrefixWorthLessThanTheQueue) {
  // Engine 0 holds 200 tokens (0.2 s of prefill) but has a request queued (0.5 s).
  std::vector<Candidate> c = {{0, 1, 200}, {1, 0, 0}};
  uint64_t turn = 0;
  Choice ch = Choose(sim::RoutingPolicy::kWarehouseAware, c, 300, Costs(), &turn);
  EXPECT_EQ(ch.engine, 1u);
  EXPECT_EQ(ch.reason, Reason::kLoad);
}

TEST(RouterScoring, EnginesOfTwoNodesAreScoredOnTheirOwnWarehouse) {
  // Engine 0's node holds the prompt's 96 tokens in DRAM, engine 1's on disk; neither GPU has it.
  std::vector<Candidate> c = {{0, 0, 0, Stored({Tier::kDram, Tier::kDram, Tier::kDram})},
                              {1, 0, 0, Stored({Tier::kDisk, Tier::kDisk, Tier::kDisk})}};
  for (uint64_t turn : {0, 1}) {
    Choice ch = Choose(sim::RoutingPolicy::kWarehouseAware, c, 120, Costs(), &turn);
    EXPECT_EQ(ch.engine, 0u);  // 96 ms of DRAM loads beat 960 ms of disk loads
    EXPECT_EQ(ch.reason, Reason::kWarehousePrefix);  // same length: the tier's rate set it apart
  }
  // Engine 1's node holds more (all three blocks); engine 0's only the first, in DRAM, which loads
  // ten times faster than it prefills here.
  ScoringCosts fast_dram = Costs();
  fast_dram.route.cost.dram_bytes_per_s = 1e10;
  c[0].warehouse = Stored({Tier::kDram});
  c[1].warehouse = Stored({Tier::kDram, Tier::kDram, Tier::kDram});
  uint64_t turn = 0;
  Choice more = Choose(sim::RoutingPolicy::kWarehouseAware, c, 120, fast_dram, &turn);
  EXPECT_EQ(more.engine, 1u);
  EXPECT_EQ(more.reason, Reason::kWarehousePrefix);
  // The GPU-prefix policy does not see warehouses: a tie, broken by the cursor.
  turn = 0;
  Choice gpu = Choose(sim::RoutingPolicy::kGpuPrefix, c, 120, fast_dram, &turn);
  EXPECT_EQ(gpu.engine, 0u);
  EXPECT_EQ(gpu.reason, Reason::kRoundRobin);
}

}  // namespace
}  // namespace tw::router

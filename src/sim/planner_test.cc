#include <gtest/gtest.h>

#include "sim/planner.h"
#include "sim/report.h"
#include "sim/savings.h"
#include "sim/svg_plot.h"

namespace tw::sim {
namespace {

Trace RepeatingTrace() {
  // 10 conversations of 4 blocks, each sent 5 times round-robin: 40 unique blocks, hits need room.
  std::string text;
  int ts = 0;
  for (int round = 0; round < 5; ++round) {
    for (int c = 0; c < 10; ++c) {
      text += "{\"timestamp\": " + std::to_string(ts++) + ", \"input_length\": 64, \"hash_ids\": [";
      for (int b = 0; b < 4; ++b) text += (b ? ", " : "") + std::to_string(c * 10 + b);
      text += "]}\n";
    }
  }
  return *ParseMooncakeTrace(text);
}

// LRU and Belady over RepeatingTrace at 10%, 50% and 100% of its blocks (16 tokens, 100 bytes each).
Result<PlanResult> SmallPlan() {
  PlanOptions o;
  o.policies = {"lru", "belady"};
  o.fractions = {0.1, 0.5, 1.0};
  o.base.block_tokens = 16;
  o.base.object_bytes = 100;
  return Plan(RepeatingTrace(), o);
}

TEST(Planner, CurvesRiseToTheUnlimitedRatioAndSizingReachesTheTarget) {
  auto p = SmallPlan();
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_DOUBLE_EQ(p->unlimited_hit_ratio, 0.8);  // every round after the first hits fully
  for (const PolicyCurve& c : p->curves) EXPECT_DOUBLE_EQ(c.points.back().hit_ratio, 0.8) << c.policy;
  EXPECT_LE(p->curves[0].points[0].hit_ratio, p->curves[1].points[0].hit_ratio);  // LRU <= Belady
  EXPECT_GE(p->sized.hit_ratio + 1e-9, p->target_hit_ratio * 0.98);
  EXPECT_GT(p->dram_blocks, 0u);
  EXPECT_NE(PlanResultJson(*p, 100).find("\"unlimited_hit_ratio\""), std::string::npos);
}

TEST(Savings, PricesEachCapacityLikeTheDaemon) {
  auto p = SmallPlan();
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  // The daemon's formula: hit tokens / prefill rate, then a GPU-hour's price.
  EconomicsOptions e{.prefill_tokens_per_s = 16, .gpu_hour_price = 3.6, .currency = "EUR"};
  auto s = Savings(p->curves[0], e);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->size(), 3u);
  const SavingsPoint& full = s->back();
  EXPECT_EQ(full.hit_tokens, 160u * 16);  // 0.8 of 200 block accesses hit, 16 tokens each
  EXPECT_DOUBLE_EQ(full.gpu_seconds_saved, 160.0);
  EXPECT_DOUBLE_EQ(full.money_saved, 160.0 / 3600 * 3.6);
  for (size_t i = 1; i < s->size(); ++i) EXPECT_LE((*s)[i - 1].money_saved, (*s)[i].money_saved);
  const std::string table = SavingsTable("lru", *s, 100, e);
  EXPECT_NE(table.find("EUR saved"), std::string::npos) << table;
  EXPECT_NE(table.find("100.0%"), std::string::npos) << table;
  // Without a rate the replay's prefill curve gives the GPU-seconds; without a price, no money.
  auto curve = Savings(p->curves[0], EconomicsOptions{});
  ASSERT_TRUE(curve.ok());
  EXPECT_DOUBLE_EQ(curve->back().gpu_seconds_saved, p->curves[0].points.back().gpu_seconds_saved);
  EXPECT_EQ(curve->back().money_saved, 0);
  EXPECT_EQ(SavingsTable("lru", *curve, 100, EconomicsOptions{}).find("USD"), std::string::npos);  // no money column
  EXPECT_FALSE(Savings(p->curves[0], EconomicsOptions{.gpu_hour_price = -1}).ok());
  // The plot: one series per policy, money on the y axis.
  auto plot = SavingsPlot(*p, e, "t");
  ASSERT_TRUE(plot.ok());
  EXPECT_EQ(plot->series.size(), 2u);
  EXPECT_EQ(plot->y_label, "EUR saved");
  EXPECT_NE(RenderSvg(*plot).find("<polyline"), std::string::npos);
}

TEST(Report, ParsesByteSizes) {
  EXPECT_EQ(*ParseBytes("4096"), 4096u);
  EXPECT_EQ(*ParseBytes("64GiB"), 64ull << 30);
  EXPECT_EQ(*ParseBytes("1.5TB"), 1500000000000ull);
  EXPECT_EQ(*ParseBytes("2g"), 2000000000ull);
  EXPECT_FALSE(ParseBytes("lots").ok());
  EXPECT_FALSE(ParseBytes("3 parsecs").ok());
}

TEST(SvgPlot, DrawsEverySeriesAndEscapesLabels) {
  PlotSpec s;
  s.title = "a < b";
  s.log_x = true;
  s.series = {{"lru", {{1, 0.1}, {10, 0.3}}, false}, {"belady", {{1, 0.2}, {10, 0.4}}, true}};
  std::string svg = RenderSvg(s);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("a &lt; b"), std::string::npos);
  size_t lines = 0;
  for (size_t pos = 0; (pos = svg.find("<polyline", pos)) != std::string::npos; ++pos) ++lines;
  EXPECT_EQ(lines, 2u);
}

}  // namespace
}  // namespace tw::sim

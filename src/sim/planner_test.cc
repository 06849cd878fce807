#include <gtest/gtest.h>

#include "sim/planner.h"
#include "sim/report.h"
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

TEST(Planner, CurvesRiseToTheUnlimitedRatioAndSizingReachesTheTarget) {
  Trace t = RepeatingTrace();
  PlanOptions o;
  o.policies = {"lru", "belady"};
  o.fractions = {0.1, 0.5, 1.0};
  o.base.block_tokens = 16;
  o.base.object_bytes = 100;
  auto p = Plan(t, o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_DOUBLE_EQ(p->unlimited_hit_ratio, 0.8);  // every round after the first hits fully
  for (const PolicyCurve& c : p->curves) EXPECT_DOUBLE_EQ(c.points.back().hit_ratio, 0.8) << c.policy;
  EXPECT_LE(p->curves[0].points[0].hit_ratio, p->curves[1].points[0].hit_ratio);  // LRU <= Belady
  EXPECT_GE(p->sized.hit_ratio + 1e-9, p->target_hit_ratio * 0.98);
  EXPECT_GT(p->dram_blocks, 0u);
  EXPECT_NE(PlanResultJson(*p, 100).find("\"unlimited_hit_ratio\""), std::string::npos);
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

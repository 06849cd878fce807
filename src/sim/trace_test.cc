#include <gtest/gtest.h>

#include "sim/cost_model.h"
#include "sim/model.h"
#include "sim/trace.h"

namespace tw::sim {
namespace {

TEST(Trace, ParsesMooncakeLinesSortsAndNumbersBlocks) {
  auto t = ParseMooncakeTrace(
      "{\"timestamp\": 5, \"input_length\": 100, \"output_length\": 3, \"hash_ids\": [7, 8]}\n"
      "\n"
      "{\"hash_ids\": [7, 9], \"extra\": {\"a\": [1, \"x\"]}, \"timestamp\": 1, \"input_length\": 90, \"output_length\": 2}\n");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->requests.size(), 2u);
  EXPECT_EQ(t->requests[0].timestamp_ms, 1);  // sorted by time
  EXPECT_EQ(t->requests[0].input_tokens, 90u);
  EXPECT_EQ(t->unique_blocks, 3u);
  EXPECT_EQ(t->block_accesses, 4u);
  EXPECT_EQ(t->requests[0].blocks[0], t->requests[1].blocks[0]);  // both are hash id 7
}

TEST(Trace, RejectsMalformedLinesWithTheLineNumber) {
  auto t = ParseMooncakeTrace("{\"timestamp\": 1, \"input_length\": 1, \"hash_ids\": [1]}\n{\"timestamp\": 2}\n");
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(t.status().IsInvalidArgument());
  EXPECT_NE(t.status().message().find("line 2"), std::string_view::npos);
  EXPECT_FALSE(ParseMooncakeTrace("[1,2]\n").ok());
  EXPECT_FALSE(ParseMooncakeTrace("{\"timestamp\": 1, \"input_length\": 1, \"hash_ids\": [1, x]}\n").ok());
  // Found by tests/fuzz/trace_fuzzer: a timestamp beyond int64 ms is refused, not converted.
  EXPECT_FALSE(ParseMooncakeTrace("{\"timestamp\": 12743110316963455884, \"input_length\": 1, \"hash_ids\": [1]}\n").ok());
  EXPECT_FALSE(ParseMooncakeTrace("{\"timestamp\": -1e300, \"input_length\": 1, \"hash_ids\": [1]}\n").ok());
}

TEST(CostModel, InterpolatesMeasuredPoints) {
  auto c = PrefillCurve::Parse("4096:0.2,32768:1.48");
  ASSERT_TRUE(c.ok());
  EXPECT_DOUBLE_EQ(c->Seconds(0), 0);
  EXPECT_DOUBLE_EQ(c->Seconds(2048), 0.1);
  EXPECT_DOUBLE_EQ(c->Seconds(4096), 0.2);
  EXPECT_NEAR(c->Seconds(32768 + 28672), 1.48 + 1.28, 1e-9);  // extrapolates the last segment
  EXPECT_FALSE(PrefillCurve::Parse("4096").ok());
  EXPECT_FALSE(PrefillCurve::Parse("4096:1,8192:0.5").ok());
}

TEST(Model, NamedShapes) {
  auto m = FindModel("llama-3-8b");
  ASSERT_TRUE(m.ok());
  m->geometry.block_tokens = 512;
  EXPECT_EQ(m->geometry.BytesPerToken(), 131072u);
  EXPECT_EQ(FindModel("qwen2.5-32b")->geometry.layers, 64u);
  EXPECT_EQ(FindModel("tinyllama-1.1b")->geometry.kv_heads, 4u);
  EXPECT_TRUE(FindModel("gpt-9").status().IsInvalidArgument());
}

}  // namespace
}  // namespace tw::sim

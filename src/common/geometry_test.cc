#include <gtest/gtest.h>

#include "tw/geometry.h"

namespace tw {
namespace {

KvGeometry Llama8b() { return KvGeometry{32, 8, 128, KvDtype::kBF16, 256}; }

TEST(KvGeometry, SizesOfLlama3_8b) {
  KvGeometry g = Llama8b();
  EXPECT_TRUE(g.Validate().ok());
  EXPECT_EQ(g.BytesPerToken(), 131072u);  // 128 KiB of KV per token
  EXPECT_EQ(g.ObjectBytes(), 32ull << 20);  // 32 MiB per 256-token block
  EXPECT_EQ(g.HeadRunBytes(), 256u * 128 * 2);
}

TEST(KvGeometry, WholeObjectIsOneRun) {
  KvGeometry g = Llama8b();
  auto runs = g.SliceRuns(KvSlice::All());
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ((*runs)[0], (ByteRun{0, g.ObjectBytes()}));
}

TEST(KvGeometry, LayerRangeIsOneRun) {
  KvGeometry g = Llama8b();
  const uint64_t layer = g.ObjectBytes() / 32;
  auto runs = g.SliceRuns(KvSlice::Layers(3, 5));
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ((*runs)[0], (ByteRun{3 * layer, 2 * layer}));
  EXPECT_EQ(g.SliceBytes(KvSlice::Layers(3, 5)), 2 * layer);
}

TEST(KvGeometry, HeadRangeIsTwoRunsPerLayer) {
  KvGeometry g = Llama8b();
  const uint64_t run = g.HeadRunBytes();
  const uint64_t kv = 8 * run;  // K (or V) of one layer
  // Tensor-parallel rank 1 of 4 owns heads [2, 4).
  auto runs = g.SliceRuns(KvSlice{0, 2, 2, 4});
  ASSERT_TRUE(runs.ok());
  std::vector<ByteRun> want = {{2 * run, 2 * run}, {kv + 2 * run, 2 * run}, {2 * kv + 2 * run, 2 * run},
                               {3 * kv + 2 * run, 2 * run}};
  EXPECT_EQ(*runs, want);
  EXPECT_EQ(g.SliceBytes(KvSlice{0, 2, 2, 4}), 8 * run);
}

TEST(KvGeometry, SlicesOfAllRanksTileTheObject) {
  KvGeometry g{4, 8, 16, KvDtype::kF16, 16};
  std::vector<int> covered(g.ObjectBytes(), 0);
  for (uint32_t rank = 0; rank < 4; ++rank) {
    auto runs = g.SliceRuns(KvSlice{0, 0, rank * 2, rank * 2 + 2});
    ASSERT_TRUE(runs.ok());
    for (const ByteRun& r : *runs) {
      for (uint64_t i = r.offset; i < r.offset + r.length; ++i) covered[i]++;
    }
  }
  for (int c : covered) ASSERT_EQ(c, 1);
}

TEST(KvGeometry, BadSlicesAndGeometriesAreRejected) {
  KvGeometry g = Llama8b();
  EXPECT_FALSE(g.SliceRuns(KvSlice{5, 5, 0, 0}).ok());   // empty
  EXPECT_FALSE(g.SliceRuns(KvSlice{0, 33, 0, 0}).ok());  // past the last layer
  EXPECT_FALSE(g.SliceRuns(KvSlice{0, 0, 4, 9}).ok());   // past the last head
  EXPECT_EQ(g.SliceBytes(KvSlice{0, 33, 0, 0}), 0u);
  KvGeometry zero = g;
  zero.head_dim = 0;
  EXPECT_TRUE(zero.Validate().IsInvalidArgument());
  KvGeometry huge{100000, 1000, 1000, KvDtype::kF32, 100000};
  EXPECT_TRUE(huge.Validate().IsInvalidArgument());
  KvGeometry bad_dtype = g;
  bad_dtype.dtype = static_cast<KvDtype>(99);
  EXPECT_TRUE(bad_dtype.Validate().IsInvalidArgument());
}

TEST(KvDtype, NamesRoundTrip) {
  for (KvDtype d : {KvDtype::kF32, KvDtype::kF16, KvDtype::kBF16, KvDtype::kF8E4M3, KvDtype::kI8}) {
    auto parsed = ParseKvDtype(KvDtypeName(d));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, d);
  }
  EXPECT_FALSE(ParseKvDtype("fp7").ok());
}

}  // namespace
}  // namespace tw

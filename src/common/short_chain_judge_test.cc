// The min_prefix_tokens rule (common/short_chain_judge.h) on its own: what is judged by its length,
// what is stored as asked, and that continuations of skipped chains follow them.
#include "common/short_chain_judge.h"

#include <gtest/gtest.h>

#include <vector>

#include "tw/block_key.h"

namespace tw {
namespace {

NamespaceId Id(uint8_t b) {
  NamespaceId id;
  id.bytes[0] = b;
  return id;
}

class ShortChainJudgeTest : public ::testing::Test {
 protected:
  NamespaceId ns_ = Id(1);
  BlockKey root_ = RootKey(ns_);

  // n blocks chained from `parent`, keys derived from `seed`.
  std::vector<BlockRef> Chain(const BlockKey& parent, size_t n, uint32_t seed) {
    std::vector<BlockRef> out;
    BlockKey prev = parent;
    for (size_t i = 0; i < n; ++i) {
      const uint32_t tokens[2] = {seed, static_cast<uint32_t>(i)};
      BlockKey key = ChainKey(ns_, prev, tokens);
      out.push_back({key, prev});
      prev = key;
    }
    return out;
  }
};

TEST_F(ShortChainJudgeTest, SkipsOnlyAShortChainFromTheRoot) {
  ShortChainJudge judge(16);
  // 256-token blocks, minimum 1,024: three blocks are short, four are not.
  EXPECT_TRUE(judge.Skip(ns_, root_, 256, 1024, Chain(root_, 3, 1)));
  EXPECT_FALSE(judge.Skip(ns_, root_, 256, 1024, Chain(root_, 4, 2)));
  // A minimum of 0 skips nothing.
  EXPECT_FALSE(judge.Skip(ns_, root_, 256, 0, Chain(root_, 1, 3)));
  // Not from the root: stored as asked (the engine has stored its beginning before).
  std::vector<BlockRef> stored = Chain(root_, 4, 4);
  EXPECT_FALSE(judge.Skip(ns_, root_, 256, 1024, Chain(stored.back().key, 1, 5)));
  // Out of order: stored as asked.
  std::vector<BlockRef> shuffled = Chain(root_, 2, 6);
  std::swap(shuffled[0], shuffled[1]);
  EXPECT_FALSE(judge.Skip(ns_, root_, 256, 1024, shuffled));
  EXPECT_FALSE(judge.Skip(ns_, root_, 256, 1024, {}));
}

TEST_F(ShortChainJudgeTest, AContinuationOfASkippedChainIsSkipped) {
  ShortChainJudge judge(16);
  std::vector<BlockRef> head = Chain(root_, 2, 7);
  ASSERT_TRUE(judge.Skip(ns_, root_, 256, 1024, head));
  // Long on its own, but its parent was never stored: skipped too, and its tail remembered.
  std::vector<BlockRef> more = Chain(head.back().key, 8, 8);
  EXPECT_TRUE(judge.Skip(ns_, root_, 256, 1024, more));
  EXPECT_TRUE(judge.Skip(ns_, root_, 256, 1024, Chain(more.back().key, 1, 9)));
  // The same keys in another namespace are judged there alone.
  const NamespaceId other = Id(2);
  EXPECT_FALSE(judge.Skip(other, RootKey(other), 256, 1024, Chain(head.back().key, 8, 8)));
}

TEST_F(ShortChainJudgeTest, ForgetsTheOldestTailsPastItsBound) {
  ShortChainJudge judge(2);
  std::vector<BlockRef> a = Chain(root_, 1, 10), b = Chain(root_, 1, 11), c = Chain(root_, 1, 12);
  ASSERT_TRUE(judge.Skip(ns_, root_, 256, 1024, a));
  ASSERT_TRUE(judge.Skip(ns_, root_, 256, 1024, b));
  ASSERT_TRUE(judge.Skip(ns_, root_, 256, 1024, c));
  EXPECT_EQ(judge.remembered(), 2u);
  // a's tail is forgotten: its continuation (long) is stored as asked; c's is still skipped.
  EXPECT_FALSE(judge.Skip(ns_, root_, 256, 1024, Chain(a.back().key, 8, 13)));
  EXPECT_TRUE(judge.Skip(ns_, root_, 256, 1024, Chain(c.back().key, 8, 14)));
}

}  // namespace
}  // namespace tw

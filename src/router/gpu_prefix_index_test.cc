#include "router/gpu_prefix_index.h"

#include <gtest/gtest.h>

#include <numeric>

namespace tw::router {
namespace {

std::vector<uint32_t> Tokens(size_t n, uint32_t first = 100) {
  std::vector<uint32_t> t(n);
  std::iota(t.begin(), t.end(), first);
  return t;
}

// A BlockStored of blocks [from, from + hashes.size()) of `tokens`, as vLLM sends one.
VllmKvEvent Stored(const std::vector<uint32_t>& tokens, uint32_t block, size_t from, std::vector<std::string> hashes,
                   std::optional<std::string> parent) {
  VllmKvEvent e;
  e.kind = VllmKvEvent::Kind::kBlockStored;
  e.block_size = block;
  e.token_ids.assign(tokens.begin() + from * block, tokens.begin() + (from + hashes.size()) * block);
  e.block_hashes = std::move(hashes);
  e.parent_block_hash = std::move(parent);
  e.medium = "GPU";
  return e;
}

VllmKvEvent Removed(std::vector<std::string> hashes) {
  VllmKvEvent e;
  e.kind = VllmKvEvent::Kind::kBlockRemoved;
  e.block_hashes = std::move(hashes);
  e.medium = "GPU";
  return e;
}

TEST(GpuPrefixIndex, EventsBecomePrefixLengths) {
  GpuPrefixIndex index;
  const auto doc = Tokens(100);
  EXPECT_EQ(index.LongestPrefixTokens(doc), 0u);
  // Two events, the second chained to the first by vLLM's hash of its last block.
  index.Apply(Stored(doc, 16, 0, {"h0", "h1"}, std::nullopt));
  index.Apply(Stored(doc, 16, 2, {"h2", "h3"}, "h1"));
  EXPECT_EQ(index.blocks(), 4u);
  EXPECT_EQ(index.block_size(), 16u);
  EXPECT_EQ(index.LongestPrefixTokens(doc), 64u);
  // The same document with another question: the prefix still matches, up to where it differs.
  auto other = doc;
  other[40] = 7;
  EXPECT_EQ(index.LongestPrefixTokens(other), 32u);
  // A different first block: nothing (chain hashes cover the whole prefix).
  auto shifted = doc;
  shifted[0] = 7;
  EXPECT_EQ(index.LongestPrefixTokens(shifted), 0u);
  // Only full blocks count.
  EXPECT_EQ(index.LongestPrefixTokens(std::span(doc).first(47)), 32u);
}

TEST(GpuPrefixIndex, RemovalCutsTheChainWhereTheBlockWas) {
  GpuPrefixIndex index;
  const auto doc = Tokens(64);
  index.Apply(Stored(doc, 16, 0, {"h0", "h1", "h2", "h3"}, std::nullopt));
  index.Apply(Removed({"h2"}));
  EXPECT_EQ(index.LongestPrefixTokens(doc), 32u);
  index.Apply(Removed({"h0", "unknown"}));
  EXPECT_EQ(index.LongestPrefixTokens(doc), 0u);
  EXPECT_EQ(index.blocks(), 2u);
}

TEST(GpuPrefixIndex, AllBlocksClearedForgetsEverything) {
  GpuPrefixIndex index;
  const auto doc = Tokens(32);
  index.Apply(Stored(doc, 16, 0, {"h0", "h1"}, std::nullopt));
  VllmKvEvent clear;
  clear.kind = VllmKvEvent::Kind::kAllBlocksCleared;
  index.Apply(clear);
  EXPECT_EQ(index.blocks(), 0u);
  EXPECT_EQ(index.LongestPrefixTokens(doc), 0u);
  // Blocks stored after the clear count again.
  index.Apply(Stored(doc, 16, 0, {"h0"}, std::nullopt));
  EXPECT_EQ(index.LongestPrefixTokens(doc), 16u);
}

TEST(GpuPrefixIndex, UnknownParentIsSkippedAndCounted) {
  GpuPrefixIndex index;
  const auto doc = Tokens(64);
  // The first blocks were stored before the router subscribed: their successors cannot be placed.
  index.Apply(Stored(doc, 16, 2, {"h2", "h3"}, "h1"));
  EXPECT_EQ(index.unknown_parent(), 1u);
  EXPECT_EQ(index.blocks(), 0u);
  EXPECT_EQ(index.LongestPrefixTokens(doc), 0u);
}

TEST(GpuPrefixIndex, TwoHashesOfOneChainKeepItUntilBothAreRemoved) {
  GpuPrefixIndex index;
  const auto doc = Tokens(16);
  index.Apply(Stored(doc, 16, 0, {"salted-a"}, std::nullopt));
  index.Apply(Stored(doc, 16, 0, {"salted-b"}, std::nullopt));
  index.Apply(Stored(doc, 16, 0, {"salted-b"}, std::nullopt));  // re-announced (a reuse): not a third holder
  index.Apply(Removed({"salted-a"}));
  EXPECT_EQ(index.LongestPrefixTokens(doc), 16u);
  index.Apply(Removed({"salted-b"}));
  EXPECT_EQ(index.LongestPrefixTokens(doc), 0u);
}

TEST(GpuPrefixIndex, IgnoresOtherMediaAndEventsWithoutTokens) {
  GpuPrefixIndex index;
  const auto doc = Tokens(32);
  VllmKvEvent cpu = Stored(doc, 16, 0, {"c0", "c1"}, std::nullopt);
  cpu.medium = "CPU";  // vLLM's CPU offloading tier: not the GPU prefix cache
  index.Apply(cpu);
  VllmKvEvent keys_only = Stored(doc, 16, 0, {"k0", "k1"}, std::nullopt);
  keys_only.token_ids.clear();  // the warehouse's own events: keys, no tokens
  index.Apply(keys_only);
  EXPECT_EQ(index.blocks(), 0u);
  VllmKvEvent no_medium = Stored(doc, 16, 0, {"g0", "g1"}, std::nullopt);
  no_medium.medium.reset();  // vLLM before media: GPU
  index.Apply(no_medium);
  EXPECT_EQ(index.LongestPrefixTokens(doc), 32u);
}

}  // namespace
}  // namespace tw::router

#include "store/tier/io_gather.h"

#include <gtest/gtest.h>

#include <vector>

namespace tw {
namespace {

constexpr uint64_t kBlock = 4096;

TEST(IoGather, PiecesAdjacentInMemoryBecomeOnePlainIo) {
  std::vector<std::byte> ring(8 * kBlock);
  IoGather g(1 << 20);
  EXPECT_EQ(g.Take(ring.data(), kBlock), kBlock);               // a record header
  EXPECT_EQ(g.Take(ring.data() + kBlock, 3 * kBlock), 3 * kBlock);  // its payload, right behind it
  EXPECT_EQ(g.piece_count(), 1u);
  IoOp op;
  op.pieces = {};
  g.Fill(&op);
  EXPECT_EQ(op.data, ring.data());
  EXPECT_TRUE(op.pieces.empty());
  EXPECT_EQ(op.length, 4 * kBlock);
}

TEST(IoGather, SeparateBuffersBecomeAScatterListInFileOrder) {
  std::vector<std::byte> header(kBlock), payload(4 * kBlock);
  IoGather g(1 << 20);
  g.Take(header.data(), kBlock);
  g.Take(payload.data(), payload.size());
  IoOp op;
  g.Fill(&op);
  EXPECT_EQ(op.data, nullptr);
  ASSERT_EQ(op.pieces.size(), 2u);
  EXPECT_EQ(op.pieces[0].data(), header.data());
  EXPECT_EQ(op.pieces[1].data(), payload.data());
  EXPECT_EQ(op.pieces[1].size(), payload.size());
  EXPECT_EQ(op.length, 5 * kBlock);
}

TEST(IoGather, StopsAtIoBytesAndTheCallerCarriesTheRestToTheNextOp) {
  std::vector<std::byte> payload(10 * kBlock);
  IoGather first(4 * kBlock);
  EXPECT_EQ(first.Take(payload.data(), payload.size()), 4 * kBlock);
  EXPECT_TRUE(first.full());
  EXPECT_EQ(first.Take(payload.data() + 4 * kBlock, kBlock), 0u);
  IoGather second(4 * kBlock);
  EXPECT_EQ(second.Take(payload.data() + 4 * kBlock, 6 * kBlock), 4 * kBlock);
  EXPECT_EQ(first.length() + second.length(), 8 * kBlock);
}

TEST(IoGather, StopsAtMaxPiecesEvenBelowIoBytes) {
  // Every other block of a buffer: no two pieces touch, so each takes an iovec.
  std::vector<std::byte> scattered(2 * (IoGather::kMaxPieces + 1) * kBlock);
  IoGather g(1ull << 30);
  size_t taken = 0;
  for (size_t i = 0; i <= IoGather::kMaxPieces; ++i) taken += g.Take(scattered.data() + 2 * i * kBlock, kBlock) ? 1 : 0;
  EXPECT_EQ(taken, IoGather::kMaxPieces);
  EXPECT_TRUE(g.full());
  EXPECT_EQ(g.length(), IoGather::kMaxPieces * kBlock);
}

TEST(IoGather, EmptyPiecesAddNothing) {
  std::vector<std::byte> a(kBlock);
  IoGather g(1 << 20);
  EXPECT_EQ(g.Take(a.data(), 0), 0u);
  EXPECT_EQ(g.piece_count(), 0u);
  EXPECT_FALSE(g.full());
}

}  // namespace
}  // namespace tw

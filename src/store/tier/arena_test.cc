#include <gtest/gtest.h>
#include <unistd.h>

#include "store/tier/arena.h"
#include "store/tier/page_allocator.h"

namespace tw {
namespace {

TEST(Arena, MapsAndPrefaults) {
  auto arena = Arena::Create({.size_bytes = 8 << 20});
  ASSERT_TRUE(arena.ok()) << arena.status().ToString();
  EXPECT_EQ((*arena)->size_bytes(), 8u << 20);
  EXPECT_EQ((*arena)->fd(), -1);
  (*arena)->base()[(8 << 20) - 1] = std::byte{1};
}

TEST(Arena, ShareableArenaHasAMemfd) {
  auto arena = Arena::Create({.size_bytes = 4 << 20, .shareable = true});
  ASSERT_TRUE(arena.ok()) << arena.status().ToString();
  ASSERT_GE((*arena)->fd(), 0);
  (*arena)->base()[5] = std::byte{42};
  std::byte b{};
  ASSERT_EQ(pread((*arena)->fd(), &b, 1, 5), 1);  // the memfd sees the arena's bytes
  EXPECT_EQ(b, std::byte{42});
}

TEST(Arena, HugePagesFallBackWhenNoneReserved) {
  auto arena = Arena::Create({.size_bytes = 4 << 20, .huge_pages = true});
  ASSERT_TRUE(arena.ok()) << arena.status().ToString();
}

TEST(Arena, RejectsZeroAndAbsurdSizes) {
  EXPECT_TRUE(Arena::Create({.size_bytes = 0}).status().IsInvalidArgument());
  EXPECT_TRUE(Arena::Create({.size_bytes = 1ull << 60, .prefault = false}).status().IsResourceExhausted());
}

TEST(PageAllocator, AllOrNothing) {
  PageAllocator a(4);
  std::vector<PageIndex> got;
  EXPECT_TRUE(a.Allocate(3, &got));
  EXPECT_EQ(got.size(), 3u);
  EXPECT_FALSE(a.Allocate(2, &got));
  EXPECT_EQ(got.size(), 3u);
  EXPECT_EQ(a.free_pages(), 1u);
  a.Free(got);
  EXPECT_EQ(a.free_pages(), 4u);
}

}  // namespace
}  // namespace tw

// Demotion without a copy: objects offered with an owner are written straight from the owner's
// memory, which the tier holds until written and then lets go of. Bytes must come back exactly,
// from the queue and from disk, across restarts and write faults; nothing else may reach the disk.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "common/env/fault_env.h"
#include "store/tier/disk_test_util.h"
#include "store/tier/disk_tier.h"

namespace tw {
namespace {

using testing::FreshDir;
using testing::PayloadFor;
using testing::TestGeometry;
using testing::TestKey;
using testing::TestNs;

DiskTierOptions Options(const std::string& dir) { return testing::SmallTierOptions(dir); }

// A DRAM object stand-in: the payload of key n in 16 KiB pages (page-aligned, like DRAM pages),
// with the bytes past the payload in its last page set to 0xEE, which must never reach the disk.
struct Object {
  BlockKey key;
  uint64_t size;
  std::vector<AlignedBuffer> pages;
  std::vector<std::span<const std::byte>> segments;
  Object(uint64_t n, uint64_t size_bytes) : key(TestKey(n)), size(size_bytes) {
    constexpr uint64_t kPage = 16 << 10;
    const std::vector<std::byte> want = PayloadFor(key, size);
    for (uint64_t off = 0; off < size; off += kPage) {
      AlignedBuffer& p = pages.emplace_back(kPage);
      std::memset(p.data(), 0xEE, kPage);
      const uint64_t n = std::min(kPage, size - off);
      std::memcpy(p.data(), want.data() + off, n);
      segments.emplace_back(p.data(), n);
    }
  }
};

// Sizes: whole blocks, a partial last block, less than a block (always copied: nothing to borrow).
const uint64_t kSizes[] = {64 << 10, (40 << 10) + 123, 20 << 10, 100};

Status Offer(DiskTier& t, const std::shared_ptr<Object>& o) {
  return t.Enqueue(TestNs(), o->key, TestKey(999), TestGeometry(1), 0, o->segments, o->size, o);
}

Status Check(DiskTier& t, const Object& o) {
  AlignedBuffer buf(AlignUp(o.size));
  std::span<std::byte> seg = buf.span();
  TW_RETURN_IF_ERROR(t.Read(TestNs(), o.key, {&seg, 1}));
  const std::vector<std::byte> want = PayloadFor(o.key, o.size);
  if (std::memcmp(buf.data(), want.data(), o.size) != 0) return Status::Corruption("payload differs");
  return Status::Ok();
}

TEST(DiskBorrow, WritesFromTheOwnersMemoryAndLetsGoOnceWritten) {
  const std::string dir = FreshDir("borrow");
  std::vector<std::shared_ptr<Object>> objects;
  for (uint64_t n = 0; n < 24; ++n) objects.push_back(std::make_shared<Object>(n, kSizes[n % 4]));
  {
    auto t = DiskTier::Open(Options(dir));
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    for (const auto& o : objects) ASSERT_TRUE(Offer(**t, o).ok());
    // Served from the queue (the owner's pages) or from disk, whichever it is by now.
    for (const auto& o : objects) ASSERT_TRUE(Check(**t, *o).ok());
    (*t)->Flush();
    DiskTierCounters c = (*t)->Counters();
    EXPECT_EQ(c.borrowed, 18u);  // all but the 100-byte objects
    EXPECT_EQ(c.borrowed_bytes, 0u);
    EXPECT_EQ(c.dropped, 0u);
    for (const auto& o : objects) EXPECT_EQ(o.use_count(), 1) << "tier still holds an object it has written";
    for (const auto& o : objects) ASSERT_TRUE(Check(**t, *o).ok());
  }
  // The records are the format's records: they survive a restart and read back exactly.
  auto t = DiskTier::Open(Options(dir));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ((*t)->Counters().recovered_objects, objects.size());
  for (const auto& o : objects) ASSERT_TRUE(Check(**t, *o).ok());
}

TEST(DiskBorrow, PaddingIsZeroNotTheOwnersPage) {
  const std::string dir = FreshDir("borrowpad");
  auto o = std::make_shared<Object>(1, (40 << 10) + 123);
  {
    auto t = DiskTier::Open(Options(dir));
    ASSERT_TRUE(t.ok());
    ASSERT_TRUE(Offer(**t, o).ok());
  }
  // The first record of the first region: header at 4096, payload at 8192, padded to a block.
  std::ifstream f(dir + "/" + RegionFileName("local", 0), std::ios::binary);
  std::vector<char> bytes(8192 + AlignUp(o->size));
  f.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(f.good());
  const std::vector<std::byte> want = PayloadFor(o->key, o->size);
  EXPECT_EQ(std::memcmp(bytes.data() + 8192, want.data(), o->size), 0);
  for (uint64_t i = 8192 + o->size; i < bytes.size(); ++i) ASSERT_EQ(bytes[i], 0) << "padding byte " << i;
}

TEST(DiskBorrow, PastTheLimitWaitsForTheDiskInsteadOfCopying) {
  DiskTierOptions opt = Options(FreshDir("borrowwait"));
  opt.borrow_limit_bytes = 128 << 10;  // two objects in flight at most
  auto t = DiskTier::Open(opt);
  ASSERT_TRUE(t.ok());
  std::vector<std::shared_ptr<Object>> objects;
  for (uint64_t n = 0; n < 16; ++n) {
    objects.push_back(std::make_shared<Object>(n, 64 << 10));
    ASSERT_TRUE(Offer(**t, objects.back()).ok());
    EXPECT_LE((*t)->Counters().borrowed_bytes, opt.borrow_limit_bytes);
  }
  (*t)->Flush();
  EXPECT_EQ((*t)->Counters().borrowed, 16u);  // every one borrowed, none copied
  for (const auto& o : objects) ASSERT_TRUE(Check(**t, *o).ok());
}

TEST(DiskBorrow, CopiesWhenBorrowingIsOffOrImpossible) {
  DiskTierOptions opt = Options(FreshDir("borrowlimit"));
  opt.borrow_limit_bytes = 0;
  auto t = DiskTier::Open(opt);
  ASSERT_TRUE(t.ok());
  auto o = std::make_shared<Object>(1, 64 << 10);
  ASSERT_TRUE(Offer(**t, o).ok());
  EXPECT_EQ(o.use_count(), 1);  // copied: nothing held past Enqueue
  // And with borrowing on, an object larger than the bound (it could never be borrowed).
  DiskTierOptions small = Options(FreshDir("borrowsmall"));
  small.borrow_limit_bytes = 32 << 10;
  auto t2 = DiskTier::Open(small);
  ASSERT_TRUE(t2.ok());
  auto big = std::make_shared<Object>(4, 64 << 10);
  ASSERT_TRUE(Offer(**t2, big).ok());
  EXPECT_EQ(big.use_count(), 1);
  (*t2)->Flush();
  EXPECT_EQ((*t2)->Counters().borrowed, 0u);
  ASSERT_TRUE(Check(**t2, *big).ok());
  // A payload that is not in aligned whole blocks is copied too, owner or not.
  auto bytes = std::make_shared<std::vector<std::byte>>(PayloadFor(TestKey(2), 50000));
  std::span<const std::byte> seg(bytes->data() + 1, 40000);
  ASSERT_TRUE((*t)->Enqueue(TestNs(), TestKey(3), TestKey(999), TestGeometry(1), 0, {&seg, 1}, seg.size(), bytes).ok());
  EXPECT_EQ(bytes.use_count(), 1);
  (*t)->Flush();
  EXPECT_EQ((*t)->Counters().borrowed, 0u);
  ASSERT_TRUE(Check(**t, *o).ok());
  std::vector<std::byte> out(seg.size());
  std::span<std::byte> dst(out);
  ASSERT_TRUE((*t)->Read(TestNs(), TestKey(3), {&dst, 1}).ok());
  EXPECT_EQ(std::memcmp(out.data(), seg.data(), seg.size()), 0);
}

TEST(DiskBorrow, WriteFaultLetsGoOfEveryOwnerAndServesNothingUnwritten) {
  FaultInjectingEnv env(Env::Posix());
  DiskTierOptions opt = Options(FreshDir("borrowfault"));
  opt.env = &env;
  auto t = DiskTier::Open(opt);
  ASSERT_TRUE(t.ok());
  auto first = std::make_shared<Object>(1, 64 << 10);
  ASSERT_TRUE(Offer(**t, first).ok());
  (*t)->Flush();
  env.FailWrites(EIO);
  std::vector<std::shared_ptr<Object>> failed;
  for (uint64_t n = 2; n < 8; ++n) {
    failed.push_back(std::make_shared<Object>(n, 64 << 10));
    (void)Offer(**t, failed.back());  // queued, or refused once the tier has stopped admitting
  }
  (*t)->Flush();
  EXPECT_FALSE((*t)->Counters().admitting);
  EXPECT_EQ((*t)->Counters().borrowed_bytes, 0u);
  EXPECT_TRUE((*t)->WaitBorrowedReleased());
  for (const auto& o : failed) {
    EXPECT_EQ(o.use_count(), 1);
    EXPECT_FALSE((*t)->Contains(TestNs(), o->key));  // a failed write is never visible
  }
  ASSERT_TRUE(Check(**t, *first).ok());  // what reached the disk is still served
}

}  // namespace
}  // namespace tw

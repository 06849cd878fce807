#include "store/tier/dram_tier.h"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>

namespace tw {
namespace {

constexpr uint64_t kPage = 64 << 10;
constexpr uint64_t kNoQuota = std::numeric_limits<uint64_t>::max();

class DramTierTest : public ::testing::Test {
 protected:
  void Open(uint64_t pages, EvictionPolicyKind policy = EvictionPolicyKind::kLru) {
    DramTierOptions o;
    o.capacity_bytes = pages * kPage;
    o.page_bytes = kPage;
    o.policy = policy;
    o.clock = &clock_;
    o.on_evict = [this](const std::shared_ptr<DramObject>& obj) { demoted_.push_back(obj->key); };
    auto t = DramTier::Open(o);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    tier_ = std::move(*t);
  }

  BlockKey Key(uint8_t i) {
    BlockKey k;
    k.bytes[0] = i;
    k.bytes[15] = 0xaa;
    return k;
  }

  std::shared_ptr<DramObject> Insert(uint8_t i, uint64_t bytes = kPage, uint8_t parent = 0) {
    auto obj = tier_->Allocate({.size_bytes = bytes, .tenant = 0, .tenant_quota_bytes = kNoQuota});
    EXPECT_TRUE(obj.ok()) << obj.status().ToString();
    if (!obj.ok()) return nullptr;
    (*obj)->ns = ns_;
    (*obj)->key = Key(i);
    (*obj)->parent = Key(parent);
    auto segs = tier_->memory().Segments<std::byte>((*obj)->pages, bytes);
    for (auto& s : segs) std::memset(s.data(), i, s.size());
    EXPECT_TRUE(tier_->Publish(*obj));
    return *obj;
  }

  ManualClock clock_;
  NamespaceId ns_;
  std::unique_ptr<DramTier> tier_;
  std::vector<BlockKey> demoted_;
};

TEST_F(DramTierTest, EvictsToMakeRoomAndDemotes) {
  Open(4);
  for (uint8_t i = 1; i <= 4; ++i) Insert(i);
  EXPECT_TRUE(tier_->Find(ns_, Key(1), true));  // 1 becomes most recent
  Insert(5);
  EXPECT_FALSE(tier_->Contains(ns_, Key(2), clock_.NowMs()));
  EXPECT_TRUE(tier_->Contains(ns_, Key(1), clock_.NowMs()));
  ASSERT_EQ(demoted_.size(), 1u);
  EXPECT_EQ(demoted_[0], Key(2));
  EXPECT_EQ(tier_->Stats().evictions, 1u);
  EXPECT_EQ(tier_->Stats().objects, 4u);
}

TEST_F(DramTierTest, MultiPageObjectsEvictSeveral) {
  Open(4);
  for (uint8_t i = 1; i <= 4; ++i) Insert(i);
  Insert(9, 3 * kPage);
  EXPECT_EQ(tier_->Stats().objects, 2u);
  EXPECT_EQ(demoted_.size(), 3u);
}

TEST_F(DramTierTest, ReaderKeepsEvictedPagesIntact) {
  Open(2);
  Insert(1);
  Insert(2);
  std::shared_ptr<DramObject> held = tier_->Find(ns_, Key(1), false);
  ASSERT_TRUE(held);
  // Evicts 1 from the index (LRU), but its page stays ours, so 2 must go as well.
  auto three = Insert(3);
  EXPECT_FALSE(tier_->Contains(ns_, Key(1), clock_.NowMs()));
  EXPECT_FALSE(tier_->Contains(ns_, Key(2), clock_.NowMs()));
  auto seg1 = tier_->memory().Segments<const std::byte>(held->pages, kPage);
  auto seg3 = tier_->memory().Segments<const std::byte>(three->pages, kPage);
  for (size_t i = 0; i < kPage; i += 4096) {
    ASSERT_EQ(seg1[0][i], std::byte{1});
    ASSERT_EQ(seg3[0][i], std::byte{3});
  }
  LeaseId lease = tier_->leases().Grant({three}, 1000);
  EXPECT_TRUE(tier_->Allocate({.size_bytes = kPage, .tenant = 0, .tenant_quota_bytes = kNoQuota}).status().IsResourceExhausted());
  held.reset();  // the last reference: the page returns
  EXPECT_TRUE(tier_->Allocate({.size_bytes = kPage, .tenant = 0, .tenant_quota_bytes = kNoQuota}).ok());
  EXPECT_TRUE(tier_->leases().Release(lease).ok());
}

TEST_F(DramTierTest, PinnedObjectsAreNeverEvicted) {
  Open(2);
  auto a = Insert(1);
  auto b = Insert(2);
  LeaseId lease = tier_->leases().Grant({a, b}, 1000);
  a.reset();
  b.reset();
  auto r = tier_->Allocate({.size_bytes = kPage, .tenant = 0, .tenant_quota_bytes = kNoQuota});
  EXPECT_TRUE(r.status().IsResourceExhausted());
  EXPECT_TRUE(tier_->Contains(ns_, Key(1), clock_.NowMs()));
  EXPECT_TRUE(tier_->leases().Release(lease).ok());
  EXPECT_TRUE(tier_->Allocate({.size_bytes = kPage, .tenant = 0, .tenant_quota_bytes = kNoQuota}).ok());
}

TEST_F(DramTierTest, ExpiredLeasesStopPinning) {
  Open(1);
  auto a = Insert(1);
  LeaseId lease = tier_->leases().Grant({a}, 50);
  a.reset();
  EXPECT_TRUE(tier_->Allocate({.size_bytes = kPage, .tenant = 0, .tenant_quota_bytes = kNoQuota}).status().IsResourceExhausted());
  clock_.AdvanceMs(51);
  EXPECT_TRUE(tier_->Allocate({.size_bytes = kPage, .tenant = 0, .tenant_quota_bytes = kNoQuota}).ok());
  EXPECT_EQ(tier_->leases().Release(lease).code(), StatusCode::kDeadlineExceeded);
}

TEST_F(DramTierTest, DuplicatePublishKeepsTheFirstCopy) {
  Open(4);
  Insert(1);
  auto dup = tier_->Allocate({.size_bytes = kPage, .tenant = 0, .tenant_quota_bytes = kNoQuota});
  ASSERT_TRUE(dup.ok());
  (*dup)->ns = ns_;
  (*dup)->key = Key(1);
  EXPECT_FALSE(tier_->Publish(*dup));
  dup->reset();
  EXPECT_EQ(tier_->Stats().objects, 1u);
  EXPECT_EQ(tier_->memory().allocator().free_pages(), 3u);
  EXPECT_EQ(tier_->tenant_bytes(0), kPage);
}

TEST_F(DramTierTest, QuotaEvictsOnlyTheTenantsOwnObjects) {
  Open(8);
  auto other = tier_->Allocate({.size_bytes = kPage, .tenant = 1, .tenant_quota_bytes = kNoQuota});
  ASSERT_TRUE(other.ok());
  (*other)->ns = ns_;
  (*other)->key = Key(100);
  ASSERT_TRUE(tier_->Publish(*other));
  for (uint8_t i = 1; i <= 2; ++i) {
    auto o = tier_->Allocate({.size_bytes = kPage, .tenant = 0, .tenant_quota_bytes = 2 * kPage});
    ASSERT_TRUE(o.ok());
    (*o)->ns = ns_;
    (*o)->key = Key(i);
    ASSERT_TRUE(tier_->Publish(*o));
  }
  auto third = tier_->Allocate({.size_bytes = kPage, .tenant = 0, .tenant_quota_bytes = 2 * kPage});  // over quota: evicts tenant 0's LRU object
  ASSERT_TRUE(third.ok());
  EXPECT_TRUE(tier_->Contains(ns_, Key(100), clock_.NowMs()));
  EXPECT_FALSE(tier_->Contains(ns_, Key(1), clock_.NowMs()));
  EXPECT_TRUE(tier_->Allocate({.size_bytes = 3 * kPage, .tenant = 0, .tenant_quota_bytes = 2 * kPage}).status().IsResourceExhausted());
}

TEST_F(DramTierTest, ObjectsLargerThanTheTierAreInvalid) {
  Open(2);
  EXPECT_TRUE(tier_->Allocate({.size_bytes = 3 * kPage, .tenant = 0, .tenant_quota_bytes = kNoQuota}).status().IsInvalidArgument());
  EXPECT_TRUE(tier_->Allocate({.size_bytes = 0, .tenant = 0, .tenant_quota_bytes = kNoQuota}).status().IsInvalidArgument());
}

TEST(DramTierOpen, RejectsBadOptions) {
  DramTierOptions o;
  o.capacity_bytes = 1 << 20;
  o.page_bytes = 1000;
  EXPECT_TRUE(DramTier::Open(o).status().IsInvalidArgument());
  o.page_bytes = 2 << 20;
  EXPECT_TRUE(DramTier::Open(o).status().IsInvalidArgument());
}

}  // namespace
}  // namespace tw

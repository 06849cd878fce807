// Direct tests of the policies added for the simulator work: S3-FIFO, chain-hd, Belady, the factory.
#include <gtest/gtest.h>

#include "store/eviction/policy.h"

namespace tw {
namespace {

const auto kAny = [](EntryId) { return true; };

TEST(S3Fifo, OneHitWondersLeaveBeforeReadEntries) {
  auto p = NewS3FifoPolicy(10);
  for (EntryId id = 0; id < 10; ++id) p->OnInsert(id, kNoEntry);
  p->OnAccess(0);
  p->OnAccess(1);
  // 0 and 1 were read in the small queue: they move to main; 2 is the oldest never-read entry.
  EXPECT_EQ(p->Victim(kAny), 2u);
}

TEST(S3Fifo, GhostSendsAReturningEntryToMain) {
  auto p = NewS3FifoPolicy(4);
  for (EntryId id = 0; id < 4; ++id) p->OnInsertWithHint(id, kNoEntry, {100 + id, PolicyHint::kUnknown});
  EntryId v = p->Victim(kAny);
  EXPECT_EQ(v, 0u);
  p->OnErase(v);  // fingerprint 100 goes to the ghost
  p->OnInsertWithHint(v, kNoEntry, {100, PolicyHint::kUnknown});  // back: straight to main
  EntryId next = p->Victim(kAny);
  EXPECT_NE(next, v);  // the small queue's oldest goes first, not the returning entry
  EXPECT_EQ(next, 1u);
}

TEST(Belady, EvictsTheFurthestNextUseAndRespectsPins) {
  auto p = NewBeladyPolicy(3);
  p->OnInsertWithHint(0, kNoEntry, {0, 50});
  p->OnInsertWithHint(1, kNoEntry, {0, 10});
  p->OnInsertWithHint(2, kNoEntry, {0, PolicyHint::kUnknown});
  EXPECT_EQ(p->Victim(kAny), 2u);  // never used again
  EXPECT_EQ(p->Victim([](EntryId id) { return id != 2; }), 0u);
  p->OnAccessWithHint(0, {0, 5});
  EXPECT_EQ(p->Victim([](EntryId id) { return id != 2; }), 1u);
}

TEST(ChainHitDensity, OrphansFirstThenLeavesBeforeParents) {
  auto p = NewChainHitDensityPolicy(8);
  p->OnInsert(0, kNoEntry);
  p->OnInsert(1, 0);
  p->OnInsert(2, 1);
  p->OnInsert(3, kNoEntry);
  // Leaves are 2 and 3; 2 is older. Parents 0 and 1 wait for their children.
  EXPECT_EQ(p->Victim(kAny), 2u);
  EXPECT_EQ(p->Victim([](EntryId id) { return id != 2 && id != 3; }), 0u);  // only parents left: the oldest
  p->OnErase(0);  // 1 becomes an orphan
  EXPECT_EQ(p->Victim(kAny), 1u);
}

TEST(ChainHitDensity, ReadChainsOutliveUnreadOnesOnceLearned) {
  // Chains that are read again are learned to be worth more than chains never read: after training,
  // a read chain outlives a fresher unread one.
  auto p = NewChainHitDensityPolicy(1000);
  EntryId next = 0;
  for (int i = 0; i < 200; ++i) p->OnInsert(next++, kNoEntry);  // resident background: sets the scale
  for (int round = 0; round < 50; ++round) {
    EntryId a = next++, b = next++;
    p->OnInsert(a, kNoEntry);
    p->OnInsert(b, kNoEntry);
    for (int r = 0; r < 3; ++r) p->OnAccess(a);  // a-type entries, once read, get read again; b-type never
    p->OnErase(a);
    p->OnErase(b);
  }
  EntryId old_read = next++, fresh_unread = next++;
  p->OnInsert(old_read, kNoEntry);
  p->OnAccess(old_read);
  p->OnInsert(fresh_unread, kNoEntry);
  auto either = [&](EntryId id) { return id == old_read || id == fresh_unread; };
  EXPECT_EQ(p->Victim(either), fresh_unread);
}

TEST(PolicyFactory, NamesRoundTripAndEveryKindBuilds) {
  for (EvictionPolicyKind k : {EvictionPolicyKind::kLru, EvictionPolicyKind::kPrefixAware, EvictionPolicyKind::kS3Fifo,
                               EvictionPolicyKind::kChainHitDensity}) {
    auto parsed = ParseEvictionPolicyKind(EvictionPolicyKindName(k));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, k);
    auto p = NewEvictionPolicy(k, 4);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->name(), EvictionPolicyKindName(k));
  }
  EXPECT_TRUE(ParseEvictionPolicyKind("mru").status().IsInvalidArgument());
  EXPECT_EQ(NewEvictionPolicy(static_cast<EvictionPolicyKind>(99), 4), nullptr);
}

}  // namespace
}  // namespace tw

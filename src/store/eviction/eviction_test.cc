#include <gtest/gtest.h>

#include "store/eviction/policy.h"

namespace tw {
namespace {

bool Any(EntryId) { return true; }

TEST(LruPolicy, EvictsLeastRecentlyUsed) {
  auto p = NewLruPolicy(8);
  for (EntryId i = 0; i < 4; ++i) p->OnInsert(i, kNoEntry);
  p->OnAccess(0);
  EXPECT_EQ(p->Victim(Any), 1u);
  p->OnErase(1);
  EXPECT_EQ(p->Victim(Any), 2u);
  EXPECT_EQ(p->Victim([](EntryId id) { return id != 2; }), 3u);  // skips what may not leave
  EXPECT_EQ(p->Victim([](EntryId) { return false; }), kNoEntry);
}

TEST(LruPolicy, ReusesErasedIds) {
  auto p = NewLruPolicy(2);
  p->OnInsert(0, kNoEntry);
  p->OnInsert(1, kNoEntry);
  p->OnErase(0);
  p->OnInsert(0, kNoEntry);
  EXPECT_EQ(p->Victim(Any), 1u);
}

TEST(PrefixAwarePolicy, ChildrenGoBeforeParents) {
  auto p = NewPrefixAwarePolicy(8);
  // Chain 0 -> 1 -> 2, all used long ago; then chain 3 (a fresh head).
  p->OnInsert(0, kNoEntry);
  p->OnInsert(1, 0);
  p->OnInsert(2, 1);
  p->OnInsert(3, kNoEntry);
  p->OnAccess(0);  // the root is the most recently used, but it still may not go before its chain
  EXPECT_EQ(p->Victim(Any), 2u);
  p->OnErase(2);
  EXPECT_EQ(p->Victim(Any), 1u);
  p->OnErase(1);
  // 0 is now a leaf, used after 3 was inserted: 3 goes first.
  EXPECT_EQ(p->Victim(Any), 3u);
}

TEST(PrefixAwarePolicy, OrphansGoFirst) {
  auto p = NewPrefixAwarePolicy(8);
  p->OnInsert(0, kNoEntry);
  p->OnInsert(1, 0);
  p->OnInsert(2, 1);
  p->OnInsert(5, kNoEntry);
  p->OnAccess(2);
  p->OnErase(1);  // removed from outside (e.g. Remove): 2 is unreachable now
  EXPECT_EQ(p->Victim(Any), 2u);
}

TEST(PrefixAwarePolicy, FallsBackToParentsWhenLeavesArePinned) {
  auto p = NewPrefixAwarePolicy(8);
  p->OnInsert(0, kNoEntry);
  p->OnInsert(1, 0);
  EXPECT_EQ(p->Victim([](EntryId id) { return id != 1; }), 0u);
}

TEST(PrefixAwarePolicy, BranchingTreeKeepsSharedPrefix) {
  auto p = NewPrefixAwarePolicy(16);
  // A system prompt (0) shared by three conversations.
  p->OnInsert(0, kNoEntry);
  for (EntryId c = 1; c <= 3; ++c) p->OnInsert(c, 0);
  for (int round = 0; round < 3; ++round) {
    EntryId v = p->Victim(Any);
    EXPECT_NE(v, 0u);
    p->OnErase(v);
  }
  EXPECT_EQ(p->Victim(Any), 0u);
}

}  // namespace
}  // namespace tw

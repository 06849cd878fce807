// Direct tests of the policies added for the simulator work: S3-FIFO, chain-hd, chain-reuse, Belady, the factory.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

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

// Priorities by hand: priority = last use (tick) + 1.0 x resident count x p(class) / p(all), with
// p = (reads + 1) / (reads + evictions + 2). All entries are chain heads (depth 0), never read.
TEST(ChainReuse, AReturnThroughTheGhostCountsAsAReuse) {
  auto p = NewChainReusePolicy(3);
  p->OnInsertWithHint(0, kNoEntry, {10, PolicyHint::kUnknown});  // tick 1, 0 resident: priority 1
  p->OnInsertWithHint(1, kNoEntry, {11, PolicyHint::kUnknown});  // tick 2: 2 + 1 x 1 = 3
  p->OnInsertWithHint(2, kNoEntry, {12, PolicyHint::kUnknown});  // tick 3: 3 + 1 x 2 = 5
  EXPECT_EQ(p->Victim(kAny), 0u);
  p->OnErase(0);  // class "never reused": 1 eviction; fingerprint 10 to the ghost, last use 1
  // Tick 4, fingerprint 10 is back: the eviction becomes a read (class 0 reads, all: 1 read, 0 evictions).
  // Its gap is 3 ticks: a new class (gap bucket 1 + log2(3 x 16 / 2 resident + 1) = 5) with p = 1/2;
  // p(all) = 2/3, so its priority is 4 + 1 x 2 x 0.75 = 5.5.
  p->OnInsertWithHint(0, kNoEntry, {10, PolicyHint::kUnknown});
  EXPECT_EQ(p->Victim(kAny), 1u);  // priority 3
  p->OnErase(1);  // class "never reused": 1 read, 1 eviction; all: 1 and 1
  // Tick 5, a new entry in the freed slot: class "never reused" p = 2/4, p(all) = 2/4: priority 5 + 1 x 2 x 1 = 7.
  p->OnInsertWithHint(1, kNoEntry, {13, PolicyHint::kUnknown});
  EXPECT_EQ(p->Victim(kAny), 2u);  // 5 < 5.5 < 7
  EXPECT_EQ(p->Victim([](EntryId id) { return id != 2; }), 0u);
}

// Drives a policy of 8 slots with two kinds of root blocks: ten "regular" fingerprints that keep
// coming back after they were evicted, and one-off fingerprints that never do. Returns which of a
// regular that just came back and a fresher one-off the policy evicts first.
uint64_t EvictedFirstOfRegularAndOneOff(std::unique_ptr<EvictionPolicy> p) {
  std::vector<uint64_t> fp_of(8, 0);
  std::vector<EntryId> free_ids = {7, 6, 5, 4, 3, 2, 1, 0};
  auto insert = [&](uint64_t fp) {
    if (free_ids.empty()) {
      EntryId v = p->Victim(kAny);
      p->OnErase(v);
      free_ids.push_back(v);
    }
    EntryId id = free_ids.back();
    free_ids.pop_back();
    fp_of[id] = fp;
    p->OnInsertWithHint(id, kNoEntry, {fp, PolicyHint::kUnknown});
  };
  uint64_t one_off = 1000;
  for (int round = 0; round < 200; ++round) {
    insert(1 + round % 10);  // a regular: evicted before it returns, as a conversation at small capacity
    insert(one_off++);
  }
  // A regular not resident comes back, then a one-off; which goes first between the two?
  uint64_t regular = 0;
  for (uint64_t fp = 1; fp <= 10 && regular == 0; ++fp) {
    if (std::find(fp_of.begin(), fp_of.end(), fp) == fp_of.end()) regular = fp;
  }
  insert(regular);
  insert(one_off);
  auto either = [&](EntryId id) { return fp_of[id] == regular || fp_of[id] == one_off; };
  return fp_of[p->Victim(either)];
}

TEST(ChainReuse, KeepsWhatTheGhostSawComeBack) {
  // chain-reuse learns from the ghost that regulars return and keeps the one that did; chain-hd never
  // sees a regular read (each is evicted before it returns) and keeps the fresher entry.
  EXPECT_NE(EvictedFirstOfRegularAndOneOff(NewChainReusePolicy(8)), 0u);
  EXPECT_GE(EvictedFirstOfRegularAndOneOff(NewChainReusePolicy(8)), 1000u);
  EXPECT_LE(EvictedFirstOfRegularAndOneOff(NewChainHitDensityPolicy(8)), 10u);
}

TEST(PolicyFactory, NamesRoundTripAndEveryKindBuilds) {
  for (EvictionPolicyKind k : {EvictionPolicyKind::kLru, EvictionPolicyKind::kPrefixAware, EvictionPolicyKind::kS3Fifo,
                               EvictionPolicyKind::kChainHitDensity, EvictionPolicyKind::kChainReuse}) {
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

TEST(PolicyNames, DiskAdmissionRoundTrips) {
  for (DiskAdmission a : {DiskAdmission::kOnEvict, DiskAdmission::kWriteThrough}) {
    auto parsed = ParseDiskAdmission(DiskAdmissionName(a));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, a);
  }
  EXPECT_EQ(DiskAdmissionName(DiskAdmission::kWriteThrough), "write_through");
  EXPECT_TRUE(ParseDiskAdmission("write-through").status().IsInvalidArgument());
  EXPECT_EQ(DiskAdmissionName(static_cast<DiskAdmission>(9)), "unknown");
}

}  // namespace
}  // namespace tw

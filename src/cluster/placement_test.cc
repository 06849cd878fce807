#include "cluster/placement.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace tw::cluster {
namespace {

BlockKey KeyN(uint64_t n) {
  BlockKey k;
  for (int i = 0; i < 16; ++i) k.bytes[i] = static_cast<uint8_t>((n * 0x9E3779B97F4A7C15ull) >> ((i % 8) * 8)) ^ static_cast<uint8_t>(i * n);
  std::memcpy(k.bytes, &n, 8);
  return k;
}

MemberList Nodes(int n, uint64_t joined_ms = 0) {
  MemberList l;
  for (int i = 0; i < n; ++i) l.members.push_back({"node-" + std::to_string(i), "127.0.0.1:" + std::to_string(7000 + i), joined_ms});
  return l;
}

TEST(Placement, OwnersAreDistinctAndDeterministic) {
  Placement a(Nodes(5), {}, 1000), b(Nodes(5), {}, 99999);
  for (uint64_t k = 0; k < 200; ++k) {
    auto o = a.Owners(KeyN(k), 3);
    ASSERT_EQ(o.size(), 3u);
    EXPECT_EQ(std::set<size_t>(o.begin(), o.end()).size(), 3u);
    EXPECT_EQ(o, b.Owners(KeyN(k), 3));
  }
  EXPECT_EQ(a.Owners(KeyN(1), 9).size(), 5u);  // R above the node count: every node
}

TEST(Placement, SpreadsKeysEvenly) {
  Placement p(Nodes(4), {}, 0);
  std::map<size_t, int> first;
  constexpr int kKeys = 40000;
  for (uint64_t k = 0; k < kKeys; ++k) ++first[p.Owners(KeyN(k), 1)[0]];
  for (auto& [node, count] : first) EXPECT_NEAR(count, kKeys / 4, kKeys / 4 * 0.05) << node;
}

TEST(Placement, RemovingANodeMovesOnlyItsKeys) {
  MemberList four = Nodes(4);
  MemberList three = four;
  three.members.erase(three.members.begin() + 2);  // node-2 dies
  Placement before(four, {}, 0), after(three, {}, 0);
  for (uint64_t k = 0; k < 5000; ++k) {
    auto o4 = before.Owners(KeyN(k), 2);
    auto o3 = after.Owners(KeyN(k), 2);
    // Every surviving owner stays an owner: its copy keeps serving without any data movement.
    for (size_t i : o4) {
      const std::string id = before.member(i).node_id;
      if (id == "node-2") continue;
      bool kept = false;
      for (size_t j : o3) kept = kept || after.member(j).node_id == id;
      EXPECT_TRUE(kept) << "key " << k << " lost owner " << id;
    }
  }
}

TEST(Placement, AJoiningNodeRampsUpAndReadsFallBackToStableOwners) {
  MemberList l = Nodes(3, /*joined_ms=*/1);
  l.members.push_back({"node-new", "127.0.0.1:7999", 100000});
  PlacementOptions o;
  o.join_ramp_ms = 10000;
  auto share = [&](uint64_t now) {
    Placement p(l, o, now);
    const int idx = p.IndexOf("node-new");
    int owned = 0;
    for (uint64_t k = 0; k < 20000; ++k) owned += p.Owners(KeyN(k), 1)[0] == static_cast<size_t>(idx);
    return owned / 20000.0;
  };
  EXPECT_LT(share(100000), 0.01);  // just joined: almost nothing
  const double half = share(105000);
  EXPECT_GT(half, 0.08);
  EXPECT_LT(half, 0.2);           // weight 0.5 among three of weight 1: 1/7
  EXPECT_NEAR(share(200000), 0.25, 0.03);  // settled: a fair quarter

  Placement p(l, o, 105000);
  const size_t idx = static_cast<size_t>(p.IndexOf("node-new"));
  EXPECT_TRUE(p.Joining(idx));
  for (uint64_t k = 0; k < 2000; ++k) {
    auto reads = p.ReadOrder(KeyN(k), 2);
    auto owners = p.Owners(KeyN(k), 2);
    // The owners come first; the settled nodes' owners follow, so a miss on the newcomer falls back.
    for (size_t i = 0; i < owners.size(); ++i) EXPECT_EQ(reads[i], owners[i]);
    int stable = 0;
    for (size_t r : reads) stable += !p.Joining(r);
    EXPECT_GE(stable, 2);
  }
}

TEST(Placement, EmptyMembershipOwnsNothing) {
  Placement p(MemberList{}, {}, 0);
  EXPECT_TRUE(p.Owners(KeyN(1), 2).empty());
  EXPECT_TRUE(p.ReadOrder(KeyN(1), 2).empty());
}

}  // namespace
}  // namespace tw::cluster

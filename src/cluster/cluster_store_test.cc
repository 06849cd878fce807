#include "cluster/cluster_store.h"

#include <gtest/gtest.h>

#include <set>

#include "cluster/fake_node.h"
#include "common/clock.h"
#include "store/store_test_util.h"

namespace tw::cluster {
namespace {

using tw::testing::ChainKeys;
using tw::testing::PayloadFor;
using tw::testing::RefAt;
using tw::testing::SmallNamespace;

class ClusterStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 3; ++i) fake_.Add("n" + std::to_string(i));
    members_ = std::make_shared<StaticMembers>(MembersOf({"n0", "n1", "n2"}));
    Open({});
  }
  static std::vector<Member> MembersOf(std::vector<std::string> ids, uint64_t joined_ms = 0) {
    std::vector<Member> out;
    for (auto& id : ids) out.push_back({id, id + ":1", joined_ms});
    return out;
  }
  void Open(ClusterStoreOptions o) {
    o.suspect_ms = 60000;
    auto s = ClusterStore::Create(o, members_, fake_.Factory());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    nspace_ = SmallNamespace();
    ns_ = store_->RegisterNamespace(nspace_, {}).value();
  }
  std::vector<BlockKey> PutChain(size_t n, uint32_t seed) {
    auto keys = ChainKeys(nspace_, n, seed);
    std::vector<std::vector<std::byte>> data;
    std::vector<PutItem> items;
    for (size_t i = 0; i < n; ++i) data.push_back(PayloadFor(keys[i], Bytes()));
    for (size_t i = 0; i < n; ++i) items.push_back({RefAt(nspace_, keys, i), data[i]});
    BatchStatus bs = store_->PutBatch(ns_, items);
    EXPECT_TRUE(bs.transport.ok()) << bs.transport.ToString();
    for (auto& s : bs.items) EXPECT_TRUE(s.ok()) << s.ToString();
    return keys;
  }
  int Copies(const BlockKey& k) {
    int c = 0;
    for (auto& [id, node] : fake_.nodes) c += node->Has(ns_, k);
    return c;
  }
  uint64_t Bytes() const { return nspace_.geometry.ObjectBytes(); }
  void ExpectReadable(const std::vector<BlockKey>& keys) {
    for (const BlockKey& k : keys) {
      std::vector<std::byte> out(Bytes());
      Status s = store_->Get(ns_, k, out);
      ASSERT_TRUE(s.ok()) << s.ToString();
      ASSERT_EQ(out, PayloadFor(k, Bytes()));
    }
  }

  testing::FakeCluster fake_;
  std::shared_ptr<StaticMembers> members_;
  std::unique_ptr<ClusterStore> store_;
  Namespace nspace_;
  NamespaceId ns_;
};

TEST_F(ClusterStoreTest, PutWritesRReplicasSpreadOverTheNodes) {
  auto keys = PutChain(30, 1);
  for (const BlockKey& k : keys) EXPECT_EQ(Copies(k), 2);
  for (auto& [id, node] : fake_.nodes) EXPECT_GT(node->inner()->Stats()->tiers[0].objects, 5u) << id;
  ExpectReadable(keys);
}

TEST_F(ClusterStoreTest, LookupFindsTheLongestPrefixAcrossNodes) {
  auto keys = PutChain(20, 2);
  auto r = store_->Lookup(ns_, keys);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->matched, 20u);
  EXPECT_EQ(r->tiers.size(), 20u);
  // Remove block 7 everywhere: the prefix stops there.
  ASSERT_TRUE(store_->Remove(ns_, keys[7]).ok());
  EXPECT_EQ(store_->Lookup(ns_, keys)->matched, 7u);
  // Remove block 3 from one replica only: the other replica still answers.
  for (auto& [id, node] : fake_.nodes) {
    if (node->Has(ns_, keys[3])) {
      ASSERT_TRUE(node->inner()->Remove(ns_, keys[3]).ok());
      break;
    }
  }
  EXPECT_EQ(store_->Lookup(ns_, keys)->matched, 7u);
  EXPECT_EQ(store_->Lookup(ns_, {})->matched, 0u);
}

TEST_F(ClusterStoreTest, ReadsFailOverWhenANodeIsDown) {
  auto keys = PutChain(40, 3);
  fake_.nodes["n1"]->SetDown(true);
  ExpectReadable(keys);
  EXPECT_EQ(store_->Lookup(ns_, keys)->matched, 40u);
  std::vector<std::vector<std::byte>> outs(keys.size(), std::vector<std::byte>(Bytes()));
  std::vector<GetItem> items;
  for (size_t i = 0; i < keys.size(); ++i) items.push_back({keys[i], outs[i], KvSlice::All()});
  BatchStatus bs = store_->GetBatch(ns_, items);
  ASSERT_TRUE(bs.transport.ok());
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_TRUE(bs.items[i].ok()) << bs.items[i].ToString();
    ASSERT_EQ(outs[i], PayloadFor(keys[i], Bytes()));
  }
  EXPECT_GT(store_->cluster_stats().read_failovers, 0u);
  bool saw_suspect = false;
  for (auto& p : store_->cluster_stats().peers) saw_suspect |= p.node_id == "n1" && p.suspect && p.errors > 0;
  EXPECT_TRUE(saw_suspect);
}

TEST_F(ClusterStoreTest, PutsWithANodeDownStillMakeTwoCopies) {
  fake_.nodes["n2"]->SetDown(true);
  auto keys = PutChain(20, 4);
  for (const BlockKey& k : keys) EXPECT_EQ(Copies(k), 2) << "n2 is down but counted? it holds nothing";
  EXPECT_EQ(store_->cluster_stats().puts_under_replicated, 0u);
  fake_.nodes["n2"]->SetDown(false);
  ExpectReadable(keys);
}

TEST_F(ClusterStoreTest, AMissIsNotFoundAndAllNodesDownIsUnavailable) {
  auto keys = ChainKeys(nspace_, 1, 5);
  std::vector<std::byte> out(Bytes());
  EXPECT_TRUE(store_->Get(ns_, keys[0], out).IsNotFound());
  for (auto& [id, n] : fake_.nodes) n->SetDown(true);
  EXPECT_EQ(store_->Get(ns_, keys[0], out).code(), StatusCode::kUnavailable);
  EXPECT_EQ(store_->Lookup(ns_, keys)->matched, 0u);
  EXPECT_FALSE(store_->Put(ns_, RefAt(nspace_, keys, 0), PayloadFor(keys[0], Bytes())).ok());
}

TEST_F(ClusterStoreTest, AJoiningNodeMissesFallBackAndHotObjectsMoveByReadRepair) {
  auto keys = PutChain(40, 6);
  fake_.Add("n3");
  // n3 joined half a ramp ago: it owns some keys already but holds none of them.
  members_->Set([] {
    auto m = MembersOf({"n0", "n1", "n2"});
    m.push_back({"n3", "n3:1", WallNowMs() - 5000});
    return m;
  }());
  ClusterStoreOptions o;
  o.join_ramp_ms = 10000;
  Open(o);
  ExpectReadable(keys);  // every read succeeds, falling back past n3
  EXPECT_EQ(store_->Lookup(ns_, keys)->matched, 40u);
  store_->DrainRepairs();
  // The objects n3 now owns were copied to it by the reads.
  EXPECT_GT(store_->cluster_stats().repairs, 0u);
  EXPECT_GT(fake_.nodes["n3"]->inner()->Stats()->tiers[0].objects, 0u);
}

TEST_F(ClusterStoreTest, RestartedEmptyNodeIsReadAround) {
  auto keys = PutChain(30, 7);
  fake_.nodes["n0"]->Wipe();  // restarted, empty, forgot the namespace
  ExpectReadable(keys);
  EXPECT_EQ(store_->Lookup(ns_, keys)->matched, 30u);
}

// A restarted node answers kFailedPrecondition for the namespace it forgot; the cluster store
// registers it there again (by that code, not by the message's words) and writes to it as before.
TEST_F(ClusterStoreTest, RestartedNodeIsRegisteredAgainByItsFailedPreconditionAnswer) {
  (void)PutChain(10, 3);
  fake_.nodes["n0"]->Wipe();
  std::vector<std::byte> probe(Bytes());
  EXPECT_TRUE(fake_.nodes["n0"]->inner()->Get(ns_, BlockKey{}, probe).IsFailedPrecondition());
  auto keys = PutChain(40, 11);
  ExpectReadable(keys);
  EXPECT_GT(fake_.nodes["n0"]->inner()->Stats()->tiers[0].objects, 0u) << "n0 was never written to again";
}

TEST_F(ClusterStoreTest, ReplicasArePerNamespace) {
  ClusterStoreOptions o;
  o.replicas_by_model["hot-model"] = 3;
  Open(o);
  Namespace hot = SmallNamespace("t", "hot-model");
  NamespaceId hot_id = store_->RegisterNamespace(hot, {}).value();
  EXPECT_EQ(store_->ReplicasOf(hot_id), 3u);
  EXPECT_EQ(store_->ReplicasOf(ns_), 2u);
  auto keys = ChainKeys(hot, 5, 8);
  for (size_t i = 0; i < keys.size(); ++i) ASSERT_TRUE(store_->Put(hot_id, RefAt(hot, keys, i), PayloadFor(keys[i], Bytes())).ok());
  for (const BlockKey& k : keys) {
    int c = 0;
    for (auto& [id, node] : fake_.nodes) c += node->Has(hot_id, k);
    EXPECT_EQ(c, 3);
  }
}

TEST_F(ClusterStoreTest, ReserveCommitAcquireAndPin) {
  auto keys = ChainKeys(nspace_, 2, 9);
  auto h = store_->Reserve(ns_, RefAt(nspace_, keys, 0));
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(h->Write(0, PayloadFor(keys[0], Bytes())).ok());
  EXPECT_EQ(store_->Lookup(ns_, keys)->matched, 0u);
  ASSERT_TRUE(store_->Commit(*h).ok());
  EXPECT_EQ(Copies(keys[0]), 2);
  auto r = store_->Acquire(ns_, keys[0], 1000);
  ASSERT_TRUE(r.ok());
  std::vector<std::byte> got(Bytes());
  ByteRun all{0, Bytes()};
  ASSERT_TRUE(r->CopyRuns(std::span<const ByteRun>(&all, 1), got).ok());
  EXPECT_EQ(got, PayloadFor(keys[0], Bytes()));
  auto lease = store_->Pin(ns_, std::span<const BlockKey>(keys.data(), 1), 1000);
  ASSERT_TRUE(lease.ok());
  EXPECT_TRUE(store_->Unpin(*lease).ok());
  EXPECT_TRUE(store_->Pin(ns_, keys, 1000).status().IsNotFound());  // keys[1] absent: nothing pinned
  EXPECT_GE(store_->Stats()->tiers[0].objects, 2u);
}

TEST_F(ClusterStoreTest, PinTakesOneRoundTripPerNodeAndFallsBackToReplicasWhenANodeIsDown) {
  auto keys = PutChain(30, 4);
  uint64_t before = 0;
  for (auto& [id, node] : fake_.nodes) before += node->pin_calls.load();
  auto lease = store_->Pin(ns_, keys, 5000);
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  uint64_t after = 0;
  for (auto& [id, node] : fake_.nodes) after += node->pin_calls.load();
  EXPECT_LE(after - before, fake_.nodes.size());  // 30 keys, at most one Pin per node
  EXPECT_TRUE(store_->Unpin(*lease).ok());

  // One node down: its group fails and its keys are pinned on their other replica, one by one.
  fake_.nodes["n1"]->SetDown(true);
  auto degraded = store_->Pin(ns_, keys, 5000);
  ASSERT_TRUE(degraded.ok()) << degraded.status().ToString();
  EXPECT_TRUE(store_->Unpin(*degraded).ok());
  fake_.nodes["n1"]->SetDown(false);
}

TEST_F(ClusterStoreTest, UnknownNamespaceAndEmptyClusterAreErrors) {
  NamespaceId bogus;
  bogus.bytes[0] = 1;
  EXPECT_TRUE(store_->Lookup(bogus, {}).status().IsFailedPrecondition());
  members_->Set({});
  auto keys = ChainKeys(nspace_, 1, 10);
  EXPECT_EQ(store_->Lookup(ns_, keys).status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace tw::cluster

#include "cluster/rebalancer.h"

namespace tw::cluster {
namespace {

TEST_F(ClusterStoreTest, SurvivorsRestoreTwoCopiesAfterANodeLeaves) {
  auto keys = PutChain(30, 11);
  fake_.nodes["n2"]->SetDown(true);
  members_->Set(MembersOf({"n0", "n1"}));  // n2's lease expired
  std::vector<std::unique_ptr<Rebalancer>> rebalancers;
  for (const char* id : {"n0", "n1"}) {
    RebalancerOptions o;
    o.self_id = id;
    o.settle_ms = 10;
    auto r = Rebalancer::Start(o, fake_.nodes[id]->inner().get(), members_, fake_.Factory());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    rebalancers.push_back(std::move(*r));
    rebalancers.back()->Kick();
  }
  for (auto& r : rebalancers) ASSERT_TRUE(r->WaitIdle(10000));
  for (auto& r : rebalancers) ASSERT_TRUE(r->WaitIdle(10000));
  for (const BlockKey& k : keys) {
    EXPECT_TRUE(fake_.nodes["n0"]->Has(ns_, k));
    EXPECT_TRUE(fake_.nodes["n1"]->Has(ns_, k));
  }
  uint64_t copied = 0;
  for (auto& r : rebalancers) copied += r->stats().copies_done;
  // Only the objects that had a copy on n2 needed one: about 2/3 of them, each copied once.
  EXPECT_GT(copied, 10u);
  EXPECT_LE(copied, 30u);
  EXPECT_EQ(rebalancers[0]->stats().backlog, 0u);
}

// Retention across nodes: every replica carries the namespace's retention (the nodes register it
// as the cluster store does), so no node serves an object after its deadline, a sliding hit through
// the cluster renews the replica that served it, and re-replication never copies an expired object
// nor gives a copy a fresh deadline. The nodes share one ManualClock.
class ClusterRetention : public ::testing::Test {
 protected:
  void Open(const NamespaceOptions& options) {
    for (const char* id : {"n0", "n1", "n2"}) fake_.Add(id, &clock_);
    members_ = std::make_shared<StaticMembers>(std::vector<Member>{{"n0", "n0:1", 0}, {"n1", "n1:1", 0}, {"n2", "n2:1", 0}});
    ClusterStoreOptions o;
    o.suspect_ms = 60000;
    store_ = ClusterStore::Create(o, members_, fake_.Factory()).value();
    ns_ = store_->RegisterNamespace(nspace_, options).value();
  }
  std::vector<BlockKey> PutChain(size_t n, uint32_t seed) {
    auto keys = ChainKeys(nspace_, n, seed);
    EXPECT_TRUE(tw::testing::PutChain(*store_, ns_, nspace_, keys).ok());
    return keys;
  }
  // n2 leaves; n0's and n1's rebalancers restore R copies. Returns the copies made.
  uint64_t LoseN2() {
    fake_.nodes["n2"]->SetDown(true);
    members_->Set({{"n0", "n0:1", 0}, {"n1", "n1:1", 0}});
    uint64_t copied = 0;
    for (const char* id : {"n0", "n1"}) {
      RebalancerOptions ro;
      ro.self_id = id;
      ro.settle_ms = 10;
      auto r = Rebalancer::Start(ro, fake_.nodes[id]->inner().get(), members_, fake_.Factory());
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      if (!r.ok()) return copied;
      (*r)->Kick();
      EXPECT_TRUE((*r)->WaitIdle(10000));
      copied += (*r)->stats().copies_done;
    }
    return copied;
  }
  // Whether n0 or n1 still serves any of `keys` (a lookup on a node is a hit: fixed retention only).
  bool SurvivorsServeAny(const std::vector<BlockKey>& keys) {
    for (const char* id : {"n0", "n1"}) {
      for (const BlockKey& k : keys) {
        if (fake_.nodes[id]->Has(ns_, k)) return true;
      }
    }
    return false;
  }

  ManualClock clock_;
  testing::FakeCluster fake_;
  std::shared_ptr<StaticMembers> members_;
  std::unique_ptr<ClusterStore> store_;
  const Namespace nspace_ = SmallNamespace();
  NamespaceId ns_;
};

TEST_F(ClusterRetention, NoNodeServesAnExpiredObjectAndNoneIsCopiedAround) {
  Open({.ttl_ms = 10'000});
  auto keys = PutChain(12, 5);
  clock_.AdvanceMs(9'999);
  EXPECT_EQ(store_->Lookup(ns_, keys).value().matched, keys.size());
  clock_.AdvanceMs(1);
  EXPECT_EQ(store_->Lookup(ns_, keys).value().matched, 0u);
  std::vector<std::byte> out(nspace_.geometry.ObjectBytes());
  EXPECT_TRUE(store_->Get(ns_, keys[0], out).IsNotFound());
  for (auto& [id, node] : fake_.nodes) {
    for (const BlockKey& k : keys) EXPECT_FALSE(node->Has(ns_, k)) << id << " still serves an expired object";
  }
  // n2 leaves: the survivors find nothing to restore (expired objects are misses).
  EXPECT_EQ(LoseN2(), 0u);
  EXPECT_FALSE(SurvivorsServeAny(keys)) << "an expired object came back";
}

TEST_F(ClusterRetention, ReReplicatedCopiesKeepTheOriginalsDeadline) {
  Open({.ttl_ms = 10'000});
  auto keys = PutChain(30, 8);
  clock_.AdvanceMs(6'000);
  // n2 leaves 6 s in: the survivors restore two copies of what it held...
  ASSERT_GT(LoseN2(), 0u);
  for (const BlockKey& k : keys) {
    ASSERT_TRUE(fake_.nodes["n0"]->Has(ns_, k));
    ASSERT_TRUE(fake_.nodes["n1"]->Has(ns_, k));
  }
  // ...and the copies end with the originals, 10 s after the store, not 10 s after the copy.
  clock_.AdvanceMs(4'000);
  EXPECT_FALSE(SurvivorsServeAny(keys)) << "a copy outlived the original's deadline";
}

TEST_F(ClusterRetention, ASlidingHitThroughTheClusterRenewsTheReplicaThatServed) {
  Open({.ttl_ms = 10'000, .ttl_sliding = true});
  auto keys = PutChain(4, 6);
  for (int i = 0; i < 5; ++i) {  // 30 s in all, a hit every 6 s
    clock_.AdvanceMs(6'000);
    ASSERT_EQ(store_->Lookup(ns_, keys).value().matched, keys.size()) << "round " << i;
  }
  clock_.AdvanceMs(10'000);  // a whole window without a hit
  EXPECT_EQ(store_->Lookup(ns_, keys).value().matched, 0u);
}

TEST(EmbeddedStoreScan, ForEachObjectVisitsEveryObject) {
  EmbeddedStoreOptions o;
  o.dram_capacity_bytes = 1 << 20;
  o.page_bytes = 4096;
  auto store = EmbeddedStore::Open(o).value();
  Namespace nspace = SmallNamespace();
  NamespaceOptions opts;
  opts.ttl_ms = 60000;
  NamespaceId ns = store->RegisterNamespace(nspace, opts).value();
  auto keys = ChainKeys(nspace, 10, 12);
  ASSERT_TRUE(tw::testing::PutChain(*store, ns, nspace, keys).ok());
  std::set<BlockKey> seen;
  store->ForEachObject([&](const Namespace& n, const NamespaceOptions& no, const BlockKey& k) {
    EXPECT_EQ(n.Id(), ns);
    EXPECT_EQ(no.ttl_ms, 60000u);
    seen.insert(k);
    return true;
  });
  EXPECT_EQ(seen, std::set<BlockKey>(keys.begin(), keys.end()));
  int visits = 0;
  store->ForEachObject([&](const Namespace&, const NamespaceOptions&, const BlockKey&) { return ++visits < 3; });
  EXPECT_EQ(visits, 3);
}

}  // namespace
}  // namespace tw::cluster

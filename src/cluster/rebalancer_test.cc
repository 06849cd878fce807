// The Rebalancer over in-process stores: objects a node holds only on disk are re-replicated like
// those in DRAM, and every copy lands under the object's own namespace (its tenant).
#include "cluster/rebalancer.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "cluster/fake_node.h"
#include "store/store_test_util.h"

namespace tw::cluster {
namespace {

using tw::testing::ChainKeys;
using tw::testing::PayloadFor;
using tw::testing::SmallNamespace;

// A directory under the working directory (the build tree: /tmp may be tmpfs, without O_DIRECT).
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::current_path() / "rebalancer_test.XXXXXX").string();
    path_ = mkdtemp(tmpl.data()) ? tmpl : std::string();
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::vector<Member> MembersOf(std::vector<std::string> ids) {
  std::vector<Member> out;
  for (auto& id : ids) out.push_back({id, id + ":1", 0});
  return out;
}

std::unique_ptr<Rebalancer> StartRebalancer(const std::string& self, EmbeddedStore* local,
                                            std::shared_ptr<MemberSource> members, NodeStoreFactory factory) {
  RebalancerOptions o;
  o.self_id = self;
  o.settle_ms = 10;
  auto r = Rebalancer::Start(o, local, std::move(members), std::move(factory));
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return nullptr;
  (*r)->Kick();
  return std::move(*r);
}

// n0 survived with objects that DRAM had demoted to disk; its partner n1 came back empty. With
// R = 2 and two members, n0 must give n1 every object, the disk-only ones included.
TEST(Rebalancer, ReReplicatesObjectsThatLiveOnlyOnDisk) {
  TempDir dir;
  EmbeddedStoreOptions o;
  o.dram_capacity_bytes = 64 << 10;  // 16 objects of 4 KiB: most of a 40-block chain is on disk only
  o.page_bytes = 4096;
  o.prefault = false;
  o.disk_dir = dir.path();
  o.disk_capacity_bytes = 8ull << 20;
  o.disk_region_bytes = 1ull << 20;
  o.disk_write_queue_bytes = 1ull << 20;
  o.disk_io_bytes = 64 << 10;
  o.disk_admission = DiskAdmission::kOnEvict;
  auto n0 = EmbeddedStore::Open(o);
  ASSERT_TRUE(n0.ok()) << n0.status().ToString();
  Namespace nspace = SmallNamespace();
  NamespaceId ns = (*n0)->RegisterNamespace(nspace, {}).value();
  auto keys = ChainKeys(nspace, 40, 1);
  ASSERT_TRUE(tw::testing::PutChain(**n0, ns, nspace, keys).ok());
  ASSERT_TRUE((*n0)->FlushDisk().ok());
  size_t disk_only = 0;
  for (const BlockKey& k : keys) {
    auto r = (*n0)->Lookup(ns, std::span<const BlockKey>(&k, 1));
    ASSERT_TRUE(r.ok() && r->matched == 1);
    disk_only += r->tiers[0] == Tier::kDisk;
  }
  ASSERT_GT(disk_only, 10u) << "the test needs objects that are on disk only";

  testing::FakeCluster fake;
  auto n1 = fake.Add("n1");
  auto members = std::make_shared<StaticMembers>(MembersOf({"n0", "n1"}));
  auto rebalancer = StartRebalancer("n0", n0->get(), members, fake.Factory());
  ASSERT_TRUE(rebalancer);
  ASSERT_TRUE(rebalancer->WaitIdle(20000));
  for (const BlockKey& k : keys) {
    ASSERT_TRUE(n1->Has(ns, k)) << "n1 lacks " << k.ToHex();
    std::vector<std::byte> out(nspace.geometry.ObjectBytes());
    ASSERT_TRUE(n1->Get(ns, k, out, KvSlice::All()).ok());
    ASSERT_EQ(out, PayloadFor(k, out.size()));
  }
  EXPECT_EQ(rebalancer->stats().copies_done, keys.size());
  EXPECT_EQ(rebalancer->stats().objects_scanned, keys.size());  // each object once, not once per tier
}

// Two tenants store the same model's KV. The copies n0 makes for n1 are filed under each object's
// own namespace id (which hashes its tenant): alice's object is found with alice's namespace, and
// bob's namespace, with otherwise identical fields, does not see it.
TEST(Rebalancer, CopiesKeepTheObjectsTenant) {
  testing::FakeCluster fake;
  auto n0 = fake.Add("n0");
  auto n1 = fake.Add("n1");
  Namespace alice = SmallNamespace("alice"), bob = SmallNamespace("bob");
  NamespaceId a_ns = n0->RegisterNamespace(alice, {}).value();
  NamespaceId b_ns = n0->RegisterNamespace(bob, {}).value();
  ASSERT_NE(a_ns, b_ns);
  auto a_keys = ChainKeys(alice, 6, 2), b_keys = ChainKeys(bob, 6, 3);
  ASSERT_TRUE(tw::testing::PutChain(*n0->inner(), a_ns, alice, a_keys).ok());
  ASSERT_TRUE(tw::testing::PutChain(*n0->inner(), b_ns, bob, b_keys).ok());

  auto members = std::make_shared<StaticMembers>(MembersOf({"n0", "n1"}));
  auto rebalancer = StartRebalancer("n0", n0->inner().get(), members, fake.Factory());
  ASSERT_TRUE(rebalancer);
  ASSERT_TRUE(rebalancer->WaitIdle(20000));
  ASSERT_TRUE(n1->RegisterNamespace(bob, {}).ok());
  for (const BlockKey& k : a_keys) {
    EXPECT_TRUE(n1->Has(a_ns, k));
    EXPECT_FALSE(n1->Has(b_ns, k));
  }
  for (const BlockKey& k : b_keys) {
    EXPECT_TRUE(n1->Has(b_ns, k));
    EXPECT_FALSE(n1->Has(a_ns, k));
  }
}

// A peer that binds our namespaces to our connection's identity (our --peer-token is not a
// cluster_peer token there) would file copies under the wrong tenant: the rebalancer refuses to
// copy rather than misfile, and says why in its stats (peer errors), not by crashing.
class RebindingNode final : public Store {
 public:
  explicit RebindingNode(std::shared_ptr<testing::FakeNode> inner) : inner_(std::move(inner)) {}
  Result<NamespaceId> RegisterNamespace(const Namespace& n, const NamespaceOptions& o) override {
    Namespace mine = n;
    mine.tenant = "peer";  // what a daemon does for an ordinary tenant's connection
    return inner_->RegisterNamespace(mine, o);
  }
  Result<LookupResult> Lookup(const NamespaceId& ns, std::span<const BlockKey> keys) override { return inner_->Lookup(ns, keys); }
  Status Put(const NamespaceId& ns, const BlockRef& ref, std::span<const std::byte> data) override { return inner_->Put(ns, ref, data); }
  BatchStatus PutBatch(const NamespaceId& ns, std::span<const PutItem> items) override { return inner_->PutBatch(ns, items); }
  Result<WriteHandle> Reserve(const NamespaceId&, const BlockRef&) override { return Status::NotSupported("fake"); }
  Status Get(const NamespaceId& ns, const BlockKey& key, std::span<std::byte> out, const KvSlice& slice) override {
    return inner_->Get(ns, key, out, slice);
  }
  BatchStatus GetBatch(const NamespaceId& ns, std::span<const GetItem> items) override { return inner_->GetBatch(ns, items); }
  Result<ReadHandle> Acquire(const NamespaceId&, const BlockKey&, uint64_t) override { return Status::NotSupported("fake"); }
  Result<LeaseId> Pin(const NamespaceId& ns, std::span<const BlockKey> keys, uint64_t ms) override { return inner_->Pin(ns, keys, ms); }
  Status Unpin(LeaseId lease) override { return inner_->Unpin(lease); }
  Status Remove(const NamespaceId& ns, const BlockKey& key) override { return inner_->Remove(ns, key); }
  Result<StoreStats> Stats() override { return inner_->Stats(); }

 protected:
  Status CommitWrite(uint64_t) override { return Status::NotSupported("fake"); }
  void AbortWrite(uint64_t) override {}
  void ReleaseRead(uint64_t) override {}

 private:
  std::shared_ptr<testing::FakeNode> inner_;
};

TEST(Rebalancer, RefusesToCopyToAPeerThatWouldChangeTheTenant) {
  testing::FakeCluster fake;
  auto n0 = fake.Add("n0");
  auto n1 = fake.Add("n1");
  Namespace alice = SmallNamespace("alice");
  NamespaceId a_ns = n0->RegisterNamespace(alice, {}).value();
  auto keys = ChainKeys(alice, 4, 4);
  ASSERT_TRUE(tw::testing::PutChain(*n0->inner(), a_ns, alice, keys).ok());
  NodeStoreFactory rebinding = [n1](const Member&) -> Result<std::shared_ptr<Store>> {
    return std::shared_ptr<Store>(std::make_shared<RebindingNode>(n1));
  };
  auto members = std::make_shared<StaticMembers>(MembersOf({"n0", "n1"}));
  auto rebalancer = StartRebalancer("n0", n0->inner().get(), members, rebinding);
  ASSERT_TRUE(rebalancer);
  ASSERT_TRUE(rebalancer->WaitIdle(20000));
  EXPECT_EQ(rebalancer->stats().copies_done, 0u);
  EXPECT_GE(rebalancer->stats().peer_errors, keys.size());
  EXPECT_EQ(n1->inner()->Stats()->tiers[0].objects, 0u) << "a copy was filed under the wrong tenant";
}

}  // namespace
}  // namespace tw::cluster

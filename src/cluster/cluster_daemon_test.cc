// The cluster end to end: etcd and real `tokenwarehouse serve --cluster` daemons on loopback,
// a ClusterStore client under a steady read/write load, and the failures of issue 8:
// kill -9 of a node, a frozen node (SIGSTOP) that comes back, a restarted node, an etcd outage,
// a joining node, and re-replication of several tenants' objects. A node cut off the network for
// real (network namespaces) is cluster_netns_test.cc.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "cluster/cluster_test_harness.h"
#include "tw/cluster.h"

namespace tw::cluster {
namespace {

using testing::ExpectLoadClean;
using testing::Load;
using testing::NodeProbe;
using testing::TestNamespace;
using tw::testing::PayloadFor;

class ClusterDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    LocalClusterOptions o;
    o.binary = TW_BINARY;
    o.nodes = 3;
    o.join_ramp_s = JoinRampS();
    o.dram = "256MiB";
    Configure(&o);
    auto c = LocalCluster::Start(o);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    cluster_ = std::move(*c);
    ClusterClientOptions co;
    co.node.io_timeout_ms = 500;  // a paused node costs a reader at most this, once per suspect period
    co.node.connect_timeout_ms = 300;
    co.node.token = ClientToken();
    co.join_ramp_ms = static_cast<uint64_t>(JoinRampS() * 1000);
    auto s = OpenClusterStore(cluster_->url(), co);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    nspace_ = TestNamespace();
    ns_ = store_->RegisterNamespace(nspace_, {}).value();
    probe_ = std::make_unique<NodeProbe>(cluster_.get(), nspace_, ClientToken());
  }

  virtual double JoinRampS() const { return 0; }
  virtual void Configure(LocalClusterOptions*) {}
  virtual std::string ClientToken() const { return ""; }

  bool Holds(int i, const BlockKey& key) { return probe_->Holds(i, key); }
  // Runs the tokenwarehouse binary with `args`; its standard output.
  static std::string RunTool(const std::string& args) {
    std::string out;
    FILE* p = popen((std::string(TW_BINARY) + " " + args + " 2>&1").c_str(), "r");
    if (!p) return out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    pclose(p);
    return out;
  }
  bool WaitForCopies(const std::vector<BlockKey>& keys, int want, uint64_t timeout_ms) {
    return probe_->WaitForCopies(keys, want, timeout_ms);
  }

  std::unique_ptr<LocalCluster> cluster_;
  std::unique_ptr<Store> store_;
  Namespace nspace_;
  NamespaceId ns_;
  std::unique_ptr<NodeProbe> probe_;
};

TEST_F(ClusterDaemonTest, KillNineUnderLoadLosesNoReadThenReplicasReturnAndTheNodeRejoins) {
  Load load(store_.get(), nspace_, ns_);
  load.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  cluster_->Kill(1);
  ASSERT_TRUE(cluster_->WaitForMembers(2, 8000)) << "node-1's lease did not expire";
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  load.StopAll();
  ExpectLoadClean(load);
  EXPECT_EQ(load.write_failures.load(), 0u);
  std::printf("kill -9: %lu reads, %lu writes, longest read %.1f ms\n", (unsigned long)load.reads.load(),
              (unsigned long)load.writes.load(), load.max_read_us.load() / 1000.0);

  // Two nodes left and R = 2: re-replication must put every acknowledged object on both.
  const auto acked = load.acked();
  ASSERT_GT(acked.size(), 20u);
  EXPECT_TRUE(WaitForCopies(acked, 2, 20000)) << "replicas not restored; see " << cluster_->log_path(0);
  std::string metrics = cluster_->AdminGet(0, "/metrics");
  EXPECT_NE(metrics.find("tw_cluster_members 2"), std::string::npos) << metrics.substr(0, 2000);
  EXPECT_NE(metrics.find("tw_cluster_rereplication_backlog"), std::string::npos);
  // `tokenwarehouse stats --cluster` shows the same from etcd and every node's /stats.
  const std::string stats = RunTool("stats --cluster " + cluster_->url());
  EXPECT_NE(stats.find("2 members"), std::string::npos) << stats;
  EXPECT_NE(stats.find("node-0"), std::string::npos) << stats;
  EXPECT_NE(stats.find("node-2"), std::string::npos) << stats;
  EXPECT_EQ(stats.find("did not answer"), std::string::npos) << stats;

  // The node restarts empty and rejoins; reads stay correct and it receives its share.
  ASSERT_TRUE(cluster_->StartNode(1).ok());
  ASSERT_TRUE(cluster_->WaitForMembers(3, 8000));
  Load after(store_.get(), nspace_, ns_);
  after.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  after.StopAll();
  ExpectLoadClean(after);
  bool received = false;
  for (int waited = 0; waited < 10000 && !received; waited += 250) {
    for (size_t i = 0; i < acked.size() && !received; i += 5) received = Holds(1, acked[i]);
    if (!received) std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  EXPECT_TRUE(received) << "the rejoined node got none of the objects it now owns";
  for (const BlockKey& k : acked) {
    std::vector<std::byte> out(nspace_.geometry.ObjectBytes());
    ASSERT_TRUE(store_->Get(ns_, k, out).ok());
    ASSERT_EQ(out, PayloadFor(k, out.size()));
  }
}

// The anonymous tenant's write tokens on node i (its /stats "usage"); -1 if it did not answer.
int64_t NodeWriteTokens(LocalCluster& c, int i) {
  const std::string body = c.AdminGet(i, "/stats");
  if (body.empty()) return -1;
  const auto stats = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (stats.is_discarded() || !stats.contains("usage")) return -1;
  for (const auto& u : stats["usage"]) {
    if (u.value("tenant", "") == "default") return u.value("write_tokens", int64_t{0});
  }
  return 0;
}

// Accounting on cluster nodes (issue 18, "done when"): every node counts the tenant's cache writes
// for the copies it holds (R of each block in all), a node restarted on its data dir carries its
// counts on, and min_prefix_tokens is applied by the cluster client, since no node can judge.
TEST_F(ClusterDaemonTest, NodesCountTheTenantsTokensAcrossARestart) {
  const uint64_t T = nspace_.geometry.block_tokens;
  std::vector<uint32_t> tokens(8 * T);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<uint32_t>(i * 31 + 7);
  const std::vector<BlockKey> keys = nspace_.BlockKeys(tokens);
  std::vector<std::vector<std::byte>> data;
  std::vector<PutItem> items;
  for (size_t i = 0; i < keys.size(); ++i) data.push_back(PayloadFor(keys[i], nspace_.geometry.ObjectBytes()));
  for (size_t i = 0; i < keys.size(); ++i) items.push_back(PutItem{{keys[i], i ? keys[i - 1] : nspace_.Root()}, data[i]});
  ASSERT_TRUE(store_->PutBatch(ns_, items).all_ok());
  Result<LookupResult> hit = store_->Lookup(ns_, keys);
  ASSERT_TRUE(hit.ok());
  EXPECT_EQ(hit->matched, keys.size());
  EXPECT_EQ(hit->usage.hit_tokens(), keys.size() * T);

  int64_t sum = 0, most = 0;
  int busiest = 0;
  for (int i = 0; i < cluster_->size(); ++i) {
    const int64_t w = NodeWriteTokens(*cluster_, i);
    ASSERT_GE(w, 0) << "node-" << i << " /stats: " << cluster_->AdminGet(i, "/stats");
    sum += w;
    if (w > most) most = w, busiest = i;
  }
  EXPECT_EQ(sum, static_cast<int64_t>(2 * keys.size() * T)) << "R = 2 copies of every block, each a node's write";

  // A clean restart: the node saves its counts and, once the namespace is registered again (by the
  // next client that dials it), counts on from them.
  cluster_->Stop(busiest);
  ASSERT_TRUE(cluster_->StartNode(busiest).ok());
  ASSERT_TRUE(cluster_->WaitForMembers(3, 8000));
  auto direct = OpenStore("tw://" + cluster_->addr(busiest), ClientOptions{.retries = 0});
  ASSERT_TRUE(direct.ok()) << direct.status().ToString();
  ASSERT_TRUE((*direct)->RegisterNamespace(nspace_, {}).ok());
  EXPECT_EQ(NodeWriteTokens(*cluster_, busiest), most);

  // A short prompt: the client skips it and counts it, and no node stores a block of it.
  Namespace picky = nspace_;
  picky.model_id = "cluster-test-min-prefix";
  const NamespaceId pns = store_->RegisterNamespace(picky, {.min_prefix_tokens = 8 * 32}).value();
  const std::vector<BlockKey> pkeys = picky.BlockKeys(std::span<const uint32_t>(tokens.data(), 4 * T));
  std::vector<PutItem> short_items;
  for (size_t i = 0; i < pkeys.size(); ++i) short_items.push_back(PutItem{{pkeys[i], i ? pkeys[i - 1] : picky.Root()}, data[i]});
  const uint64_t skipped_before = store_->Stats()->skipped_short;
  BatchStatus b = store_->PutBatch(pns, short_items);
  ASSERT_TRUE(b.all_ok());
  EXPECT_EQ(b.usage.skipped_short_tokens, 4 * T);
  EXPECT_EQ(store_->Lookup(pns, pkeys)->matched, 0u);
  EXPECT_EQ(store_->Stats()->skipped_short, skipped_before + 4);
  short_items.clear();
  const std::vector<BlockKey> long_keys = picky.BlockKeys(tokens);
  for (size_t i = 0; i < long_keys.size(); ++i) short_items.push_back(PutItem{{long_keys[i], i ? long_keys[i - 1] : picky.Root()}, data[i]});
  ASSERT_TRUE(store_->PutBatch(pns, short_items).all_ok());  // 256 tokens: stored
  EXPECT_EQ(store_->Lookup(pns, long_keys)->matched, long_keys.size());
}

// A frozen process (SIGSTOP) is a failure of its own: its sockets stay open and its kernel still
// accepts connections, but nothing answers and its lease lapses.
TEST_F(ClusterDaemonTest, AFrozenNodeThawedLosesNothing) {
  Load load(store_.get(), nspace_, ns_);
  load.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  cluster_->Pause(0);  // frozen: no answers, no lease renewals
  ASSERT_TRUE(cluster_->WaitForMembers(2, 8000));
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  cluster_->Resume(0);  // back, with its data; it re-registers
  ASSERT_TRUE(cluster_->WaitForMembers(3, 8000));
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  load.StopAll();
  ExpectLoadClean(load);
  std::printf("frozen: %lu reads, longest read %.1f ms\n", (unsigned long)load.reads.load(), load.max_read_us.load() / 1000.0);
  const auto acked = load.acked();
  for (const BlockKey& k : acked) {
    std::vector<std::byte> out(nspace_.geometry.ObjectBytes());
    Status s = store_->Get(ns_, k, out);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_EQ(out, PayloadFor(k, out.size()));
  }
  EXPECT_TRUE(WaitForCopies(acked, 2, 20000));
}

TEST_F(ClusterDaemonTest, StoppingEtcdKeepsReadsAndWritesWorking) {
  Load load(store_.get(), nspace_, ns_);
  load.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  cluster_->etcd().Kill();
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  std::string health = cluster_->AdminGet(2, "/healthz");
  EXPECT_NE(health.find("degraded"), std::string::npos) << health;
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // longer than the lease TTL
  const uint64_t writes_during = load.writes.load();
  ASSERT_TRUE(cluster_->etcd().Restart().ok());
  ASSERT_TRUE(cluster_->WaitForMembers(3, 10000));
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  load.StopAll();
  ExpectLoadClean(load);
  EXPECT_EQ(load.write_failures.load(), 0u);
  EXPECT_GT(writes_during, 20u);
  bool healthy = false;
  for (int waited = 0; waited < 5000 && !healthy; waited += 100) {
    healthy = cluster_->AdminGet(2, "/healthz").rfind("ok", 0) == 0;
    if (!healthy) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(healthy);
}

// Joins ramp up over 3 s here (30 s by default), so the test sees a node become an owner gradually.
class ClusterJoinTest : public ClusterDaemonTest {
 protected:
  double JoinRampS() const override { return 3; }
};

TEST_F(ClusterJoinTest, ANewNodeRampsUpWhileReadsFallBackAndNothingIsLost) {
  Load load(store_.get(), nspace_, ns_);
  load.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto added = cluster_->AddNode();
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  ASSERT_TRUE(cluster_->WaitForMembers(4, 8000));
  std::this_thread::sleep_for(std::chrono::milliseconds(4500));  // past the ramp
  load.StopAll();
  ExpectLoadClean(load);
  EXPECT_EQ(load.write_failures.load(), 0u);
  // The newcomer received objects (copied by its peers and by read repair), and every object
  // still has two copies.
  const auto acked = load.acked();
  bool received = false;
  for (int waited = 0; waited < 10000 && !received; waited += 250) {
    for (size_t i = 0; i < acked.size() && !received; i += 3) received = Holds(*added, acked[i]);
    if (!received) std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  EXPECT_TRUE(received);
  EXPECT_TRUE(WaitForCopies(acked, 2, 15000));
}

}  // namespace
}  // namespace tw::cluster

namespace tw::cluster {
namespace {

// Two tenants, and nodes that copy objects between them with a cluster_peer token. The tokens'
// SHA-256 (what the config holds): `echo -n alice-token | sha256sum`, and so on.
constexpr const char* kTenantsConfig = R"(auth:
  allow_anonymous_loopback: false
  tenants:
    - name: alice
      token_sha256: 9c220f200955d76c0a38d308225e0ef10c5f971acaf2f8d1d8f732affa5bd1dc
    - name: bob
      token_sha256: 97dd3707015dcf069cf73022ed7173b1165db6eff24b441cb57fd069a8c4e525
    - name: nodes
      token_sha256: 493a178d1badd6ef2187860f907ec6be297f4154380d4c2a4952936655ea66fb
      cluster_peer: true
)";

class ClusterTenantTest : public ClusterDaemonTest {
 protected:
  void Configure(LocalClusterOptions* o) override {
    o->extra_config = kTenantsConfig;
    o->peer_token = "peer-token";
  }
  std::string ClientToken() const override { return "alice-token"; }
};

// Re-replication copies alice's objects under alice's namespace: after a node dies, alice finds
// two copies of each again; bob, registering the very same namespace fields, finds none of them
// (his namespace id hashes his tenant), through the cluster or on any node.
TEST_F(ClusterTenantTest, ReReplicatedObjectsBelongToTheirTenantOnly) {
  Load load(store_.get(), nspace_, ns_);
  load.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  load.StopAll();
  ExpectLoadClean(load);
  const auto acked = load.acked();
  ASSERT_GT(acked.size(), 20u);
  cluster_->Kill(2);
  ASSERT_TRUE(cluster_->WaitForMembers(2, 8000)) << "node-2's lease did not expire";
  EXPECT_TRUE(WaitForCopies(acked, 2, 20000)) << "alice's objects were not re-replicated under alice; see "
                                              << cluster_->log_path(0) << " and " << cluster_->log_path(1);

  NodeProbe bob(cluster_.get(), nspace_, "bob-token");
  for (const BlockKey& k : acked) ASSERT_EQ(bob.Copies(k), 0) << "bob sees alice's object " << k.ToHex();
  ClusterClientOptions co;
  co.node.token = "bob-token";
  auto bob_store = OpenClusterStore(cluster_->url(), co);
  ASSERT_TRUE(bob_store.ok()) << bob_store.status().ToString();
  NamespaceId bob_ns = (*bob_store)->RegisterNamespace(nspace_, {}).value();
  std::vector<std::byte> out(nspace_.geometry.ObjectBytes());
  for (size_t i = 0; i < acked.size(); i += 7) EXPECT_TRUE((*bob_store)->Get(bob_ns, acked[i], out).IsNotFound());
  // Nor can anyone in without a token: anonymous access is off.
  EXPECT_FALSE(OpenStore("tw://" + cluster_->addr(0), ClientOptions{.connect_timeout_ms = 1000, .retries = 0}).ok());
}

}  // namespace
}  // namespace tw::cluster

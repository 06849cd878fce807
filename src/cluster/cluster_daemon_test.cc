// The cluster end to end: etcd and real `tokenwarehouse serve --cluster` daemons on loopback,
// a ClusterStore client under a steady read/write load, and the failures of issue 8:
// kill -9 of a node, a node cut off and restored, a restarted node, an etcd outage.
//
// The network cut is emulated with SIGSTOP/SIGCONT of the node's process: the node neither answers
// nor renews its lease, its peers and clients time out on it, then it returns with its data, which
// is what a partition does to one node. (Network namespaces would need veth plumbing per daemon;
// the stop emulation exercises the same code paths on any machine.)
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <random>
#include <shared_mutex>
#include <thread>

#include "cluster/cluster_store.h"
#include "cluster/local_cluster.h"
#include "store/store_test_util.h"
#include "tw/client.h"
#include "tw/cluster.h"

namespace tw::cluster {
namespace {

using tw::testing::PayloadFor;

Namespace TestNamespace() {
  Namespace ns;
  ns.tenant = "default";
  ns.model_id = "cluster-test";
  ns.model_revision = "r1";
  ns.geometry = KvGeometry{4, 2, 64, KvDtype::kF16, 32};  // 64 KiB objects
  return ns;
}

// A steady load: one writer storing chains, two readers reading back acknowledged keys at random
// and checking every byte.
class Load {
 public:
  Load(Store* store, const Namespace& nspace, NamespaceId ns) : store_(store), nspace_(nspace), ns_(ns) {}
  ~Load() { StopAll(); }

  void Start() {
    threads_.emplace_back([this] { Write(); });
    for (int r = 0; r < 2; ++r) threads_.emplace_back([this, r] { Read(r); });
  }
  void StopAll() {
    stop_ = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  std::vector<BlockKey> acked() {
    std::shared_lock lock(mu_);
    return acked_;
  }
  std::atomic<uint64_t> reads{0}, read_failures{0}, wrong_bytes{0}, writes{0}, write_failures{0};
  std::atomic<uint64_t> max_read_us{0};
  std::string first_failure;

 private:
  void Write() {
    const uint64_t bytes = nspace_.geometry.ObjectBytes();
    uint32_t seed = 1;
    while (!stop_) {
      std::vector<uint32_t> tokens(4 * nspace_.geometry.block_tokens);
      for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = seed * 7919u + static_cast<uint32_t>(i);
      ++seed;
      auto keys = nspace_.BlockKeys(tokens);
      std::vector<std::vector<std::byte>> data;
      std::vector<PutItem> items;
      for (auto& k : keys) data.push_back(PayloadFor(k, bytes));
      for (size_t i = 0; i < keys.size(); ++i) items.push_back({{keys[i], i ? keys[i - 1] : nspace_.Root()}, data[i]});
      BatchStatus bs = store_->PutBatch(ns_, items);
      for (size_t i = 0; i < keys.size(); ++i) {
        ++writes;
        if (bs.transport.ok() && bs.items[i].ok()) {
          std::unique_lock lock(mu_);
          acked_.push_back(keys[i]);
        } else {
          ++write_failures;
        }
      }
      // ~100 objects/s: steady, and far from filling the nodes (an evicted object would be a miss).
      std::this_thread::sleep_for(std::chrono::milliseconds(40));
    }
  }
  void Read(int r) {
    std::mt19937_64 rng(r + 1);
    std::vector<std::byte> out(nspace_.geometry.ObjectBytes());
    while (!stop_) {
      BlockKey key;
      {
        std::shared_lock lock(mu_);
        if (acked_.empty()) {
          lock.unlock();
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
          continue;
        }
        key = acked_[rng() % acked_.size()];
      }
      const auto t0 = std::chrono::steady_clock::now();
      Status s = store_->Get(ns_, key, out);
      const uint64_t us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
      uint64_t prev = max_read_us.load();
      while (us > prev && !max_read_us.compare_exchange_weak(prev, us)) {
      }
      ++reads;
      if (!s.ok()) {
        if (read_failures++ == 0) first_failure = s.ToString();
      } else if (out != PayloadFor(key, out.size())) {
        ++wrong_bytes;
      }
    }
  }

  Store* store_;
  Namespace nspace_;
  NamespaceId ns_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
  std::shared_mutex mu_;
  std::vector<BlockKey> acked_;
};

class ClusterDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access("/usr/bin/etcd", X_OK) != 0) GTEST_SKIP() << "etcd is not installed";
    LocalClusterOptions o;
    o.binary = TW_BINARY;
    o.nodes = 3;
    o.join_ramp_s = JoinRampS();
    o.dram = "256MiB";
    auto c = LocalCluster::Start(o);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    cluster_ = std::move(*c);
    ClusterClientOptions co;
    co.node.io_timeout_ms = 500;  // a paused node costs a reader at most this, once per suspect period
    co.node.connect_timeout_ms = 300;
    co.join_ramp_ms = static_cast<uint64_t>(JoinRampS() * 1000);
    auto s = OpenClusterStore(cluster_->url(), co);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    nspace_ = TestNamespace();
    ns_ = store_->RegisterNamespace(nspace_, {}).value();
  }

  virtual double JoinRampS() const { return 0; }

  // How many of the running nodes hold `key`, asked directly.
  int Copies(const BlockKey& key) {
    int copies = 0;
    for (int i = 0; i < cluster_->size(); ++i) {
      if (!cluster_->running(i)) continue;
      copies += Holds(i, key);
    }
    return copies;
  }
  bool Holds(int i, const BlockKey& key) {
    auto& d = direct_[i];
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!d.store) {
        auto s = OpenStore("tw://" + cluster_->addr(i), ClientOptions{.connect_timeout_ms = 1000, .io_timeout_ms = 2000, .retries = 0, .shared_memory = false});
        if (!s.ok()) return false;
        auto id = (*s)->RegisterNamespace(nspace_, {});
        if (!id.ok()) return false;
        d.store = std::move(*s);
        d.ns = *id;
      }
      auto r = d.store->Lookup(d.ns, std::span<const BlockKey>(&key, 1));
      if (r.ok()) return r->matched == 1;
      d.store.reset();  // the node restarted: reconnect and register again
    }
    return false;
  }
  struct Direct {
    std::unique_ptr<Store> store;
    NamespaceId ns;
  };
  std::map<int, Direct> direct_;
  // Waits until every key has `want` copies on the running nodes.
  bool WaitForCopies(const std::vector<BlockKey>& keys, int want, uint64_t timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    size_t next = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      while (next < keys.size() && Copies(keys[next]) >= want) ++next;
      if (next == keys.size()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
  }
  void ExpectLoadClean(Load& load) {
    EXPECT_GT(load.reads.load(), 100u);
    EXPECT_EQ(load.read_failures.load(), 0u) << load.first_failure;
    EXPECT_EQ(load.wrong_bytes.load(), 0u);
  }

  std::unique_ptr<LocalCluster> cluster_;
  std::unique_ptr<Store> store_;
  Namespace nspace_;
  NamespaceId ns_;
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

TEST_F(ClusterDaemonTest, ANodeCutOffAndRestoredLosesNothing) {
  Load load(store_.get(), nspace_, ns_);
  load.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  cluster_->Pause(0);  // cut off: no answers, no lease renewals
  ASSERT_TRUE(cluster_->WaitForMembers(2, 8000));
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  cluster_->Resume(0);  // back, with its data; it re-registers
  ASSERT_TRUE(cluster_->WaitForMembers(3, 8000));
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  load.StopAll();
  ExpectLoadClean(load);
  std::printf("cut off: %lu reads, longest read %.1f ms\n", (unsigned long)load.reads.load(), load.max_read_us.load() / 1000.0);
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

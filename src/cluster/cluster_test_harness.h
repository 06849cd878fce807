// Shared by the tests that run real daemons (cluster_daemon_test, cluster_netns_test): a steady
// read/write load through a cluster client that checks every byte it reads back, and probes that
// ask each node directly which objects it holds.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <random>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "cluster/local_cluster.h"
#include "store/store_test_util.h"
#include "tw/client.h"

namespace tw::cluster::testing {

using tw::testing::PayloadFor;

inline Namespace TestNamespace() {
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

// Asks the nodes of a LocalCluster directly (not through placement) whether they hold a key, as
// the tenant of `token` ("" : anonymous, loopback only): a copy filed under another tenant's
// namespace does not count.
class NodeProbe {
 public:
  NodeProbe(LocalCluster* cluster, const Namespace& nspace, std::string token = "")
      : cluster_(cluster), nspace_(nspace), token_(std::move(token)) {}

  bool Holds(int i, const BlockKey& key) {
    auto& d = direct_[i];
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!d.store) {
        ClientOptions o{.connect_timeout_ms = 1000, .io_timeout_ms = 2000, .retries = 0, .shared_memory = false};
        o.token = token_;
        auto s = OpenStore("tw://" + cluster_->addr(i), o);
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
  // How many of the running nodes hold `key`.
  int Copies(const BlockKey& key) {
    int copies = 0;
    for (int i = 0; i < cluster_->size(); ++i) {
      if (cluster_->running(i)) copies += Holds(i, key);
    }
    return copies;
  }
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

 private:
  struct Direct {
    std::unique_ptr<Store> store;
    NamespaceId ns;
  };
  LocalCluster* cluster_;
  Namespace nspace_;
  std::string token_;
  std::map<int, Direct> direct_;
};

inline void ExpectLoadClean(Load& load) {
  EXPECT_GT(load.reads.load(), 100u);
  EXPECT_EQ(load.read_failures.load(), 0u) << load.first_failure;
  EXPECT_EQ(load.wrong_bytes.load(), 0u);
}

}  // namespace tw::cluster::testing

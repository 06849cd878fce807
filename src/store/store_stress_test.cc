// Many threads hammer one small store with every operation while eviction runs constantly. Every
// byte read back must equal the payload derived from its key: a torn, reused or foreign page
// anywhere shows up as a mismatch. Runs clean under ASan/UBSan in `make test`.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "store/store_test_util.h"
#include "tw/embedded_store.h"

namespace tw {
namespace {

using testing::ChainKeys;
using testing::PayloadFor;
using testing::RefAt;
using testing::SmallNamespace;

TEST(StoreStress, ConcurrentOperationsNeverServeWrongBytes) {
  EmbeddedStoreOptions o;
  o.dram_capacity_bytes = 96 * 4096;  // far fewer pages than the working set: constant eviction
  o.page_bytes = 4096;
  auto opened = EmbeddedStore::Open(o);
  ASSERT_TRUE(opened.ok());
  EmbeddedStore& store = **opened;

  std::vector<Namespace> spaces = {SmallNamespace("a"), SmallNamespace("b")};
  std::vector<NamespaceId> ids;
  for (auto& n : spaces) ids.push_back(store.RegisterNamespace(n, {}).value());
  const size_t object = spaces[0].geometry.ObjectBytes();

  constexpr int kThreads = 6;
  constexpr int kOpsPerThread = 6000;
  std::atomic<uint64_t> verified{0}, mismatches{0}, unexpected{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      std::vector<std::byte> buf(object);
      for (int op = 0; op < kOpsPerThread; ++op) {
        const size_t which = rng() % 2;
        const Namespace& ns = spaces[which];
        const NamespaceId& id = ids[which];
        auto keys = ChainKeys(ns, 1 + rng() % 6, rng() % 40);  // 40 prompts shared across threads
        switch (rng() % 7) {
          case 0:
          case 1: {  // store the chain
            for (size_t i = 0; i < keys.size(); ++i) {
              Status s = store.Put(id, RefAt(ns, keys, i), PayloadFor(keys[i], object));
              if (!s.ok() && !s.IsInvalidArgument() && !s.IsResourceExhausted()) unexpected++;
              if (!s.ok()) break;  // a parent evicted under us: the rest would be out of order
            }
            break;
          }
          case 2: {  // lookup, then load the prefix
            auto hit = store.Lookup(id, keys);
            if (!hit.ok()) { unexpected++; break; }
            for (size_t i = 0; i < hit->matched; ++i) {
              Status s = store.Get(id, keys[i], buf);
              if (s.IsNotFound()) continue;  // evicted since the lookup: a legal race
              if (!s.ok()) { unexpected++; continue; }
              if (buf != PayloadFor(keys[i], object)) mismatches++; else verified++;
            }
            break;
          }
          case 3: {  // zero-copy read
            auto h = store.Acquire(id, keys[0], 50);
            if (!h.ok()) break;
            auto runs = ns.geometry.SliceRuns(KvSlice::All()).value();
            if (!h->CopyRuns(runs, buf).ok()) unexpected++;
            else if (buf != PayloadFor(keys[0], object)) mismatches++; else verified++;
            break;
          }
          case 4: {  // zero-copy write, sometimes abandoned
            auto h = store.Reserve(id, RefAt(ns, keys, 0));
            if (!h.ok() || h->segments().empty()) break;
            if (!h->Write(0, PayloadFor(keys[0], object)).ok()) unexpected++;
            if (rng() % 3) (void)store.Commit(*h);
            break;
          }
          case 5: {  // pin for a moment
            auto lease = store.Pin(id, std::span(keys.data(), 1), 20);
            if (lease.ok() && rng() % 2) (void)store.Unpin(*lease);
            break;
          }
          case 6:
            (void)store.Remove(id, keys[rng() % keys.size()]);
            break;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0u);
  EXPECT_EQ(unexpected.load(), 0u);
  EXPECT_GT(verified.load(), 1000u);
  StoreStats s = store.Stats().value();
  EXPECT_LE(s.tiers[0].used_bytes, s.tiers[0].capacity_bytes);
  EXPECT_GT(s.tiers[0].evictions, 0u);
}

}  // namespace
}  // namespace tw

// The embedded store over DRAM + disk: demotion, promotion, lookups across tiers, restart, faults.
#include <gtest/gtest.h>

#include <cerrno>
#include <map>
#include <mutex>

#include "common/env/fault_env.h"
#include "store/store_seams.h"
#include "store/tier/disk_test_util.h"
#include "tw/embedded_store.h"
#include "tw/namespace.h"

namespace tw {
namespace {

using testing::FreshDir;
using testing::PayloadFor;

Namespace TestNamespace() {
  Namespace ns;
  ns.tenant = "t";
  ns.model_id = "disk-test";
  ns.geometry = KvGeometry{16, 1, 64, KvDtype::kF16, 64};  // 256 KiB objects
  return ns;
}

EmbeddedStoreOptions Options(const std::string& dir) {
  EmbeddedStoreOptions o;
  o.dram_capacity_bytes = 2ull << 20;  // 8 objects
  o.page_bytes = 64 << 10;
  o.prefault = false;
  o.disk_dir = dir;
  o.disk_capacity_bytes = 16ull << 20;
  o.disk_region_bytes = 2ull << 20;
  o.disk_write_queue_bytes = 2ull << 20;
  o.disk_io_bytes = 128 << 10;
  return o;
}

std::vector<BlockRef> Chain(const Namespace& ns, size_t n) {
  std::vector<BlockRef> refs;
  BlockKey parent = ns.Root();
  for (size_t i = 0; i < n; ++i) {
    uint32_t tokens[1] = {static_cast<uint32_t>(i)};
    BlockKey key = ChainKey(ns.Id(), parent, tokens);
    refs.push_back({key, parent});
    parent = key;
  }
  return refs;
}

struct Fixture {
  std::unique_ptr<EmbeddedStore> store;
  Namespace nspace = TestNamespace();
  NamespaceId ns;
  std::vector<BlockRef> chain;
  uint64_t size = nspace.geometry.ObjectBytes();

  explicit Fixture(const EmbeddedStoreOptions& o, size_t blocks = 40, Env* disk_env = nullptr) {
    auto s = OpenEmbeddedStore(o, StoreSeams{.disk_env = disk_env});
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    store = std::move(*s);
    ns = store->RegisterNamespace(nspace, {}).value();
    chain = Chain(nspace, blocks);
  }
  void PutAll() {
    for (const BlockRef& r : chain) ASSERT_TRUE(store->Put(ns, r, PayloadFor(r.key, size)).ok());
  }
  void CheckAll() {
    std::vector<std::byte> out(size);
    for (const BlockRef& r : chain) {
      ASSERT_TRUE(store->Get(ns, r.key, out).ok());
      ASSERT_TRUE(out == PayloadFor(r.key, size));
    }
  }
  const TierStats& Disk() {
    stats = store->Stats().value();
    EXPECT_EQ(stats.tiers.size(), 2u);
    return stats.tiers.back();
  }
  StoreStats stats;
};

TEST(DiskStore, DemotesOnEvictionAndPromotesOnGet) {
  // LRU: the test needs block 0 evicted again by the reads after it, which a chain-aware policy
  // that learns block 0 keeps coming back may rightly decline to do.
  EmbeddedStoreOptions o = Options(FreshDir("store_demote"));
  o.eviction = EvictionPolicyKind::kLru;
  Fixture f(o);
  f.PutAll();  // 40 objects through an 8-object DRAM: the early ones are demoted
  std::vector<BlockKey> keys;
  for (const BlockRef& r : f.chain) keys.push_back(r.key);
  LookupResult hit = f.store->Lookup(f.ns, keys).value();
  ASSERT_EQ(hit.matched, keys.size());
  EXPECT_EQ(hit.tiers.front(), Tier::kDisk);
  EXPECT_EQ(hit.tiers.back(), Tier::kDram);
  ASSERT_TRUE(f.store->FlushDisk().ok());
  EXPECT_GE(f.Disk().admissions, 32u);
  f.CheckAll();  // every disk object is promoted on its way out
  EXPECT_GE(f.Disk().hits, 32u);
  EXPECT_EQ(f.Disk().errors, 0u);
  // A promoted object is in DRAM now; it is also still on disk, so evicting it again writes nothing.
  const uint64_t written = f.Disk().admissions;
  hit = f.store->Lookup(f.ns, std::span(keys).first(1)).value();
  EXPECT_EQ(hit.tiers[0], Tier::kDisk);  // evicted again by the reads that followed
  ASSERT_TRUE(f.store->FlushDisk().ok());
  EXPECT_EQ(f.Disk().admissions, written);
}

TEST(DiskStore, GetBatchPromotesAPrefixTogether) {
  Fixture f(Options(FreshDir("store_getbatch")));
  f.PutAll();
  ASSERT_TRUE(f.store->FlushDisk().ok());
  std::vector<std::vector<std::byte>> outs(6, std::vector<std::byte>(f.size));
  std::vector<GetItem> items;
  for (size_t i = 0; i < outs.size(); ++i) items.push_back({f.chain[i].key, outs[i], KvSlice::All()});
  BatchStatus b = f.store->GetBatch(f.ns, items);
  ASSERT_TRUE(b.transport.ok());
  ASSERT_TRUE(b.all_ok());
  for (size_t i = 0; i < outs.size(); ++i) EXPECT_TRUE(outs[i] == PayloadFor(f.chain[i].key, f.size)) << i;
  EXPECT_GE(f.Disk().hits, 6u);
}

TEST(DiskStore, AcquireAndPinPromote) {
  Fixture f(Options(FreshDir("store_acquire")));
  f.PutAll();
  Result<ReadHandle> h = f.store->Acquire(f.ns, f.chain[0].key, 10'000);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  std::vector<std::byte> all;
  for (auto seg : h->segments()) all.insert(all.end(), seg.begin(), seg.end());
  EXPECT_TRUE(all == PayloadFor(f.chain[0].key, f.size));
  Result<LeaseId> pin = f.store->Pin(f.ns, std::vector<BlockKey>{f.chain[1].key, f.chain[2].key}, 10'000);
  ASSERT_TRUE(pin.ok()) << pin.status().ToString();
  LookupResult hit = f.store->Lookup(f.ns, std::vector<BlockKey>{f.chain[1].key}).value();
  EXPECT_EQ(hit.tiers[0], Tier::kDram);
}

TEST(DiskStore, ReportsEvictionsDemotionsAndRegionReclaims) {
  std::mutex mu;
  std::vector<StoreEvent> events;
  EmbeddedStoreOptions o = Options(FreshDir("store_events"));
  o.on_event = [&](const StoreEvent& e) {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back(e);
  };
  Fixture f(o, 100);  // ~92 demoted objects of 256 KiB overflow the 16 MiB disk tier: regions are reclaimed
  f.PutAll();
  ASSERT_TRUE(f.store->FlushDisk().ok());
  const StoreStats stats = f.store->Stats().value();
  std::lock_guard<std::mutex> lock(mu);
  std::map<BlockKey, int> dram_evicted;  // key -> index of its event
  size_t demoted = 0, disk_evicted = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    const StoreEvent& e = events[i];
    EXPECT_EQ(e.ns, f.ns);
    if (e.kind == StoreEvent::Kind::kEvicted && e.tier == Tier::kDram) {
      EXPECT_TRUE(dram_evicted.emplace(e.key, static_cast<int>(i)).second) << "evicted from DRAM twice";
    } else if (e.kind == StoreEvent::Kind::kStored && e.tier == Tier::kDisk) {
      // Demotion is reported right after the DRAM eviction of the same object.
      ASSERT_TRUE(dram_evicted.count(e.key));
      ++demoted;
    } else if (e.kind == StoreEvent::Kind::kEvicted && e.tier == Tier::kDisk) {
      ++disk_evicted;
      std::vector<std::byte> out(f.size);
      EXPECT_TRUE(f.store->Get(f.ns, e.key, out).IsNotFound()) << "a reclaimed object is gone from every tier";
    } else {
      ADD_FAILURE() << "unexpected event kind " << int(e.kind) << " tier " << int(e.tier);
    }
  }
  EXPECT_EQ(dram_evicted.size(), stats.tiers.front().evictions);
  EXPECT_EQ(demoted, dram_evicted.size());  // the disk tier took every one (back-pressure, no drops)
  EXPECT_GT(disk_evicted, 0u);
  EXPECT_EQ(disk_evicted, stats.tiers.back().evictions);  // nothing was read, so nothing re-admitted
}

TEST(DiskStore, RemoveClearsEveryTier) {
  Fixture f(Options(FreshDir("store_remove")));
  f.PutAll();
  ASSERT_TRUE(f.store->Remove(f.ns, f.chain[0].key).ok());      // on disk
  ASSERT_TRUE(f.store->Remove(f.ns, f.chain.back().key).ok());  // in DRAM
  std::vector<std::byte> out(f.size);
  EXPECT_TRUE(f.store->Get(f.ns, f.chain[0].key, out).IsNotFound());
  EXPECT_TRUE(f.store->Get(f.ns, f.chain.back().key, out).IsNotFound());
  EXPECT_TRUE(f.store->Remove(f.ns, f.chain[0].key).IsNotFound());
}

TEST(DiskStore, WarmRestartServesFromDisk) {
  const std::string dir = FreshDir("store_restart");
  {
    EmbeddedStoreOptions o = Options(dir);
    o.disk_admission = DiskAdmission::kWriteThrough;  // everything reaches disk, even what DRAM holds
    Fixture f(o);
    f.PutAll();
    ASSERT_TRUE(f.store->FlushDisk().ok());
  }
  Fixture f(Options(dir));
  std::vector<BlockKey> keys;
  for (const BlockRef& r : f.chain) keys.push_back(r.key);
  LookupResult hit = f.store->Lookup(f.ns, keys).value();
  ASSERT_EQ(hit.matched, keys.size());
  for (Tier t : hit.tiers) EXPECT_EQ(t, Tier::kDisk);
  f.CheckAll();
  // Chain checks see disk objects: a block whose parent is only on disk can be stored.
  uint32_t tokens[1] = {999};
  BlockRef next{ChainKey(f.nspace.Id(), f.chain[3].key, tokens), f.chain[3].key};
  EXPECT_TRUE(f.store->Put(f.ns, next, PayloadFor(next.key, f.size)).ok());
}

TEST(DiskStore, DramKeepsServingWhenDiskFails) {
  FaultInjectingEnv env(Env::Posix());
  EmbeddedStoreOptions o = Options(FreshDir("store_enospc"));
  env.FailWrites(ENOSPC);
  Fixture f(o, 40, &env);
  f.PutAll();  // every demotion fails behind the caller; Puts still succeed
  (void)f.store->FlushDisk();
  EXPECT_GE(f.Disk().errors, 1u);
  EXPECT_EQ(f.Disk().objects, 0u);
  std::vector<std::byte> out(f.size);
  ASSERT_TRUE(f.store->Get(f.ns, f.chain.back().key, out).ok());
  EXPECT_TRUE(out == PayloadFor(f.chain.back().key, f.size));
  EXPECT_TRUE(f.store->Get(f.ns, f.chain[0].key, out).IsNotFound());  // lost from DRAM, never written
}

// Once the disk stops admitting, an evicted DRAM-only object is lost for good, while evicting a copy
// the disk still holds loses nothing: DRAM must evict those first, however hot they are.
TEST(DiskStore, WhenTheDiskStopsAdmittingDramKeepsTheOnlyCopies) {
  FaultInjectingEnv env(Env::Posix());
  EmbeddedStoreOptions o = Options(FreshDir("store_only_copies"));
  o.disk_admission = DiskAdmission::kWriteThrough;
  Fixture f(o, 12, &env);
  for (size_t i = 0; i < 8; ++i) ASSERT_TRUE(f.store->Put(f.ns, f.chain[i], PayloadFor(f.chain[i].key, f.size)).ok());
  ASSERT_TRUE(f.store->FlushDisk().ok());  // blocks 0..7: in DRAM (full) and on disk
  env.FailWrites(ENOSPC);
  // The next write fails behind the caller and stops the tier admitting.
  ASSERT_TRUE(f.store->Put(f.ns, f.chain[8], PayloadFor(f.chain[8].key, f.size)).ok());
  (void)f.store->FlushDisk();
  ASSERT_FALSE(f.Disk().admitting);
  std::vector<std::byte> out(f.size);
  for (size_t i = 9; i < 12; ++i) {
    // Keep the disk-backed blocks hot, so recency alone would evict the new only-copies.
    for (size_t j = 1; j < 8; ++j) (void)f.store->Get(f.ns, f.chain[j].key, out);
    ASSERT_TRUE(f.store->Put(f.ns, f.chain[i], PayloadFor(f.chain[i].key, f.size)).ok());
  }
  for (size_t i = 8; i < 12; ++i) {
    ASSERT_TRUE(f.store->Get(f.ns, f.chain[i].key, out).ok()) << "only copy " << i << " was evicted";
    EXPECT_TRUE(out == PayloadFor(f.chain[i].key, f.size));
  }
  for (size_t j = 0; j < 8; ++j) EXPECT_TRUE(f.store->Get(f.ns, f.chain[j].key, out).ok()) << j;  // from disk
}

TEST(DiskStore, CorruptDiskObjectIsAMiss) {
  FaultInjectingEnv env(Env::Posix());
  EmbeddedStoreOptions o = Options(FreshDir("store_flip"));
  Fixture f(o, 40, &env);
  f.PutAll();
  ASSERT_TRUE(f.store->FlushDisk().ok());
  env.FlipBitsInNextReads(1);
  std::vector<std::byte> out(f.size);
  EXPECT_TRUE(f.store->Get(f.ns, f.chain[0].key, out).IsNotFound());
  EXPECT_EQ(f.Disk().errors, 1u);
  EXPECT_EQ(f.stats.get_misses, 1u);
  ASSERT_TRUE(f.store->Get(f.ns, f.chain[1].key, out).ok());
  EXPECT_TRUE(out == PayloadFor(f.chain[1].key, f.size));
}

}  // namespace
}  // namespace tw

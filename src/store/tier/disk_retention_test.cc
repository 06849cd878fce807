// Retention classes through the embedded store, tier by tier: fixed deadlines, sliding renewal,
// persistent objects, a restart on the same directory, the renewal file, short prompts.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "common/clock.h"
#include "store/store_seams.h"
#include "store/tier/disk_test_util.h"
#include "store/tier/renewal_file.h"
#include "tw/embedded_store.h"

namespace tw {
namespace {

using tw::testing::PayloadFor;

// (store_test_util.h has these too, but also a PayloadFor that clashes with disk_test_util.h's.)
Namespace SmallNamespace(std::string tenant = "t", std::string model = "m") {
  Namespace ns;
  ns.tenant = std::move(tenant);
  ns.model_id = std::move(model);
  ns.geometry = KvGeometry{2, 2, 16, KvDtype::kF16, 16};  // 4 KiB objects, 16 tokens a block
  return ns;
}

std::vector<BlockKey> ChainKeys(const Namespace& ns, size_t blocks, uint32_t seed) {
  std::vector<uint32_t> tokens(blocks * ns.geometry.block_tokens);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<uint32_t>(seed * 1000003u + i);
  return ns.BlockKeys(tokens);
}

BlockRef RefAt(const Namespace& ns, const std::vector<BlockKey>& keys, size_t i) { return {keys[i], i ? keys[i - 1] : ns.Root()}; }

constexpr uint64_t kTtlMs = 10'000;

EmbeddedStoreOptions Options(const std::string& disk_dir) {
  EmbeddedStoreOptions o;
  o.dram_capacity_bytes = 1 << 20;
  o.page_bytes = 4096;
  o.prefault = false;
  o.disk_dir = disk_dir;
  o.disk_capacity_bytes = 8ull << 20;
  o.disk_region_bytes = 1ull << 20;
  o.disk_write_queue_bytes = 1ull << 20;
  o.disk_io_bytes = 64 << 10;
  o.disk_admission = DiskAdmission::kWriteThrough;  // every object is on disk too, so a restart has it
  return o;
}

// Real time moves a process's steady clock and the wall clock together; deadlines on disk are wall
// times, so a restart test moves both. One wall clock outlives the "processes" of a test.
struct Time {
  ManualClock wall{1'800'000'000'000};
};

// One store over a ManualClock, with three namespaces of one geometry: fixed, sliding, persistent.
struct Warehouse {
  Time own_time;  // for tests without a restart
  Time& time;
  ManualClock clock{7'000'000};  // each process's steady clock has its own epoch
  std::unique_ptr<EmbeddedStore> store;
  Namespace fixed_ns = SmallNamespace("t", "fixed");
  Namespace sliding_ns = SmallNamespace("t", "sliding");
  Namespace persistent_ns = SmallNamespace("t", "persistent");
  NamespaceId fixed, sliding, persistent;

  explicit Warehouse(const std::string& disk_dir) : Warehouse(disk_dir, own_time) {}
  Warehouse(const std::string& disk_dir, Time& shared) : time(shared) {
    auto s = OpenEmbeddedStore(Options(disk_dir), StoreSeams{.clock = &clock, .wall_clock = &time.wall});
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    store = std::move(*s);
    fixed = store->RegisterNamespace(fixed_ns, {.ttl_ms = kTtlMs}).value();
    sliding = store->RegisterNamespace(sliding_ns, {.ttl_ms = kTtlMs, .ttl_sliding = true}).value();
    persistent = store->RegisterNamespace(persistent_ns, {}).value();
  }
  std::vector<BlockKey> Store(const NamespaceId& id, const Namespace& ns) {
    std::vector<BlockKey> keys = ChainKeys(ns, 3, 7);
    for (size_t i = 0; i < keys.size(); ++i) {
      EXPECT_TRUE(store->Put(id, RefAt(ns, keys, i), PayloadFor(keys[i], ns.geometry.ObjectBytes())).ok());
    }
    return keys;
  }
  void Advance(uint64_t ms) {
    clock.AdvanceMs(ms);
    time.wall.AdvanceMs(ms);
  }
  size_t Matched(const NamespaceId& id, const std::vector<BlockKey>& keys) { return store->Lookup(id, keys).value().matched; }
  Status Get(const NamespaceId& id, const Namespace& ns, const BlockKey& key) {
    std::vector<std::byte> out(ns.geometry.ObjectBytes());
    return store->Get(id, key, out);
  }
};

TEST(Retention, FixedDeadlineIsAMissEverywhereOnceItPasses) {
  Warehouse w(testing::FreshDir("retention_fixed"));
  auto keys = w.Store(w.fixed, w.fixed_ns);
  w.clock.AdvanceMs(kTtlMs - 1);
  ASSERT_EQ(w.Matched(w.fixed, keys), 3u);           // a lookup of a fixed object renews nothing
  ASSERT_TRUE(w.Get(w.fixed, w.fixed_ns, keys[0]).ok());
  w.clock.AdvanceMs(1);
  EXPECT_EQ(w.Matched(w.fixed, keys), 0u);           // neither DRAM nor the disk copy answers
  EXPECT_TRUE(w.Get(w.fixed, w.fixed_ns, keys[0]).IsNotFound());
}

TEST(Retention, SlidingDeadlineIsRenewedByEveryKindOfHit) {
  Warehouse w(testing::FreshDir("retention_sliding"));
  auto keys = w.Store(w.sliding, w.sliding_ns);
  w.clock.AdvanceMs(8'000);
  ASSERT_TRUE(w.Get(w.sliding, w.sliding_ns, keys[2]).ok());  // keys[2]: +10 s from now
  w.clock.AdvanceMs(8'000);                                   // 16 s: past the first deadline
  EXPECT_EQ(w.Matched(w.sliding, keys), 0u) << "keys[0] was never hit: it expired at 10 s";
  EXPECT_EQ(w.store->Lookup(w.sliding, std::span(keys).subspan(2)).value().matched, 1u);  // renews keys[2] again
  w.clock.AdvanceMs(9'999);
  EXPECT_TRUE(w.Get(w.sliding, w.sliding_ns, keys[2]).ok()) << "the lookup renewed it";
  auto lease = w.store->Pin(w.sliding, std::span(keys).subspan(2), 1000);
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  ASSERT_TRUE(w.store->Unpin(*lease).ok());
  w.clock.AdvanceMs(kTtlMs);  // no hit for a whole window
  EXPECT_TRUE(w.Get(w.sliding, w.sliding_ns, keys[2]).IsNotFound());
  // An expired object stays expired: a hit that misses renews nothing.
  EXPECT_EQ(w.store->Lookup(w.sliding, std::span(keys).subspan(2)).value().matched, 0u);
}

TEST(Retention, PersistentObjectsNeverExpire) {
  Warehouse w(testing::FreshDir("retention_persistent"));
  auto keys = w.Store(w.persistent, w.persistent_ns);
  w.clock.AdvanceMs(365ull * 86'400'000);
  EXPECT_EQ(w.Matched(w.persistent, keys), 3u);
}

TEST(Retention, ARestartKeepsFixedDeadlinesAndRenewedSlidingOnes) {
  const std::string dir = testing::FreshDir("retention_restart");
  Time time;
  std::vector<BlockKey> fixed, sliding, persistent;
  {
    Warehouse w(dir, time);
    fixed = w.Store(w.fixed, w.fixed_ns);
    sliding = w.Store(w.sliding, w.sliding_ns);
    persistent = w.Store(w.persistent, w.persistent_ns);
    w.Advance(6'000);
    ASSERT_EQ(w.Matched(w.sliding, sliding), 3u);  // renewed to 16 s; fixed ones still end at 10 s
    ASSERT_TRUE(w.store->FlushDisk().ok());
  }  // closed: the renewed deadlines are saved
  Warehouse w(dir, time);  // a new process: its clock has another epoch, DRAM is empty
  LookupResult on_disk = w.store->Lookup(w.fixed, fixed).value();
  ASSERT_EQ(on_disk.matched, 3u);
  EXPECT_EQ(on_disk.tiers[0], Tier::kDisk);
  w.Advance(5'000);  // 11 s after the store, 5 s after the last hit
  EXPECT_EQ(w.Matched(w.fixed, fixed), 0u) << "served after its fixed deadline";
  EXPECT_TRUE(w.Get(w.fixed, w.fixed_ns, fixed[0]).IsNotFound());
  // Not hit since the restart (a lookup would renew them): test through Get of the last block only.
  w.Advance(4'000);  // 15 s: alive only through the renewal made before the restart
  EXPECT_TRUE(w.Get(w.sliding, w.sliding_ns, sliding[2]).ok());
  w.Advance(kTtlMs);
  EXPECT_TRUE(w.Get(w.sliding, w.sliding_ns, sliding[0]).IsNotFound());
  EXPECT_TRUE(w.Get(w.sliding, w.sliding_ns, sliding[2]).IsNotFound());
  EXPECT_EQ(w.Matched(w.persistent, persistent), 3u);
}

TEST(Retention, WithoutARenewalFileObjectsExpireAtTheirRecordsDeadline) {
  // Directories written before renewals existed have no renewal file: nothing changes for them.
  const std::string dir = testing::FreshDir("retention_old_dir");
  Time time;
  std::vector<BlockKey> sliding;
  {
    Warehouse w(dir, time);
    sliding = w.Store(w.sliding, w.sliding_ns);
    w.Advance(6'000);
    ASSERT_EQ(w.Matched(w.sliding, sliding), 3u);
  }
  RenewalFile file(Env::Posix(), dir, "local");
  ASSERT_EQ(file.Load().size(), 3u);
  (void)Env::Posix()->Delete(file.SlotPath(0));
  (void)Env::Posix()->Delete(file.SlotPath(1));
  Warehouse w(dir, time);
  w.Advance(3'000);  // 9 s after the store
  ASSERT_TRUE(w.Get(w.sliding, w.sliding_ns, sliding[0]).ok());
  w.Advance(1'000);  // 10 s: the record's own deadline, had the renewal at 6 s been lost
  // keys[0] was renewed by the Get at 9 s, in this process: it lives; keys[1] was not.
  EXPECT_TRUE(w.Get(w.sliding, w.sliding_ns, sliding[0]).ok());
  EXPECT_TRUE(w.Get(w.sliding, w.sliding_ns, sliding[1]).IsNotFound());
}

TEST(Retention, RenewalsReachTheFileWithinTheFlushIntervalWithoutAClose) {
  // What a crash keeps: the renewals saved by the writer on its interval, not on close.
  const std::string dir = testing::FreshDir("retention_interval");
  EmbeddedStoreOptions o = Options(dir);
  o.disk_renewal_flush_ms = 20;
  ManualClock clock;
  auto store = OpenEmbeddedStore(o, StoreSeams{.clock = &clock}).value();
  Namespace ns = SmallNamespace();
  const NamespaceId id = store->RegisterNamespace(ns, {.ttl_ms = kTtlMs, .ttl_sliding = true}).value();
  std::vector<BlockKey> keys = ChainKeys(ns, 2, 9);
  for (size_t i = 0; i < keys.size(); ++i) ASSERT_TRUE(store->Put(id, RefAt(ns, keys, i), PayloadFor(keys[i], 4096)).ok());
  ASSERT_TRUE(store->FlushDisk().ok());  // written, so the renewals below are of indexed records
  clock.AdvanceMs(1'000);
  ASSERT_EQ(store->Lookup(id, keys).value().matched, 2u);
  RenewalFile file(Env::Posix(), dir, "local");
  std::vector<Renewal> saved;
  for (int i = 0; i < 500 && saved.size() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    saved = file.Load();
  }
  EXPECT_EQ(saved.size(), 2u) << "the writer did not save the renewals within its interval";
}

TEST(RenewalFile, ATornSlotFallsBackToTheOtherOne) {
  const std::string dir = testing::FreshDir("renewal_slots");
  RenewalFile file(Env::Posix(), dir, "o");
  EXPECT_TRUE(file.Load().empty());
  Renewal a{testing::TestNs(1), testing::TestKey(1), 1'000};
  Renewal b{testing::TestNs(1), testing::TestKey(2), 2'000};
  ASSERT_TRUE(file.Save(std::vector<Renewal>{a}).ok());     // generation 1 -> slot 1
  ASSERT_TRUE(file.Save(std::vector<Renewal>{a, b}).ok());  // generation 2 -> slot 0
  EXPECT_EQ(RenewalFile(Env::Posix(), dir, "o").Load().size(), 2u);
  // Tear the newest slot: its checksum fails, the older one is used.
  auto f = Env::Posix()->Open(file.SlotPath(0), FileOptions{.direct = false}).value();
  std::vector<std::byte> junk(8, std::byte{0x5a});
  ASSERT_TRUE(f->WriteAt(70, junk).ok());
  RenewalFile reopened(Env::Posix(), dir, "o");
  std::vector<Renewal> got = reopened.Load();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].key, a.key);
  EXPECT_EQ(got[0].expires_wall_ms, 1'000u);
  // The next save goes to the torn slot, keeping the good one.
  ASSERT_TRUE(reopened.Save(std::vector<Renewal>{b}).ok());
  got = RenewalFile(Env::Posix(), dir, "o").Load();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].key, b.key);
}

TEST(RenewalFile, DecodeRejectsDamage) {
  Renewal a{testing::TestNs(1), testing::TestKey(1), 1'000};
  std::vector<uint8_t> bytes = EncodeRenewals(3, std::vector<Renewal>{a});
  uint64_t generation = 0;
  std::vector<Renewal> out;
  ASSERT_TRUE(DecodeRenewals(bytes, &generation, &out).ok());
  EXPECT_EQ(generation, 3u);
  for (size_t at : {0ul, 8ul, 24ul, 64ul, 100ul}) {
    std::vector<uint8_t> bad = bytes;
    bad[at] ^= 1;
    EXPECT_FALSE(DecodeRenewals(bad, &generation, &out).ok()) << at;
  }
  EXPECT_FALSE(DecodeRenewals(std::span(bytes).first(bytes.size() - 1), &generation, &out).ok());
}

TEST(MinPrefix, ShortPromptsAreSkippedWholeAndCounted) {
  EmbeddedStoreOptions o = Options("");
  auto store = EmbeddedStore::Open(o).value();
  Namespace ns = SmallNamespace();  // 16 tokens a block
  const NamespaceId id = store->RegisterNamespace(ns, {.min_prefix_tokens = 64}).value();
  const uint64_t bytes = ns.geometry.ObjectBytes();
  auto batch = [&](const std::vector<BlockKey>& keys, size_t from, size_t n) {
    std::vector<std::vector<std::byte>> data;
    std::vector<PutItem> items;
    for (size_t i = from; i < from + n; ++i) data.push_back(PayloadFor(keys[i], bytes));
    for (size_t i = from; i < from + n; ++i) items.push_back({RefAt(ns, keys, i), data[i - from]});
    return store->PutBatch(id, items);
  };
  // 3 blocks = 48 tokens < 64: OK for the engine, nothing stored.
  std::vector<BlockKey> short_prompt = ChainKeys(ns, 3, 1);
  BatchStatus b = batch(short_prompt, 0, 3);
  ASSERT_TRUE(b.all_ok());
  EXPECT_EQ(store->Lookup(id, short_prompt).value().matched, 0u);
  // Its continuation, block by block, is skipped too (its first blocks are not there).
  EXPECT_TRUE(store->Put(id, RefAt(ns, ChainKeys(ns, 4, 1), 3), PayloadFor(ChainKeys(ns, 4, 1)[3], bytes)).ok());
  // 4 blocks = 64 tokens: stored.
  std::vector<BlockKey> long_prompt = ChainKeys(ns, 4, 2);
  ASSERT_TRUE(batch(long_prompt, 0, 4).all_ok());
  EXPECT_EQ(store->Lookup(id, long_prompt).value().matched, 4u);
  // Continuing a stored chain is stored, however short the request.
  std::vector<BlockKey> longer = ChainKeys(ns, 5, 2);
  ASSERT_TRUE(batch(longer, 4, 1).all_ok());
  EXPECT_EQ(store->Lookup(id, longer).value().matched, 5u);
  StoreStats s = store->Stats().value();
  EXPECT_EQ(s.skipped_short, 4u);
  EXPECT_EQ(s.put_rejected, 0u);
  // Registered again asking for less (a cluster peer asks 1): the smallest wins, storing more.
  ASSERT_TRUE(store->RegisterNamespace(ns, {.min_prefix_tokens = 1}).ok());
  std::vector<BlockKey> now_kept = ChainKeys(ns, 3, 4);
  ASSERT_TRUE(batch(now_kept, 0, 3).all_ok());
  EXPECT_EQ(store->Lookup(id, now_kept).value().matched, 3u);
  ASSERT_TRUE(store->RegisterNamespace(ns, {.min_prefix_tokens = 64}).ok());  // never raised again
  EXPECT_EQ(store->Lookup(id, now_kept).value().matched, 3u);
  // A namespace without the option stores everything.
  const NamespaceId all = store->RegisterNamespace(SmallNamespace("t", "all"), {}).value();
  std::vector<BlockKey> one = ChainKeys(SmallNamespace("t", "all"), 1, 3);
  ASSERT_TRUE(store->Put(all, {one[0], SmallNamespace("t", "all").Root()}, PayloadFor(one[0], bytes)).ok());
  EXPECT_EQ(store->Lookup(all, one).value().matched, 1u);
}

TEST(Retention, ReRegisteringWithAnotherRetentionIsRefused) {
  auto store = EmbeddedStore::Open(Options("")).value();
  Namespace ns = SmallNamespace();
  ASSERT_TRUE(store->RegisterNamespace(ns, {.ttl_ms = 300'000, .ttl_sliding = true}).ok());
  EXPECT_TRUE(store->RegisterNamespace(ns, {.ttl_ms = 300'000, .ttl_sliding = true}).ok());
  Result<NamespaceId> other = store->RegisterNamespace(ns, {.ttl_ms = 300'000});
  ASSERT_TRUE(other.status().IsInvalidArgument());
  EXPECT_NE(other.status().message().find("5m sliding"), std::string::npos) << other.status().ToString();
}

}  // namespace
}  // namespace tw

#include <gtest/gtest.h>

#include "common/clock.h"
#include "store/store_seams.h"
#include "store/store_test_util.h"
#include "tw/embedded_store.h"

namespace tw {
namespace {

using testing::ChainKeys;
using testing::PayloadFor;
using testing::PutChain;
using testing::RefAt;
using testing::SmallNamespace;

class EmbeddedStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Open({}); }

  void Open(std::map<std::string, uint64_t> quotas, uint64_t capacity = 64 * 4096) {
    EmbeddedStoreOptions o;
    o.dram_capacity_bytes = capacity;
    o.page_bytes = 4096;
    o.tenant_quota_bytes = std::move(quotas);
    auto s = OpenEmbeddedStore(o, StoreSeams{.clock = &clock_});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    nspace_ = SmallNamespace();
    ns_ = store_->RegisterNamespace(nspace_, {}).value();
  }

  uint64_t ObjectBytes() const { return nspace_.geometry.ObjectBytes(); }
  TierStats Dram() { return store_->Stats()->tiers[0]; }

  ManualClock clock_;
  std::unique_ptr<EmbeddedStore> store_;
  Namespace nspace_;
  NamespaceId ns_;
};

TEST_F(EmbeddedStoreTest, PutThenGetReturnsTheBytes) {
  auto keys = ChainKeys(nspace_, 3, 1);
  ASSERT_TRUE(PutChain(*store_, ns_, nspace_, keys).ok());
  for (const BlockKey& k : keys) {
    std::vector<std::byte> out(ObjectBytes());
    ASSERT_TRUE(store_->Get(ns_, k, out).ok());
    EXPECT_EQ(out, PayloadFor(k, ObjectBytes()));
  }
  EXPECT_EQ(Dram().objects, 3u);
}

TEST_F(EmbeddedStoreTest, LookupFindsTheLongestPresentPrefix) {
  auto keys = ChainKeys(nspace_, 5, 2);
  ASSERT_TRUE(PutChain(*store_, ns_, nspace_, std::vector<BlockKey>(keys.begin(), keys.begin() + 3)).ok());
  auto r = store_->Lookup(ns_, keys);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->matched, 3u);
  EXPECT_EQ(r->tiers, std::vector<Tier>(3, Tier::kDram));
  ASSERT_TRUE(store_->Remove(ns_, keys[1]).ok());
  EXPECT_EQ(store_->Lookup(ns_, keys)->matched, 1u);  // stops at the first miss
  EXPECT_EQ(store_->Lookup(ns_, {})->matched, 0u);
}

TEST_F(EmbeddedStoreTest, SlicesReadTheirRuns) {
  auto keys = ChainKeys(nspace_, 1, 3);
  ASSERT_TRUE(PutChain(*store_, ns_, nspace_, keys).ok());
  const auto whole = PayloadFor(keys[0], ObjectBytes());
  KvSlice slice{1, 2, 1, 2};  // layer 1, head 1: two runs (K and V)
  std::vector<std::byte> out(nspace_.geometry.SliceBytes(slice));
  ASSERT_TRUE(store_->Get(ns_, keys[0], out, slice).ok());
  std::vector<std::byte> want;
  auto runs = nspace_.geometry.SliceRuns(slice);
  ASSERT_TRUE(runs.ok());
  for (const ByteRun& r : *runs) {
    want.insert(want.end(), whole.begin() + r.offset, whole.begin() + r.offset + r.length);
  }
  EXPECT_EQ(out, want);
  std::vector<std::byte> wrong(out.size() + 1);
  EXPECT_TRUE(store_->Get(ns_, keys[0], wrong, slice).IsInvalidArgument());
  EXPECT_TRUE(store_->Get(ns_, keys[0], out, KvSlice{0, 9, 0, 0}).IsInvalidArgument());
}

// A namespace with a codec is its own namespace, holds objects of the codec's exact size (the
// engine's encoding: the store keeps bytes) and serves them whole only.
TEST_F(EmbeddedStoreTest, ACodecNamespaceHoldsEncodedObjectsWhole) {
  Namespace coded = nspace_;
  coded.codec = KvCodec::kInt8;
  const NamespaceId id = store_->RegisterNamespace(coded, {}).value();
  EXPECT_NE(id, ns_);
  const uint64_t bytes = coded.ObjectBytes();
  ASSERT_EQ(bytes, EncodedKvBound(KvCodec::kInt8, coded.geometry));
  ASSERT_NE(bytes, ObjectBytes());
  auto keys = ChainKeys(coded, 1, 9);
  EXPECT_TRUE(store_->Put(id, RefAt(coded, keys, 0), PayloadFor(keys[0], ObjectBytes())).IsInvalidArgument());
  ASSERT_TRUE(store_->Put(id, RefAt(coded, keys, 0), PayloadFor(keys[0], bytes)).ok());
  std::vector<std::byte> out(bytes);
  ASSERT_TRUE(store_->Get(id, keys[0], out).ok());
  EXPECT_EQ(out, PayloadFor(keys[0], bytes));
  std::vector<std::byte> part(coded.geometry.SliceBytes(KvSlice::Layers(0, 1)));
  EXPECT_EQ(store_->Get(id, keys[0], part, KvSlice::Layers(0, 1)).code(), StatusCode::kNotSupported);
  EXPECT_EQ(store_->Lookup(ns_, keys)->matched, 0u);  // the plain namespace never sees it
  Namespace lossless = nspace_;
  lossless.codec = KvCodec::kLossless;
  EXPECT_EQ(store_->RegisterNamespace(lossless, {}).status().code(), StatusCode::kNotSupported);
}

TEST_F(EmbeddedStoreTest, ZeroCopyWriteIsInvisibleUntilCommit) {
  auto keys = ChainKeys(nspace_, 1, 4);
  auto h = store_->Reserve(ns_, RefAt(nspace_, keys, 0));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->size_bytes(), ObjectBytes());
  ASSERT_TRUE(h->Write(0, PayloadFor(keys[0], ObjectBytes())).ok());
  EXPECT_EQ(store_->Lookup(ns_, keys)->matched, 0u);
  ASSERT_TRUE(store_->Commit(*h).ok());
  EXPECT_EQ(store_->Lookup(ns_, keys)->matched, 1u);
  EXPECT_TRUE(store_->Commit(*h).IsInvalidArgument());  // double commit
  std::vector<std::byte> out(ObjectBytes());
  ASSERT_TRUE(store_->Get(ns_, keys[0], out).ok());
  EXPECT_EQ(out, PayloadFor(keys[0], ObjectBytes()));
}

TEST_F(EmbeddedStoreTest, AChainCanBeReservedAtOnceAndIsCommittedInOrder) {
  auto keys = ChainKeys(nspace_, 3, 6);
  std::vector<WriteHandle> handles;
  for (size_t i = 0; i < keys.size(); ++i) {
    auto h = store_->Reserve(ns_, RefAt(nspace_, keys, i));  // parents reserved, not yet committed
    ASSERT_TRUE(h.ok()) << i << ": " << h.status().ToString();
    ASSERT_TRUE(h->Write(0, PayloadFor(keys[i], ObjectBytes())).ok());
    handles.push_back(std::move(*h));
  }
  // A Put (no reservation of its own) still needs a committed parent.
  auto more = ChainKeys(nspace_, 4, 6);
  EXPECT_TRUE(store_->Put(ns_, RefAt(nspace_, more, 3), PayloadFor(more[3], ObjectBytes())).IsInvalidArgument());
  // The last block before its parent: refused and dropped, never published as an orphan.
  EXPECT_TRUE(store_->Commit(handles[2]).IsInvalidArgument());
  ASSERT_TRUE(store_->Commit(handles[0]).ok());
  ASSERT_TRUE(store_->Commit(handles[1]).ok());
  EXPECT_EQ(store_->Lookup(ns_, keys)->matched, 2u);
  std::vector<std::byte> out(ObjectBytes());
  ASSERT_TRUE(store_->Get(ns_, keys[1], out).ok());
  EXPECT_EQ(out, PayloadFor(keys[1], ObjectBytes()));
  // A parent whose reservation is aborted takes its reserved child down with it at commit.
  auto other = ChainKeys(nspace_, 2, 7);
  auto parent = store_->Reserve(ns_, RefAt(nspace_, other, 0));
  auto child = store_->Reserve(ns_, RefAt(nspace_, other, 1));
  ASSERT_TRUE(parent.ok() && child.ok());
  { WriteHandle dropped = std::move(*parent); }  // aborted
  EXPECT_TRUE(store_->Commit(*child).IsInvalidArgument());
  EXPECT_EQ(store_->Lookup(ns_, other)->matched, 0u);
  // ...and once nothing is reserved, a reservation needs a present parent again.
  EXPECT_TRUE(store_->Reserve(ns_, RefAt(nspace_, other, 1)).status().IsInvalidArgument());
}

TEST_F(EmbeddedStoreTest, AbortedWriteLeavesNothing) {
  auto keys = ChainKeys(nspace_, 1, 5);
  const uint64_t used = Dram().used_bytes;
  {
    auto h = store_->Reserve(ns_, RefAt(nspace_, keys, 0));
    ASSERT_TRUE(h.ok());
    ASSERT_TRUE(h->Write(0, PayloadFor(keys[0], 100)).ok());  // half-written, then dropped
    EXPECT_GT(Dram().used_bytes, used);
  }
  EXPECT_EQ(store_->Lookup(ns_, keys)->matched, 0u);
  EXPECT_EQ(Dram().used_bytes, used);
  WriteHandle closed;
  EXPECT_TRUE(store_->Commit(closed).IsInvalidArgument());
}

TEST_F(EmbeddedStoreTest, ReserveOfAPresentKeyCommitsAsANoOp) {
  auto keys = ChainKeys(nspace_, 1, 6);
  ASSERT_TRUE(PutChain(*store_, ns_, nspace_, keys).ok());
  auto h = store_->Reserve(ns_, RefAt(nspace_, keys, 0));
  ASSERT_TRUE(h.ok());
  EXPECT_TRUE(h->segments().empty());
  EXPECT_TRUE(store_->Commit(*h).ok());
  EXPECT_EQ(store_->Stats()->put_duplicates, 1u);
}

TEST_F(EmbeddedStoreTest, AcquirePinsAndSurvivesRemove) {
  auto keys = ChainKeys(nspace_, 1, 7);
  ASSERT_TRUE(PutChain(*store_, ns_, nspace_, keys).ok());
  auto h = store_->Acquire(ns_, keys[0], 1000);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(store_->Stats()->pinned_objects, 1u);
  ASSERT_TRUE(store_->Remove(ns_, keys[0]).ok());
  EXPECT_EQ(store_->Lookup(ns_, keys)->matched, 0u);
  std::vector<std::byte> out(ObjectBytes());
  auto runs = nspace_.geometry.SliceRuns(KvSlice::All()).value();
  ASSERT_TRUE(h->CopyRuns(runs, out).ok());  // memory stays valid for the handle's lifetime
  EXPECT_EQ(out, PayloadFor(keys[0], ObjectBytes()));
  *h = ReadHandle();
  EXPECT_EQ(store_->Stats()->active_leases, 0u);
  EXPECT_TRUE(store_->Acquire(ns_, keys[0], 1000).status().IsNotFound());
  EXPECT_TRUE(store_->Acquire(ns_, keys[0], 0).status().IsInvalidArgument());
}

TEST_F(EmbeddedStoreTest, PinsBlockEvictionUntilTheyExpire) {
  Open({}, 4 * 4096);
  auto keys = ChainKeys(nspace_, 4, 8);
  ASSERT_TRUE(PutChain(*store_, ns_, nspace_, keys).ok());
  auto lease = store_->Pin(ns_, keys, 100);
  ASSERT_TRUE(lease.ok());
  auto more = ChainKeys(nspace_, 1, 9);
  EXPECT_TRUE(PutChain(*store_, ns_, nspace_, more).IsResourceExhausted());
  EXPECT_EQ(store_->Lookup(ns_, keys)->matched, 4u);  // nothing pinned was evicted
  clock_.AdvanceMs(101);
  EXPECT_TRUE(PutChain(*store_, ns_, nspace_, more).ok());
  EXPECT_EQ(store_->Unpin(*lease).code(), StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(store_->Unpin(12345).IsInvalidArgument());
}

TEST_F(EmbeddedStoreTest, PinIsAllOrNothing) {
  auto keys = ChainKeys(nspace_, 2, 10);
  ASSERT_TRUE(PutChain(*store_, ns_, nspace_, {keys[0]}).ok());
  EXPECT_TRUE(store_->Pin(ns_, keys, 1000).status().IsNotFound());
  EXPECT_EQ(store_->Stats()->active_leases, 0u);
  EXPECT_TRUE(store_->Pin(ns_, keys, 0).status().IsInvalidArgument());
  auto lease = store_->Pin(ns_, std::span(keys.data(), 1), 1000);
  ASSERT_TRUE(lease.ok());
  EXPECT_TRUE(store_->Unpin(*lease).ok());
  EXPECT_EQ(store_->Unpin(*lease).code(), StatusCode::kDeadlineExceeded);
}

TEST_F(EmbeddedStoreTest, TtlExpiresObjects) {
  Namespace short_lived = SmallNamespace("t", "ttl-model");
  auto id = store_->RegisterNamespace(short_lived, {.ttl_ms = 1000});
  ASSERT_TRUE(id.ok());
  auto keys = ChainKeys(short_lived, 2, 11);
  ASSERT_TRUE(PutChain(*store_, *id, short_lived, keys).ok());
  clock_.AdvanceMs(999);
  EXPECT_EQ(store_->Lookup(*id, keys)->matched, 2u);
  clock_.AdvanceMs(1);
  EXPECT_EQ(store_->Lookup(*id, keys)->matched, 0u);
  std::vector<std::byte> out(short_lived.geometry.ObjectBytes());
  EXPECT_TRUE(store_->Get(*id, keys[0], out).IsNotFound());
  // Re-registering with another TTL is refused rather than silently changing retention.
  EXPECT_TRUE(store_->RegisterNamespace(short_lived, {.ttl_ms = 5}).status().IsInvalidArgument());
  // A fresh store of an expired key replaces it, with a new TTL.
  ASSERT_TRUE(store_->Put(*id, RefAt(short_lived, keys, 0), PayloadFor(keys[0], out.size())).ok());
  EXPECT_EQ(store_->Lookup(*id, keys)->matched, 1u);
  ASSERT_TRUE(store_->Get(*id, keys[0], out).ok());
  EXPECT_EQ(out, PayloadFor(keys[0], out.size()));
  EXPECT_EQ(Dram().objects, 2u);  // keys[1] is expired (a miss) until eviction reclaims it
}

TEST_F(EmbeddedStoreTest, ExpiredObjectsAreEvictedBeforeLiveOnes) {
  Open({}, 4 * 4096);
  Namespace short_lived = SmallNamespace("t", "ttl-model");
  NamespaceId sid = store_->RegisterNamespace(short_lived, {.ttl_ms = 10}).value();
  auto old_live = ChainKeys(nspace_, 2, 30);
  ASSERT_TRUE(PutChain(*store_, ns_, nspace_, old_live).ok());  // least recently used
  auto expiring = ChainKeys(short_lived, 2, 31);
  ASSERT_TRUE(PutChain(*store_, sid, short_lived, expiring).ok());
  clock_.AdvanceMs(10);
  auto fresh = ChainKeys(nspace_, 2, 32);
  ASSERT_TRUE(PutChain(*store_, ns_, nspace_, fresh).ok());
  EXPECT_EQ(store_->Lookup(ns_, old_live)->matched, 2u);
  EXPECT_EQ(store_->Lookup(ns_, fresh)->matched, 2u);
  EXPECT_EQ(Dram().objects, 4u);
}

TEST_F(EmbeddedStoreTest, NamespacesNeverShareBlocks) {
  Namespace other_tenant = SmallNamespace("someone-else");
  Namespace other_salt = SmallNamespace();
  other_salt.cache_salt = "salt";
  auto a = ChainKeys(nspace_, 2, 12);
  ASSERT_TRUE(PutChain(*store_, ns_, nspace_, a).ok());
  for (const Namespace& n : {other_tenant, other_salt}) {
    NamespaceId id = store_->RegisterNamespace(n, {}).value();
    EXPECT_EQ(store_->Lookup(id, ChainKeys(n, 2, 12))->matched, 0u);
    EXPECT_EQ(store_->Lookup(id, a)->matched, 0u);  // even with the other namespace's keys
  }
}

TEST_F(EmbeddedStoreTest, TenantQuotaEvictsOwnBlocksOnly) {
  Open({{"small", 2 * 4096}});
  Namespace small = SmallNamespace("small");
  NamespaceId sid = store_->RegisterNamespace(small, {}).value();
  auto mine = ChainKeys(nspace_, 4, 13);
  ASSERT_TRUE(PutChain(*store_, ns_, nspace_, mine).ok());
  auto a = ChainKeys(small, 1, 14), b = ChainKeys(small, 2, 15);
  ASSERT_TRUE(PutChain(*store_, sid, small, a).ok());
  ASSERT_TRUE(store_->Put(sid, RefAt(small, b, 0), PayloadFor(b[0], 4096)).ok());
  // At quota. b[1] needs room: its parent b[0] is protected, so the tenant's other block goes.
  ASSERT_TRUE(store_->Put(sid, RefAt(small, b, 1), PayloadFor(b[1], 4096)).ok());
  EXPECT_EQ(store_->Lookup(sid, a)->matched, 0u);
  EXPECT_EQ(store_->Lookup(sid, b)->matched, 2u);
  EXPECT_EQ(store_->Lookup(ns_, mine)->matched, 4u);  // the other tenant lost nothing
  // A block bigger than the whole quota is refused outright.
  Namespace wide = SmallNamespace("small", "wide");
  wide.geometry.layers = 6;  // 12 KiB
  NamespaceId wid = store_->RegisterNamespace(wide, {}).value();
  auto w = ChainKeys(wide, 1, 16);
  EXPECT_TRUE(PutChain(*store_, wid, wide, w).IsResourceExhausted());
}

TEST_F(EmbeddedStoreTest, MakingRoomNeverEvictsTheNewBlocksParent) {
  Open({}, 4 * 4096);
  auto chain = ChainKeys(nspace_, 8, 17);
  // A chain longer than the tier: every put must find room without orphaning itself.
  ASSERT_TRUE(PutChain(*store_, ns_, nspace_, chain).ok());
  EXPECT_EQ(Dram().objects, 4u);
  std::vector<std::byte> out(ObjectBytes());
  EXPECT_TRUE(store_->Get(ns_, chain[7], out).ok());
  EXPECT_TRUE(store_->Get(ns_, chain[6], out).ok());
}

// ---- Bad input: each returns a clear Status, changes nothing and leaks nothing.

class BadInputTest : public EmbeddedStoreTest {
 protected:
  void ExpectUnchanged() {
    TierStats now = Dram();
    EXPECT_EQ(now.objects, before_.objects);
    EXPECT_EQ(now.used_bytes, before_.used_bytes);
    EXPECT_EQ(store_->Stats()->active_leases, 0u);
  }
  void SetUp() override {
    EmbeddedStoreTest::SetUp();
    keys_ = ChainKeys(nspace_, 3, 20);
    ASSERT_TRUE(PutChain(*store_, ns_, nspace_, {keys_[0]}).ok());
    before_ = Dram();
  }
  std::vector<BlockKey> keys_;
  TierStats before_;
};

TEST_F(BadInputTest, WrongObjectSize) {
  auto data = PayloadFor(keys_[1], ObjectBytes() - 1);
  EXPECT_TRUE(store_->Put(ns_, RefAt(nspace_, keys_, 1), data).IsInvalidArgument());
  EXPECT_TRUE(store_->Put(ns_, RefAt(nspace_, keys_, 1), {}).IsInvalidArgument());
  ExpectUnchanged();
}

TEST_F(BadInputTest, ZeroAndOversizedGeometry) {
  Namespace zero = SmallNamespace("t", "zero");
  zero.geometry.layers = 0;
  EXPECT_TRUE(store_->RegisterNamespace(zero, {}).status().IsInvalidArgument());
  Namespace big = SmallNamespace("t", "big");
  big.geometry.layers = 4096;  // 8 MiB objects in a 256 KiB tier
  NamespaceId id = store_->RegisterNamespace(big, {}).value();
  auto keys = ChainKeys(big, 1, 21);
  std::vector<std::byte> data(big.geometry.ObjectBytes());
  EXPECT_TRUE(store_->Put(id, RefAt(big, keys, 0), data).IsInvalidArgument());
  EXPECT_TRUE(store_->Reserve(id, RefAt(big, keys, 0)).status().IsInvalidArgument());
  ExpectUnchanged();
}

TEST_F(BadInputTest, UnknownNamespace) {
  NamespaceId unknown;
  unknown.bytes[0] = 1;
  std::vector<std::byte> out(ObjectBytes());
  EXPECT_TRUE(store_->Lookup(unknown, keys_).status().IsFailedPrecondition());
  EXPECT_TRUE(store_->Put(unknown, RefAt(nspace_, keys_, 1), out).IsFailedPrecondition());
  EXPECT_TRUE(store_->Get(unknown, keys_[0], out).IsFailedPrecondition());
  EXPECT_TRUE(store_->Reserve(unknown, RefAt(nspace_, keys_, 1)).status().IsFailedPrecondition());
  EXPECT_TRUE(store_->Pin(unknown, keys_, 10).status().IsFailedPrecondition());
  EXPECT_TRUE(store_->Remove(unknown, keys_[0]).IsFailedPrecondition());
  ExpectUnchanged();
}

TEST_F(BadInputTest, KeysOutOfChainOrder) {
  // Block 2's parent (block 1) was never stored.
  Status s = store_->Put(ns_, RefAt(nspace_, keys_, 2), PayloadFor(keys_[2], ObjectBytes()));
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("chain order"), std::string_view::npos);
  EXPECT_TRUE(store_->Reserve(ns_, RefAt(nspace_, keys_, 2)).status().IsInvalidArgument());
  EXPECT_TRUE(store_->Put(ns_, {keys_[1], keys_[1]}, PayloadFor(keys_[1], ObjectBytes())).IsInvalidArgument());
  EXPECT_TRUE(store_->Put(ns_, {nspace_.Root(), nspace_.Root()}, PayloadFor(keys_[1], ObjectBytes())).IsInvalidArgument());
  // A batch whose child comes before its parent: the child fails, the parent succeeds.
  std::vector<std::byte> d1 = PayloadFor(keys_[1], ObjectBytes()), d2 = PayloadFor(keys_[2], ObjectBytes());
  std::vector<PutItem> items = {{RefAt(nspace_, keys_, 2), d2}, {RefAt(nspace_, keys_, 1), d1}};
  BatchStatus b = store_->PutBatch(ns_, items);
  ASSERT_EQ(b.items.size(), 2u);
  EXPECT_TRUE(b.items[0].IsInvalidArgument());
  EXPECT_TRUE(b.items[1].ok());
  EXPECT_FALSE(b.all_ok());
  EXPECT_EQ(store_->Stats()->put_rejected, 5u);
}

TEST_F(BadInputTest, MissesAreNotFound) {
  std::vector<std::byte> out(ObjectBytes());
  EXPECT_TRUE(store_->Get(ns_, keys_[2], out).IsNotFound());
  EXPECT_TRUE(store_->Remove(ns_, keys_[2]).IsNotFound());
  std::vector<GetItem> items = {{keys_[0], out, {}}, {keys_[2], out, {}}};
  BatchStatus b = store_->GetBatch(ns_, items);
  EXPECT_TRUE(b.transport.ok());
  EXPECT_TRUE(b.items[0].ok());
  EXPECT_TRUE(b.items[1].IsNotFound());
  ExpectUnchanged();
}

TEST(EmbeddedStoreOpen, RejectsBadOptions) {
  EmbeddedStoreOptions o;
  o.dram_capacity_bytes = 0;
  EXPECT_TRUE(EmbeddedStore::Open(o).status().IsInvalidArgument());
  o.dram_capacity_bytes = 1 << 20;
  o.page_bytes = 3000;
  EXPECT_TRUE(EmbeddedStore::Open(o).status().IsInvalidArgument());
}

}  // namespace
}  // namespace tw

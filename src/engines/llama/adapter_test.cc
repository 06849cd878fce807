// End to end with a real llama.cpp: a tiny random-weight model (4 layers, 2 KV heads of 64) on the
// CPU, blocks of 16 tokens so that short prompts span many blocks. Every "same output" check is on
// the next-token logits, bit for bit.
#include "engines/llama/adapter.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>

#include "daemon_fixture.h"  // tests/integration: a real `tokenwarehouse serve`
#include "engines/llama/random_model.h"
#include "engines/llama/runtime.h"
#include "tw/client.h"
#include "tw/codec.h"
#include "tw/embedded_store.h"

namespace tw::llama {
namespace {

constexpr uint32_t kBlock = 16;

// A Store that forwards to another and fails chosen Gets the way a tier does when an object fails
// its checksum (kCorruption): the adapter must treat it as a miss from that block on.
class FailingGetStore : public Store {
 public:
  explicit FailingGetStore(Store* inner) : inner_(inner) {}
  size_t fail_from_block = SIZE_MAX;  // GetBatch items at or after this index fail

  Result<NamespaceId> RegisterNamespace(const Namespace& n, const NamespaceOptions& o) override {
    return inner_->RegisterNamespace(n, o);
  }
  Result<LookupResult> Lookup(const NamespaceId& ns, std::span<const BlockKey> keys) override {
    return inner_->Lookup(ns, keys);
  }
  Status Put(const NamespaceId& ns, const BlockRef& ref, std::span<const std::byte> data) override {
    return inner_->Put(ns, ref, data);
  }
  Result<WriteHandle> Reserve(const NamespaceId& ns, const BlockRef& ref) override { return inner_->Reserve(ns, ref); }
  Status Get(const NamespaceId& ns, const BlockKey& key, std::span<std::byte> out, const KvSlice& slice) override {
    return inner_->Get(ns, key, out, slice);
  }
  BatchStatus GetBatch(const NamespaceId& ns, std::span<const GetItem> items) override {
    BatchStatus b = inner_->GetBatch(ns, items);
    for (size_t i = fail_from_block; i < b.items.size(); ++i) b.items[i] = Status::Corruption("checksum mismatch");
    return b;
  }
  Result<ReadHandle> Acquire(const NamespaceId& ns, const BlockKey& key, uint64_t lease_ms) override {
    return inner_->Acquire(ns, key, lease_ms);
  }
  Result<LeaseId> Pin(const NamespaceId& ns, std::span<const BlockKey> keys, uint64_t lease_ms) override {
    return inner_->Pin(ns, keys, lease_ms);
  }
  Status Unpin(LeaseId lease) override { return inner_->Unpin(lease); }
  Status Remove(const NamespaceId& ns, const BlockKey& key) override { return inner_->Remove(ns, key); }
  Result<StoreStats> Stats() override { return inner_->Stats(); }

 protected:
  // Handles from Reserve and Acquire belong to the inner store, so these are never reached.
  Status CommitWrite(uint64_t) override { return Status::Internal("not a handle of this store"); }
  void AbortWrite(uint64_t) override {}
  void ReleaseRead(uint64_t) override {}

 private:
  Store* inner_;
};

class LlamaAdapter : public ::testing::TestWithParam<bool> {
 protected:
  static void SetUpTestSuite() {
    Result<std::string> path = CachedRandomModel(RandomModelSpec::Tiny());
    ASSERT_TRUE(path.ok()) << path.status().ToString();
    Result<ModelPtr> m = LoadModel(*path);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    model_ = std::move(m).value().release();
  }
  static void TearDownTestSuite() { ModelPtr drop(model_); }

  void SetUp() override {
    ASSERT_NE(model_, nullptr);
    ContextOptions co;
    co.n_ctx = 1024;
    co.n_batch = 256;
    co.n_seq_max = 2;
    co.flash_attn = GetParam();
    Result<ContextPtr> c = NewContext(model_, co);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    ctx_ = std::move(c).value();
    // The references run in contexts of their own: llama.cpp's attention sums over the cells in
    // cache order, so logits are only comparable bit for bit when the KV sits in the same cells.
    co.n_seq_max = 1;
    recompute_ctx_ = std::move(NewContext(model_, co)).value();
    kept_ctx_ = std::move(NewContext(model_, co)).value();
    EmbeddedStoreOptions so;
    so.dram_capacity_bytes = 64ull << 20;
    so.page_bytes = 64 << 10;
    Result<std::unique_ptr<EmbeddedStore>> s = EmbeddedStore::Open(so);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }

  std::unique_ptr<KvAdapter> Adapter(AdapterOptions o = {}, Store* store = nullptr) {
    o.block_tokens = kBlock;
    Result<std::unique_ptr<KvAdapter>> a = KvAdapter::Open(ctx_.get(), store ? store : store_.get(), o);
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    return a.ok() ? std::move(a).value() : nullptr;
  }

  // Random token ids from the vocabulary's ordinary range.
  static std::vector<llama_token> Tokens(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<llama_token> t(n);
    for (auto& x : t) x = static_cast<llama_token>(100 + rng() % 30000);
    return t;
  }

  // Full recompute: the whole prompt decoded from nothing, no warehouse involved.
  std::vector<float> Recompute(std::span<const llama_token> tokens) {
    llama_memory_clear(llama_get_memory(recompute_ctx_.get()), true);
    EXPECT_TRUE(Decode(recompute_ctx_.get(), 0, tokens, 0).ok());
    return LastLogits(recompute_ctx_.get());
  }

  // What an engine that kept the KV in its own memory would output: its context keeps positions
  // [0, from) of its previous requests (the same prompts, in the same order, as the adapter saw)
  // and decodes [from, n). The warehouse is lossless when a Prefill that reused `from` tokens gives
  // exactly these logits. With flash attention this is the only exact reference: llama.cpp's
  // result then depends on how the prompt was split into batches.
  std::vector<float> EngineKept(std::span<const llama_token> tokens, size_t from) {
    llama_memory_seq_rm(llama_get_memory(kept_ctx_.get()), 0, static_cast<llama_pos>(from), -1);
    EXPECT_TRUE(Decode(kept_ctx_.get(), 0, tokens.subspan(from), static_cast<llama_pos>(from)).ok());
    return LastLogits(kept_ctx_.get());
  }

  // Checks a Prefill's logits against both references (the full recompute only where it is exact).
  void ExpectExact(const std::vector<float>& logits, std::span<const llama_token> tokens, const PrefillStats& st) {
    EXPECT_TRUE(BitIdentical(logits, EngineKept(tokens, st.reused_tokens))) << "against the engine's own KV";
    if (!flash_attn()) {
      EXPECT_TRUE(BitIdentical(logits, Recompute(tokens))) << "against a full recompute";
    }
  }
  bool flash_attn() const { return GetParam(); }

  std::vector<float> PrefillLogits(KvAdapter& a, std::span<const llama_token> tokens, PrefillStats* st) {
    Result<PrefillStats> r = a.Prefill(0, tokens);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (r.ok()) *st = *r;
    return LastLogits(ctx_.get());
  }

  static ::testing::AssertionResult BitIdentical(const std::vector<float>& a, const std::vector<float>& b) {
    if (!a.empty() && a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0) {
      return ::testing::AssertionSuccess();
    }
    double max_diff = 0;
    size_t differ = 0;
    for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
      if (a[i] != b[i]) ++differ;
      max_diff = std::max(max_diff, static_cast<double>(std::abs(a[i] - b[i])));
    }
    return ::testing::AssertionFailure() << differ << " of " << a.size() << " logits differ, max by " << max_diff;
  }

  static llama_model* model_;
  ContextPtr ctx_, recompute_ctx_, kept_ctx_;
  std::unique_ptr<EmbeddedStore> store_;
};
llama_model* LlamaAdapter::model_ = nullptr;

TEST_P(LlamaAdapter, LayoutMatchesAttentionMode) {
  auto a = Adapter();
  ASSERT_NE(a, nullptr);
  // Without flash attention llama.cpp keeps V transposed; the adapter must have seen that.
  EXPECT_EQ(a->layout().v_trans, !GetParam());
  EXPECT_EQ(a->nspace().geometry, (KvGeometry{4, 2, 64, KvDtype::kF16, kBlock}));
}

TEST_P(LlamaAdapter, RestoredPrefixLogitsAreBitIdentical) {
  auto a = Adapter();
  ASSERT_NE(a, nullptr);
  // Whole blocks, a block and one token, one short of a block, a long odd length.
  for (size_t n : {size_t{2 * kBlock}, size_t{kBlock + 1}, size_t{4 * kBlock - 1}, size_t{10 * kBlock + 7}}) {
    SCOPED_TRACE("prompt tokens " + std::to_string(n));
    std::vector<llama_token> prompt = Tokens(n, static_cast<uint32_t>(n));
    llama_memory_clear(llama_get_memory(kept_ctx_.get()), true);

    PrefillStats cold, warm;
    std::vector<float> logits = PrefillLogits(*a, prompt, &cold);
    ExpectExact(logits, prompt, cold);
    EXPECT_EQ(cold.restored_tokens, 0u);
    EXPECT_EQ(cold.stored_blocks, n / kBlock);
    EXPECT_TRUE(cold.store_status.ok()) << cold.store_status.ToString();

    logits = PrefillLogits(*a, prompt, &warm);
    ExpectExact(logits, prompt, warm);
    EXPECT_TRUE(warm.restore_status.ok()) << warm.restore_status.ToString();
    EXPECT_EQ(warm.restored_tokens, n / kBlock * kBlock);
    EXPECT_EQ(warm.computed_tokens, std::max<size_t>(n - warm.restored_tokens, 2));
  }
}

TEST_P(LlamaAdapter, SharedPrefixRestoresOnlyItsBlocks) {
  auto a = Adapter();
  ASSERT_NE(a, nullptr);
  std::vector<llama_token> first = Tokens(6 * kBlock, 1);
  PrefillStats st;
  ExpectExact(PrefillLogits(*a, first, &st), first, st);
  // Same first 3 blocks and 5 tokens, then a different continuation.
  std::vector<llama_token> second(first.begin(), first.begin() + 3 * kBlock + 5);
  for (llama_token t : Tokens(2 * kBlock, 2)) second.push_back(t);
  ExpectExact(PrefillLogits(*a, second, &st), second, st);
  EXPECT_EQ(st.restored_tokens, 3 * kBlock);
  EXPECT_EQ(st.stored_blocks, second.size() / kBlock - 3);
}

TEST_P(LlamaAdapter, MultiTurnSessionHitsPreviousTurns) {
  auto a = Adapter();
  ASSERT_NE(a, nullptr);
  std::vector<llama_token> conversation = Tokens(5 * kBlock + 3, 10);  // system prompt + tools
  size_t previous_full = 0;
  for (uint32_t turn = 0; turn < 4; ++turn) {
    SCOPED_TRACE("turn " + std::to_string(turn));
    for (llama_token t : Tokens(kBlock + 9, 100 + turn)) conversation.push_back(t);  // user message
    PrefillStats st;
    ExpectExact(PrefillLogits(*a, conversation, &st), conversation, st);
    EXPECT_EQ(st.restored_tokens, previous_full);
    for (llama_token t : Tokens(kBlock / 2 + 1, 200 + turn)) conversation.push_back(t);  // the reply
    previous_full = (conversation.size() - (kBlock / 2 + 1)) / kBlock * kBlock;
  }
}

TEST_P(LlamaAdapter, OtherRevisionSaltTenantOrBlockSizeNeverHits) {
  auto a = Adapter();
  ASSERT_NE(a, nullptr);
  std::vector<llama_token> prompt = Tokens(4 * kBlock, 5);
  PrefillStats st;
  PrefillLogits(*a, prompt, &st);
  ASSERT_EQ(st.stored_blocks, 4u);

  AdapterOptions rev, salt, tenant;
  rev.model_revision = "another-revision";
  salt.cache_salt = "user-42";
  tenant.tenant = "other-tenant";
  for (const AdapterOptions& o : {rev, salt, tenant}) {
    auto b = Adapter(o);
    ASSERT_NE(b, nullptr);
    EXPECT_NE(b->namespace_id(), a->namespace_id());
    PrefillLogits(*b, prompt, &st);
    EXPECT_EQ(st.restored_tokens, 0u);
  }
  // A different block size is a different geometry, hence a different namespace.
  AdapterOptions wide;
  wide.block_tokens = 2 * kBlock;
  Result<std::unique_ptr<KvAdapter>> c = KvAdapter::Open(ctx_.get(), store_.get(), wide);
  ASSERT_TRUE(c.ok());
  EXPECT_NE((*c)->namespace_id(), a->namespace_id());
  Result<PrefillStats> r = (*c)->Prefill(0, prompt);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->restored_tokens, 0u);
}

TEST_P(LlamaAdapter, AnotherModelsWeightsGetAnotherRevision) {
  RandomModelSpec other = RandomModelSpec::Tiny();
  other.seed = 2;
  Result<std::string> path = CachedRandomModel(other);
  ASSERT_TRUE(path.ok()) << path.status().ToString();
  Result<ModelPtr> m = LoadModel(*path);
  ASSERT_TRUE(m.ok());
  std::string id_a, rev_a, id_b, rev_b;
  ModelIdentity(model_, &id_a, &rev_a);
  ModelIdentity(m->get(), &id_b, &rev_b);
  EXPECT_EQ(id_a, id_b);
  EXPECT_NE(rev_a, rev_b);
}

TEST_P(LlamaAdapter, CorruptObjectIsAMissAndARecompute) {
  auto a = Adapter();
  ASSERT_NE(a, nullptr);
  std::vector<llama_token> prompt = Tokens(6 * kBlock + 2, 6);
  PrefillStats st;
  ExpectExact(PrefillLogits(*a, prompt, &st), prompt, st);

  FailingGetStore failing(store_.get());
  failing.fail_from_block = 2;  // blocks 2.. fail their checksum
  auto b = Adapter({}, &failing);
  ASSERT_NE(b, nullptr);
  ExpectExact(PrefillLogits(*b, prompt, &st), prompt, st);
  EXPECT_EQ(st.restored_tokens, 2 * kBlock);

  failing.fail_from_block = 0;  // nothing usable: a full recompute
  ExpectExact(PrefillLogits(*b, prompt, &st), prompt, st);
  EXPECT_EQ(st.restored_tokens, 0u);
  EXPECT_EQ(st.computed_tokens, prompt.size());
}

// A coded namespace (fp8, int8): the adapter encodes on Save and decodes on Restore, so the store
// holds fewer bytes a block and a restore gives logits close to (not equal to) the exact ones.
TEST_P(LlamaAdapter, CodedNamespaceStoresFewerBytesAndRestoresCloseLogits) {
  auto exact = Adapter();
  ASSERT_NE(exact, nullptr);
  for (KvCodec codec : {KvCodec::kFp8, KvCodec::kInt8}) {
    SCOPED_TRACE(std::string(KvCodecName(codec)));
    AdapterOptions o;
    o.codec = codec;
    auto a = Adapter(o);
    ASSERT_NE(a, nullptr);
    EXPECT_NE(a->namespace_id(), exact->namespace_id());
    const KvGeometry& g = a->nspace().geometry;
    // One byte a value plus f32 scales, which weigh more in these 16-token blocks of 64-dim heads
    // (0.58 of the f16 bytes here; 0.51 at 256-token blocks of 128-dim heads).
    EXPECT_LT(a->nspace().ObjectBytes(), g.ObjectBytes() * 6 / 10);

    std::vector<llama_token> prompt = Tokens(6 * kBlock + 5, 40 + static_cast<uint32_t>(codec));
    PrefillStats cold, warm;
    const std::vector<float> reference = PrefillLogits(*a, prompt, &cold);
    EXPECT_EQ(cold.stored_blocks, 6u);
    EXPECT_TRUE(cold.store_status.ok()) << cold.store_status.ToString();

    // What the store holds is the encoding: it decodes to the block's canonical bytes' size.
    std::vector<std::byte> stored(a->nspace().ObjectBytes()), canonical(g.ObjectBytes());
    ASSERT_TRUE(store_->Get(a->namespace_id(), a->Keys(prompt)[0], stored).ok());
    EXPECT_TRUE(DecodeKv(codec, g, stored, canonical).ok());

    const std::vector<float> restored = PrefillLogits(*a, prompt, &warm);
    EXPECT_TRUE(warm.restore_status.ok()) << warm.restore_status.ToString();
    EXPECT_EQ(warm.restored_tokens, 6 * kBlock);
    ASSERT_EQ(restored.size(), reference.size());
    double max_diff = 0, max_abs = 0;
    size_t argmax_ref = 0, argmax_got = 0;
    for (size_t i = 0; i < restored.size(); ++i) {
      max_diff = std::max(max_diff, static_cast<double>(std::abs(restored[i] - reference[i])));
      max_abs = std::max(max_abs, static_cast<double>(std::abs(reference[i])));
      if (reference[i] > reference[argmax_ref]) argmax_ref = i;
      if (restored[i] > restored[argmax_got]) argmax_got = i;
    }
    // Lossy: the numbers moved, but little against the logits' scale, and the top token held.
    EXPECT_GT(max_diff, 0.0);
    EXPECT_LT(max_diff, 0.05 * max_abs) << "max |logit| " << max_abs;
    EXPECT_EQ(argmax_got, argmax_ref);
    EXPECT_EQ(a->corrupt_objects(), 0u);

    // The uncoded namespace shares nothing with it.
    PrefillStats other;
    PrefillLogits(*exact, prompt, &other);
    EXPECT_EQ(other.restored_tokens, 0u);
  }
}

// A coded object that does not decode is a counted miss from its block on, and is replaced.
TEST_P(LlamaAdapter, UndecodableCodedObjectIsAMissAndIsReplaced) {
  AdapterOptions o;
  o.codec = KvCodec::kFp8;
  auto a = Adapter(o);
  ASSERT_NE(a, nullptr);
  std::vector<llama_token> prompt = Tokens(3 * kBlock + 2, 77);
  const std::vector<BlockKey> keys = a->Keys(prompt);
  std::vector<std::byte> garbage(a->nspace().ObjectBytes(), std::byte{0x5a});
  ASSERT_TRUE(store_->Put(a->namespace_id(), {keys[0], a->nspace().Root()}, garbage).ok());

  PrefillStats st;
  PrefillLogits(*a, prompt, &st);
  EXPECT_EQ(st.restored_tokens, 0u);
  EXPECT_EQ(a->corrupt_objects(), 1u);
  EXPECT_EQ(st.stored_blocks, 3u);  // block 0 stored again, good this time
  PrefillLogits(*a, prompt, &st);
  EXPECT_EQ(st.restored_tokens, 3 * kBlock);
  EXPECT_EQ(a->corrupt_objects(), 1u);
}

TEST_P(LlamaAdapter, NoRoomForTheRestoreFallsBackToRecompute) {
  auto a = Adapter();
  ASSERT_NE(a, nullptr);
  std::vector<llama_token> prompt = Tokens(30 * kBlock + 3, 8);
  PrefillStats st;
  PrefillLogits(*a, prompt, &st);
  // Sequence 1 takes 600 of the 1024 cells, leaving 424: too few for the 480 restored cells.
  llama_memory_seq_rm(llama_get_memory(ctx_.get()), 0, -1, -1);
  ASSERT_TRUE(Decode(ctx_.get(), 1, Tokens(600, 9), 0).ok());
  Result<size_t> r = a->Restore(0, prompt, prompt.size());
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsResourceExhausted()) << r.status().ToString();
  EXPECT_EQ(llama_memory_seq_pos_max(llama_get_memory(ctx_.get()), 0), -1);  // nothing half-restored
  llama_memory_seq_rm(llama_get_memory(ctx_.get()), 1, -1, -1);
}

// The engine restarts: a new store over the same warehouse directory (what a new process would
// open) and a new context; every block was written through to the disk tier.
TEST_P(LlamaAdapter, RestartedEngineHitsFromDisk) {
  EmbeddedStoreOptions so;
  so.dram_capacity_bytes = 16ull << 20;
  so.page_bytes = 64 << 10;
  const std::string dir = ::testing::TempDir() + "/tw-llama-restart-" + std::to_string(::getpid());
  so.disk_dir = dir;
  so.disk_admission = DiskAdmission::kWriteThrough;
  std::vector<llama_token> prompt = Tokens(8 * kBlock + 5, 11);
  {
    auto store = EmbeddedStore::Open(so);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    auto a = Adapter({}, store->get());
    PrefillStats st;
    PrefillLogits(*a, prompt, &st);
    ASSERT_EQ(st.stored_blocks, 8u);
  }
  // A fresh store over the same directory and a fresh context: nothing in DRAM, everything on disk.
  ctx_.reset();
  ContextOptions co;
  co.n_ctx = 1024;
  co.n_seq_max = 2;
  co.flash_attn = GetParam();
  ctx_ = std::move(NewContext(model_, co)).value();
  auto store = EmbeddedStore::Open(so);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto a = Adapter({}, store->get());
  PrefillStats st;
  const std::vector<float> logits = PrefillLogits(*a, prompt, &st);
  EXPECT_EQ(st.restored_tokens, 8 * kBlock);
  if (!flash_attn()) {
    EXPECT_TRUE(BitIdentical(logits, Recompute(prompt)));
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

// Two engines on one node share KV through the daemon: one stores over the Unix socket (shared
// memory), the other, with a fresh context of its own, restores over TCP; its output is exact.
TEST_P(LlamaAdapter, SecondEngineRestoresThroughTheDaemon) {
  tw::testing::DaemonProcess daemon("dram: {page_bytes: 64KiB}\n");
  ASSERT_TRUE(daemon.ready()) << daemon.log();
  Result<std::unique_ptr<Store>> writer = OpenStore(daemon.unix_url());
  Result<std::unique_ptr<Store>> reader = OpenStore(daemon.tcp_url());
  ASSERT_TRUE(writer.ok() && reader.ok()) << writer.status().ToString() << " " << reader.status().ToString();
  std::vector<llama_token> prompt = Tokens(6 * kBlock + 3, 23);
  llama_memory_clear(llama_get_memory(kept_ctx_.get()), true);
  {
    auto a = Adapter({}, writer->get());
    PrefillStats st;
    ExpectExact(PrefillLogits(*a, prompt, &st), prompt, st);
    ASSERT_EQ(st.stored_blocks, 6u);
    ASSERT_TRUE(st.store_status.ok()) << st.store_status.ToString();
  }
  ctx_.reset();  // the second engine's own context
  ContextOptions co;
  co.n_ctx = 1024;
  co.n_seq_max = 2;
  co.flash_attn = GetParam();
  ctx_ = std::move(NewContext(model_, co)).value();
  auto b = Adapter({}, reader->get());
  PrefillStats st;
  const std::vector<float> logits = PrefillLogits(*b, prompt, &st);
  EXPECT_TRUE(st.restore_status.ok()) << st.restore_status.ToString();
  EXPECT_EQ(st.restored_tokens, 6 * kBlock);
  ExpectExact(logits, prompt, st);
}

// A daemon judges each store request whole against min_prefix_tokens: Save puts a prompt's new
// blocks in one request, so a long prompt is stored (block-by-block Puts would each look like a
// one-block prompt and be skipped) and a short one is skipped, not an error.
TEST_P(LlamaAdapter, DaemonStoresLongPromptsAndSkipsShortOnes) {
  tw::testing::DaemonProcess daemon("dram: {page_bytes: 64KiB}\nretention: {min_prefix_tokens: 64}\n");
  ASSERT_TRUE(daemon.ready()) << daemon.log();
  Result<std::unique_ptr<Store>> store = OpenStore(daemon.unix_url());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto a = Adapter({}, store->get());
  const std::vector<llama_token> long_prompt = Tokens(6 * kBlock + 3, 31);
  const std::vector<llama_token> short_prompt = Tokens(2 * kBlock + 3, 37);
  for (const auto* prompt : {&long_prompt, &short_prompt}) {
    llama_memory_clear(llama_get_memory(ctx_.get()), true);
    PrefillStats st;
    PrefillLogits(*a, *prompt, &st);
    ASSERT_TRUE(st.store_status.ok()) << st.store_status.ToString();
    const bool is_long = prompt == &long_prompt;
    EXPECT_EQ(st.stored_blocks, is_long ? 6u : 0u);
    Result<LookupResult> found = (*store)->Lookup(a->namespace_id(), a->Keys(*prompt));
    ASSERT_TRUE(found.ok()) << found.status().ToString();
    EXPECT_EQ(found->matched, is_long ? 6u : 0u);
  }
  Result<StoreStats> stats = (*store)->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->skipped_short, 2u);
}

INSTANTIATE_TEST_SUITE_P(FlashAttention, LlamaAdapter, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "FlashAttn" : "VTransposed"; });

}  // namespace
}  // namespace tw::llama

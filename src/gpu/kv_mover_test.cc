// The GPU copy path against a CPU reference: objects in a registered DRAM arena are loaded into the HF
// and the paged layouts (both load modes, a partial last block, pages smaller than a run), and stored
// back from the HF layout byte for byte. Skips where no CUDA device is usable.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <random>

#include "tw/embedded_store.h"
#include "tw/gpu.h"

namespace tw::gpu {
namespace {

#define SKIP_WITHOUT_GPU()                                              \
  do {                                                                  \
    Status s_ = Available();                                            \
    if (!s_.ok()) GTEST_SKIP() << "no GPU: " << s_.ToString();          \
  } while (0)

struct Fixture {
  KvGeometry g;
  std::unique_ptr<EmbeddedStore> store;
  std::unique_ptr<HostRegistration> reg;
  NamespaceId ns;
  std::vector<BlockKey> keys;
  std::vector<std::vector<std::byte>> objects;  // reference bytes, canonical layout
  std::vector<ReadHandle> handles;
  std::vector<HostSegments> segments;
};

// blocks objects of random bytes; page_bytes small enough that objects span many pages.
Fixture Make(uint32_t blocks, uint64_t page_bytes) {
  Fixture f;
  f.g = KvGeometry{3, 2, 64, KvDtype::kBF16, 48};  // 6 KiB runs: some cross 4 KiB pages
  EmbeddedStoreOptions o;
  o.dram_capacity_bytes = 16 << 20;
  o.page_bytes = page_bytes;
  f.store = EmbeddedStore::Open(o).value();
  ArenaInfo a = f.store->arena();
  f.reg = HostRegistration::Register(a.base, a.size_bytes).value();
  Namespace n;
  n.model_id = "gpu-test";
  n.geometry = f.g;
  f.ns = f.store->RegisterNamespace(n, {}).value();
  std::vector<uint32_t> tokens(blocks * f.g.block_tokens);
  std::iota(tokens.begin(), tokens.end(), 7);
  f.keys = n.BlockKeys(tokens);
  std::mt19937 rng(42);
  BlockKey parent = n.Root();
  for (uint32_t b = 0; b < blocks; ++b) {
    std::vector<std::byte> obj(f.g.ObjectBytes());
    for (auto& x : obj) x = static_cast<std::byte>(rng());
    EXPECT_TRUE(f.store->Put(f.ns, {f.keys[b], parent}, obj).ok());
    parent = f.keys[b];
    f.objects.push_back(std::move(obj));
    f.handles.push_back(f.store->Acquire(f.ns, f.keys[b], 60000).value());
    f.segments.push_back(f.handles.back().segments());
  }
  return f;
}

// The element bytes of (layer, kv, head, token) in the canonical object of its block.
const std::byte* Canonical(const Fixture& f, uint32_t l, uint32_t kv, uint32_t h, uint64_t t) {
  const uint64_t row = f.g.head_dim * 2;
  const uint64_t b = t / f.g.block_tokens, tok = t % f.g.block_tokens;
  const uint64_t off = (((static_cast<uint64_t>(l) * 2 + kv) * f.g.kv_heads + h) * f.g.block_tokens + tok) * row;
  return f.objects[b].data() + off;
}

struct DeviceKv {
  std::vector<void*> ptrs;
  ~DeviceKv() {
    for (void* p : ptrs) cudaFree(p);
  }
  void* Alloc(size_t bytes) {
    void* p = nullptr;
    EXPECT_EQ(cudaMalloc(&p, bytes), cudaSuccess);
    cudaMemset(p, 0xEE, bytes);  // poison: every byte a load claims must be overwritten
    ptrs.push_back(p);
    return p;
  }
};

void CheckHfLoad(LoadMode mode, uint64_t page_bytes) {
  const uint32_t blocks = 5;
  Fixture f = Make(blocks, page_bytes);
  const uint64_t tokens = blocks * f.g.block_tokens - 9;  // the last block in part
  const uint64_t cap = blocks * f.g.block_tokens + 3;
  const uint64_t row = f.g.head_dim * 2;
  const size_t tensor_bytes = f.g.kv_heads * cap * row;
  DeviceKv mem;
  EngineKv e;
  e.layout = EngineLayout::kHf;
  e.seq_capacity = cap;
  for (uint32_t l = 0; l < f.g.layers; ++l) {
    e.k.push_back(mem.Alloc(tensor_bytes));
    e.v.push_back(mem.Alloc(tensor_bytes));
  }
  MoverOptions mo;
  mo.mode = mode;
  mo.staging_bytes = 1 << 20;
  auto mover = KvMover::Create(f.g, mo).value();
  ASSERT_TRUE(mover->Load(f.segments, tokens, e).ok());
  ASSERT_TRUE(mover->StreamWaitLayer(f.g.layers - 1, 0).ok());
  ASSERT_TRUE(mover->SynchronizeLoad().ok());
  EXPECT_TRUE(mover->LayerReady(0));
  EXPECT_TRUE(mover->LastLoadMs().ok());
  std::vector<std::byte> host(tensor_bytes);
  for (uint32_t l = 0; l < f.g.layers; ++l) {
    for (uint32_t kv = 0; kv < 2; ++kv) {
      ASSERT_EQ(cudaMemcpy(host.data(), kv ? e.v[l] : e.k[l], tensor_bytes, cudaMemcpyDeviceToHost), cudaSuccess);
      for (uint32_t h = 0; h < f.g.kv_heads; ++h) {
        for (uint64_t t = 0; t < cap; ++t) {
          const std::byte* got = host.data() + (h * cap + t) * row;
          if (t < tokens) {
            ASSERT_EQ(std::memcmp(got, Canonical(f, l, kv, h, t), row), 0) << "l" << l << " kv" << kv << " h" << h << " t" << t;
          } else {
            ASSERT_EQ(got[0], std::byte{0xEE}) << "wrote past the loaded tokens at t" << t;
          }
        }
      }
    }
  }

}

TEST(KvMover, LoadsHfLayoutZeroCopy) {
  SKIP_WITHOUT_GPU();
  CheckHfLoad(LoadMode::kZeroCopy, 4096);
}

TEST(KvMover, LoadsHfLayoutStaged) {
  SKIP_WITHOUT_GPU();
  CheckHfLoad(LoadMode::kStaged, 8192);
}

TEST(KvMover, StoresHfLayoutBackByteForByte) {
  SKIP_WITHOUT_GPU();
  const uint32_t blocks = 4;
  Fixture f = Make(blocks, 4096);
  const uint64_t cap = blocks * f.g.block_tokens;
  const uint64_t row = f.g.head_dim * 2;
  const size_t tensor_bytes = f.g.kv_heads * cap * row;
  DeviceKv mem;
  EngineKv e;
  e.seq_capacity = cap;
  for (uint32_t l = 0; l < f.g.layers; ++l) {
    e.k.push_back(mem.Alloc(tensor_bytes));
    e.v.push_back(mem.Alloc(tensor_bytes));
  }
  auto mover = KvMover::Create(f.g, {}).value();
  ASSERT_TRUE(mover->Load(f.segments, cap, e).ok());
  ASSERT_TRUE(mover->SynchronizeLoad().ok());

  // Reserve blocks 1..3 of a second namespace (whose block 0 is put from the host), store from GPU.
  Namespace n2;
  n2.model_id = "gpu-test-store";
  n2.geometry = f.g;
  NamespaceId ns2 = f.store->RegisterNamespace(n2, {}).value();
  std::vector<uint32_t> tokens(cap, 11);
  auto keys = n2.BlockKeys(tokens);
  ASSERT_TRUE(f.store->Put(ns2, {keys[0], n2.Root()}, f.objects[0]).ok());
  // The chain rule lets a block be reserved once its parent is present: block 1 of the copy.
  std::vector<WriteHandle> writes;
  std::vector<MutableHostSegments> out;
  writes.push_back(f.store->Reserve(ns2, {keys[1], keys[0]}).value());
  out.push_back(writes.back().segments());
  for (auto& s : out.back()) std::memset(s.data(), 0, s.size());
  ASSERT_TRUE(mover->MarkStoreInput(0).ok());
  ASSERT_TRUE(mover->Store(e, 1, out).ok());
  ASSERT_TRUE(mover->SynchronizeStore().ok());
  ASSERT_TRUE(f.store->Commit(writes[0]).ok());
  std::vector<std::byte> got(f.g.ObjectBytes());
  ASSERT_TRUE(f.store->Get(ns2, keys[1], got).ok());
  EXPECT_EQ(std::memcmp(got.data(), f.objects[1].data(), got.size()), 0);
}

TEST(KvMover, LoadsPagedLayout) {
  SKIP_WITHOUT_GPU();
  const uint32_t blocks = 3;
  Fixture f = Make(blocks, 4096);
  const uint32_t page_tokens = 16;  // three engine pages per warehouse block
  const uint32_t n_pages = blocks * f.g.block_tokens / page_tokens;
  const uint32_t pool_pages = n_pages + 4;
  const uint64_t row = f.g.head_dim * 2;
  const size_t tensor_bytes = static_cast<size_t>(pool_pages) * page_tokens * f.g.kv_heads * row;
  DeviceKv mem;
  EngineKv e;
  e.layout = EngineLayout::kPaged;
  e.page_tokens = page_tokens;
  for (uint32_t p = 0; p < n_pages; ++p) e.page_table.push_back(static_cast<int32_t>((p * 5 + 2) % pool_pages));
  for (uint32_t l = 0; l < f.g.layers; ++l) {
    e.k.push_back(mem.Alloc(tensor_bytes));
    e.v.push_back(mem.Alloc(tensor_bytes));
  }
  auto mover = KvMover::Create(f.g, {}).value();
  const uint64_t tokens = blocks * f.g.block_tokens;
  ASSERT_TRUE(mover->Load(f.segments, tokens, e).ok());
  ASSERT_TRUE(mover->SynchronizeLoad().ok());
  std::vector<std::byte> host(tensor_bytes);
  for (uint32_t l = 0; l < f.g.layers; ++l) {
    for (uint32_t kv = 0; kv < 2; ++kv) {
      ASSERT_EQ(cudaMemcpy(host.data(), kv ? e.v[l] : e.k[l], tensor_bytes, cudaMemcpyDeviceToHost), cudaSuccess);
      for (uint64_t t = 0; t < tokens; ++t) {
        const uint64_t page = e.page_table[t / page_tokens];
        for (uint32_t h = 0; h < f.g.kv_heads; ++h) {
          const std::byte* got = host.data() + ((page * page_tokens + t % page_tokens) * f.g.kv_heads + h) * row;
          ASSERT_EQ(std::memcmp(got, Canonical(f, l, kv, h, t), row), 0) << "l" << l << " t" << t << " h" << h;
        }
      }
    }
  }
}

TEST(KvMover, RejectsUnregisteredMemoryForZeroCopy) {
  SKIP_WITHOUT_GPU();
  KvGeometry g{1, 1, 64, KvDtype::kBF16, 16};
  std::vector<std::byte> obj(g.ObjectBytes());
  std::vector<HostSegments> segs{{std::span<const std::byte>(obj)}};
  DeviceKv mem;
  EngineKv e;
  e.seq_capacity = 16;
  e.k.push_back(mem.Alloc(16 * 128));
  e.v.push_back(mem.Alloc(16 * 128));
  auto mover = KvMover::Create(g, {}).value();
  EXPECT_TRUE(mover->Load(segs, 16, e).IsInvalidArgument());
}

TEST(KvMover, MeasuresPinnedBandwidth) {
  SKIP_WITHOUT_GPU();
  auto bw = MeasureH2dBandwidth(64 << 20, 3);
  ASSERT_TRUE(bw.ok()) << bw.status().ToString();
  EXPECT_GT(*bw, 1.0);
}

}  // namespace
}  // namespace tw::gpu

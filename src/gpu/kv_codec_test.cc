// The GPU codec path against the CPU codec: fp8, int8 and kivi2 objects of a coded namespace, in a
// registered arena of 4 KiB pages (so runs cross pages), decoded inside a load into the HF and paged
// layouts (bf16 and f16, a partial last block) equal the CPU's DecodeKv bit for bit; a store from
// the GPU writes the bytes the CPU's EncodeKv writes. Skips where no CUDA device is usable.
// (kivi_run_test checks the kivi2 kernels' per-run code on the host, with awkward values.)
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

#include "codec/numeric.h"
#include "tw/codec.h"
#include "tw/embedded_store.h"
#include "tw/gpu.h"

namespace tw::gpu {
namespace {

#define SKIP_WITHOUT_GPU()                                     \
  do {                                                         \
    Status s_ = Available();                                   \
    if (!s_.ok()) GTEST_SKIP() << "no GPU: " << s_.ToString(); \
  } while (0)

// KV with a real model's shape of values: a few key channels far larger than the rest.
std::vector<std::byte> RandomKv(const KvGeometry& g, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const uint64_t n = g.ObjectBytes() / 2;
  std::vector<std::byte> out(g.ObjectBytes());
  const uint64_t run = uint64_t{g.block_tokens} * g.head_dim;
  for (uint64_t i = 0; i < n; ++i) {
    const bool key = (i / run / g.kv_heads) % 2 == 0;
    const uint32_t dim = i % g.head_dim;
    const float v = normal(rng) * (key && dim % 16 == 3 ? 12.0f : 1.0f);
    const uint16_t h = g.dtype == KvDtype::kBF16 ? codec::FloatToBf16(v) : codec::FloatToF16(v);
    std::memcpy(out.data() + 2 * i, &h, 2);
  }
  return out;
}

struct CodedFixture {
  KvGeometry g;
  KvCodec codec;
  std::unique_ptr<EmbeddedStore> store;
  std::unique_ptr<HostRegistration> reg;
  Namespace nspace;
  NamespaceId ns;
  std::vector<BlockKey> keys;
  std::vector<std::vector<std::byte>> raw;      // each object's KV before encoding
  std::vector<std::vector<std::byte>> decoded;  // the CPU's decode of each stored object
  std::vector<std::vector<std::byte>> encoded;
  std::vector<ReadHandle> handles;
  std::vector<HostSegments> segments;
};

// 48-token blocks: kivi2 quantizes 16 tokens (one partial key group) and keeps a window of 32.
CodedFixture MakeCoded(KvCodec codec, KvDtype dtype, uint32_t blocks, uint32_t block_tokens = 48) {
  CodedFixture f;
  f.codec = codec;
  f.g = KvGeometry{3, 2, 64, dtype, block_tokens};
  EmbeddedStoreOptions o;
  o.dram_capacity_bytes = 16 << 20;
  o.page_bytes = 4096;
  f.store = EmbeddedStore::Open(o).value();
  ArenaInfo a = f.store->arena();
  f.reg = HostRegistration::Register(a.base, a.size_bytes).value();
  f.nspace.model_id = "gpu-codec-test";
  f.nspace.geometry = f.g;
  f.nspace.codec = codec;
  f.ns = f.store->RegisterNamespace(f.nspace, {}).value();
  std::vector<uint32_t> tokens(blocks * f.g.block_tokens);
  std::iota(tokens.begin(), tokens.end(), 3);
  f.keys = f.nspace.BlockKeys(tokens);
  BlockKey parent = f.nspace.Root();
  for (uint32_t b = 0; b < blocks; ++b) {
    std::vector<std::byte> kv = RandomKv(f.g, 100 + b);
    std::vector<std::byte> enc(f.nspace.ObjectBytes());
    EXPECT_EQ(EncodeKv(codec, f.g, kv, enc).value(), enc.size());
    std::vector<std::byte> dec(f.g.ObjectBytes());
    EXPECT_TRUE(DecodeKv(codec, f.g, enc, dec).ok());
    EXPECT_TRUE(f.store->Put(f.ns, {f.keys[b], parent}, enc).ok());
    parent = f.keys[b];
    f.raw.push_back(std::move(kv));
    f.encoded.push_back(std::move(enc));
    f.decoded.push_back(std::move(dec));
    f.handles.push_back(f.store->Acquire(f.ns, f.keys[b], 60000).value());
    f.segments.push_back(f.handles.back().segments());
  }
  return f;
}

const std::byte* Row(const CodedFixture& f, uint32_t l, uint32_t kv, uint32_t h, uint64_t t) {
  const uint64_t row = f.g.head_dim * 2;
  const uint64_t b = t / f.g.block_tokens, tok = t % f.g.block_tokens;
  return f.decoded[b].data() + (((uint64_t{l} * 2 + kv) * f.g.kv_heads + h) * f.g.block_tokens + tok) * row;
}

struct DeviceKv {
  std::vector<void*> ptrs;
  ~DeviceKv() {
    for (void* p : ptrs) cudaFree(p);
  }
  void* Alloc(size_t bytes) {
    void* p = nullptr;
    EXPECT_EQ(cudaMalloc(&p, bytes), cudaSuccess);
    cudaMemset(p, 0xEE, bytes);
    ptrs.push_back(p);
    return p;
  }
};

// The last block is loaded in part: its first block_tokens - `short_by` tokens.
void CheckCodedHfLoad(KvCodec codec, KvDtype dtype, uint32_t block_tokens = 48, uint32_t short_by = 7) {
  const uint32_t blocks = 4;
  CodedFixture f = MakeCoded(codec, dtype, blocks, block_tokens);
  const uint64_t tokens = blocks * f.g.block_tokens - short_by;
  const uint64_t cap = blocks * f.g.block_tokens + 5;
  const uint64_t row = f.g.head_dim * 2;
  const size_t tensor_bytes = f.g.kv_heads * cap * row;
  DeviceKv mem;
  EngineKv e;
  e.seq_capacity = cap;
  for (uint32_t l = 0; l < f.g.layers; ++l) {
    e.k.push_back(mem.Alloc(tensor_bytes));
    e.v.push_back(mem.Alloc(tensor_bytes));
  }
  MoverOptions mo;
  mo.codec = codec;
  auto mover = KvMover::Create(f.g, mo).value();
  ASSERT_TRUE(mover->Load(f.segments, tokens, e).ok());
  ASSERT_TRUE(mover->SynchronizeLoad().ok());
  std::vector<std::byte> host(tensor_bytes);
  for (uint32_t l = 0; l < f.g.layers; ++l) {
    for (uint32_t kv = 0; kv < 2; ++kv) {
      ASSERT_EQ(cudaMemcpy(host.data(), kv ? e.v[l] : e.k[l], tensor_bytes, cudaMemcpyDeviceToHost), cudaSuccess);
      for (uint32_t h = 0; h < f.g.kv_heads; ++h) {
        for (uint64_t t = 0; t < cap; ++t) {
          const std::byte* got = host.data() + (h * cap + t) * row;
          if (t < tokens) {
            ASSERT_EQ(std::memcmp(got, Row(f, l, kv, h, t), row), 0)
                << KvCodecName(codec) << " " << KvDtypeName(dtype) << " " << block_tokens << "-token blocks l" << l
                << " kv" << kv << " h" << h << " t" << t;
          } else {
            ASSERT_EQ(got[0], std::byte{0xEE}) << "wrote past the loaded tokens at t" << t;
          }
        }
      }
    }
  }
}

TEST(KvMoverCodec, Fp8LoadEqualsTheCpuDecodeBf16) {
  SKIP_WITHOUT_GPU();
  CheckCodedHfLoad(KvCodec::kFp8, KvDtype::kBF16);
}

TEST(KvMoverCodec, Int8LoadEqualsTheCpuDecodeBf16) {
  SKIP_WITHOUT_GPU();
  CheckCodedHfLoad(KvCodec::kInt8, KvDtype::kBF16);
}

TEST(KvMoverCodec, Fp8AndInt8LoadsEqualTheCpuDecodeF16) {
  SKIP_WITHOUT_GPU();
  CheckCodedHfLoad(KvCodec::kFp8, KvDtype::kF16);
  CheckCodedHfLoad(KvCodec::kInt8, KvDtype::kF16);
}

TEST(KvMoverCodec, Kivi2LoadEqualsTheCpuDecodeBf16) {
  SKIP_WITHOUT_GPU();
  CheckCodedHfLoad(KvCodec::kKivi2, KvDtype::kBF16);
}

TEST(KvMoverCodec, Kivi2LoadEqualsTheCpuDecodeF16) {
  SKIP_WITHOUT_GPU();
  CheckCodedHfLoad(KvCodec::kKivi2, KvDtype::kF16);
}

// kivi2's partial last blocks: one ending inside the quantized tokens (96-token blocks quantize 64,
// two key groups; the last loads 20, mid-group), and blocks shorter than the window (16 tokens: all
// kept as they are; the last loads 11).
TEST(KvMoverCodec, Kivi2LoadsPartialLastBlocks) {
  SKIP_WITHOUT_GPU();
  CheckCodedHfLoad(KvCodec::kKivi2, KvDtype::kBF16, 96, 76);
  CheckCodedHfLoad(KvCodec::kKivi2, KvDtype::kF16, 96, 76);
  CheckCodedHfLoad(KvCodec::kKivi2, KvDtype::kBF16, 16, 5);
}

void CheckCodedPagedLoad(KvCodec codec, uint32_t block_tokens = 48) {
  const uint32_t blocks = 3;
  CodedFixture f = MakeCoded(codec, KvDtype::kBF16, blocks, block_tokens);
  const uint32_t page_tokens = 16;
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
  MoverOptions mo;
  mo.codec = codec;
  auto mover = KvMover::Create(f.g, mo).value();
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
          ASSERT_EQ(std::memcmp(got, Row(f, l, kv, h, t), row), 0)
              << KvCodecName(codec) << " l" << l << " t" << t << " h" << h;
        }
      }
    }
  }
}

TEST(KvMoverCodec, LoadsThePagedLayout) {
  SKIP_WITHOUT_GPU();
  CheckCodedPagedLoad(KvCodec::kFp8);
}

TEST(KvMoverCodec, Kivi2LoadsThePagedLayout) {
  SKIP_WITHOUT_GPU();
  CheckCodedPagedLoad(KvCodec::kKivi2);
  CheckCodedPagedLoad(KvCodec::kKivi2, 96);
}

// What the engine holds before a store: the CPU decode of each block (put there by a coded load), or
// the KV before it was ever encoded (copied in), which quantizes off the codec's grid.
enum class EngineHolds { kDecoded, kRaw };

// Copies the objects' canonical KV into HF tensors of `cap` tokens.
void CopyRawIntoHf(const CodedFixture& f, const EngineKv& e, uint64_t cap) {
  const uint64_t row = f.g.head_dim * 2, run = uint64_t{f.g.block_tokens} * row;
  for (size_t b = 0; b < f.raw.size(); ++b) {
    for (uint32_t l = 0; l < f.g.layers; ++l) {
      for (uint32_t kv = 0; kv < 2; ++kv) {
        for (uint32_t h = 0; h < f.g.kv_heads; ++h) {
          char* dst = static_cast<char*>(kv ? e.v[l] : e.k[l]) + (h * cap + b * f.g.block_tokens) * row;
          const std::byte* src = f.raw[b].data() + ((uint64_t{l} * 2 + kv) * f.g.kv_heads + h) * run;
          ASSERT_EQ(cudaMemcpy(dst, src, run, cudaMemcpyHostToDevice), cudaSuccess);
        }
      }
    }
  }
}

// The engine holds block b's KV; the GPU store encodes it into a fresh coded object, which must be
// what the CPU's EncodeKv makes of the same values, byte for byte.
void CheckCodedStore(KvCodec codec, KvDtype dtype = KvDtype::kBF16, uint32_t block_tokens = 48,
                     EngineHolds holds = EngineHolds::kDecoded) {
  const uint32_t blocks = 3;
  CodedFixture f = MakeCoded(codec, dtype, blocks, block_tokens);
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
  MoverOptions mo;
  mo.codec = codec;
  auto mover = KvMover::Create(f.g, mo).value();
  if (holds == EngineHolds::kDecoded) {
    ASSERT_TRUE(mover->Load(f.segments, cap, e).ok());
    ASSERT_TRUE(mover->SynchronizeLoad().ok());
  } else {
    CopyRawIntoHf(f, e, cap);
  }
  const std::vector<std::vector<std::byte>>& held = holds == EngineHolds::kDecoded ? f.decoded : f.raw;

  Namespace n2 = f.nspace;
  n2.model_id = "gpu-codec-store";
  const NamespaceId ns2 = f.store->RegisterNamespace(n2, {}).value();
  std::vector<uint32_t> tokens(cap, 5);
  auto keys = n2.BlockKeys(tokens);
  ASSERT_TRUE(f.store->Put(ns2, {keys[0], n2.Root()}, f.encoded[0]).ok());
  std::vector<WriteHandle> writes;
  std::vector<MutableHostSegments> out;
  for (uint32_t b = 1; b < blocks; ++b) {
    writes.push_back(f.store->Reserve(ns2, {keys[b], keys[b - 1]}).value());
    out.push_back(writes.back().segments());
    for (auto& s : out.back()) std::memset(s.data(), 0xAB, s.size());
  }
  ASSERT_TRUE(mover->MarkStoreInput(0).ok());
  ASSERT_TRUE(mover->Store(e, 1, out).ok());
  ASSERT_TRUE(mover->SynchronizeStore().ok());
  for (uint32_t b = 1; b < blocks; ++b) {
    ASSERT_TRUE(f.store->Commit(writes[b - 1]).ok());
    std::vector<std::byte> got(n2.ObjectBytes());
    ASSERT_TRUE(f.store->Get(ns2, keys[b], got).ok());
    std::vector<std::byte> want(n2.ObjectBytes());
    ASSERT_EQ(EncodeKv(codec, f.g, held[b], want).value(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_EQ(got[i], want[i]) << KvCodecName(codec) << " " << KvDtypeName(dtype) << " " << block_tokens
                                 << "-token blocks, " << (holds == EngineHolds::kRaw ? "raw" : "decoded")
                                 << " KV: block " << b << " byte " << i;
    }
  }
}

TEST(KvMoverCodec, Fp8StoreEqualsTheCpuEncode) {
  SKIP_WITHOUT_GPU();
  CheckCodedStore(KvCodec::kFp8);
}

TEST(KvMoverCodec, Int8StoreEqualsTheCpuEncode) {
  SKIP_WITHOUT_GPU();
  CheckCodedStore(KvCodec::kInt8);
}

TEST(KvMoverCodec, Kivi2StoreEqualsTheCpuEncode) {
  SKIP_WITHOUT_GPU();
  CheckCodedStore(KvCodec::kKivi2);
  CheckCodedStore(KvCodec::kKivi2, KvDtype::kF16);
}

// Values off the codec's grid (the KV as an engine computed it) and other block lengths: two key
// groups (96), only the window (16).
TEST(KvMoverCodec, Kivi2StoreOfRawKvEqualsTheCpuEncode) {
  SKIP_WITHOUT_GPU();
  CheckCodedStore(KvCodec::kKivi2, KvDtype::kBF16, 48, EngineHolds::kRaw);
  CheckCodedStore(KvCodec::kKivi2, KvDtype::kF16, 96, EngineHolds::kRaw);
  CheckCodedStore(KvCodec::kKivi2, KvDtype::kBF16, 16, EngineHolds::kRaw);
}

// A coded object whose run table was damaged is a miss: nothing is loaded.
void CheckCorruptHeaderRefused(KvCodec codec) {
  CodedFixture f = MakeCoded(codec, KvDtype::kBF16, 2);
  auto* first = const_cast<std::byte*>(f.segments[1].front().data());
  first[30] ^= std::byte{0x10};  // inside the run table
  DeviceKv mem;
  EngineKv e;
  e.seq_capacity = 2 * f.g.block_tokens;
  for (uint32_t l = 0; l < f.g.layers; ++l) {
    e.k.push_back(mem.Alloc(f.g.kv_heads * e.seq_capacity * 128));
    e.v.push_back(mem.Alloc(f.g.kv_heads * e.seq_capacity * 128));
  }
  MoverOptions mo;
  mo.codec = codec;
  auto mover = KvMover::Create(f.g, mo).value();
  EXPECT_TRUE(mover->Load(f.segments, e.seq_capacity, e).IsCorruption()) << KvCodecName(codec);
}

TEST(KvMoverCodec, ACorruptHeaderIsRefused) {
  SKIP_WITHOUT_GPU();
  CheckCorruptHeaderRefused(KvCodec::kFp8);
}

TEST(KvMoverCodec, ACorruptKivi2HeaderIsRefused) {
  SKIP_WITHOUT_GPU();
  CheckCorruptHeaderRefused(KvCodec::kKivi2);
}

TEST(KvMoverCodec, RefusesWhatTheGpuCannotCode) {
  SKIP_WITHOUT_GPU();
  KvGeometry g{2, 2, 64, KvDtype::kBF16, 48};
  MoverOptions mo;
  mo.codec = KvCodec::kLossless;
  EXPECT_EQ(KvMover::Create(g, mo).status().code(), StatusCode::kNotSupported);
  mo.codec = KvCodec::kKivi2;
  EXPECT_TRUE(KvMover::Create(g, mo).ok());
  for (KvCodec c : {KvCodec::kFp8, KvCodec::kKivi2}) {
    mo.codec = c;
    mo.mode = LoadMode::kStaged;
    EXPECT_EQ(KvMover::Create(g, mo).status().code(), StatusCode::kNotSupported) << KvCodecName(c);
    mo.mode = LoadMode::kZeroCopy;
    KvGeometry odd = g;
    odd.head_dim = 60;
    EXPECT_EQ(KvMover::Create(odd, mo).status().code(), StatusCode::kNotSupported) << KvCodecName(c);
  }
  // kivi2 whose (min, scale) pairs and codes do not fill whole 8-byte words: 72-dim heads, 41
  // quantized tokens.
  mo.codec = KvCodec::kKivi2;
  EXPECT_EQ(KvMover::Create(KvGeometry{2, 2, 72, KvDtype::kBF16, 73}, mo).status().code(), StatusCode::kNotSupported);
}

}  // namespace
}  // namespace tw::gpu

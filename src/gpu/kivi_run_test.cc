// The GPU's kivi2 code (kivi_run.h, exact_float.h) instantiated on the host, against the CPU codec
// (src/codec/run_codecs.cc): the kernels run these very functions, so a mismatch here is one on the
// device. Runs without a GPU (label unit); gpu_test's KvMoverCodec.Kivi2* check the device itself.
//
// Each phase is run lane by lane with several lane counts, as a CUDA block's threads would run it,
// so the striding is covered, not just the arithmetic.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "codec/numeric.h"
#include "codec/run_codecs.h"
#include "gpu/coded_runs.h"
#include "gpu/exact_float.h"
#include "gpu/kivi_run.h"

namespace tw::gpu {
namespace {

TEST(ExactFloat, HalfConversionsAreTheCpuCodecs) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const auto x = static_cast<uint16_t>(h);
    ASSERT_EQ(FloatBits(F16ToFloat(x)), codec::FloatBits(codec::F16ToFloat(x))) << h;
    ASSERT_EQ(FloatBits(Bf16ToFloat(x)), codec::FloatBits(codec::Bf16ToFloat(x))) << h;
  }
  // Every float whose low bits are one of a few patterns (ties, just above and below), across all
  // exponents and signs; then a stride through the rest.
  std::vector<uint32_t> bits;
  for (uint32_t high = 0; high < (1u << 16); ++high) {
    for (uint32_t low : {0x0000u, 0x0001u, 0x0FFFu, 0x1000u, 0x1001u, 0x2000u, 0x3000u, 0x7FFFu, 0x8000u, 0x8001u, 0xFFFFu}) {
      bits.push_back(high << 16 | low);
    }
  }
  for (uint64_t u = 0; u < (1ull << 32); u += 65521) bits.push_back(static_cast<uint32_t>(u));
  for (uint32_t u : bits) {
    const float f = BitsFloat(u);
    ASSERT_EQ(FloatToF16(f), codec::FloatToF16(f)) << std::hex << u;
    ASSERT_EQ(FloatToBf16(f), codec::FloatToBf16(f)) << std::hex << u;
  }
}

TEST(ExactFloat, RoundHalfEvenIsTheCpuCodecs) {
  for (float v = -4.0f; v <= 4.0f; v += 0.125f) EXPECT_EQ(RoundHalfEven(v), codec::RoundHalfEven(v)) << v;
  EXPECT_EQ(RoundHalfEven(2.5f), 2.0f);
  EXPECT_EQ(RoundHalfEven(1.5f), 2.0f);
}

// Host views of an engine run ([token][dim] rows) and of an encoded run, as kivi_run.h reads them.
struct HostRows {
  char* base;
  uint32_t row_bytes;
  char* Row(uint32_t t) const { return base + uint64_t{t} * row_bytes; }
};

struct HostBytes {
  char* base;
  char* At(uint64_t offset) const { return base + offset; }
};

kivi::Run RunOf(uint32_t tokens, uint32_t dims, KvDtype dtype, bool is_key) {
  return KiviRunOf(KvGeometry{1, 1, dims, dtype, tokens}, is_key);
}

codec::RunShape ShapeOf(const kivi::Run& r) {
  return codec::RunShape{r.tokens, r.dims, r.bf16 ? KvDtype::kBF16 : KvDtype::kF16, r.is_key};
}

// Values with what the codec must get right beyond the ordinary: outlier channels, NaN and
// infinities (ignored by the extremes), +0 and -0 in one group, constant groups (scale 0), values
// beyond f16's range (bf16 only), subnormals, and values that land on a tie between two codes.
std::vector<uint16_t> AwkwardValues(const kivi::Run& r, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> pick(0, 99);
  const uint32_t n = r.tokens * r.dims;
  std::vector<float> x(n);
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t t = i / r.dims, d = i % r.dims;
    float v = normal(rng) * (d % 16 == 3 ? 12.0f : 1.0f);
    if (t % 40 == 7) v = 0.75f;  // a constant stretch: constant V groups, and K groups with one value repeated
    // Groups of non-negative values with both zeros: which zero is the minimum depends on the order.
    if (d % 16 == 5 || t % 40 == 11) v = pick(rng) < 30 ? (pick(rng) < 50 ? 0.0f : -0.0f) : std::fabs(v);
    switch (pick(rng)) {
      case 0: v = std::numeric_limits<float>::quiet_NaN(); break;
      case 1: v = std::numeric_limits<float>::infinity(); break;
      case 2: v = -std::numeric_limits<float>::infinity(); break;
      case 3: v = 0.0f; break;
      case 4: v = -0.0f; break;
      case 5: v = r.bf16 ? 1e30f : 60000.0f; break;
      case 6: v = r.bf16 ? -3e38f : -65504.0f; break;
      case 7: v = 3e-8f; break;  // an f16 subnormal
      case 8: v = static_cast<float>(pick(rng) % 7) * 0.5f; break;  // halves: ties once quantized
      default: break;
    }
    x[i] = v;
  }
  std::vector<uint16_t> h(n);
  for (uint32_t i = 0; i < n; ++i) h[i] = r.bf16 ? codec::FloatToBf16(x[i]) : codec::FloatToF16(x[i]);
  return h;
}

std::vector<uint64_t> Words(uint64_t bytes, uint8_t fill) {  // 8-byte aligned, as device memory is
  std::vector<uint64_t> w((bytes + 7) / 8 + 1);
  std::memset(w.data(), fill, w.size() * 8);
  return w;
}

// The run encoded the way EncodeKiviKernel does it, by `lanes` threads.
std::vector<std::byte> GpuEncode(const kivi::Run& r, std::vector<uint16_t> values, uint32_t lanes) {
  const uint64_t bytes = codec::RunBytes(KvCodec::kKivi2, ShapeOf(r));
  std::vector<uint64_t> out = Words(bytes, 0xAB);
  std::vector<uint32_t> params(r.params + 1);
  const HostRows engine{reinterpret_cast<char*>(values.data()), 2 * r.dims};
  const HostBytes coded{reinterpret_cast<char*>(out.data())};
  for (uint32_t lane = 0; lane < lanes; ++lane) {
    kivi::EncodeParams(r, lane, lanes, engine, coded, params.data());
    kivi::CopyWindowFromEngine(r, lane, lanes, engine, coded);
  }
  for (uint32_t lane = 0; lane < lanes; ++lane) kivi::EncodeCodes(r, lane, lanes, engine, coded, params.data());
  std::vector<std::byte> got(bytes);
  std::memcpy(got.data(), out.data(), bytes);
  return got;
}

// The run decoded the way DecodeKiviKernel does it into an engine run of 0xEE, tokens [0, tok_end).
std::vector<uint16_t> GpuDecode(const kivi::Run& r, const std::vector<std::byte>& encoded, uint32_t tok_end,
                                uint32_t lanes) {
  std::vector<uint64_t> in = Words(encoded.size(), 0);
  std::memcpy(in.data(), encoded.data(), encoded.size());
  std::vector<uint64_t> rows = Words(2ull * r.tokens * r.dims, 0xEE);
  std::vector<uint32_t> params(r.params + 1);
  const HostRows engine{reinterpret_cast<char*>(rows.data()), 2 * r.dims};
  const HostBytes coded{reinterpret_cast<char*>(in.data())};
  for (uint32_t lane = 0; lane < lanes; ++lane) {
    kivi::LoadParams(r, tok_end, lane, lanes, coded, params.data());
    kivi::CopyWindowToEngine(r, tok_end, lane, lanes, coded, engine);
  }
  for (uint32_t lane = 0; lane < lanes; ++lane) kivi::DecodeCodes(r, tok_end, lane, lanes, coded, engine, params.data());
  std::vector<uint16_t> got(r.tokens * r.dims);
  std::memcpy(got.data(), rows.data(), 2 * got.size());
  return got;
}

std::vector<std::byte> CpuEncode(const kivi::Run& r, const std::vector<uint16_t>& values) {
  std::vector<std::byte> out(codec::RunBytes(KvCodec::kKivi2, ShapeOf(r)));
  EXPECT_EQ(codec::EncodeRun(KvCodec::kKivi2, ShapeOf(r), reinterpret_cast<const std::byte*>(values.data()), out.data()),
            out.size());
  return out;
}

std::vector<uint16_t> CpuDecode(const kivi::Run& r, const std::vector<std::byte>& encoded) {
  std::vector<uint16_t> out(r.tokens * r.dims);
  EXPECT_TRUE(codec::DecodeRun(KvCodec::kKivi2, ShapeOf(r), encoded, reinterpret_cast<std::byte*>(out.data())).ok());
  return out;
}

// (tokens, dims) the GPU path takes: engines' blocks and heads, a block shorter than the window, one
// token past it, partial K groups (40, 80 tokens) and partial V groups (head_dim 24, 80, 96).
struct Case {
  uint32_t tokens, dims;
};
constexpr Case kCases[] = {{256, 128}, {48, 64}, {16, 64}, {32, 128}, {33, 64}, {40, 24}, {80, 80}, {64, 96}, {96, 256}};

TEST(KiviRun, TheTestedShapesFitTheGpu) {
  for (const Case& c : kCases) {
    for (bool key : {true, false}) EXPECT_TRUE(kivi::KiviRunFitsWords(RunOf(c.tokens, c.dims, KvDtype::kBF16, key)));
  }
}

TEST(KiviRun, EncodeEqualsTheCpuEncodeByteForByte) {
  uint32_t seed = 1;
  for (const Case& c : kCases) {
    for (KvDtype dtype : {KvDtype::kBF16, KvDtype::kF16}) {
      for (bool key : {true, false}) {
        const kivi::Run r = RunOf(c.tokens, c.dims, dtype, key);
        const std::vector<uint16_t> values = AwkwardValues(r, seed++);
        const std::vector<std::byte> want = CpuEncode(r, values);
        for (uint32_t lanes : {1u, 7u, 256u}) {
          const std::vector<std::byte> got = GpuEncode(r, values, lanes);
          for (size_t i = 0; i < want.size(); ++i) {
            ASSERT_EQ(got[i], want[i]) << c.tokens << "x" << c.dims << " " << KvDtypeName(dtype) << (key ? " K" : " V")
                                       << " lanes " << lanes << " byte " << i << " of " << want.size();
          }
        }
      }
    }
  }
}

void ExpectDecodesEqual(const kivi::Run& r, const std::vector<std::byte>& encoded, const char* what) {
  const std::vector<uint16_t> want = CpuDecode(r, encoded);
  for (uint32_t tok_end : {r.tokens, r.tokens - 1, r.quantized_tokens, r.quantized_tokens + 1, 17u, 1u}) {
    if (tok_end == 0 || tok_end > r.tokens) continue;
    for (uint32_t lanes : {1u, 5u, 256u}) {
      const std::vector<uint16_t> got = GpuDecode(r, encoded, tok_end, lanes);
      for (uint32_t i = 0; i < got.size(); ++i) {
        const uint32_t t = i / r.dims;
        ASSERT_EQ(got[i], t < tok_end ? want[i] : uint16_t{0xEEEE})
            << what << " " << r.tokens << "x" << r.dims << (r.bf16 ? " bf16" : " f16") << (r.is_key ? " K" : " V")
            << " tok_end " << tok_end << " lanes " << lanes << " t" << t << " d" << i % r.dims;
      }
    }
  }
}

TEST(KiviRun, DecodeEqualsTheCpuDecodeBitForBit) {
  uint32_t seed = 100;
  for (const Case& c : kCases) {
    for (KvDtype dtype : {KvDtype::kBF16, KvDtype::kF16}) {
      for (bool key : {true, false}) {
        const kivi::Run r = RunOf(c.tokens, c.dims, dtype, key);
        ExpectDecodesEqual(r, CpuEncode(r, AwkwardValues(r, seed++)), "encoded");
      }
    }
  }
}

// Any parameters a decoder may meet, not just those the encoder makes: every code, and finite f16
// pairs of every magnitude, subnormals included. (Infinite or NaN parameters never come from an
// encoder, which clamps them to f16's range; from a damaged object the NaNs' payloads may differ
// between CPU and GPU, as NaN arithmetic does: the object's checksum keeps those from a load.)
TEST(KiviRun, DecodesArbitraryFiniteParametersAsTheCpuDoes) {
  std::mt19937 rng(7);
  for (const Case& c : kCases) {
    for (KvDtype dtype : {KvDtype::kBF16, KvDtype::kF16}) {
      for (bool key : {true, false}) {
        const kivi::Run r = RunOf(c.tokens, c.dims, dtype, key);
        std::vector<std::byte> encoded(codec::RunBytes(KvCodec::kKivi2, ShapeOf(r)));
        for (std::byte& b : encoded) b = static_cast<std::byte>(rng());
        for (uint32_t p = 0; p < 2 * r.params; ++p) {  // each f16 of the pairs: clear an all-ones exponent
          uint16_t h;
          std::memcpy(&h, encoded.data() + 2 * p, 2);
          if ((h & 0x7C00u) == 0x7C00u) h &= 0xBFFFu;
          std::memcpy(encoded.data() + 2 * p, &h, 2);
        }
        ExpectDecodesEqual(r, encoded, "random");
      }
    }
  }
}

TEST(KiviRun, CodedRunsTakeTheShapesEnginesUseAndRefuseTheRest) {
  for (uint32_t dims : {64u, 128u, 256u}) {
    for (uint32_t tokens = 16; tokens <= 1024; tokens += 16) {
      EXPECT_TRUE(CodedRuns::Make(KvCodec::kKivi2, KvGeometry{2, 2, dims, KvDtype::kBF16, tokens}).ok()) << dims << " " << tokens;
    }
  }
  // head_dim 72 with 41 quantized tokens: V's pairs fill 123 words of 4 bytes, not whole 8-byte ones.
  Result<CodedRuns> odd = CodedRuns::Make(KvCodec::kKivi2, KvGeometry{2, 2, 72, KvDtype::kBF16, 73});
  EXPECT_EQ(odd.status().code(), StatusCode::kNotSupported);
  EXPECT_NE(odd.status().message().find("8-byte"), std::string::npos) << odd.status().ToString();
  // Too many (min, scale) pairs for shared memory: 4096-token blocks of 256-dim heads.
  EXPECT_EQ(CodedRuns::Make(KvCodec::kKivi2, KvGeometry{1, 1, 256, KvDtype::kBF16, 4096}).status().code(),
            StatusCode::kNotSupported);
  EXPECT_EQ(CodedRuns::Make(KvCodec::kKivi2, KvGeometry{1, 1, 64, KvDtype::kF32, 64}).status().code(),
            StatusCode::kNotSupported);
  EXPECT_EQ(CodedRuns::Make(KvCodec::kLossless, KvGeometry{1, 1, 64, KvDtype::kBF16, 64}).status().code(),
            StatusCode::kNotSupported);
}

}  // namespace
}  // namespace tw::gpu

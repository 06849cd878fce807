#include "codec/dequant8.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "codec/numeric.h"
#include "codec/run_codecs.h"

namespace tw::codec {
namespace {

// The vectorized decode against the scalar definition (a code's value times its scale, FloatToBf16),
// bit for bit: every code, both scale axes, fp8 and int8, and scales from zero and subnormals to
// values that overflow to infinity, with rows and dims that leave vector tails.
TEST(Dequant8, EqualsTheScalarDecodeBitForBit) {
  std::vector<float> e4m3(256);
  for (int b = 0; b < 256; ++b) e4m3[b] = E4m3ToFloat(static_cast<uint8_t>(b));
  std::mt19937 rng(7);
  for (const uint32_t dims : {1u, 7u, 64u, 128u, 131u}) {
    const uint32_t rows = 256 / dims + 3;
    std::vector<uint8_t> codes(uint64_t{rows} * dims);
    for (size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<uint8_t>(i * 37 + rng());
    std::vector<float> scales(std::max(rows, dims));
    for (size_t i = 0; i < scales.size(); ++i) {
      const float special[] = {0.0f, std::numeric_limits<float>::denorm_min(), 1e-30f, 3e36f,
                               std::numeric_limits<float>::infinity(), -0.5f};
      scales[i] = i < 6 ? special[i] : std::ldexp(std::uniform_real_distribution<float>(0.5f, 1.0f)(rng),
                                                  static_cast<int>(rng() % 40) - 30);
    }
    for (const bool fp8 : {true, false}) {
      for (const bool per_channel : {true, false}) {
        std::vector<uint16_t> got(codes.size());
        Dequant8ToBf16(codes.data(), rows, dims, scales.data(), per_channel, fp8 ? e4m3.data() : nullptr,
                       got.data());
        for (uint32_t r = 0; r < rows; ++r) {
          for (uint32_t d = 0; d < dims; ++d) {
            const uint8_t c = codes[uint64_t{r} * dims + d];
            const float q = fp8 ? e4m3[c] : static_cast<float>(static_cast<int8_t>(c));
            const uint16_t want = FloatToBf16(q * scales[per_channel ? d : r]);
            ASSERT_EQ(got[uint64_t{r} * dims + d], want)
                << "fp8 " << fp8 << " per_channel " << per_channel << " dims " << dims << " row " << r << " dim " << d;
          }
        }
      }
    }
  }
}

// DecodeRun writes bf16 straight into an aligned destination and decodes aside for an odd one (an
// engine's byte buffer): the same bytes either way, for both codecs and both axes.
TEST(Dequant8, DecodesIntoAnOddAddressTheSameBytes) {
  std::mt19937 rng(11);
  for (const KvCodec codec : {KvCodec::kFp8, KvCodec::kInt8}) {
    for (const bool is_key : {true, false}) {
      const RunShape shape{48, 128, KvDtype::kBF16, is_key};
      std::vector<uint16_t> raw(uint64_t{shape.tokens} * shape.dims);
      for (uint16_t& v : raw) v = FloatToBf16(std::normal_distribution<float>(0.0f, 2.0f)(rng));
      std::vector<std::byte> encoded(RunBytes(codec, shape));
      const uint64_t n = EncodeRun(codec, shape, reinterpret_cast<const std::byte*>(raw.data()), encoded.data());
      ASSERT_EQ(n, encoded.size());
      std::vector<std::byte> aligned(shape.raw_bytes()), odd(shape.raw_bytes() + 1);
      ASSERT_TRUE(DecodeRun(codec, shape, encoded, aligned.data()).ok());
      ASSERT_TRUE(DecodeRun(codec, shape, encoded, odd.data() + 1).ok());
      EXPECT_EQ(0, std::memcmp(aligned.data(), odd.data() + 1, aligned.size())) << "is_key " << is_key;
    }
  }
}

}  // namespace
}  // namespace tw::codec

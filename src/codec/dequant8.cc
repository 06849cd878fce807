#include "codec/dequant8.h"

#include "codec/numeric.h"

namespace tw::codec {
namespace {

// FloatToBf16 with the NaN case as a select rather than an early return, so a loop of it vectorizes.
// Same bits for every input.
inline uint16_t ToBf16Select(float f) {
  const uint32_t u = FloatBits(f);
  const uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
  const uint32_t quiet_nan = (u >> 16) | 0x40u;
  return static_cast<uint16_t>((u & 0x7FFFFFFFu) > 0x7F800000u ? quiet_nan : rounded);
}

// One instantiation per (code type, scale axis): no branch in the inner loop. Inlined into the
// four entry points below, each compiled twice (target_clones, which clang allows on plain functions
// only): an AVX2 copy (8 lanes, gathers for the fp8 table) chosen at load time where the CPU has
// AVX2, the baseline x86-64 copy elsewhere. No FMA is enabled, so nothing is contracted.
template <bool kFp8, bool kPerChannel>
inline __attribute__((always_inline)) void Rows(const uint8_t* codes, uint32_t rows, uint32_t dims,
                                                const float* scales, const float* e4m3, uint16_t* out) {
  for (uint32_t r = 0; r < rows; ++r) {
    const uint8_t* c = codes + uint64_t{r} * dims;
    uint16_t* o = out + uint64_t{r} * dims;
    const float row_scale = kPerChannel ? 0.0f : scales[r];
    for (uint32_t d = 0; d < dims; ++d) {
      const float q = kFp8 ? e4m3[c[d]] : static_cast<float>(static_cast<int8_t>(c[d]));
      o[d] = ToBf16Select(q * (kPerChannel ? scales[d] : row_scale));
    }
  }
}

#define TW_DEQUANT8_ENTRY(name, fp8, per_channel)                                                          \
  __attribute__((target_clones("avx2", "default"))) void name(const uint8_t* codes, uint32_t rows,        \
                                                               uint32_t dims, const float* scales,        \
                                                               const float* e4m3, uint16_t* out) {        \
    Rows<fp8, per_channel>(codes, rows, dims, scales, e4m3, out);                                         \
  }
TW_DEQUANT8_ENTRY(Fp8PerChannel, true, true)
TW_DEQUANT8_ENTRY(Fp8PerRow, true, false)
TW_DEQUANT8_ENTRY(Int8PerChannel, false, true)
TW_DEQUANT8_ENTRY(Int8PerRow, false, false)
#undef TW_DEQUANT8_ENTRY

}  // namespace

void Dequant8ToBf16(const uint8_t* codes, uint32_t rows, uint32_t dims, const float* scales, bool per_channel,
                    const float* e4m3, uint16_t* out) {
  if (e4m3 != nullptr && per_channel) {
    Fp8PerChannel(codes, rows, dims, scales, e4m3, out);
  } else if (e4m3 != nullptr) {
    Fp8PerRow(codes, rows, dims, scales, e4m3, out);
  } else if (per_channel) {
    Int8PerChannel(codes, rows, dims, scales, e4m3, out);
  } else {
    Int8PerRow(codes, rows, dims, scales, e4m3, out);
  }
}

}  // namespace tw::codec

// Scalar conversions between float and the KV element types the codecs read and write: bf16, f16
// (IEEE binary16) and fp8 e4m3 (OCP "FN": no infinities, 0x7F/0xFF are NaN, largest finite 448).
// Round to nearest, ties to even, as hardware converts. Bit patterns, not types: no compiler
// extension is needed.
//
// The bf16/f16 conversions and the float arithmetic they use are also the GPU codec kernels'
// (src/gpu/exact_float.h): under nvcc they are __host__ __device__, so the device gives the same bits
// as the host. Why explicit Mul/Add/Sub instead of operators: nvcc contracts a * b + c into one
// fused multiply-add (rounded once) unless told otherwise and the host does not, so the two would
// differ in the last bit; __fmul_rn and friends are single IEEE operations, never contracted.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define TW_HD __host__ __device__ __forceinline__
#else
#define TW_HD inline
#endif

namespace tw::codec {

TW_HD uint32_t FloatBits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}

TW_HD float BitsFloat(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

TW_HD float Mul(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

TW_HD float Add(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}

TW_HD float Sub(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}

TW_HD float Div(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}

// Round to nearest, ties to even, for |v| < 2^22 (the codecs' codes are far smaller), without a libm
// call: adding 1.5 * 2^23 pushes the fraction out of the mantissa under the default rounding mode,
// and subtracting it back leaves the rounded integer. (Valid without -ffast-math, which we never use.)
TW_HD float RoundHalfEven(float v) {
  constexpr float kMagic = 12582912.0f;
  return Sub(Add(v, kMagic), kMagic);
}

TW_HD float Bf16ToFloat(uint16_t h) { return BitsFloat(static_cast<uint32_t>(h) << 16); }

TW_HD uint16_t FloatToBf16(float f) {
  uint32_t u = FloatBits(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // quiet NaN
  u += 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

TW_HD float F16ToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  const uint32_t mant = h & 0x3FFu;
  if (exp == 0x1F) return BitsFloat(sign | 0x7F800000u | (mant << 13));  // inf, NaN
  if (exp == 0) {
    if (mant == 0) return BitsFloat(sign);
    const float v = Mul(static_cast<float>(mant), 1.0f / 16777216.0f);  // subnormal: mant * 2^-24
    return sign ? -v : v;
  }
  return BitsFloat(sign | ((exp + 112) << 23) | (mant << 13));
}

TW_HD uint16_t FloatToF16(float f) {
  const uint32_t u = FloatBits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t abs = u & 0x7FFFFFFFu;
  if (abs > 0x7F800000u) return sign | 0x7E00u;   // NaN
  if (abs >= 0x477FF000u) return sign | 0x7C00u;  // rounds to or beyond 65520: infinity
  if (abs < 0x38800000u) {                        // below 2^-14: subnormal or zero
    // value / 2^-24, rounded to nearest even.
    const float scaled = Mul(BitsFloat(abs), 16777216.0f);
    const uint32_t i = static_cast<uint32_t>(scaled);
    const float frac = Sub(scaled, static_cast<float>(i));
    const uint32_t r = i + ((frac > 0.5f || (frac == 0.5f && (i & 1u))) ? 1u : 0u);
    return static_cast<uint16_t>(sign | r);
  }
  uint32_t m = abs - (112u << 23);  // rebias the exponent
  m += 0xFFFu + ((m >> 13) & 1u);   // round to nearest even at bit 13
  return static_cast<uint16_t>(sign | (m >> 13));
}

// The engine's 16-bit KV dtypes: bf16, else f16.
TW_HD float HalfToFloat(bool bf16, uint16_t h) { return bf16 ? Bf16ToFloat(h) : F16ToFloat(h); }
TW_HD uint16_t FloatToHalf(bool bf16, float f) { return bf16 ? FloatToBf16(f) : FloatToF16(f); }

// fp8 below: host only (the GPU kernels convert e4m3 with their own table-free code).
// e4m3: 1 sign, 4 exponent (bias 7), 3 mantissa bits; exponent 0 is subnormal (m/8 * 2^-6).
inline float E4m3ToFloat(uint8_t b) {
  const float sign = (b & 0x80u) ? -1.0f : 1.0f;
  const uint32_t exp = (b >> 3) & 0xFu;
  const uint32_t mant = b & 0x7u;
  if (exp == 0xF && mant == 0x7) return sign * __builtin_nanf("");
  if (exp == 0) return sign * static_cast<float>(mant) * (1.0f / 512.0f);
  return sign * (1.0f + static_cast<float>(mant) / 8.0f) * BitsFloat((exp + 120u) << 23);  // 2^(exp-7)
}

// Nearest e4m3 (ties to even), saturating at +-448; NaN stays NaN. Bit arithmetic on the float,
// not a search: the store path encodes every value of an object.
inline uint8_t FloatToE4m3(float f) {
  if (f != f) return 0x7F;
  const uint8_t sign = std::signbit(f) ? 0x80 : 0;
  const float a = std::fabs(f);
  if (a >= 448.0f) return sign | 0x7E;
  if (a < 0.015625f) {  // below 2^-6: subnormal, in steps of 2^-9 (a step of 8 is the first normal)
    return sign | static_cast<uint8_t>(RoundHalfEven(a * 512.0f));
  }
  const uint32_t u = FloatBits(a);
  int32_t exp = static_cast<int32_t>(u >> 23) - 127;  // -6 .. 8
  uint32_t mant = u & 0x7FFFFFu;
  mant += 0x7FFFFu + ((mant >> 20) & 1u);  // round to nearest even at the third mantissa bit
  if (mant >= 0x800000u) {
    ++exp;
    mant = 0;
  } else {
    mant >>= 20;
  }
  const uint32_t code = (static_cast<uint32_t>(exp + 7) << 3) | mant;
  return sign | static_cast<uint8_t>(code > 0x7E ? 0x7E : code);  // 0x7F would be NaN: saturate
}

}  // namespace tw::codec

// Float arithmetic and conversions that give the same bits on the device as the CPU codec
// (src/codec/numeric.h, run_codecs.cc) gives on the host, for the GPU codec kernels.
//
// Why not plain operators on the device: nvcc contracts a * b + c into one fused multiply-add
// (rounded once) unless told otherwise, and the host does not, so the CPU and the GPU would differ
// in the last bit. Mul, Add, Sub and Div are single IEEE operations rounded to nearest even on both
// sides (__fmul_rn and friends are never contracted). The conversions are the CPU's bit arithmetic,
// not the hardware's instructions, so NaN payloads and subnormals agree too.
//
// Every function is __host__ __device__ under nvcc and plain inline under a host compiler, so the
// host instantiation can be tested against the CPU codec on a machine without a GPU
// (kivi_run_test.cc). C++17: kernels are compiled as C++17.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define TW_HD __host__ __device__ __forceinline__
// Before a __host__ __device__ template that calls device-only accessors (the kernels' views of
// engine rows and host pages): their host instantiation is never made, so nvcc need not check it.
#define TW_HD_TEMPLATE _Pragma("nv_exec_check_disable")
#else
#define TW_HD inline
#define TW_HD_TEMPLATE
#endif

namespace tw::gpu {

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

TW_HD bool IsFinite(float f) { return (FloatBits(f) & 0x7F800000u) != 0x7F800000u; }

// numeric.h's RoundHalfEven: nearest integer, ties to even, for |v| < 2^22.
TW_HD float RoundHalfEven(float v) {
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
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

}  // namespace tw::gpu

// fp8 / int8 runs on the GPU. One CUDA block per run. Decode: the run's scales into shared memory,
// then each thread reads 8 codes at a time straight from pinned host memory (so only the encoded
// bytes cross PCIe), keeping four reads in flight, and writes 8 engine values (16 bytes) per read.
// Encode: the run's values from the engine (device memory), the max |x| per channel (K) or per
// token (V) reduced in shared memory, then scales and codes written to host memory.
//
// The conversions are those of src/codec/numeric.h, written for the device: e4m3 from its bits,
// float to e4m3 by bit arithmetic with ties to even, bf16/f16 as exact_float.h has them. Scales and
// products are single IEEE float operations (no fast math, no contraction into FMAs: there is
// nothing to contract), so a GPU decode equals the CPU's bit for bit, and so does a GPU encode.
#include "gpu/kv_codec_kernels.h"

#include "gpu/engine_row.cuh"
#include "gpu/exact_float.h"
#include "gpu/run_pieces.cuh"

namespace tw::gpu {
namespace {

constexpr int kThreads = 256;
constexpr int kUnroll = 4;

__device__ __forceinline__ float E4m3ToFloat(uint32_t b) {
  const float sign = (b & 0x80u) ? -1.0f : 1.0f;
  const uint32_t exp = (b >> 3) & 0xFu;
  const uint32_t mant = b & 0x7u;
  if (exp == 0xF && mant == 0x7) return __int_as_float(0x7FC00000);
  if (exp == 0) return sign * (static_cast<float>(mant) * (1.0f / 512.0f));
  return sign * ((1.0f + static_cast<float>(mant) / 8.0f) * __int_as_float(static_cast<int>((exp + 120u) << 23)));
}

__device__ __forceinline__ uint32_t FloatToE4m3(float f) {
  if (f != f) return 0x7F;
  const uint32_t sign = (__float_as_uint(f) & 0x80000000u) ? 0x80u : 0u;
  const float a = fabsf(f);
  if (a >= 448.0f) return sign | 0x7E;
  if (a < 0.015625f) return sign | static_cast<uint32_t>(__fadd_rn(__fadd_rn(a * 512.0f, 12582912.0f), -12582912.0f));
  const uint32_t u = __float_as_uint(a);
  int32_t exp = static_cast<int32_t>(u >> 23) - 127;
  uint32_t mant = u & 0x7FFFFFu;
  mant += 0x7FFFFu + ((mant >> 20) & 1u);
  if (mant >= 0x800000u) {
    ++exp;
    mant = 0;
  } else {
    mant >>= 20;
  }
  const uint32_t code = (static_cast<uint32_t>(exp + 7) << 3) | mant;
  return sign | (code > 0x7E ? 0x7Eu : code);
}

__global__ void __launch_bounds__(kThreads) DecodeRunsKernel(CodedRunArgs a) {
  extern __shared__ float scales[];
  __shared__ RunShared sh;
  const CodedRunDesc d = a.runs[blockIdx.x];
  const LayerCopyArgs& c = a.copy;
  const bool is_key = d.kv_head < c.kv_heads;
  const uint32_t dims = a.head_dim, tokens = c.block_tokens;
  const uint32_t n_scales = is_key ? dims : tokens;
  LoadPieces(a, d, sh);
  __syncthreads();
  for (uint32_t i = threadIdx.x; i < n_scales; i += blockDim.x) {
    scales[i] = *reinterpret_cast<const float*>(At(sh.pieces, d.piece_count, 4ull * i));
  }
  __syncthreads();
  const uint64_t codes = 4ull * n_scales;
  const uint32_t per_row = dims / 8;
  const uint32_t total = d.tok_end * per_row;  // groups of 8 codes to move
  for (uint32_t base = threadIdx.x; base < total; base += kThreads * kUnroll) {
    uint2 raw[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const uint32_t i = base + u * kThreads;
      if (i < total) raw[u] = *reinterpret_cast<const uint2*>(At(sh.pieces, d.piece_count, codes + 8ull * i));
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const uint32_t i = base + u * kThreads;
      if (i >= total) continue;
      const uint32_t t = i / per_row, d0 = (i - t * per_row) * 8;
      uint16_t out[8];
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const uint32_t b = ((j < 4 ? raw[u].x : raw[u].y) >> (8 * (j & 3))) & 0xFFu;
        const float q = a.fp8 ? E4m3ToFloat(b) : static_cast<float>(static_cast<int8_t>(b));
        const float v = __fmul_rn(q, scales[is_key ? d0 + j : t]);
        out[j] = a.bf16 ? FloatToBf16(v) : FloatToF16(v);
      }
      uint4 w;
      w.x = out[0] | (static_cast<uint32_t>(out[1]) << 16);
      w.y = out[2] | (static_cast<uint32_t>(out[3]) << 16);
      w.z = out[4] | (static_cast<uint32_t>(out[5]) << 16);
      w.w = out[6] | (static_cast<uint32_t>(out[7]) << 16);
      char* row = EngineRow(c, d.layer, d.kv_head, d.block, t);
      *reinterpret_cast<uint4*>(row + 2ull * d0) = w;
    }
  }
}

__device__ __forceinline__ float EngineValue(const CodedRunArgs& a, const CodedRunDesc& d, uint32_t t, uint32_t dim) {
  const uint16_t h = reinterpret_cast<const uint16_t*>(EngineRow(a.copy, d.layer, d.kv_head, d.block, t))[dim];
  return a.bf16 ? Bf16ToFloat(h) : F16ToFloat(h);
}

__global__ void __launch_bounds__(kThreads) EncodeRunsKernel(CodedRunArgs a) {
  extern __shared__ float scales[];  // max |x| first, then the scales
  __shared__ RunShared sh;
  const CodedRunDesc d = a.runs[blockIdx.x];
  const bool is_key = d.kv_head < a.copy.kv_heads;
  const uint32_t dims = a.head_dim, tokens = a.copy.block_tokens;
  const uint32_t n_scales = is_key ? dims : tokens;
  const float top = a.fp8 ? 448.0f : 127.0f;
  LoadPieces(a, d, sh);
  for (uint32_t i = threadIdx.x; i < n_scales; i += blockDim.x) scales[i] = 0.0f;
  __syncthreads();
  const uint32_t n = tokens * dims;
  for (uint32_t i = threadIdx.x; i < n; i += blockDim.x) {
    const uint32_t t = i / dims, dim = i - t * dims;
    const float v = fabsf(EngineValue(a, d, t, dim));
    // Non-negative floats order as their bits; NaN never wins (as on the CPU).
    if (v == v && v > 0.0f) atomicMax(reinterpret_cast<int*>(&scales[is_key ? dim : t]), __float_as_int(v));
  }
  __syncthreads();
  for (uint32_t i = threadIdx.x; i < n_scales; i += blockDim.x) {
    const float m = scales[i];
    const float scale = isfinite(m) ? __fdiv_rn(m, top) : 0.0f;
    *reinterpret_cast<float*>(At(sh.pieces, d.piece_count, 4ull * i)) = scale;
    scales[i] = scale > 0.0f ? __fdiv_rn(1.0f, scale) : 0.0f;  // now the inverse
  }
  __syncthreads();
  const uint64_t codes = 4ull * n_scales;
  const uint32_t per_row = dims / 8;
  for (uint32_t i = threadIdx.x; i < tokens * per_row; i += blockDim.x) {
    const uint32_t t = i / per_row, d0 = (i - t * per_row) * 8;
    uint32_t lo = 0, hi = 0;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const float v = __fmul_rn(EngineValue(a, d, t, d0 + j), scales[is_key ? d0 + j : t]);
      uint32_t b;
      if (a.fp8) {
        b = FloatToE4m3(v);
      } else {
        // The CPU clamps with std::clamp, which passes NaN through, then codes NaN as 0.
        const float r = v != v ? 0.0f : rintf(fminf(fmaxf(v, -127.0f), 127.0f));
        b = static_cast<uint32_t>(static_cast<uint8_t>(static_cast<int8_t>(r)));
      }
      if (j < 4) lo |= b << (8 * j);
      else hi |= b << (8 * (j - 4));
    }
    *reinterpret_cast<uint2*>(At(sh.pieces, d.piece_count, codes + 8ull * i)) = make_uint2(lo, hi);
  }
}

}  // namespace

cudaError_t LaunchDecodeRuns(const CodedRunArgs& a, cudaStream_t stream) {
  if (a.n_runs == 0) return cudaSuccess;
  const uint32_t n_scales = a.copy.block_tokens > a.head_dim ? a.copy.block_tokens : a.head_dim;
  DecodeRunsKernel<<<a.n_runs, kThreads, n_scales * sizeof(float), stream>>>(a);
  return cudaGetLastError();
}

cudaError_t LaunchEncodeRuns(const CodedRunArgs& a, cudaStream_t stream) {
  if (a.n_runs == 0) return cudaSuccess;
  const uint32_t n_scales = a.copy.block_tokens > a.head_dim ? a.copy.block_tokens : a.head_dim;
  EncodeRunsKernel<<<a.n_runs, kThreads, n_scales * sizeof(float), stream>>>(a);
  return cudaGetLastError();
}

}  // namespace tw::gpu

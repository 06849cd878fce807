// The work of coding one kivi2 run (src/codec/run_codecs.cc: EncodeKivi, DecodeKivi) cut into the
// phases a CUDA block runs with a barrier between them, each spread over `lanes` threads. The
// kernels (kivi_kernels.cu) call these with threadIdx.x and blockDim.x; kivi_run_test.cc calls them
// on the host, one lane after another, and compares the bytes with the CPU codec's. So the GPU's
// arithmetic and layout are the ones tested here, not a copy of them.
//
// A run of `tokens` x `dims` 16-bit values holds, from its start:
//   params  (min, scale) as f16 pairs, 4 bytes each: K per (token group, channel) at g * dims + d,
//           V per (token, channel group) at t * groups + g; groups are kKiviGroup long
//   codes   2 bits a value of the first quantized_tokens tokens, [token][dim] order, 4 a byte
//   window  the last tokens' raw rows, as they are
//
// The GPU moves whole 8-byte words: the params and the codes must each fill whole words
// (KiviRunFitsWords), so every part starts on an 8-byte boundary and a code word never straddles
// the window. Within a code word, value k (of 32) sits at bits 2k: byte k / 4, bits 2 * (k % 4).
//
// Accessors, so the same code runs over device and host memory:
//   engine.Row(t)      the address of token t's row of this run in the engine's KV (dims values)
//   coded.At(offset)   the address of the run's byte `offset` (an encoded run may span pages)
#pragma once

#include <cstdint>
#include <cstring>

#include "gpu/exact_float.h"

namespace tw::gpu::kivi {

// codec::kKiviGroup and codec::kKiviResidualTokens (coded_runs.cc checks that they agree).
inline constexpr uint32_t kGroup = 32;
inline constexpr uint32_t kWindowTokens = 32;

// One run's shape and layout (codec::KiviLayoutOf, narrowed to what a thread needs).
struct Run {
  uint32_t tokens = 0;
  uint32_t dims = 0;           // a multiple of 8: 8 values are one 16-byte access of a row
  bool is_key = true;
  bool bf16 = true;            // the engine's dtype: bf16, else f16
  uint32_t quantized_tokens = 0;
  uint32_t groups = 0;         // K: token groups per channel; V: channel groups per token
  uint32_t params = 0;
  uint32_t code_bytes = 0;
  TW_HD uint32_t codes_at() const { return 4 * params; }
  TW_HD uint32_t window_at() const { return 4 * params + code_bytes; }
};

inline bool KiviRunFitsWords(const Run& r) { return r.dims % 8 == 0 && (4ull * r.params) % 8 == 0 && r.code_bytes % 8 == 0; }

// ---- memory access: one load or store of 2, 4, 8 or 16 bytes (aligned: see the words above)

struct Half8 {  // 8 values of a row: 16 bytes
  uint32_t w[4];
  TW_HD uint16_t Get(uint32_t j) const { return static_cast<uint16_t>(w[j / 2] >> (16 * (j % 2))); }
  TW_HD void Set(uint32_t j, uint16_t h) { w[j / 2] |= static_cast<uint32_t>(h) << (16 * (j % 2)); }
};

TW_HD uint16_t Load16(const char* p) {
#if defined(__CUDA_ARCH__)
  return *reinterpret_cast<const uint16_t*>(p);
#else
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
#endif
}

TW_HD uint32_t Load32(const char* p) {
#if defined(__CUDA_ARCH__)
  return *reinterpret_cast<const uint32_t*>(p);
#else
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
#endif
}

TW_HD void Store32(char* p, uint32_t v) {
#if defined(__CUDA_ARCH__)
  *reinterpret_cast<uint32_t*>(p) = v;
#else
  std::memcpy(p, &v, 4);
#endif
}

TW_HD uint64_t Load64(const char* p) {
#if defined(__CUDA_ARCH__)
  return *reinterpret_cast<const unsigned long long*>(p);
#else
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
#endif
}

TW_HD void Store64(char* p, uint64_t v) {
#if defined(__CUDA_ARCH__)
  *reinterpret_cast<unsigned long long*>(p) = v;
#else
  std::memcpy(p, &v, 8);
#endif
}

TW_HD Half8 Load128(const char* p) {
#if defined(__CUDA_ARCH__)
  const uint4 u = *reinterpret_cast<const uint4*>(p);
  return Half8{{u.x, u.y, u.z, u.w}};
#else
  Half8 h;
  std::memcpy(h.w, p, 16);
  return h;
#endif
}

TW_HD void Store128(char* p, const Half8& h) {
#if defined(__CUDA_ARCH__)
  *reinterpret_cast<uint4*>(p) = make_uint4(h.w[0], h.w[1], h.w[2], h.w[3]);
#else
  std::memcpy(p, h.w, 16);
#endif
}

// ---- the arithmetic of EncodeKivi / DecodeKivi, operation for operation

// The (min, scale) pair of value (t, d): which group it falls in.
TW_HD uint32_t ParamOf(const Run& r, uint32_t t, uint32_t d) {
  return r.is_key ? (t / kGroup) * r.dims + d : t * r.groups + d / kGroup;
}

// A group's extremes as std::min / std::max fold them: a NaN never wins, and of equal values
// (+0 and -0) the first stays, so values are folded in the CPU's order.
struct Range {
  float lo = BitsFloat(0x7F800000u);   // +inf
  float hi = BitsFloat(0xFF800000u);   // -inf
  TW_HD void Fold(float x) {
    lo = x < lo ? x : lo;
    hi = hi < x ? x : hi;
  }
};

TW_HD float ClampF16Range(float v) { return v < -65504.0f ? -65504.0f : (65504.0f < v ? 65504.0f : v); }

// The group's parameters as stored: f16 min in the low half, f16 scale in the high half. The CPU
// quantizes with them as rounded to f16, so the store path does too (Quantize).
TW_HD uint32_t ParamsOf(Range range) {
  float lo = range.lo, hi = range.hi;
  if (!IsFinite(lo) || !IsFinite(hi)) lo = hi = 0.0f;
  lo = ClampF16Range(lo);
  hi = ClampF16Range(hi);
  const float min = F16ToFloat(FloatToF16(lo));
  const float scale = F16ToFloat(FloatToF16(Div(Sub(hi, lo), 3.0f)));
  return static_cast<uint32_t>(FloatToF16(min)) | (static_cast<uint32_t>(FloatToF16(scale)) << 16);
}

TW_HD float ParamMin(uint32_t params) { return F16ToFloat(static_cast<uint16_t>(params)); }
TW_HD float ParamScale(uint32_t params) { return F16ToFloat(static_cast<uint16_t>(params >> 16)); }

TW_HD uint32_t Quantize(float x, uint32_t params) {
  const float scale = ParamScale(params);
  const float inverse = scale > 0.0f ? Div(1.0f, scale) : 0.0f;
  const float v = Mul(Sub(x, ParamMin(params)), inverse);
  if (v != v) return 0;
  return static_cast<uint32_t>(RoundHalfEven(v < 0.0f ? 0.0f : (3.0f < v ? 3.0f : v)));
}

TW_HD float Dequantize(uint32_t code, uint32_t params) {
  return Add(ParamMin(params), Mul(static_cast<float>(code), ParamScale(params)));
}

// ---- decode (a load): phase 1 LoadParams and CopyWindowToEngine, barrier, phase 2 DecodeCodes.
// Only tokens [0, tok_end) are written to the engine.

TW_HD uint32_t QuantizedRows(const Run& r, uint32_t tok_end) {
  return tok_end < r.quantized_tokens ? tok_end : r.quantized_tokens;
}

// The run's (min, scale) pairs that tokens [0, tok_end) use, into `params` (shared memory).
TW_HD_TEMPLATE
template <class Coded>
TW_HD void LoadParams(const Run& r, uint32_t tok_end, uint32_t lane, uint32_t lanes, const Coded& coded,
                      uint32_t* params) {
  const uint32_t rows = QuantizedRows(r, tok_end);
  const uint32_t used = r.is_key ? (rows + kGroup - 1) / kGroup * r.dims : rows * r.groups;
  for (uint32_t p = lane; p < used; p += lanes) params[p] = Load32(coded.At(4ull * p));
}

TW_HD_TEMPLATE
template <class Coded, class Engine>
TW_HD void CopyWindowToEngine(const Run& r, uint32_t tok_end, uint32_t lane, uint32_t lanes, const Coded& coded,
                              const Engine& engine) {
  if (tok_end <= r.quantized_tokens) return;
  const uint32_t row_words = r.dims / 4;  // 8 bytes: 4 values
  const uint32_t words = (tok_end - r.quantized_tokens) * row_words;
  for (uint32_t w = lane; w < words; w += lanes) {
    const uint32_t row = w / row_words, col = w - row * row_words;
    Store64(engine.Row(r.quantized_tokens + row) + 8ull * col, Load64(coded.At(r.window_at() + 8ull * w)));
  }
}

// Each lane expands one code word (32 values) at a time into 16-byte pieces of engine rows.
TW_HD_TEMPLATE
template <class Coded, class Engine>
TW_HD void DecodeCodes(const Run& r, uint32_t tok_end, uint32_t lane, uint32_t lanes, const Coded& coded,
                       const Engine& engine, const uint32_t* params) {
  const uint32_t values = QuantizedRows(r, tok_end) * r.dims;  // a multiple of 8
  const uint32_t words = (values + 31) / 32;
  for (uint32_t w = lane; w < words; w += lanes) {
    const uint64_t codes = Load64(coded.At(r.codes_at() + 8ull * w));
    for (uint32_t c = 0; c < 4 && 32 * w + 8 * c < values; ++c) {
      const uint32_t i = 32 * w + 8 * c, t = i / r.dims, d0 = i - t * r.dims;
      Half8 out{{0, 0, 0, 0}};
      for (uint32_t j = 0; j < 8; ++j) {
        const uint32_t code = static_cast<uint32_t>(codes >> (2 * (8 * c + j))) & 3u;
        out.Set(j, FloatToHalf(r.bf16, Dequantize(code, params[ParamOf(r, t, d0 + j)])));
      }
      Store128(engine.Row(t) + 2ull * d0, out);
    }
  }
}

// ---- encode (a store, whole blocks): phase 1 EncodeParams and CopyWindowFromEngine, barrier,
// phase 2 EncodeCodes.

// One lane per group: its extremes folded in the CPU's order (K: tokens up, V: channels up), its
// parameters written to the run and kept in `params` (shared memory) for phase 2.
TW_HD_TEMPLATE
template <class Engine, class Coded>
TW_HD void EncodeParams(const Run& r, uint32_t lane, uint32_t lanes, const Engine& engine, const Coded& coded,
                        uint32_t* params) {
  for (uint32_t p = lane; p < r.params; p += lanes) {
    Range range;
    if (r.is_key) {
      const uint32_t g = p / r.dims, d = p - g * r.dims;
      const uint32_t end = (g + 1) * kGroup < r.quantized_tokens ? (g + 1) * kGroup : r.quantized_tokens;
      for (uint32_t t = g * kGroup; t < end; ++t) range.Fold(HalfToFloat(r.bf16, Load16(engine.Row(t) + 2ull * d)));
    } else {
      const uint32_t t = p / r.groups, g = p - t * r.groups;
      const uint32_t end = (g + 1) * kGroup < r.dims ? (g + 1) * kGroup : r.dims;
      const char* row = engine.Row(t);
      for (uint32_t d = g * kGroup; d < end; ++d) range.Fold(HalfToFloat(r.bf16, Load16(row + 2ull * d)));
    }
    params[p] = ParamsOf(range);
    Store32(coded.At(4ull * p), params[p]);
  }
}

TW_HD_TEMPLATE
template <class Engine, class Coded>
TW_HD void CopyWindowFromEngine(const Run& r, uint32_t lane, uint32_t lanes, const Engine& engine, const Coded& coded) {
  const uint32_t row_words = r.dims / 4;
  const uint32_t words = (r.tokens - r.quantized_tokens) * row_words;
  for (uint32_t w = lane; w < words; w += lanes) {
    const uint32_t row = w / row_words, col = w - row * row_words;
    Store64(coded.At(r.window_at() + 8ull * w), Load64(engine.Row(r.quantized_tokens + row) + 8ull * col));
  }
}

// Each lane packs one code word from 32 values (code_bytes is whole words: KiviRunFitsWords).
TW_HD_TEMPLATE
template <class Engine, class Coded>
TW_HD void EncodeCodes(const Run& r, uint32_t lane, uint32_t lanes, const Engine& engine, const Coded& coded,
                       const uint32_t* params) {
  const uint32_t values = r.quantized_tokens * r.dims;
  const uint32_t words = r.code_bytes / 8;
  for (uint32_t w = lane; w < words; w += lanes) {
    uint64_t codes = 0;
    for (uint32_t c = 0; c < 4 && 32 * w + 8 * c < values; ++c) {
      const uint32_t i = 32 * w + 8 * c, t = i / r.dims, d0 = i - t * r.dims;
      const Half8 in = Load128(engine.Row(t) + 2ull * d0);
      for (uint32_t j = 0; j < 8; ++j) {
        const uint32_t code = Quantize(HalfToFloat(r.bf16, in.Get(j)), params[ParamOf(r, t, d0 + j)]);
        codes |= static_cast<uint64_t>(code) << (2 * (8 * c + j));
      }
    }
    Store64(coded.At(r.codes_at() + 8ull * w), codes);
  }
}

}  // namespace tw::gpu::kivi

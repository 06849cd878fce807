#include "codec/run_codecs.h"

#include <zstd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "codec/dequant8.h"
#include "codec/numeric.h"

namespace tw::codec {
namespace {

// ---- element access: a run is converted to floats once, coded as floats, converted back

void ToFloats(KvDtype dtype, const std::byte* raw, uint64_t n, float* out) {
  if (dtype == KvDtype::kF32) {
    std::memcpy(out, raw, n * 4);
    return;
  }
  // memcpy per element: a caller's buffer need not be 2-byte aligned; compilers turn it into loads.
  auto at = [raw](uint64_t i) {
    uint16_t h;
    std::memcpy(&h, raw + 2 * i, 2);
    return h;
  };
  if (dtype == KvDtype::kBF16) {
    for (uint64_t i = 0; i < n; ++i) out[i] = Bf16ToFloat(at(i));
  } else {
    for (uint64_t i = 0; i < n; ++i) out[i] = F16ToFloat(at(i));
  }
}

void FromFloats(KvDtype dtype, const float* in, uint64_t n, std::byte* raw) {
  if (dtype == KvDtype::kF32) {
    std::memcpy(raw, in, n * 4);
    return;
  }
  auto put = [raw](uint64_t i, uint16_t h) { std::memcpy(raw + 2 * i, &h, 2); };
  if (dtype == KvDtype::kBF16) {
    for (uint64_t i = 0; i < n; ++i) put(i, FloatToBf16(in[i]));
  } else {
    for (uint64_t i = 0; i < n; ++i) put(i, FloatToF16(in[i]));
  }
}

// Scratch floats for one run, reused by the calling thread (runs are at most a few MiB of floats).
std::vector<float>& Scratch(uint64_t n) {
  thread_local std::vector<float> scratch;
  if (scratch.size() < n) scratch.resize(n);
  return scratch;
}

void PutF32(std::byte* at, float v) { std::memcpy(at, &v, 4); }
float GetF32(const std::byte* at) {
  float v;
  std::memcpy(&v, at, 4);
  return v;
}
void PutF16(std::byte* at, float v) {
  const uint16_t h = FloatToF16(v);
  std::memcpy(at, &h, 2);
}
float GetF16(const std::byte* at) {
  uint16_t h;
  std::memcpy(&h, at, 2);
  return F16ToFloat(h);
}
float GetF16Roundtrip(float v) { return F16ToFloat(FloatToF16(v)); }

// ---- fp8 and int8: one scale per channel (K) or per token (V), symmetric

// Scales: K has one per channel (dims), V one per token (tokens); f32 each, before the codes.
uint64_t ScaleCount(const RunShape& s) { return s.is_key ? s.dims : s.tokens; }

struct E4m3Table {
  float value[256];
  E4m3Table() {
    for (int b = 0; b < 256; ++b) value[b] = E4m3ToFloat(static_cast<uint8_t>(b));
  }
};
const E4m3Table& E4m3Values() {
  static const E4m3Table table;
  return table;
}

void Encode8(bool fp8, const RunShape& s, const std::byte* raw, std::byte* out) {
  const float top = fp8 ? 448.0f : 127.0f;
  const uint64_t n = uint64_t{s.tokens} * s.dims;
  std::vector<float>& x = Scratch(n);
  ToFloats(s.dtype, raw, n, x.data());
  const uint64_t n_scales = ScaleCount(s);
  std::vector<float> max_abs(n_scales, 0.0f);
  for (uint32_t t = 0; t < s.tokens; ++t) {
    const float* row = x.data() + uint64_t{t} * s.dims;
    for (uint32_t d = 0; d < s.dims; ++d) {
      const float v = std::fabs(row[d]);
      float& m = max_abs[s.is_key ? d : t];
      if (v > m) m = v;  // NaN never wins, so a NaN value does not poison its scale
    }
  }
  std::vector<float> inverse(n_scales);
  for (uint64_t i = 0; i < n_scales; ++i) {
    const float scale = std::isfinite(max_abs[i]) ? max_abs[i] / top : 0.0f;
    PutF32(out + 4 * i, scale);
    inverse[i] = scale > 0 ? 1.0f / scale : 0.0f;
  }
  auto* codes = reinterpret_cast<uint8_t*>(out + 4 * n_scales);
  for (uint32_t t = 0; t < s.tokens; ++t) {
    const float* row = x.data() + uint64_t{t} * s.dims;
    uint8_t* code_row = codes + uint64_t{t} * s.dims;
    for (uint32_t d = 0; d < s.dims; ++d) {
      const float v = row[d] * inverse[s.is_key ? d : t];
      if (fp8) {
        code_row[d] = FloatToE4m3(v);
      } else {
        const float r = RoundHalfEven(std::clamp(v, -127.0f, 127.0f));
        code_row[d] = static_cast<uint8_t>(static_cast<int8_t>(r == r ? r : 0.0f));
      }
    }
  }
}

void Decode8(bool fp8, const RunShape& s, const std::byte* in, std::byte* raw) {
  const uint64_t n = uint64_t{s.tokens} * s.dims;
  const uint64_t n_scales = ScaleCount(s);
  // Per-run buffers reused by the calling thread: the load path decodes thousands of runs a second.
  thread_local std::vector<float> scales;
  if (scales.size() < n_scales) scales.resize(n_scales);
  for (uint64_t i = 0; i < n_scales; ++i) scales[i] = GetF32(in + 4 * i);
  const auto* codes = reinterpret_cast<const uint8_t*>(in + 4 * n_scales);
  const float* e4m3 = E4m3Values().value;
  if (s.dtype == KvDtype::kBF16) {  // the common case, vectorized (dequant8.h); bit-identical
    if (reinterpret_cast<uintptr_t>(raw) % alignof(uint16_t) == 0) {
      Dequant8ToBf16(codes, s.tokens, s.dims, scales.data(), s.is_key, fp8 ? e4m3 : nullptr,
                     reinterpret_cast<uint16_t*>(raw));
      return;
    }
    // An odd destination address (an engine's byte buffer): decode aside, then copy.
    thread_local std::vector<uint16_t> aside;
    if (aside.size() < n) aside.resize(n);
    Dequant8ToBf16(codes, s.tokens, s.dims, scales.data(), s.is_key, fp8 ? e4m3 : nullptr, aside.data());
    std::memcpy(raw, aside.data(), n * 2);
    return;
  }
  std::vector<float>& x = Scratch(n);
  for (uint32_t t = 0; t < s.tokens; ++t) {
    const uint8_t* code_row = codes + uint64_t{t} * s.dims;
    float* row = x.data() + uint64_t{t} * s.dims;
    for (uint32_t d = 0; d < s.dims; ++d) {
      const float q = fp8 ? e4m3[code_row[d]] : static_cast<float>(static_cast<int8_t>(code_row[d]));
      row[d] = q * scales[s.is_key ? d : t];
    }
  }
  FromFloats(s.dtype, x.data(), n, raw);
}

}  // namespace

// ---- kivi2: 2-bit codes, asymmetric (min, scale) per group, a full-precision recent window

KiviLayout KiviLayoutOf(const RunShape& s) {
  KiviLayout l;
  l.quantized_tokens = s.tokens > kKiviResidualTokens ? s.tokens - kKiviResidualTokens : 0;
  if (s.is_key) {
    l.groups = (l.quantized_tokens + kKiviGroup - 1) / kKiviGroup;
    l.params = uint64_t{l.groups} * s.dims;
  } else {
    l.groups = (s.dims + kKiviGroup - 1) / kKiviGroup;
    l.params = uint64_t{l.groups} * l.quantized_tokens;
  }
  l.code_bytes = (uint64_t{l.quantized_tokens} * s.dims + 3) / 4;
  l.residual_bytes = uint64_t{s.tokens - l.quantized_tokens} * s.dims * KvDtypeBytes(s.dtype);
  return l;
}

namespace {

// The elements of group g of a run: K groups are (channel d, tokens [g*G, ..)); V groups are
// (token t, channels [g*G, ..)). `fn(index)` for each element index in [token][dim] order.
template <typename F>
void ForGroup(const RunShape& s, const KiviLayout& l, uint64_t p, F&& fn) {
  if (s.is_key) {
    const uint32_t d = static_cast<uint32_t>(p % s.dims), g = static_cast<uint32_t>(p / s.dims);
    const uint32_t end = std::min(l.quantized_tokens, (g + 1) * kKiviGroup);
    for (uint32_t t = g * kKiviGroup; t < end; ++t) fn(uint64_t{t} * s.dims + d);
  } else {
    const uint32_t g = static_cast<uint32_t>(p % l.groups), t = static_cast<uint32_t>(p / l.groups);
    const uint32_t end = std::min(s.dims, (g + 1) * kKiviGroup);
    for (uint32_t d = g * kKiviGroup; d < end; ++d) fn(uint64_t{t} * s.dims + d);
  }
}

void EncodeKivi(const RunShape& s, const std::byte* raw, std::byte* out) {
  const KiviLayout l = KiviLayoutOf(s);
  const uint64_t n = uint64_t{l.quantized_tokens} * s.dims;  // the window is copied as it is
  std::vector<float>& x = Scratch(n);
  ToFloats(s.dtype, raw, n, x.data());
  auto* codes = reinterpret_cast<uint8_t*>(out + l.params * 4);
  std::memset(codes, 0, l.code_bytes);
  for (uint64_t p = 0; p < l.params; ++p) {
    float lo = INFINITY, hi = -INFINITY;
    ForGroup(s, l, p, [&](uint64_t i) {
      lo = std::min(lo, x[i]);
      hi = std::max(hi, x[i]);
    });
    if (!std::isfinite(lo) || !std::isfinite(hi)) lo = hi = 0;
    // Parameters are f16, as KIVI keeps them: values beyond its range saturate.
    lo = std::clamp(lo, -65504.0f, 65504.0f);
    hi = std::clamp(hi, -65504.0f, 65504.0f);
    // Quantize with the parameters as the decoder will see them (rounded to f16).
    const float min = GetF16Roundtrip(lo), scale = GetF16Roundtrip((hi - lo) / 3.0f);
    PutF16(out + 4 * p, min);
    PutF16(out + 4 * p + 2, scale);
    const float inverse = scale > 0 ? 1.0f / scale : 0.0f;
    ForGroup(s, l, p, [&](uint64_t i) {
      const float v = (x[i] - min) * inverse;
      const uint32_t code = v == v ? static_cast<uint32_t>(RoundHalfEven(std::clamp(v, 0.0f, 3.0f))) : 0;
      codes[i / 4] |= static_cast<uint8_t>(code << (2 * (i % 4)));
    });
  }
  const uint64_t window_at = uint64_t{l.quantized_tokens} * s.dims * KvDtypeBytes(s.dtype);
  std::memcpy(out + l.params * 4 + l.code_bytes, raw + window_at, l.residual_bytes);
}

void DecodeKivi(const RunShape& s, const std::byte* in, std::byte* raw) {
  const KiviLayout l = KiviLayoutOf(s);
  const uint64_t n = uint64_t{l.quantized_tokens} * s.dims;
  std::vector<float>& x = Scratch(n);
  const auto* codes = reinterpret_cast<const uint8_t*>(in + l.params * 4);
  for (uint64_t p = 0; p < l.params; ++p) {
    const float min = GetF16(in + 4 * p), scale = GetF16(in + 4 * p + 2);
    ForGroup(s, l, p, [&](uint64_t i) {
      const uint32_t code = (codes[i / 4] >> (2 * (i % 4))) & 3u;
      x[i] = min + static_cast<float>(code) * scale;
    });
  }
  FromFloats(s.dtype, x.data(), n, raw);
  const uint64_t window_at = uint64_t{l.quantized_tokens} * s.dims * KvDtypeBytes(s.dtype);
  std::memcpy(raw + window_at, in + l.params * 4 + l.code_bytes, l.residual_bytes);
}

// ---- lossless: byte planes, then zstd; a one-byte mode says whether zstd won

constexpr uint8_t kStored = 0, kZstd = 1;
constexpr int kZstdLevel = 1;  // the fast end: the codec must keep up with a disk, not beat gzip

void SplitPlanes(const RunShape& s, const std::byte* raw, std::byte* planes) {
  const size_t e = KvDtypeBytes(s.dtype);
  const uint64_t n = uint64_t{s.tokens} * s.dims;
  for (uint64_t i = 0; i < n; ++i) {
    for (size_t b = 0; b < e; ++b) planes[b * n + i] = raw[i * e + b];
  }
}

void JoinPlanes(const RunShape& s, const std::byte* planes, std::byte* raw) {
  const size_t e = KvDtypeBytes(s.dtype);
  const uint64_t n = uint64_t{s.tokens} * s.dims;
  for (uint64_t i = 0; i < n; ++i) {
    for (size_t b = 0; b < e; ++b) raw[i * e + b] = planes[b * n + i];
  }
}

}  // namespace

uint64_t RunBytes(KvCodec codec, const RunShape& s) {
  const uint64_t n = uint64_t{s.tokens} * s.dims;
  switch (codec) {
    case KvCodec::kNone: return s.raw_bytes();
    case KvCodec::kLossless: return 1 + std::max<uint64_t>(s.raw_bytes(), ZSTD_compressBound(s.raw_bytes()));
    case KvCodec::kFp8:
    case KvCodec::kInt8: return 4 * ScaleCount(s) + n;
    case KvCodec::kKivi2: return KiviLayoutOf(s).total();
  }
  return 0;
}

uint64_t EncodeRun(KvCodec codec, const RunShape& s, const std::byte* raw, std::byte* out) {
  switch (codec) {
    case KvCodec::kNone: std::memcpy(out, raw, s.raw_bytes()); return s.raw_bytes();
    case KvCodec::kFp8: Encode8(true, s, raw, out); return RunBytes(codec, s);
    case KvCodec::kInt8: Encode8(false, s, raw, out); return RunBytes(codec, s);
    case KvCodec::kKivi2: EncodeKivi(s, raw, out); return RunBytes(codec, s);
    case KvCodec::kLossless: {
      std::vector<std::byte> planes(s.raw_bytes());
      SplitPlanes(s, raw, planes.data());
      const size_t z = ZSTD_compress(out + 1, ZSTD_compressBound(planes.size()), planes.data(), planes.size(), kZstdLevel);
      if (!ZSTD_isError(z) && z < planes.size()) {
        out[0] = std::byte{kZstd};
        return 1 + z;
      }
      out[0] = std::byte{kStored};
      std::memcpy(out + 1, planes.data(), planes.size());
      return 1 + planes.size();
    }
  }
  return 0;
}

Status DecodeRun(KvCodec codec, const RunShape& s, std::span<const std::byte> in, std::byte* raw) {
  if (codec != KvCodec::kLossless) {
    if (in.size() != RunBytes(codec, s)) return Status::Corruption("encoded run has the wrong size");
  }
  switch (codec) {
    case KvCodec::kNone: std::memcpy(raw, in.data(), in.size()); return Status::Ok();
    case KvCodec::kFp8: Decode8(true, s, in.data(), raw); return Status::Ok();
    case KvCodec::kInt8: Decode8(false, s, in.data(), raw); return Status::Ok();
    case KvCodec::kKivi2: DecodeKivi(s, in.data(), raw); return Status::Ok();
    case KvCodec::kLossless: {
      if (in.empty()) return Status::Corruption("empty lossless run");
      const uint8_t mode = static_cast<uint8_t>(in[0]);
      std::vector<std::byte> planes(s.raw_bytes());
      if (mode == kStored) {
        if (in.size() != 1 + planes.size()) return Status::Corruption("stored lossless run has the wrong size");
        std::memcpy(planes.data(), in.data() + 1, planes.size());
      } else if (mode == kZstd) {
        const size_t got = ZSTD_decompress(planes.data(), planes.size(), in.data() + 1, in.size() - 1);
        if (ZSTD_isError(got) || got != planes.size()) return Status::Corruption("lossless run's zstd frame does not decode to the run");
      } else {
        return Status::Corruption("unknown lossless run mode");
      }
      JoinPlanes(s, planes.data(), raw);
      return Status::Ok();
    }
  }
  return Status::Corruption("unknown codec");
}

}  // namespace tw::codec

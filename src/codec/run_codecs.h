// The per-run encoders behind include/tw/codec.h. A run is the [token][head_dim] matrix of one
// (layer, K or V, head) of an object in the canonical layout: `tokens` rows of `dims` values of
// `dtype`. Keys and values quantize along different axes (KIVI's finding: keys have outlier
// channels, values do not), so every encoder is told which it has.
//
// Fixed-size codecs (fp8, int8, kivi2) write exactly RunBytes bytes, so a run's place in an encoded
// object follows from its index; lossless writes what zstd gives (the object's run table says).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "tw/codec.h"
#include "tw/geometry.h"
#include "tw/status.h"

namespace tw::codec {

struct RunShape {
  uint32_t tokens = 0;
  uint32_t dims = 0;
  KvDtype dtype = KvDtype::kBF16;
  bool is_key = true;
  uint64_t raw_bytes() const { return uint64_t{tokens} * dims * KvDtypeBytes(dtype); }
};

// KIVI's group size (tokens for keys, channels for values) and the full-precision recent window.
inline constexpr uint32_t kKiviGroup = 32;
inline constexpr uint32_t kKiviResidualTokens = 32;

// Where the parts of one kivi2 run lie: the (min, scale) pairs from byte 0, then the codes, then the
// full-precision window's raw rows. Public so that the GPU path (src/gpu) codes the same layout.
struct KiviLayout {
  uint32_t quantized_tokens;  // the first tokens; the rest are the full-precision window
  uint32_t groups;            // K: token groups per channel; V: channel groups per token
  uint64_t params;            // (min, scale) pairs, f16 each
  uint64_t code_bytes;        // 4 codes a byte, [token][dim] order
  uint64_t residual_bytes;    // the window's raw values
  uint64_t total() const { return params * 4 + code_bytes + residual_bytes; }
};
KiviLayout KiviLayoutOf(const RunShape& shape);

// Bytes one encoded run takes: exact for the fixed-size codecs, the worst case for lossless.
uint64_t RunBytes(KvCodec codec, const RunShape& shape);

// Encodes `raw` (shape.raw_bytes()) into `out` (at least RunBytes); returns bytes written.
uint64_t EncodeRun(KvCodec codec, const RunShape& shape, const std::byte* raw, std::byte* out);

// Decodes an encoded run of `encoded.size()` bytes into `raw` (shape.raw_bytes()). kCorruption if
// the bytes cannot be this run (a wrong size, a bad zstd frame).
Status DecodeRun(KvCodec codec, const RunShape& shape, std::span<const std::byte> encoded, std::byte* raw);

}  // namespace tw::codec

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

// Bytes one encoded run takes: exact for the fixed-size codecs, the worst case for lossless.
uint64_t RunBytes(KvCodec codec, const RunShape& shape);

// Encodes `raw` (shape.raw_bytes()) into `out` (at least RunBytes); returns bytes written.
uint64_t EncodeRun(KvCodec codec, const RunShape& shape, const std::byte* raw, std::byte* out);

// Decodes an encoded run of `encoded.size()` bytes into `raw` (shape.raw_bytes()). kCorruption if
// the bytes cannot be this run (a wrong size, a bad zstd frame).
Status DecodeRun(KvCodec codec, const RunShape& shape, std::span<const std::byte> encoded, std::byte* raw);

}  // namespace tw::codec

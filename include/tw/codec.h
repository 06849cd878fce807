// KV codecs: how an object's bytes are stored. A codec turns an object in the canonical layout
// (include/tw/geometry.h) into fewer bytes and back, one (layer, K or V, head) run at a time, so a
// (layer range x head range) slice of an encoded object decodes without touching the rest.
//
//   none       the canonical bytes as they are (no header; what every tier stores today)
//   lossless   bit-exact: each run's bytes split into byte planes (the high bytes of bf16/f16 values
//              compress; the low ones barely), then zstd. Its ratio depends on the KV: measure it.
//   fp8        e4m3 (OCP, max 448) with a scale per channel for K and per token for V: 2x from 16 bits
//   int8       symmetric int8, the same scales: 2x from 16 bits
//   kivi2      2 bits a value (KIVI: K per channel, V per token, in groups of 32 with an f16 min and
//              scale each), the block's last 32 tokens kept in full precision as KIVI keeps its
//              recent window; 3.46x from bf16 at 256-token blocks of 128-dim heads
//
// The lossy codecs change the numbers an engine computes with, so a namespace that stores with one
// must not share objects with one that does not (Namespace::codec makes another namespace id). A
// namespace stores with none, fp8, int8 or kivi2 (fixed-size objects: Namespace::ObjectBytes); the
// tiers, the daemon and the cluster keep its objects as bytes and serve them whole. The GPU copy
// path decodes fp8, int8 and kivi2 inside a load and encodes them inside a store (tw/gpu.h); engines
// on the CPU call DecodeKv / EncodeKv themselves.
//
// An encoded object (every codec but `none`) is a 16-byte header (magic "TWKV", version, codec, run
// count), a table of run offsets, then the runs (docs/formats.md, "Encoded KV"). Decoders check all of
// it: a corrupt encoded object is kCorruption, never wrong numbers silently accepted as a bad size.
//
// Thread-safe (no state). CPU here; the GPU path codes the same format bit for bit (src/gpu/).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "tw/geometry.h"
#include "tw/result.h"
#include "tw/status.h"

namespace tw {

enum class KvCodec : uint8_t { kNone = 0, kLossless = 1, kFp8 = 2, kInt8 = 3, kKivi2 = 4 };

std::string_view KvCodecName(KvCodec codec);           // "none", "lossless", "fp8", "int8", "kivi2"
Result<KvCodec> ParseKvCodec(std::string_view name);   // kInvalidArgument naming the valid ones
bool KvCodecIsBitExact(KvCodec codec);                 // none and lossless

// kInvalidArgument if `codec` cannot encode KV of `geometry` (a lossy codec over 8-bit KV).
Status CheckKvCodec(KvCodec codec, const KvGeometry& geometry);

// The most bytes EncodeKv can write for one object (exact for every codec but lossless).
uint64_t EncodedKvBound(KvCodec codec, const KvGeometry& geometry);

// Encodes one object (geometry.ObjectBytes() bytes, canonical layout) into `out`, which must hold
// EncodedKvBound bytes. Returns the bytes written. kInvalidArgument for wrong sizes or a codec the
// geometry cannot use.
Result<uint64_t> EncodeKv(KvCodec codec, const KvGeometry& geometry, std::span<const std::byte> canonical,
                          std::span<std::byte> out);

// Decodes a whole encoded object into `canonical` (geometry.ObjectBytes() bytes). kCorruption for an
// encoded object that does not check out (header, run table, a run's size or its zstd frame).
Status DecodeKv(KvCodec codec, const KvGeometry& geometry, std::span<const std::byte> encoded,
                std::span<std::byte> canonical);

// For code that encodes or decodes runs itself (the GPU path, src/gpu): the header and run table of
// an object of a fixed-size codec (fp8, int8, kivi2), EncodedKvTableBytes long, whose runs then start
// at the offsets the table gives. kInvalidArgument for a variable-size codec (none, lossless).
uint64_t EncodedKvTableBytes(const KvGeometry& geometry);  // header and run table
Result<std::vector<uint64_t>> EncodedKvRunOffsets(KvCodec codec, const KvGeometry& geometry);  // runs + 1 entries
Status WriteEncodedKvTable(KvCodec codec, const KvGeometry& geometry, std::span<std::byte> out);
// kCorruption unless `header_and_table` is exactly what WriteEncodedKvTable writes.
Status CheckEncodedKvTable(KvCodec codec, const KvGeometry& geometry, std::span<const std::byte> header_and_table);

// Decodes only `slice` (layout order, as Geometry::SliceRuns lists it) into `out`
// (geometry.SliceBytes(slice) bytes), reading only the runs it covers.
Status DecodeKvSlice(KvCodec codec, const KvGeometry& geometry, const KvSlice& slice,
                     std::span<const std::byte> encoded, std::span<std::byte> out);

}  // namespace tw

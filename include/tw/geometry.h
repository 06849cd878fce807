// KV geometry and the canonical object layout.
//
// An object is the KV of one block in the canonical layout
//
//   [layer][K,V][kv_head][token][head_dim]   elements of `dtype`
//
// so a (layer range x head range) slice is a few contiguous byte runs: a layer-by-layer loader
// reads one run per layer, and a tensor-parallel rank owning a head range reads two runs (K and V)
// per layer. Engines with different TP sizes therefore share objects.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tw/result.h"
#include "tw/status.h"

namespace tw {

enum class KvDtype : uint8_t {
  kF32 = 1,
  kF16 = 2,
  kBF16 = 3,
  kF8E4M3 = 4,
  kI8 = 5,
};

size_t KvDtypeBytes(KvDtype dtype);
std::string_view KvDtypeName(KvDtype dtype);  // "f32", "f16", "bf16", "f8e4m3", "i8"
Result<KvDtype> ParseKvDtype(std::string_view name);

// A half-open (layer range x head range) of an object. The default value selects the whole object.
struct KvSlice {
  uint32_t layer_begin = 0;
  uint32_t layer_end = 0;  // 0 means "to the last layer"
  uint32_t head_begin = 0;
  uint32_t head_end = 0;   // 0 means "to the last KV head"

  static KvSlice All() { return {}; }
  static KvSlice Layers(uint32_t begin, uint32_t end) { return {begin, end, 0, 0}; }
  bool IsAll() const { return layer_begin == 0 && layer_end == 0 && head_begin == 0 && head_end == 0; }
};

// One contiguous run of bytes inside an object.
struct ByteRun {
  uint64_t offset = 0;
  uint64_t length = 0;
  friend bool operator==(const ByteRun&, const ByteRun&) = default;
};

struct KvGeometry {
  uint32_t layers = 0;
  uint32_t kv_heads = 0;
  uint32_t head_dim = 0;
  KvDtype dtype = KvDtype::kF16;
  uint32_t block_tokens = 256;

  // kInvalidArgument if any dimension is zero, the dtype is unknown, or the object would exceed 4 GiB.
  Status Validate() const;

  // Bytes of one object: layers * 2 * kv_heads * block_tokens * head_dim * dtype size.
  uint64_t ObjectBytes() const;
  // Bytes of KV per token across all layers.
  uint64_t BytesPerToken() const;
  // Bytes of one (K or V) x head x block run: block_tokens * head_dim * dtype size.
  uint64_t HeadRunBytes() const;

  // The resolved, validated form of `slice` (end == 0 replaced by the full extent), or
  // kInvalidArgument if it is empty or out of range.
  Result<KvSlice> Resolve(const KvSlice& slice) const;
  // Bytes a slice covers; 0 for an invalid slice.
  uint64_t SliceBytes(const KvSlice& slice) const;
  // The byte runs of `slice`, in layout order, adjacent runs merged. kInvalidArgument for a bad slice.
  Result<std::vector<ByteRun>> SliceRuns(const KvSlice& slice) const;

  std::string ToString() const;  // e.g. "32L x 8H x 128D bf16, 256 tok/block"
  friend bool operator==(const KvGeometry&, const KvGeometry&) = default;
};

}  // namespace tw

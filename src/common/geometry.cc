#include "tw/geometry.h"

#include <string>

namespace tw {

size_t KvDtypeBytes(KvDtype dtype) {
  switch (dtype) {
    case KvDtype::kF32: return 4;
    case KvDtype::kF16: return 2;
    case KvDtype::kBF16: return 2;
    case KvDtype::kF8E4M3: return 1;
    case KvDtype::kI8: return 1;
  }
  return 0;
}

std::string_view KvDtypeName(KvDtype dtype) {
  switch (dtype) {
    case KvDtype::kF32: return "f32";
    case KvDtype::kF16: return "f16";
    case KvDtype::kBF16: return "bf16";
    case KvDtype::kF8E4M3: return "f8e4m3";
    case KvDtype::kI8: return "i8";
  }
  return "unknown";
}

Result<KvDtype> ParseKvDtype(std::string_view name) {
  for (KvDtype d : {KvDtype::kF32, KvDtype::kF16, KvDtype::kBF16, KvDtype::kF8E4M3, KvDtype::kI8}) {
    if (name == KvDtypeName(d)) return d;
  }
  return Status::InvalidArgument("unknown KV dtype '" + std::string(name) + "' (f32, f16, bf16, f8e4m3, i8)");
}

Status KvGeometry::Validate() const {
  if (layers == 0 || kv_heads == 0 || head_dim == 0 || block_tokens == 0) {
    return Status::InvalidArgument("geometry has a zero dimension: " + ToString());
  }
  if (KvDtypeBytes(dtype) == 0) return Status::InvalidArgument("geometry has an unknown dtype");
  // Computed in 128 bits so absurd dimensions cannot overflow into a small, plausible size.
  unsigned __int128 bytes = static_cast<unsigned __int128>(layers) * 2 * kv_heads * block_tokens * head_dim *
                            KvDtypeBytes(dtype);
  if (bytes > (static_cast<unsigned __int128>(1) << 32)) {
    return Status::InvalidArgument("object of geometry " + ToString() + " exceeds 4 GiB");
  }
  return Status::Ok();
}

uint64_t KvGeometry::HeadRunBytes() const { return uint64_t{block_tokens} * head_dim * KvDtypeBytes(dtype); }

uint64_t KvGeometry::ObjectBytes() const { return uint64_t{layers} * 2 * kv_heads * HeadRunBytes(); }

uint64_t KvGeometry::BytesPerToken() const { return uint64_t{layers} * 2 * kv_heads * head_dim * KvDtypeBytes(dtype); }

Result<KvSlice> KvGeometry::Resolve(const KvSlice& slice) const {
  KvSlice s = slice;
  if (s.layer_end == 0) s.layer_end = layers;
  if (s.head_end == 0) s.head_end = kv_heads;
  if (s.layer_begin >= s.layer_end || s.layer_end > layers || s.head_begin >= s.head_end || s.head_end > kv_heads) {
    return Status::InvalidArgument("slice layers [" + std::to_string(s.layer_begin) + "," +
                                   std::to_string(s.layer_end) + ") heads [" + std::to_string(s.head_begin) + "," +
                                   std::to_string(s.head_end) + ") is empty or outside " + ToString());
  }
  return s;
}

uint64_t KvGeometry::SliceBytes(const KvSlice& slice) const {
  Result<KvSlice> s = Resolve(slice);
  if (!s.ok()) return 0;
  return uint64_t{s->layer_end - s->layer_begin} * 2 * (s->head_end - s->head_begin) * HeadRunBytes();
}

Result<std::vector<ByteRun>> KvGeometry::SliceRuns(const KvSlice& slice) const {
  TW_ASSIGN_OR_RETURN(KvSlice s, Resolve(slice));
  const uint64_t run = HeadRunBytes();
  const uint64_t kv_bytes = uint64_t{kv_heads} * run;  // one of K or V of one layer
  std::vector<ByteRun> runs;
  for (uint32_t layer = s.layer_begin; layer < s.layer_end; ++layer) {
    for (uint32_t kv = 0; kv < 2; ++kv) {
      ByteRun r{(uint64_t{layer} * 2 + kv) * kv_bytes + s.head_begin * run, uint64_t{s.head_end - s.head_begin} * run};
      if (!runs.empty() && runs.back().offset + runs.back().length == r.offset) {
        runs.back().length += r.length;  // all heads selected: K, V and next layers are contiguous
      } else {
        runs.push_back(r);
      }
    }
  }
  return runs;
}

std::string KvGeometry::ToString() const {
  return std::to_string(layers) + "L x " + std::to_string(kv_heads) + "H x " + std::to_string(head_dim) + "D " +
         std::string(KvDtypeName(dtype)) + ", " + std::to_string(block_tokens) + " tok/block";
}

}  // namespace tw

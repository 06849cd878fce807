#include "gpu/coded_runs.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace tw::gpu {
namespace {

// Copies `out.size()` bytes from object offset 0 of `segments` (a header spans pages at most rarely,
// but may).
template <typename Segments>
bool CopyPrefix(const Segments& segments, std::span<std::byte> out) {
  uint64_t at = 0;
  for (const auto& s : segments) {
    if (at == out.size()) break;
    const uint64_t n = std::min<uint64_t>(s.size(), out.size() - at);
    std::memcpy(out.data() + at, s.data(), n);
    at += n;
  }
  return at == out.size();
}

}  // namespace

Result<CodedRuns> CodedRuns::Make(KvCodec codec, const KvGeometry& g) {
  if (codec != KvCodec::kFp8 && codec != KvCodec::kInt8) {
    return Status::NotSupported("the GPU path codes fp8 and int8; " + std::string(KvCodecName(codec)) +
                                " objects are decoded on the CPU (DecodeKv)");
  }
  if (KvDtypeBytes(g.dtype) != 2 || g.head_dim % 8 != 0) {
    return Status::NotSupported("the GPU codec path needs bf16 or f16 KV and a head_dim divisible by 8");
  }
  TW_ASSIGN_OR_RETURN(std::vector<uint64_t> offsets, EncodedKvRunOffsets(codec, g));
  return CodedRuns(codec, g, std::move(offsets));
}

Status CodedRuns::CheckHeader(const HostSegments& object) const {
  std::vector<std::byte> table(EncodedKvTableBytes(g_));
  if (!CopyPrefix(object, table)) return Status::Corruption("encoded object shorter than its run table");
  return CheckEncodedKvTable(codec_, g_, table);
}

Status CodedRuns::WriteHeader(const MutableHostSegments& object) const {
  std::vector<std::byte> table(EncodedKvTableBytes(g_));
  TW_RETURN_IF_ERROR(WriteEncodedKvTable(codec_, g_, table));
  uint64_t at = 0;
  for (const auto& s : object) {
    if (at == table.size()) break;
    const uint64_t n = std::min<uint64_t>(s.size(), table.size() - at);
    std::memcpy(s.data(), table.data() + at, n);
    at += n;
  }
  if (at != table.size()) return Status::InvalidArgument("an object to store is shorter than its run table");
  return Status::Ok();
}

Status CodedRuns::Add(const HostSegments& object, uint32_t block, uint32_t layer, uint32_t tok_end,
                      std::vector<CodedRunDesc>* runs, std::vector<RunPiece>* pieces) const {
  uint64_t covered = 0;
  for (const auto& s : object) covered += s.size();
  if (covered < offsets_.back()) return Status::InvalidArgument("encoded object segments are shorter than the object");
  const uint32_t per_layer = 2 * g_.kv_heads;
  for (uint32_t kvh = 0; kvh < per_layer; ++kvh) {
    const uint64_t run = uint64_t{layer} * per_layer + kvh;
    const uint64_t begin = offsets_[run], end = offsets_[run + 1];
    CodedRunDesc d{static_cast<uint32_t>(pieces->size()), 0, static_cast<uint16_t>(layer), block,
                   static_cast<uint16_t>(kvh), 0, tok_end};
    uint64_t seg_start = 0;
    for (const auto& s : object) {
      const uint64_t seg_end = seg_start + s.size();
      if (seg_end > begin && seg_start < end) {
        const uint64_t from = std::max(begin, seg_start);
        // The kernels move 8 bytes at a time: a piece may not end inside one.
        if ((from - begin) % 8 != 0) return Status::NotSupported("object pages must be multiples of 8 bytes");
        if (d.piece_count == kMaxRunPieces) return Status::NotSupported("an encoded run spans too many pages");
        pieces->push_back(RunPiece{from - begin, reinterpret_cast<uint64_t>(s.data() + (from - seg_start))});
        ++d.piece_count;
      }
      if (seg_end >= end) break;
      seg_start = seg_end;
    }
    runs->push_back(d);
  }
  return Status::Ok();
}

}  // namespace tw::gpu

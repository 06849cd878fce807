#include "gpu/coded_runs.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "codec/run_codecs.h"

namespace tw::gpu {
namespace {

static_assert(kivi::kGroup == codec::kKiviGroup && kivi::kWindowTokens == codec::kKiviResidualTokens,
              "the GPU's kivi2 must be the CPU's");

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

kivi::Run KiviRunOf(const KvGeometry& g, bool is_key) {
  const codec::KiviLayout l = codec::KiviLayoutOf(codec::RunShape{g.block_tokens, g.head_dim, g.dtype, is_key});
  kivi::Run r;
  r.tokens = g.block_tokens;
  r.dims = g.head_dim;
  r.is_key = is_key;
  r.bf16 = g.dtype == KvDtype::kBF16;
  r.quantized_tokens = l.quantized_tokens;
  r.groups = l.groups;
  r.params = static_cast<uint32_t>(l.params);  // a run is under 4 GiB (KvGeometry::Validate)
  r.code_bytes = static_cast<uint32_t>(l.code_bytes);
  return r;
}

Result<CodedRuns> CodedRuns::Make(KvCodec codec, const KvGeometry& g) {
  if (codec != KvCodec::kFp8 && codec != KvCodec::kInt8 && codec != KvCodec::kKivi2) {
    return Status::NotSupported("the GPU path codes fp8, int8 and kivi2; " + std::string(KvCodecName(codec)) +
                                " objects are decoded on the CPU (DecodeKv)");
  }
  if (KvDtypeBytes(g.dtype) != 2 || g.head_dim % 8 != 0) {
    return Status::NotSupported("the GPU codec path needs bf16 or f16 KV and a head_dim divisible by 8");
  }
  TW_ASSIGN_OR_RETURN(std::vector<uint64_t> offsets, EncodedKvRunOffsets(codec, g));
  CodedRuns runs(codec, g, std::move(offsets));
  if (codec == KvCodec::kKivi2) {
    runs.kivi_key_ = KiviRunOf(g, true);
    runs.kivi_value_ = KiviRunOf(g, false);
    for (const kivi::Run& r : {runs.kivi_key_, runs.kivi_value_}) {
      // Then every run, and each of its parts, starts on an 8-byte boundary (the kernels move words).
      if (!kivi::KiviRunFitsWords(r)) {
        return Status::NotSupported("kivi2 on the GPU needs each run's parameters and codes to fill whole 8-byte "
                                    "words (head_dim 64, 128 or 256 always do); decode " + g.ToString() +
                                    " on the CPU (DecodeKv)");
      }
      if (4ull * r.params > kKiviMaxParamBytes) {
        return Status::NotSupported("a kivi2 run of " + g.ToString() + " has more (min, scale) pairs than the GPU " +
                                    "keeps in shared memory (" + std::to_string(kKiviMaxParamBytes) +
                                    " bytes); use shorter blocks or decode on the CPU (DecodeKv)");
      }
    }
  }
  return runs;
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

cudaError_t CodedRuns::LaunchDecode(const CodedRunArgs& args, cudaStream_t stream) const {
  if (codec_ == KvCodec::kKivi2) return LaunchDecodeKiviRuns(KiviArgs(args), stream);
  return LaunchDecodeRuns(args, stream);
}

cudaError_t CodedRuns::LaunchEncode(const CodedRunArgs& args, cudaStream_t stream) const {
  if (codec_ == KvCodec::kKivi2) return LaunchEncodeKiviRuns(KiviArgs(args), stream);
  return LaunchEncodeRuns(args, stream);
}

KiviRunArgs CodedRuns::KiviArgs(const CodedRunArgs& args) const {
  KiviRunArgs a;
  a.runs = args;
  a.key = kivi_key_;
  a.value = kivi_value_;
  return a;
}

}  // namespace tw::gpu

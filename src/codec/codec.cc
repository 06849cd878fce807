// The encoded-object format (docs/formats.md, "Encoded KV") and the dispatch to run codecs.
//
//   [header: 16 bytes][run table: (runs + 1) x u64 offsets from the object's start][runs...]
//   header = "TWKV", u8 version (1), u8 codec, u16 0, u32 runs, u32 0
//
// Runs are in canonical order: for each layer, K then V, for each head. The table is there for every
// codec (it costs 8 bytes a run, about 0.01% of a 256-token block), so a slice decoder finds any run
// without arithmetic that depends on the codec, and a decoder can check every run's bounds.
#include "tw/codec.h"

#include <cstring>
#include <string>

#include "codec/run_codecs.h"
#include "common/little_endian.h"

namespace tw {
namespace {

using codec::RunShape;

constexpr uint8_t kMagic[4] = {'T', 'W', 'K', 'V'};
constexpr uint8_t kVersion = 1;
constexpr uint64_t kHeaderBytes = 16;

uint64_t RunCount(const KvGeometry& g) { return uint64_t{g.layers} * 2 * g.kv_heads; }
uint64_t TableBytes(const KvGeometry& g) { return (RunCount(g) + 1) * 8; }

RunShape ShapeOf(const KvGeometry& g, uint64_t run) {
  return RunShape{g.block_tokens, g.head_dim, g.dtype, /*is_key=*/(run / g.kv_heads) % 2 == 0};
}

Status CheckSizes(const KvGeometry& g, uint64_t canonical_bytes) {
  TW_RETURN_IF_ERROR(g.Validate());
  if (canonical_bytes != g.ObjectBytes()) {
    return Status::InvalidArgument("canonical buffer is " + std::to_string(canonical_bytes) + " bytes; geometry " +
                                   g.ToString() + " needs " + std::to_string(g.ObjectBytes()));
  }
  return Status::Ok();
}

// The run table of an encoded object, checked: header, codec, count, monotonic offsets in bounds.
Result<std::vector<uint64_t>> ReadTable(KvCodec codec, const KvGeometry& g, std::span<const std::byte> enc) {
  const auto* p = reinterpret_cast<const uint8_t*>(enc.data());
  const uint64_t runs = RunCount(g);
  if (enc.size() < kHeaderBytes + TableBytes(g)) return Status::Corruption("encoded KV shorter than its header and run table");
  if (std::memcmp(p, kMagic, 4) != 0) return Status::Corruption("encoded KV has no TWKV magic");
  if (p[4] != kVersion) return Status::Corruption("encoded KV version " + std::to_string(p[4]) + " is not 1");
  if (p[5] != static_cast<uint8_t>(codec)) {
    return Status::Corruption("encoded KV names codec " + std::to_string(p[5]) + ", not " + std::string(KvCodecName(codec)));
  }
  if (LoadLE32(p + 8) != runs) return Status::Corruption("encoded KV's run count does not match the geometry");
  std::vector<uint64_t> table(runs + 1);
  uint64_t prev = kHeaderBytes + TableBytes(g);
  for (uint64_t i = 0; i <= runs; ++i) {
    table[i] = LoadLE64(p + kHeaderBytes + 8 * i);
    if (table[i] < prev || table[i] > enc.size()) return Status::Corruption("encoded KV's run table is out of order or bounds");
    prev = table[i];
  }
  if (table[0] != kHeaderBytes + TableBytes(g) || table[runs] != enc.size()) {
    return Status::Corruption("encoded KV's run table does not cover the object");
  }
  return table;
}

Status DecodeOne(KvCodec codec, const KvGeometry& g, std::span<const std::byte> enc, const std::vector<uint64_t>& table,
                 uint64_t run, std::byte* out) {
  return codec::DecodeRun(codec, ShapeOf(g, run), enc.subspan(table[run], table[run + 1] - table[run]), out);
}

}  // namespace

std::string_view KvCodecName(KvCodec codec) {
  switch (codec) {
    case KvCodec::kNone: return "none";
    case KvCodec::kLossless: return "lossless";
    case KvCodec::kFp8: return "fp8";
    case KvCodec::kInt8: return "int8";
    case KvCodec::kKivi2: return "kivi2";
  }
  return "unknown";
}

Result<KvCodec> ParseKvCodec(std::string_view name) {
  for (KvCodec c : {KvCodec::kNone, KvCodec::kLossless, KvCodec::kFp8, KvCodec::kInt8, KvCodec::kKivi2}) {
    if (name == KvCodecName(c)) return c;
  }
  return Status::InvalidArgument("unknown KV codec '" + std::string(name) + "': none, lossless, fp8, int8 or kivi2");
}

bool KvCodecIsBitExact(KvCodec codec) { return codec == KvCodec::kNone || codec == KvCodec::kLossless; }

Status CheckKvCodec(KvCodec codec, const KvGeometry& g) {
  TW_RETURN_IF_ERROR(g.Validate());
  if (KvCodecIsBitExact(codec)) return Status::Ok();
  if (g.dtype == KvDtype::kF8E4M3 || g.dtype == KvDtype::kI8) {
    return Status::InvalidArgument(std::string(KvCodecName(codec)) + " quantizes 16- and 32-bit KV; this KV is already " +
                                   std::string(KvDtypeName(g.dtype)));
  }
  return Status::Ok();
}

uint64_t EncodedKvBound(KvCodec codec, const KvGeometry& g) {
  if (codec == KvCodec::kNone) return g.ObjectBytes();
  uint64_t total = kHeaderBytes + TableBytes(g);
  for (uint64_t run = 0; run < RunCount(g); ++run) total += codec::RunBytes(codec, ShapeOf(g, run));
  return total;
}

Result<uint64_t> EncodeKv(KvCodec codec, const KvGeometry& g, std::span<const std::byte> canonical, std::span<std::byte> out) {
  TW_RETURN_IF_ERROR(CheckSizes(g, canonical.size()));
  TW_RETURN_IF_ERROR(CheckKvCodec(codec, g));
  if (out.size() < EncodedKvBound(codec, g)) return Status::InvalidArgument("output buffer smaller than EncodedKvBound");
  if (codec == KvCodec::kNone) {
    std::memcpy(out.data(), canonical.data(), canonical.size());
    return canonical.size();
  }
  auto* p = reinterpret_cast<uint8_t*>(out.data());
  std::memset(p, 0, kHeaderBytes);
  std::memcpy(p, kMagic, 4);
  p[4] = kVersion;
  p[5] = static_cast<uint8_t>(codec);
  const uint64_t runs = RunCount(g);
  StoreLE32(p + 8, static_cast<uint32_t>(runs));
  const uint64_t run_bytes = g.HeadRunBytes();
  uint64_t at = kHeaderBytes + TableBytes(g);
  for (uint64_t run = 0; run < runs; ++run) {
    StoreLE64(p + kHeaderBytes + 8 * run, at);
    at += codec::EncodeRun(codec, ShapeOf(g, run), canonical.data() + run * run_bytes, out.data() + at);
  }
  StoreLE64(p + kHeaderBytes + 8 * runs, at);
  return at;
}

Status DecodeKv(KvCodec codec, const KvGeometry& g, std::span<const std::byte> enc, std::span<std::byte> canonical) {
  TW_RETURN_IF_ERROR(CheckSizes(g, canonical.size()));
  if (codec == KvCodec::kNone) {
    if (enc.size() != canonical.size()) return Status::Corruption("raw KV has the wrong size");
    std::memcpy(canonical.data(), enc.data(), enc.size());
    return Status::Ok();
  }
  TW_RETURN_IF_ERROR(CheckKvCodec(codec, g));
  TW_ASSIGN_OR_RETURN(std::vector<uint64_t> table, ReadTable(codec, g, enc));
  const uint64_t run_bytes = g.HeadRunBytes();
  for (uint64_t run = 0; run < RunCount(g); ++run) {
    TW_RETURN_IF_ERROR(DecodeOne(codec, g, enc, table, run, canonical.data() + run * run_bytes));
  }
  return Status::Ok();
}

uint64_t EncodedKvTableBytes(const KvGeometry& g) { return kHeaderBytes + TableBytes(g); }

Result<std::vector<uint64_t>> EncodedKvRunOffsets(KvCodec codec, const KvGeometry& g) {
  TW_RETURN_IF_ERROR(CheckKvCodec(codec, g));
  if (codec == KvCodec::kNone || codec == KvCodec::kLossless) {
    return Status::InvalidArgument(std::string(KvCodecName(codec)) + " has no fixed run offsets");
  }
  std::vector<uint64_t> offsets(RunCount(g) + 1);
  uint64_t at = EncodedKvTableBytes(g);
  for (uint64_t run = 0; run < RunCount(g); ++run) {
    offsets[run] = at;
    at += codec::RunBytes(codec, ShapeOf(g, run));
  }
  offsets.back() = at;
  return offsets;
}

Status WriteEncodedKvTable(KvCodec codec, const KvGeometry& g, std::span<std::byte> out) {
  TW_ASSIGN_OR_RETURN(std::vector<uint64_t> offsets, EncodedKvRunOffsets(codec, g));
  if (out.size() != EncodedKvTableBytes(g)) return Status::InvalidArgument("the header and run table need EncodedKvTableBytes");
  auto* p = reinterpret_cast<uint8_t*>(out.data());
  std::memset(p, 0, kHeaderBytes);
  std::memcpy(p, kMagic, 4);
  p[4] = kVersion;
  p[5] = static_cast<uint8_t>(codec);
  StoreLE32(p + 8, static_cast<uint32_t>(RunCount(g)));
  for (size_t i = 0; i < offsets.size(); ++i) StoreLE64(p + kHeaderBytes + 8 * i, offsets[i]);
  return Status::Ok();
}

Status CheckEncodedKvTable(KvCodec codec, const KvGeometry& g, std::span<const std::byte> got) {
  std::vector<std::byte> want(EncodedKvTableBytes(g));
  TW_RETURN_IF_ERROR(WriteEncodedKvTable(codec, g, want));
  if (got.size() != want.size() || std::memcmp(got.data(), want.data(), want.size()) != 0) {
    return Status::Corruption("encoded KV header or run table is not the " + std::string(KvCodecName(codec)) +
                              " layout of " + g.ToString());
  }
  return Status::Ok();
}

Status DecodeKvSlice(KvCodec codec, const KvGeometry& g, const KvSlice& slice, std::span<const std::byte> enc,
                     std::span<std::byte> out) {
  TW_RETURN_IF_ERROR(g.Validate());
  TW_ASSIGN_OR_RETURN(KvSlice s, g.Resolve(slice));
  if (out.size() != g.SliceBytes(s)) return Status::InvalidArgument("output buffer does not match the slice");
  const uint64_t run_bytes = g.HeadRunBytes();
  if (codec == KvCodec::kNone) {
    if (enc.size() != g.ObjectBytes()) return Status::Corruption("raw KV has the wrong size");
  } else {
    TW_RETURN_IF_ERROR(CheckKvCodec(codec, g));
  }
  std::vector<uint64_t> table;
  if (codec != KvCodec::kNone) {
    TW_ASSIGN_OR_RETURN(table, ReadTable(codec, g, enc));
  }
  uint64_t at = 0;
  for (uint32_t layer = s.layer_begin; layer < s.layer_end; ++layer) {
    for (uint32_t kv = 0; kv < 2; ++kv) {
      for (uint32_t head = s.head_begin; head < s.head_end; ++head) {
        const uint64_t run = (uint64_t{layer} * 2 + kv) * g.kv_heads + head;
        if (codec == KvCodec::kNone) {
          std::memcpy(out.data() + at, enc.data() + run * run_bytes, run_bytes);
        } else {
          TW_RETURN_IF_ERROR(DecodeOne(codec, g, enc, table, run, out.data() + at));
        }
        at += run_bytes;
      }
    }
  }
  return Status::Ok();
}

}  // namespace tw

#include "store/tier/region_format.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include <xxhash.h>

#include "common/hash.h"
#include "common/little_endian.h"

namespace tw {
namespace {

constexpr char kRegionMagic[8] = {'T', 'W', 'R', 'E', 'G', 'I', 'O', 'N'};
constexpr char kRecordMagic[8] = {'T', 'W', 'R', 'E', 'C', 'O', 'R', 'D'};
constexpr char kTrailerMagic[8] = {'T', 'W', 'S', 'E', 'A', 'L', 'E', 'D'};
constexpr size_t kChecksumAt = kBlockBytes - 8;  // every block ends with the checksum of the rest

void SealBlock(uint8_t* out) { StoreLE64(out + kChecksumAt, Checksum64(out, kChecksumAt)); }

Status CheckBlock(const uint8_t* in, const char (&magic)[8], const char* what) {
  if (std::memcmp(in, magic, 8) != 0) return Status::Corruption(std::string(what) + ": bad magic");
  if (LoadLE64(in + kChecksumAt) != Checksum64(in, kChecksumAt)) return Status::Corruption(std::string(what) + ": bad checksum");
  const uint32_t version = LoadLE32(in + 8);
  if (version != kRegionFormatVersion) {
    return Status::NotSupported(std::string(what) + ": format version " + std::to_string(version));
  }
  return Status::Ok();
}

void PutGeometry(const KvGeometry& g, uint8_t* p) {
  StoreLE32(p, g.layers);
  StoreLE32(p + 4, g.kv_heads);
  StoreLE32(p + 8, g.head_dim);
  StoreLE32(p + 12, g.block_tokens);
  p[16] = static_cast<uint8_t>(g.dtype);
}

KvGeometry GetGeometry(const uint8_t* p) {
  KvGeometry g;
  g.layers = LoadLE32(p);
  g.kv_heads = LoadLE32(p + 4);
  g.head_dim = LoadLE32(p + 8);
  g.block_tokens = LoadLE32(p + 12);
  g.dtype = static_cast<KvDtype>(p[16]);
  return g;
}

}  // namespace

// Region header layout: magic 0, version 8, region_bytes 16, epoch 24, seq 32, created 40, owner 48..80.
void EncodeRegionHeader(const RegionHeader& h, uint8_t* out) {
  std::memset(out, 0, kBlockBytes);
  std::memcpy(out, kRegionMagic, 8);
  StoreLE32(out + 8, kRegionFormatVersion);
  StoreLE64(out + 16, h.region_bytes);
  StoreLE64(out + 24, h.epoch);
  StoreLE64(out + 32, h.seq);
  StoreLE64(out + 40, h.created_wall_ms);
  std::memcpy(out + 48, h.owner.data(), std::min(h.owner.size(), kOwnerBytes - 1));
  SealBlock(out);
}

Result<RegionHeader> DecodeRegionHeader(const uint8_t* in) {
  TW_RETURN_IF_ERROR(CheckBlock(in, kRegionMagic, "region header"));
  RegionHeader h;
  h.region_bytes = LoadLE64(in + 16);
  h.epoch = LoadLE64(in + 24);
  h.seq = LoadLE64(in + 32);
  h.created_wall_ms = LoadLE64(in + 40);
  h.owner.assign(reinterpret_cast<const char*>(in + 48), strnlen(reinterpret_cast<const char*>(in + 48), kOwnerBytes - 1));
  return h;
}

// Record header layout: magic 0, version 8, type 12, codec 13, epoch 16, seq 24, ns 32, key 48,
// parent 64, geometry 80..97, payload_bytes 104, payload_checksum 112, expires 120.
void EncodeRecordHeader(const RecordMeta& m, uint8_t* out) {
  std::memset(out, 0, kBlockBytes);
  std::memcpy(out, kRecordMagic, 8);
  StoreLE32(out + 8, kRegionFormatVersion);
  out[12] = static_cast<uint8_t>(m.type);
  out[13] = m.codec;
  StoreLE64(out + 16, m.epoch);
  StoreLE64(out + 24, m.seq);
  std::memcpy(out + 32, m.ns.bytes, 16);
  std::memcpy(out + 48, m.key.bytes, 16);
  std::memcpy(out + 64, m.parent.bytes, 16);
  PutGeometry(m.geometry, out + 80);
  StoreLE64(out + 104, m.payload_bytes);
  StoreLE64(out + 112, m.payload_checksum);
  StoreLE64(out + 120, m.expires_wall_ms);
  SealBlock(out);
}

Result<RecordMeta> DecodeRecordHeader(const uint8_t* in) {
  TW_RETURN_IF_ERROR(CheckBlock(in, kRecordMagic, "record header"));
  RecordMeta m;
  m.type = static_cast<RecordType>(in[12]);
  if (m.type != RecordType::kObject && m.type != RecordType::kTombstone) return Status::Corruption("record header: bad type");
  m.codec = in[13];
  m.epoch = LoadLE64(in + 16);
  m.seq = LoadLE64(in + 24);
  std::memcpy(m.ns.bytes, in + 32, 16);
  std::memcpy(m.key.bytes, in + 48, 16);
  std::memcpy(m.parent.bytes, in + 64, 16);
  m.geometry = GetGeometry(in + 80);
  m.payload_bytes = LoadLE64(in + 104);
  m.payload_checksum = LoadLE64(in + 112);
  m.expires_wall_ms = LoadLE64(in + 120);
  return m;
}

// Trailer layout: magic 0, version 8, epoch 16, records 24, footer_offset 32, footer_bytes 40,
// footer_checksum 48, data_end 56, sealed 64.
void EncodeTrailer(const RegionTrailer& t, uint8_t* out) {
  std::memset(out, 0, kBlockBytes);
  std::memcpy(out, kTrailerMagic, 8);
  StoreLE32(out + 8, kRegionFormatVersion);
  StoreLE64(out + 16, t.epoch);
  StoreLE64(out + 24, t.records);
  StoreLE64(out + 32, t.footer_offset);
  StoreLE64(out + 40, t.footer_bytes);
  StoreLE64(out + 48, t.footer_checksum);
  StoreLE64(out + 56, t.data_end);
  StoreLE64(out + 64, t.sealed_wall_ms);
  SealBlock(out);
}

Result<RegionTrailer> DecodeTrailer(const uint8_t* in) {
  TW_RETURN_IF_ERROR(CheckBlock(in, kTrailerMagic, "region trailer"));
  RegionTrailer t;
  t.epoch = LoadLE64(in + 16);
  t.records = LoadLE64(in + 24);
  t.footer_offset = LoadLE64(in + 32);
  t.footer_bytes = LoadLE64(in + 40);
  t.footer_checksum = LoadLE64(in + 48);
  t.data_end = LoadLE64(in + 56);
  t.sealed_wall_ms = LoadLE64(in + 64);
  return t;
}

// Footer entry layout: ns 0, key 16, parent 32, offset 48, payload_bytes 56, payload_checksum 64,
// expires 72, seq 80, geometry 88..105, type 112, codec 113.
void EncodeFooterEntry(const RecordMeta& m, uint8_t* out) {
  std::memset(out, 0, kFooterEntryBytes);
  std::memcpy(out, m.ns.bytes, 16);
  std::memcpy(out + 16, m.key.bytes, 16);
  std::memcpy(out + 32, m.parent.bytes, 16);
  StoreLE64(out + 48, m.offset);
  StoreLE64(out + 56, m.payload_bytes);
  StoreLE64(out + 64, m.payload_checksum);
  StoreLE64(out + 72, m.expires_wall_ms);
  StoreLE64(out + 80, m.seq);
  PutGeometry(m.geometry, out + 88);
  out[112] = static_cast<uint8_t>(m.type);
  out[113] = m.codec;
}

RecordMeta DecodeFooterEntry(const uint8_t* in) {
  RecordMeta m;
  std::memcpy(m.ns.bytes, in, 16);
  std::memcpy(m.key.bytes, in + 16, 16);
  std::memcpy(m.parent.bytes, in + 32, 16);
  m.offset = LoadLE64(in + 48);
  m.payload_bytes = LoadLE64(in + 56);
  m.payload_checksum = LoadLE64(in + 64);
  m.expires_wall_ms = LoadLE64(in + 72);
  m.seq = LoadLE64(in + 80);
  m.geometry = GetGeometry(in + 88);
  m.type = static_cast<RecordType>(in[112]);
  m.codec = in[113];
  return m;
}

constexpr uint64_t kPayloadSeed = 0x7477;
uint64_t PayloadChecksum(const void* data, uint64_t size) { return XXH3_64bits_withSeed(data, size, kPayloadSeed); }

uint64_t PayloadChecksum(std::span<const std::span<std::byte>> segments, uint64_t size) {
  if (segments.size() == 1) return PayloadChecksum(segments[0].data(), std::min<uint64_t>(size, segments[0].size()));
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset_withSeed(st, kPayloadSeed);
  for (const auto& s : segments) {
    const uint64_t n = std::min<uint64_t>(size, s.size());
    XXH3_64bits_update(st, s.data(), n);
    size -= n;
    if (size == 0) break;
  }
  const uint64_t h = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  return h;
}

PayloadHasher::PayloadHasher() : state_(XXH3_createState()) {
  XXH3_64bits_reset_withSeed(static_cast<XXH3_state_t*>(state_), kPayloadSeed);
}
PayloadHasher::~PayloadHasher() { XXH3_freeState(static_cast<XXH3_state_t*>(state_)); }
void PayloadHasher::Update(const void* data, uint64_t size) {
  XXH3_64bits_update(static_cast<XXH3_state_t*>(state_), data, size);
}
uint64_t PayloadHasher::Digest() const { return XXH3_64bits_digest(static_cast<const XXH3_state_t*>(state_)); }

std::string RegionFileName(const std::string& owner, uint64_t seq) {
  char buf[32];
  std::snprintf(buf, sizeof buf, ".%08llx.twr", static_cast<unsigned long long>(seq));
  return owner + buf;
}

bool ParseRegionName(const std::string& name, std::string* owner, uint64_t* seq) {
  // <owner>.<8+ hex>.twr
  if (name.size() < 14 || name.compare(name.size() - 4, 4, ".twr") != 0) return false;
  const size_t dot = name.rfind('.', name.size() - 5);
  if (dot == std::string::npos || dot == 0) return false;
  const std::string hex = name.substr(dot + 1, name.size() - 4 - dot - 1);
  if (hex.empty() || hex.size() > 16) return false;
  uint64_t v = 0;
  for (char c : hex) {
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return false;
    v = v << 4 | static_cast<uint64_t>(d);
  }
  *owner = name.substr(0, dot);
  *seq = v;
  return true;
}

}  // namespace tw

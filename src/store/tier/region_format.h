// The on-disk region format (docs/formats.md, "Disk region format", is the normative description).
//
// A region is one fixed-size, preallocated file, reused after reclaim:
//
//   [region header: 4 KiB][record][record]...[footer index][... free ...][trailer: last 4 KiB]
//   record = [record header: 4 KiB][payload, zero-padded to 4 KiB]
//
// Everything is little-endian and 4 KiB aligned, so a payload can be read with O_DIRECT (or cuFile)
// straight into page-aligned DRAM or GPU memory. Every header carries its own checksum; a record
// header carries the payload's checksum too. Each (re)use of a region file draws a fresh random
// epoch, written in the region header, every record header and the trailer: bytes left over from
// an earlier use never match the current epoch, so they are never mistaken for live records.
// A region is sealed (published) when its trailer is valid and names the header's epoch.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "tw/block_key.h"
#include "tw/geometry.h"
#include "tw/result.h"
#include "tw/status.h"

namespace tw {

inline constexpr uint32_t kRegionFormatVersion = 1;
inline constexpr uint64_t kBlockBytes = 4096;        // header, trailer and alignment unit
inline constexpr uint64_t kFooterEntryBytes = 128;   // one footer index entry
inline constexpr size_t kOwnerBytes = 32;            // owner id, NUL padded

enum class RecordType : uint8_t { kObject = 1, kTombstone = 2 };

struct RegionHeader {
  uint64_t region_bytes = 0;
  uint64_t epoch = 0;
  uint64_t seq = 0;           // the number in the file name
  uint64_t created_wall_ms = 0;
  std::string owner;          // at most kOwnerBytes - 1 bytes
};

// What a record header says about its object (and what a footer entry repeats).
struct RecordMeta {
  RecordType type = RecordType::kObject;
  uint8_t codec = 0;          // 0: raw canonical layout; other codecs are reserved
  uint64_t epoch = 0;
  uint64_t seq = 0;           // per-owner sequence number: orders tombstones against objects
  NamespaceId ns;
  BlockKey key;
  BlockKey parent;
  KvGeometry geometry;
  uint64_t payload_bytes = 0;
  uint64_t payload_checksum = 0;
  uint64_t expires_wall_ms = 0;  // 0: never
  uint64_t offset = 0;           // in footer entries only: where the record header starts

  uint64_t stored_bytes() const { return type == RecordType::kObject ? AlignUp4K(payload_bytes) : 0; }
  uint64_t record_bytes() const { return kBlockBytes + stored_bytes(); }
  static uint64_t AlignUp4K(uint64_t n) { return (n + kBlockBytes - 1) / kBlockBytes * kBlockBytes; }
};

struct RegionTrailer {
  uint64_t epoch = 0;
  uint64_t records = 0;
  uint64_t footer_offset = 0;
  uint64_t footer_bytes = 0;
  uint64_t footer_checksum = 0;
  uint64_t data_end = 0;        // first byte after the last record
  uint64_t sealed_wall_ms = 0;
};

// Encoders write exactly kBlockBytes (headers, trailer) or kFooterEntryBytes (entries) at `out`.
void EncodeRegionHeader(const RegionHeader& h, uint8_t* out);
void EncodeRecordHeader(const RecordMeta& m, uint8_t* out);
void EncodeTrailer(const RegionTrailer& t, uint8_t* out);
void EncodeFooterEntry(const RecordMeta& m, uint8_t* out);

// Decoders return kCorruption for a bad magic or checksum, kNotSupported for an unknown version.
Result<RegionHeader> DecodeRegionHeader(const uint8_t* in);
Result<RecordMeta> DecodeRecordHeader(const uint8_t* in);
Result<RegionTrailer> DecodeTrailer(const uint8_t* in);
RecordMeta DecodeFooterEntry(const uint8_t* in);  // covered by the trailer's footer checksum

// The checksum of a payload (xxh3-64 of the unpadded bytes), whole or scattered over segments.
uint64_t PayloadChecksum(const void* data, uint64_t size);
uint64_t PayloadChecksum(std::span<const std::span<std::byte>> segments, uint64_t size);

// The payload checksum computed incrementally, so it can follow data as it arrives (a copy chunk by
// chunk, or reads as they complete) while the bytes are still in cache.
class PayloadHasher {
 public:
  PayloadHasher();
  ~PayloadHasher();
  PayloadHasher(const PayloadHasher&) = delete;
  PayloadHasher& operator=(const PayloadHasher&) = delete;
  void Update(const void* data, uint64_t size);
  uint64_t Digest() const;

 private:
  void* state_;  // XXH3_state_t*
};

// Bytes the footer of `records` entries occupies (whole blocks).
inline uint64_t FooterBytes(uint64_t records) { return RecordMeta::AlignUp4K(records * kFooterEntryBytes); }

// "<owner>.<seq as 8 hex digits>.twr"; ParseRegionName returns false for other names.
std::string RegionFileName(const std::string& owner, uint64_t seq);
bool ParseRegionName(const std::string& name, std::string* owner, uint64_t* seq);

}  // namespace tw

// libFuzzer target for the disk tier's on-disk format (src/store/tier/region_format.h): region
// headers, record headers, trailers and footer entries, as read back from files that another
// process, a crash or a bad disk may have written. Random bytes almost never pass a block checksum,
// so the fuzzer also seals its input with a valid magic, version and checksum first: that reaches
// the field decoding and what the tier computes from the fields (geometry sizes, record lengths).
// Whatever decodes must encode back to the same block (the format has one spelling per value).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "common/hash.h"
#include "common/little_endian.h"
#include "store/tier/region_format.h"

namespace {

using namespace tw;

constexpr size_t kChecksumAt = kBlockBytes - 8;

void Check(bool ok) {
  if (!ok) std::abort();  // a finding: libFuzzer saves the input
}

// A block whose magic, version and checksum are valid, holding `data` in between.
std::vector<uint8_t> Sealed(const uint8_t* data, size_t size, const char* magic) {
  std::vector<uint8_t> b(kBlockBytes, 0);
  std::memcpy(b.data(), data, std::min(size, kBlockBytes));
  std::memcpy(b.data(), magic, 8);
  StoreLE32(b.data() + 8, kRegionFormatVersion);
  StoreLE64(b.data() + kChecksumAt, Checksum64(b.data(), kChecksumAt));
  return b;
}

void Geometry(const KvGeometry& g) {
  if (!g.Validate().ok()) return;
  (void)g.ObjectBytes();
  (void)g.SliceRuns(KvSlice::All());
  (void)g.SliceRuns(KvSlice{0, g.layers / 2 + 1, 0, g.kv_heads});
}

void Record(const uint8_t* block) {
  Result<RecordMeta> m = DecodeRecordHeader(block);
  if (!m.ok()) return;
  (void)m->record_bytes();
  Geometry(m->geometry);
  std::vector<uint8_t> again(kBlockBytes);
  EncodeRecordHeader(*m, again.data());
  Result<RecordMeta> m2 = DecodeRecordHeader(again.data());
  Check(m2.ok() && m2->key == m->key && m2->ns == m->ns && m2->payload_bytes == m->payload_bytes &&
        m2->payload_checksum == m->payload_checksum && m2->geometry.layers == m->geometry.layers);
  std::vector<uint8_t> entry(kFooterEntryBytes);
  EncodeFooterEntry(*m, entry.data());
  RecordMeta e = DecodeFooterEntry(entry.data());
  Check(e.key == m->key && e.payload_bytes == m->payload_bytes && e.type == m->type);
}

void Trailer(const uint8_t* block) {
  Result<RegionTrailer> t = DecodeTrailer(block);
  if (!t.ok()) return;
  std::vector<uint8_t> again(kBlockBytes);
  EncodeTrailer(*t, again.data());
  Result<RegionTrailer> t2 = DecodeTrailer(again.data());
  Check(t2.ok() && t2->footer_offset == t->footer_offset && t2->footer_bytes == t->footer_bytes && t2->data_end == t->data_end);
}

void Header(const uint8_t* block) {
  Result<RegionHeader> h = DecodeRegionHeader(block);
  if (!h.ok()) return;
  Check(h->owner.size() < kOwnerBytes);
  (void)RegionFileName(h->owner, h->seq);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // As they are: almost always a bad magic or checksum, which must be refused, never trusted.
  std::vector<uint8_t> raw(kBlockBytes, 0);
  std::memcpy(raw.data(), data, std::min(size, kBlockBytes));
  Record(raw.data());
  Trailer(raw.data());
  Header(raw.data());
  (void)DecodeFooterEntry(raw.data());
  // Sealed, so the fields themselves are decoded and used.
  Record(Sealed(data, size, "TWRECORD").data());
  Trailer(Sealed(data, size, "TWSEALED").data());
  Header(Sealed(data, size, "TWREGION").data());
  return 0;
}

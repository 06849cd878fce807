#include "store/tier/region.h"

#include <chrono>
#include <cstring>

namespace tw {
namespace {

constexpr uint64_t kScanWindowBytes = 8ull << 20;  // unsealed scans read this much at a time

// Rebuilds a corrupt region header from what repeats it: the first record's header (its epoch),
// the file's size (regions are preallocated to region_bytes) and the file's name (owner, seq).
// Only the first record speaks for the epoch: the trailer may be left over from the file's previous
// use, while a record at the start was written after the header of the current one.
Result<RegionHeader> RebuildHeader(File& file, uint64_t file_bytes, const RegionName& named, AlignedBuffer& block,
                                   const Status& why) {
  if (file_bytes < 4 * kBlockBytes || file_bytes % kBlockBytes) return why;
  TW_RETURN_IF_ERROR(file.ReadAt(kBlockBytes, block.span()));
  Result<RecordMeta> first = DecodeRecordHeader(reinterpret_cast<const uint8_t*>(block.data()));
  if (!first.ok()) return why;  // no record to rebuild from: nothing in the region is recoverable
  RegionHeader h;
  h.region_bytes = file_bytes;
  h.epoch = first->epoch;
  h.seq = named.seq;
  h.owner = named.owner;
  return h;
}

}  // namespace

Result<RegionContents> ReadRegion(File& file, bool scan_unsealed, const RegionName* named) {
  RegionContents out;
  AlignedBuffer block(kBlockBytes);
  if (!block) return Status::ResourceExhausted("cannot allocate a read buffer");
  TW_RETURN_IF_ERROR(file.ReadAt(0, block.span()));
  TW_ASSIGN_OR_RETURN(uint64_t file_bytes, file.Size());
  Result<RegionHeader> header = DecodeRegionHeader(reinterpret_cast<const uint8_t*>(block.data()));
  if (!header.ok() && header.status().IsCorruption() && named != nullptr) {
    header = RebuildHeader(file, file_bytes, *named, block, header.status());
    out.header_rebuilt = header.ok();
  }
  if (!header.ok()) return header.status();
  out.header = *header;
  const RegionHeader& h = out.header;
  if (h.region_bytes < 4 * kBlockBytes || h.region_bytes % kBlockBytes || file_bytes < h.region_bytes) {
    return Status::Corruption(file.path() + ": region size " + std::to_string(h.region_bytes) + " does not match the file");
  }
  const uint64_t trailer_at = h.region_bytes - kBlockBytes;

  // Sealed? The trailer must be valid, name this epoch, and its footer must check out.
  if (file.ReadAt(trailer_at, block.span()).ok()) {
    Result<RegionTrailer> t = DecodeTrailer(reinterpret_cast<const uint8_t*>(block.data()));
    if (t.ok() && t->epoch == h.epoch && t->footer_offset >= kBlockBytes && t->footer_offset % kBlockBytes == 0 &&
        t->footer_offset + t->footer_bytes <= trailer_at && t->footer_bytes >= t->records * kFooterEntryBytes) {
      AlignedBuffer footer(t->footer_bytes);
      if (t->footer_bytes == 0 || (footer && file.ReadAt(t->footer_offset, {footer.data(), t->footer_bytes}).ok())) {
        const uint8_t* f = reinterpret_cast<const uint8_t*>(footer.data());
        if (t->footer_bytes == 0 || PayloadChecksum(f, t->records * kFooterEntryBytes) == t->footer_checksum) {
          out.sealed = true;
          out.trailer = *t;
          out.data_end = t->data_end;
          out.records.reserve(t->records);
          for (uint64_t i = 0; i < t->records; ++i) {
            RecordMeta m = DecodeFooterEntry(f + i * kFooterEntryBytes);
            m.epoch = h.epoch;
            out.records.push_back(m);
          }
          return out;
        }
      }
    }
  }
  if (!scan_unsealed) return out;

  // Unsealed: walk records from the start, verifying each, until the first that does not check out.
  AlignedBuffer window(kScanWindowBytes);
  if (!window) return Status::ResourceExhausted("cannot allocate a scan buffer");
  uint64_t window_at = 0, window_len = 0;  // file range held in `window`
  uint64_t at = kBlockBytes;
  while (at + kBlockBytes <= trailer_at) {
    auto load = [&](uint64_t need) -> Status {
      if (at >= window_at && at + need <= window_at + window_len) return Status::Ok();
      const uint64_t len = std::min(std::max(need, kScanWindowBytes), trailer_at - at);
      if (len < need) return Status::Corruption("record runs past the end of the region");
      if (len > window.size()) window = AlignedBuffer(len);
      if (!window) return Status::ResourceExhausted("cannot allocate a scan buffer");
      TW_RETURN_IF_ERROR(file.ReadAt(at, {window.data(), len}));
      window_at = at;
      window_len = len;
      return Status::Ok();
    };
    if (Status s = load(kBlockBytes); !s.ok()) {
      out.stop = s;
      break;
    }
    const uint8_t* p = reinterpret_cast<const uint8_t*>(window.data() + (at - window_at));
    Result<RecordMeta> m = DecodeRecordHeader(p);
    if (!m.ok()) {
      // A zeroed block is the clean end of the log; anything else is a torn or corrupt record.
      static const uint8_t kZero[16] = {};
      if (std::memcmp(p, kZero, sizeof kZero) != 0) out.stop = m.status();
      break;
    }
    if (m->epoch != h.epoch) break;  // left over from an earlier use of the file: the end of this one
    if (Status s = load(m->record_bytes()); !s.ok()) {
      out.stop = s;
      break;
    }
    p = reinterpret_cast<const uint8_t*>(window.data() + (at - window_at));
    if (m->type == RecordType::kObject && PayloadChecksum(p + kBlockBytes, m->payload_bytes) != m->payload_checksum) {
      out.stop = Status::Corruption(file.path() + ": payload checksum mismatch at " + std::to_string(at));
      break;
    }
    m->offset = at;
    out.records.push_back(*m);
    at += m->record_bytes();
  }
  out.data_end = at;
  return out;
}

Status WriteSeal(File& file, uint64_t epoch, uint64_t region_bytes, uint64_t data_end,
                 const std::vector<RecordMeta>& records, uint32_t io_depth) {
  const uint64_t n = records.size();
  const uint64_t footer_bytes = FooterBytes(n);
  if (data_end + footer_bytes > region_bytes - kBlockBytes) return Status::Internal("footer does not fit the region");
  AlignedBuffer buf(footer_bytes + kBlockBytes);
  if (!buf) return Status::ResourceExhausted("cannot allocate a footer");
  uint8_t* f = reinterpret_cast<uint8_t*>(buf.data());
  for (uint64_t i = 0; i < n; ++i) EncodeFooterEntry(records[i], f + i * kFooterEntryBytes);
  RegionTrailer t;
  t.epoch = epoch;
  t.records = n;
  t.footer_offset = data_end;
  t.footer_bytes = footer_bytes;
  t.footer_checksum = PayloadChecksum(f, n * kFooterEntryBytes);
  t.data_end = data_end;
  t.sealed_wall_ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                               std::chrono::system_clock::now().time_since_epoch()).count());
  EncodeTrailer(t, f + footer_bytes);
  // Records and footer first, synced; the trailer second. The trailer is what makes a region read
  // as sealed (indexed without a scan), so it must not reach the medium before what it lists: a
  // power cut between two unsynced writes may keep either. A crash between the sync and the trailer
  // leaves an unsealed region, which recovery scans.
  std::vector<IoOp> ops;
  if (footer_bytes) ops.push_back({IoOp::Kind::kWrite, data_end, buf.data(), footer_bytes});
  TW_RETURN_IF_ERROR(file.Submit(ops, io_depth));
  TW_RETURN_IF_ERROR(file.Sync());
  TW_RETURN_IF_ERROR(file.WriteAt(region_bytes - kBlockBytes, {buf.data() + footer_bytes, kBlockBytes}));
  return file.Sync();
}

Result<RecordMeta> ReadRecord(File& file, uint64_t offset, uint64_t epoch, AlignedBuffer* payload) {
  AlignedBuffer header(kBlockBytes);
  if (!header) return Status::ResourceExhausted("cannot allocate a read buffer");
  TW_RETURN_IF_ERROR(file.ReadAt(offset, header.span()));
  TW_ASSIGN_OR_RETURN(RecordMeta m, DecodeRecordHeader(reinterpret_cast<const uint8_t*>(header.data())));
  if (m.epoch != epoch) return Status::Corruption("record epoch does not match its region");
  m.offset = offset;
  if (m.type != RecordType::kObject) return m;
  if (payload->size() < m.stored_bytes()) *payload = AlignedBuffer(m.stored_bytes());
  if (m.stored_bytes() && !*payload) return Status::ResourceExhausted("cannot allocate a read buffer");
  if (m.stored_bytes()) TW_RETURN_IF_ERROR(file.ReadAt(offset + kBlockBytes, {payload->data(), m.stored_bytes()}));
  if (PayloadChecksum(payload->data(), m.payload_bytes) != m.payload_checksum) {
    return Status::Corruption(file.path() + ": payload checksum mismatch at " + std::to_string(offset));
  }
  return m;
}

}  // namespace tw

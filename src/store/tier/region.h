// Region: one region file as the disk tier holds it, and the reads that turn a file back into an
// index (used by warm restart, discovery of other processes' regions, and fsck).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/env/env.h"
#include "store/tier/region_format.h"

namespace tw {

// One use (epoch) of a region file. A reused file gets a new Region object with a new epoch; the
// old object lives on while readers hold it, and their reads then fail the epoch check (a miss).
struct Region {
  std::string path;
  std::string owner;
  uint64_t seq = 0;
  uint64_t epoch = 0;
  uint64_t region_bytes = 0;
  bool own = false;
  std::shared_ptr<File> file;
  std::atomic<uint64_t> last_access_ms{0};
  std::atomic<uint64_t> live_objects{0};
  std::atomic<bool> sealed{false};
};

// What a region file holds, as far as it can be trusted.
struct RegionContents {
  RegionHeader header;
  bool header_rebuilt = false;      // the header was corrupt and was rebuilt (see ReadRegion)
  bool sealed = false;
  RegionTrailer trailer;            // valid when sealed
  std::vector<RecordMeta> records;  // in file order (offset set)
  uint64_t data_end = kBlockBytes;  // first byte after the last good record
  Status stop;                      // unsealed scans: why the scan stopped (OK at a clean end)
};

// Reads the header, and the footer if the region is sealed; otherwise (if `scan_unsealed`) scans
// records from the start, verifying every header and payload, and stops at the first bad one.
// I/O errors as returned by the file.
//
// A corrupt region header does not cost the region when the caller knows the file's name
// (`named`: owner and seq, as the file name gives them): every record header repeats the epoch and
// the file is preallocated to exactly region_bytes, so the header is rebuilt from the first record
// (header_rebuilt) and the region is read as usual, every record still verified. Without `named`,
// or with no valid first record to rebuild from, a bad header is kCorruption.
struct RegionName {
  std::string owner;
  uint64_t seq = 0;
};
Result<RegionContents> ReadRegion(File& file, bool scan_unsealed, const RegionName* named = nullptr);

// Seals a region: writes the footer listing `records` at `data_end`, then the trailer, then syncs.
Status WriteSeal(File& file, uint64_t epoch, uint64_t region_bytes, uint64_t data_end,
                 const std::vector<RecordMeta>& records, uint32_t io_depth);

// Reads one record at `offset` and verifies it against `expected` (key, epoch, checksum) when given.
// Returns the decoded header; the payload is left in *payload (aligned, padded).
Result<RecordMeta> ReadRecord(File& file, uint64_t offset, uint64_t epoch, AlignedBuffer* payload);

}  // namespace tw

// Fsck of a disk tier directory: reads every region and verifies every record it indexes (header,
// key, epoch, payload checksum), as a reader would, and optionally repairs what it finds.
//
// Repair never invents data; it only makes bad bytes unreachable:
//  - a sealed region with bad records: their headers are zeroed and the footer is rewritten
//    without them;
//  - an unsealed region (its writer crashed): sealed with the records before the first bad one;
//  - a region whose header is unreadable: deleted.
// Repair takes each owner's lock first and skips (reports) the regions of an owner still running.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/env/env.h"
#include "tw/result.h"

namespace tw {

struct FsckOptions {
  bool repair = false;
  Env* env = nullptr;  // nullptr: POSIX
};

struct FsckRegionReport {
  std::string name;
  std::string owner;
  bool sealed = false;
  bool header_ok = true;
  uint64_t records = 0;      // records the region indexes (footer) or the scan reached
  uint64_t good = 0;
  uint64_t bad = 0;
  uint64_t tombstones = 0;
  uint64_t payload_bytes = 0;
  std::vector<std::string> problems;
  bool repaired = false;
  std::string skipped;       // why a repair was not attempted
};

struct FsckReport {
  uint64_t regions = 0, sealed_regions = 0, bad_regions = 0, repaired_regions = 0;
  uint64_t records = 0, good_records = 0, bad_records = 0;
  uint64_t payload_bytes = 0;
  std::vector<FsckRegionReport> region_reports;
  bool clean() const { return bad_regions == 0 && bad_records == 0; }
};

// kNotFound if `dir` does not exist; I/O errors reading the directory. Problems inside regions are
// reported, not returned.
Result<FsckReport> Fsck(const std::string& dir, const FsckOptions& options);

}  // namespace tw

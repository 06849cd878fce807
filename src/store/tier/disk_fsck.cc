#include "store/tier/disk_fsck.h"

#include <algorithm>
#include <map>
#include <memory>

#include "store/tier/region.h"

namespace tw {
namespace {

// Verifies the records a sealed region's footer lists; returns the good ones, notes the bad.
std::vector<RecordMeta> VerifySealed(File& file, const RegionContents& c, FsckRegionReport* r,
                                     std::vector<uint64_t>* bad_offsets) {
  std::vector<RecordMeta> good;
  AlignedBuffer payload;
  uint64_t prev_end = kBlockBytes;
  for (const RecordMeta& want : c.records) {
    std::string problem;
    if (want.offset < prev_end || want.offset % kBlockBytes || want.offset + want.record_bytes() > c.data_end) {
      problem = "footer entry at " + std::to_string(want.offset) + " out of order or out of range";
    } else {
      Result<RecordMeta> got = ReadRecord(file, want.offset, c.header.epoch, &payload);
      if (!got.ok()) {
        problem = got.status().ToString();
      } else if (got->key != want.key || got->ns != want.ns || got->type != want.type ||
                 got->payload_bytes != want.payload_bytes || got->payload_checksum != want.payload_checksum) {
        problem = "record at " + std::to_string(want.offset) + " does not match its footer entry";
      }
    }
    if (problem.empty()) {
      good.push_back(want);
      prev_end = want.offset + want.record_bytes();
      if (want.type == RecordType::kTombstone) ++r->tombstones;
      r->payload_bytes += want.payload_bytes;
    } else {
      r->problems.push_back("record " + want.key.ToHex() + ": " + problem);
      bad_offsets->push_back(want.offset);
    }
  }
  return good;
}

}  // namespace

Result<FsckReport> Fsck(const std::string& dir, const FsckOptions& options) {
  Env* env = options.env ? options.env : Env::Posix();
  TW_ASSIGN_OR_RETURN(std::vector<std::string> names, env->ListDir(dir));
  std::sort(names.begin(), names.end());
  FsckReport report;
  std::map<std::string, std::unique_ptr<FileLock>> locks;  // owner -> held lock (repair only)
  std::map<std::string, std::string> busy;                 // owner -> why not locked
  for (const std::string& name : names) {
    FsckRegionReport r;
    uint64_t seq;
    if (!ParseRegionName(name, &r.owner, &seq)) continue;
    r.name = name;
    ++report.regions;
    bool may_repair = false;
    if (options.repair) {
      if (!locks.count(r.owner) && !busy.count(r.owner)) {
        Result<std::unique_ptr<FileLock>> l = env->Lock(dir + "/" + r.owner + ".lock");
        if (l.ok()) locks[r.owner] = std::move(*l);
        else busy[r.owner] = l.status().ToString();
      }
      may_repair = locks.count(r.owner) > 0;
      if (!may_repair) r.skipped = "owner " + r.owner + " is running (" + busy[r.owner] + ")";
    }
    FileOptions fo;
    fo.read_only = !may_repair;
    Result<std::unique_ptr<File>> file = env->Open(dir + "/" + name, fo);
    if (!file.ok()) {
      r.header_ok = false;
      r.problems.push_back(file.status().ToString());
      ++report.bad_regions;
      report.region_reports.push_back(std::move(r));
      continue;
    }
    const RegionName named{r.owner, seq};
    Result<RegionContents> c = ReadRegion(**file, /*scan_unsealed=*/true, &named);
    if (!c.ok() || c->header.owner != r.owner || c->header.seq != seq) {
      r.header_ok = false;
      r.problems.push_back(c.ok() ? "region header names another owner or number" : c.status().ToString());
      if (may_repair) {
        file->reset();
        r.repaired = env->Delete(dir + "/" + name).ok();
      }
    } else {
      r.sealed = c->sealed;
      r.records = c->records.size();
      if (c->header_rebuilt) {
        r.header_ok = false;
        r.problems.push_back("region header corrupt; rebuilt from its first record (epoch and size)");
      }
      std::vector<uint64_t> bad_offsets;
      std::vector<RecordMeta> good;
      if (c->sealed) {
        good = VerifySealed(**file, *c, &r, &bad_offsets);
      } else {
        good = c->records;  // the scan verified each
        for (const RecordMeta& m : good) {
          r.payload_bytes += m.payload_bytes;
          if (m.type == RecordType::kTombstone) ++r.tombstones;
        }
        if (!c->stop.ok()) {
          r.problems.push_back("scan stopped at " + std::to_string(c->data_end) + ": " + c->stop.ToString());
          bad_offsets.push_back(c->data_end);
          ++r.records;
        }
      }
      r.good = good.size();
      r.bad = bad_offsets.size();
      if (may_repair && (r.bad > 0 || !c->sealed || c->header_rebuilt)) {
        Status s;
        AlignedBuffer zero(kBlockBytes);
        if (c->header_rebuilt) {
          AlignedBuffer header(kBlockBytes);
          EncodeRegionHeader(c->header, reinterpret_cast<uint8_t*>(header.data()));
          s = (*file)->WriteAt(0, header.span());
        }
        // Zero the bad records' headers so no later scan can reach them, then re-seal.
        for (uint64_t off : bad_offsets) {
          if (s.ok() && off + kBlockBytes <= c->header.region_bytes - kBlockBytes) s = (*file)->WriteAt(off, zero.span());
        }
        if (s.ok()) s = WriteSeal(**file, c->header.epoch, c->header.region_bytes, c->data_end, good, 8);
        r.repaired = s.ok();
        if (!s.ok()) r.problems.push_back("repair failed: " + s.ToString());
      }
    }
    if (!r.header_ok || r.bad) ++report.bad_regions;
    if (r.repaired) ++report.repaired_regions;
    if (r.sealed) ++report.sealed_regions;
    report.records += r.records;
    report.good_records += r.good;
    report.bad_records += r.bad;
    report.payload_bytes += r.payload_bytes;
    report.region_reports.push_back(std::move(r));
  }
  return report;
}

}  // namespace tw

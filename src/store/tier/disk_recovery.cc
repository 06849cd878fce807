// DiskTier warm restart and shared-directory discovery: turning region files back into an index.
//
// Own regions: a sealed region contributes its footer (one read); an unsealed one (the process died
// while writing it) is scanned record by record up to the first that fails verification. The last
// unsealed region becomes the active region again: the writer appends after its last good record
// (overwriting whatever torn bytes followed it) and seals it when it is full, so a crash costs no
// region space (before, every restart sealed it and opened a fresh region: 20 crashes left a 4 GiB
// tier a fifth full and reclaim dropped acknowledged objects to make room). Earlier unsealed regions
// (a background seal that had not landed) are sealed at once. Tombstones remove older records of
// the same owner. Other owners' regions (shared mode) count only once sealed.
#include <algorithm>
#include <set>

#include "common/logging.h"
#include "store/tier/disk_tier.h"

namespace tw {

Status DiskTier::Recover() {
  TW_ASSIGN_OR_RETURN(std::vector<std::string> names, env_->ListDir(options_.dir));
  struct Found {
    std::string name, owner;
    uint64_t seq;
  };
  std::vector<Found> own, others;
  for (const std::string& name : names) {
    Found f{name, "", 0};
    if (!ParseRegionName(name, &f.owner, &f.seq)) continue;
    (f.owner == options_.owner ? own : others).push_back(f);
  }
  std::sort(own.begin(), own.end(), [](const Found& a, const Found& b) { return a.seq < b.seq; });
  std::map<IndexKey, uint64_t> tombstones;
  for (const Found& f : own) {
    Status s = LoadRegion(f.name, f.owner, f.seq, /*own=*/true, &tombstones);
    if (!s.ok()) TW_LOG_WARN("disk tier: region {} skipped: {}", f.name, s.ToString());
  }
  // Tombstones: drop own objects written before their removal.
  for (const auto& [k, seq] : tombstones) {
    Shard& s = ShardOf(k);
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.map.find(k);
    if (it != s.map.end() && it->second.region->own && it->second.seq < seq) {
      s.map.erase(it);
      counters_.objects.fetch_sub(1, std::memory_order_relaxed);
    }
  }
  if (options_.shared) {
    for (const Found& f : others) {
      Status s = LoadRegion(f.name, f.owner, f.seq, /*own=*/false, nullptr);
      if (!s.ok() && !s.IsNotFound()) TW_LOG_INFO("disk tier: region {} not loaded: {}", f.name, s.ToString());
    }
  }
  // Capacity may have shrunk since the last run: delete the oldest regions beyond it.
  {
    std::lock_guard<std::mutex> lock(regions_mu_);
    std::sort(own_.begin(), own_.end(), [](const auto& a, const auto& b) { return a->seq < b->seq; });
    while (own_.size() > max_regions_) {
      std::shared_ptr<Region> r = own_.front();
      own_.erase(own_.begin());
      DropRegionEntries(r);
      (void)env_->Delete(r->path);
    }
  }
  recovered_.store(counters_.objects.load());
  ApplySavedRenewals();
  // The unsealed region of a crashed run is appended to from its last good record. What it holds
  // was written with O_DIRECT but perhaps never synced: sync it before anything new lands behind
  // it, so the records recovered now survive a power cut like the ones written from here on.
  if (active_.region) {
    if (Status s = active_.region->file->Sync(); !s.ok()) {
      TW_LOG_WARN("disk tier: cannot sync the recovered region {} ({}); sealing it", active_.region->path, s.ToString());
      TW_RETURN_IF_ERROR(SealActive());
    } else {
      TW_LOG_INFO("disk tier: appending to the crashed run's region {} from offset {}", active_.region->path,
                  active_.data_end);
    }
  }
  return Status::Ok();
}

Status DiskTier::LoadRegion(const std::string& name, const std::string& owner, uint64_t seq, bool own,
                            std::map<IndexKey, uint64_t>* tombstones) {
  const std::string path = options_.dir + "/" + name;
  FileOptions fo;
  fo.read_only = !own;
  TW_ASSIGN_OR_RETURN(std::unique_ptr<File> file, env_->Open(path, fo));
  auto region = std::make_shared<Region>();
  region->path = path;
  region->owner = owner;
  region->seq = seq;
  region->own = own;
  region->region_bytes = options_.region_bytes;
  region->last_access_ms.store(0);
  const RegionName named{owner, seq};
  Result<RegionContents> contents = ReadRegion(*file, /*scan_unsealed=*/own, &named);
  if (contents.ok() && contents->header_rebuilt) {
    TW_LOG_WARN("disk tier: region {} had a corrupt header; rebuilt it from its first record (epoch {:x}, {} records)",
                path, contents->header.epoch, contents->records.size());
    if (own) {  // write it back, so the next start reads a good header
      AlignedBuffer block(kBlockBytes);
      if (block) {
        EncodeRegionHeader(contents->header, reinterpret_cast<uint8_t*>(block.data()));
        Status s = file->WriteAt(0, block.span());
        if (s.ok()) s = file->Sync();
        if (!s.ok()) TW_LOG_WARN("disk tier: region {}: rewriting its header failed: {}", path, s.ToString());
      }
    }
  }
  region->file = std::move(file);
  if (own) {
    std::lock_guard<std::mutex> lock(regions_mu_);
    next_region_seq_ = std::max(next_region_seq_, seq + 1);
  }
  // Other owners may use another region size; our own files must match ours to be reused.
  if (contents.ok() && !own) region->region_bytes = contents->header.region_bytes;
  if (!contents.ok() || (own && contents->header.region_bytes != options_.region_bytes) ||
      contents->header.owner != owner) {
    if (!own) return contents.ok() ? Status::Corruption(path + ": region header does not match its name") : contents.status();
    // Our own file but unusable (torn header of a region being reused, or another size): it holds
    // nothing we can serve. Keep the file as the first to reuse.
    if (!contents.ok()) TW_LOG_WARN("disk tier: region {} unreadable ({}): will be reused", path, contents.status().ToString());
    region->epoch = 0;
    region->sealed.store(true);
    if (!contents.ok() || contents->header.region_bytes == options_.region_bytes) {
      std::lock_guard<std::mutex> lock(regions_mu_);
      own_.push_back(region);
    } else {
      (void)env_->Delete(path);  // a different region size: start over with fresh files
    }
    return Status::Ok();
  }
  region->epoch = contents->header.epoch;
  if (!own && !contents->sealed) return Status::Ok();  // not yet published
  for (const RecordMeta& m : contents->records) {
    next_record_seq_.store(std::max(next_record_seq_.load(), m.seq + 1));
  }
  IndexRecords(region, contents->records, tombstones);
  std::lock_guard<std::mutex> lock(regions_mu_);
  if (own) {
    own_.push_back(region);
    if (!contents->sealed) {
      if (!contents->stop.ok()) {
        TW_LOG_INFO("disk tier: region {} recovered {} records; scan stopped at {}: {}", path, contents->records.size(),
                    contents->data_end, contents->stop.ToString());
      }
      // Up to two regions are unsealed after a crash (the active one, and the previous one if its
      // background seal had not landed): seal the earlier ones now.
      if (active_.region) {
        regions_mu_.unlock();
        Status s = SealActive();
        regions_mu_.lock();
        TW_RETURN_IF_ERROR(s);
      }
      active_.region = region;
      active_.data_end = contents->data_end;
      active_.records = contents->records;
    } else {
      region->sealed.store(true);
    }
  } else {
    region->sealed.store(true);
    foreign_[path] = region;
  }
  return Status::Ok();
}

void DiskTier::IndexRecords(const std::shared_ptr<Region>& region, const std::vector<RecordMeta>& records,
                            std::map<IndexKey, uint64_t>* tombstones) {
  std::vector<IndexKey> keys;
  keys.reserve(records.size());
  uint64_t added = 0;
  for (const RecordMeta& m : records) {
    const IndexKey k{m.ns, m.key};
    if (m.type == RecordType::kTombstone) {
      if (tombstones) {
        uint64_t& t = (*tombstones)[k];
        t = std::max(t, m.seq);
      }
      continue;
    }
    if (m.type != RecordType::kObject) continue;
    Entry e{region, m.offset, m.payload_bytes, m.payload_checksum, m.seq, StoreFromWall(m.expires_wall_ms), m.parent,
            m.geometry};
    Shard& s = ShardOf(k);
    std::lock_guard<std::mutex> lock(s.mu);
    auto [it, inserted] = s.map.emplace(k, std::move(e));
    if (!inserted) {
      // The same object twice (a rewrite after a crash, or another owner's copy): keep our newest.
      if (region->own && (!it->second.region->own || it->second.seq < m.seq)) {
        it->second = Entry{region, m.offset, m.payload_bytes, m.payload_checksum, m.seq,
                           StoreFromWall(m.expires_wall_ms), m.parent, m.geometry};
        keys.push_back(k);
      }
      continue;
    }
    ++added;
    keys.push_back(k);
  }
  counters_.objects.fetch_add(added, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(regions_mu_);
  std::vector<IndexKey>& all = region_keys_[region.get()];
  all.insert(all.end(), keys.begin(), keys.end());
}

uint64_t DiskTier::DropRegionEntries(const std::shared_ptr<Region>& region, std::vector<IndexKey>* dropped_keys) {
  auto it = region_keys_.find(region.get());
  if (it == region_keys_.end()) return 0;
  uint64_t dropped = 0;
  for (const IndexKey& k : it->second) {
    Shard& s = ShardOf(k);
    std::lock_guard<std::mutex> lock(s.mu);
    auto e = s.map.find(k);
    if (e != s.map.end() && e->second.region == region) {
      s.map.erase(e);
      ++dropped;
      if (dropped_keys) dropped_keys->push_back(k);
    }
  }
  counters_.objects.fetch_sub(dropped, std::memory_order_relaxed);
  region_keys_.erase(it);
  return dropped;
}

Status DiskTier::Discover() {
  if (!options_.shared) return Status::Ok();
  TW_ASSIGN_OR_RETURN(std::vector<std::string> names, env_->ListDir(options_.dir));
  std::set<std::string> seen;
  AlignedBuffer header(kBlockBytes);
  if (!header) return Status::ResourceExhausted("cannot allocate a read buffer");
  for (const std::string& name : names) {
    std::string owner;
    uint64_t seq;
    if (!ParseRegionName(name, &owner, &seq) || owner == options_.owner) continue;
    const std::string path = options_.dir + "/" + name;
    seen.insert(path);
    std::shared_ptr<Region> known;
    {
      std::lock_guard<std::mutex> lock(regions_mu_);
      auto it = foreign_.find(path);
      if (it != foreign_.end()) known = it->second;
    }
    if (known) {
      // Unchanged if the header still names the epoch we indexed.
      Status s = known->file->ReadAt(0, header.span());
      if (s.ok()) {
        Result<RegionHeader> h = DecodeRegionHeader(reinterpret_cast<const uint8_t*>(header.data()));
        if (h.ok() && h->epoch == known->epoch) continue;
      }
      std::lock_guard<std::mutex> lock(regions_mu_);
      DropRegionEntries(known);
      foreign_.erase(path);
    }
    Status s = LoadRegion(name, owner, seq, /*own=*/false, nullptr);
    if (!s.ok() && !s.IsNotFound()) TW_LOG_DEBUG("disk tier: region {} not loaded: {}", path, s.ToString());
  }
  // Regions their owners deleted: every object in them is now a miss.
  std::lock_guard<std::mutex> lock(regions_mu_);
  for (auto it = foreign_.begin(); it != foreign_.end();) {
    if (seen.count(it->first)) {
      ++it;
      continue;
    }
    DropRegionEntries(it->second);
    it = foreign_.erase(it);
  }
  return Status::Ok();
}

}  // namespace tw

// DiskTier's writer thread: drains the staging ring into the active region, seals full regions,
// and opens or reclaims the next one. Only this thread writes region files (plus Open and the
// destructor while it is not running), so the active region needs no lock.
#include <chrono>
#include <random>

#include "common/logging.h"
#include "store/tier/disk_tier.h"

namespace tw {
namespace {

// Records taken from the queue for one submission. Larger batches mean fewer drains of the I/O
// pipeline (each batch waits for its last I/O); half the queue leaves room for callers meanwhile.
constexpr uint64_t kMaxBatchBytes = 128ull << 20;

uint64_t WallNowMs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

uint64_t NewEpoch() {
  static std::mutex mu;
  static std::mt19937_64 gen(std::random_device{}() ^ (uint64_t{std::random_device{}()} << 32) ^ WallNowMs());
  std::lock_guard<std::mutex> lock(mu);
  uint64_t e;
  do e = gen(); while (e == 0);
  return e;
}

}  // namespace

void DiskTier::WriterLoop() {
  // Every write comes from the staging ring: register it with this thread's ring once, so no write
  // pins pages (registering pins them once, which also faults the ring in off the caller's path).
  // Without it (memlock limit, old kernel) writes work the same, slightly costlier.
  if (Status s = env_->RegisterIoMemory(ring_.memory()); !s.ok()) {
    TW_LOG_DEBUG("disk tier: write queue not registered for I/O: {}", s.ToString());
  }
  std::unique_lock<std::mutex> lock(queue_mu_);
  writer_ready_ = true;
  space_cv_.notify_all();
  for (;;) {
    while (queue_.empty() && !seal_requested_ && !stop_) {
      if (!options_.shared) {
        queue_cv_.wait(lock);
        continue;
      }
      if (queue_cv_.wait_for(lock, std::chrono::milliseconds(options_.discover_interval_ms)) == std::cv_status::timeout &&
          queue_.empty() && !stop_) {
        lock.unlock();
        (void)Discover();
        lock.lock();
      }
    }
    if (!queue_.empty()) {
      std::vector<std::shared_ptr<Pending>> batch;
      uint64_t bytes = 0;
      const uint64_t max_bytes = std::min(kMaxBatchBytes, ring_.capacity_bytes() / 2);
      while (!queue_.empty() && (batch.empty() || bytes + queue_.front()->meta.record_bytes() <= max_bytes)) {
        bytes += queue_.front()->meta.record_bytes();
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      writing_ = true;
      lock.unlock();
      WriteBatch(batch);
      lock.lock();
      for (const auto& p : batch) {
        ring_.Free(p->ring_offset);
        auto it = pending_.find(IndexKey{p->meta.ns, p->meta.key});
        if (it != pending_.end() && it->second == p) pending_.erase(it);
      }
      writing_ = false;
      space_cv_.notify_all();
      continue;
    }
    if (seal_requested_) {
      lock.unlock();
      Status s = SealActive();
      if (!s.ok()) StopAdmitting(s);
      lock.lock();
      seal_requested_ = false;
      space_cv_.notify_all();
      continue;
    }
    if (stop_) break;
  }
}

void DiskTier::WriteBatch(std::vector<std::shared_ptr<Pending>>& batch) {
  std::vector<IoOp> ops;
  std::vector<Pending*> group;  // records of `ops`, all in the active region
  auto submit = [&]() -> bool {
    if (group.empty()) return true;
    // Records sit back to back in the file and (unless the ring wrapped) in the ring: write the
    // contiguous runs in io_bytes pieces, so no I/O is a record's 4 KiB tail.
    std::vector<IoOp> io;
    for (size_t i = 0; i < ops.size();) {
      IoOp run = ops[i++];
      while (i < ops.size() && ops[i].offset == run.offset + run.length && ops[i].data == run.data + run.length) {
        run.length += ops[i++].length;
      }
      for (uint64_t done = 0; done < run.length; done += options_.io_bytes) {
        io.push_back({IoOp::Kind::kWrite, run.offset + done, run.data + done, std::min(options_.io_bytes, run.length - done)});
      }
    }
    Status s = active_.region->file->Submit(io, options_.io_depth);
    if (!s.ok()) {
      errors_.fetch_add(1, std::memory_order_relaxed);
      dropped_.fetch_add(group.size(), std::memory_order_relaxed);
      active_.records.resize(active_.records.size() - group.size());  // never footer a failed write
      StopAdmitting(s);
      group.clear();
      ops.clear();
      return false;
    }
    {
      std::lock_guard<std::mutex> lock(regions_mu_);
      std::vector<IndexKey>& keys = region_keys_[active_.region.get()];
      for (Pending* p : group) {
        bytes_written_.fetch_add(p->meta.record_bytes(), std::memory_order_relaxed);
        if (p->meta.type != RecordType::kObject) continue;
        const IndexKey k{p->meta.ns, p->meta.key};
        Entry e{active_.region, p->meta.offset, p->meta.payload_bytes, p->meta.payload_checksum, p->meta.seq,
                p->expires_at_ms, p->meta.parent, p->meta.geometry};
        Shard& s = ShardOf(k);
        std::lock_guard<std::mutex> shard_lock(s.mu);
        // A record removed while it was being written stays out of the index (its tombstone follows).
        if (p->cancelled) continue;
        if (s.map.emplace(k, std::move(e)).second) {
          objects_.fetch_add(1, std::memory_order_relaxed);
          admissions_.fetch_add(1, std::memory_order_relaxed);
          keys.push_back(k);
        }
      }
    }
    group.clear();
    ops.clear();
    return true;
  };

  for (const auto& p : batch) {
    if (p->cancelled) continue;
    if (!admitting_.load(std::memory_order_relaxed)) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    const uint64_t bytes = p->meta.record_bytes();
    const uint64_t limit = options_.region_bytes - kBlockBytes;
    auto fits = [&] {
      return active_.region && active_.data_end + bytes + FooterBytes(active_.records.size() + 1) <= limit;
    };
    if (!fits()) {
      if (!submit()) continue;
      Status s = EnsureActive(bytes);
      if (!s.ok()) {
        errors_.fetch_add(1, std::memory_order_relaxed);
        dropped_.fetch_add(1, std::memory_order_relaxed);
        StopAdmitting(s);
        continue;
      }
    }
    p->meta.epoch = active_.region->epoch;
    p->meta.seq = next_record_seq_.fetch_add(1, std::memory_order_relaxed);
    p->meta.offset = active_.data_end;
    std::byte* rec = ring_.at(p->ring_offset);
    EncodeRecordHeader(p->meta, reinterpret_cast<uint8_t*>(rec));
    ops.push_back({IoOp::Kind::kWrite, active_.data_end, rec, bytes});  // split into I/Os at submit
    active_.data_end += bytes;
    active_.records.push_back(p->meta);
    group.push_back(p.get());
  }
  submit();
}

Status DiskTier::EnsureActive(uint64_t record_bytes) {
  if (active_.region) TW_RETURN_IF_ERROR(SealActive());
  TW_ASSIGN_OR_RETURN(std::shared_ptr<Region> region, NextRegion());
  active_.region = std::move(region);
  active_.data_end = kBlockBytes;
  active_.records.clear();
  if (active_.data_end + record_bytes + FooterBytes(1) > options_.region_bytes - kBlockBytes) {
    return Status::InvalidArgument("record larger than a region");
  }
  return Status::Ok();
}

Status DiskTier::SealActive() {
  if (!active_.region) return Status::Ok();
  std::shared_ptr<Region> region = std::move(active_.region);
  active_.region.reset();
  std::vector<RecordMeta> records = std::move(active_.records);
  active_.records.clear();
  TW_RETURN_IF_ERROR(
      WriteSeal(*region->file, region->epoch, region->region_bytes, active_.data_end, records, options_.io_depth));
  region->sealed.store(true);
  sealed_.fetch_add(1, std::memory_order_relaxed);
  return Status::Ok();
}

Result<std::shared_ptr<Region>> DiskTier::NextRegion() {
  auto region = std::make_shared<Region>();
  region->own = true;
  region->owner = options_.owner;
  region->region_bytes = options_.region_bytes;
  region->epoch = NewEpoch();
  region->last_access_ms.store(clock_->NowMs());
  bool fresh = false;
  {
    std::lock_guard<std::mutex> lock(regions_mu_);
    if (own_.size() < max_regions_) {
      region->seq = next_region_seq_++;
      region->path = options_.dir + "/" + RegionFileName(options_.owner, region->seq);
      fresh = true;
    } else {
      // Reclaim the coldest sealed region: the least recently read, the oldest on a tie.
      size_t victim = own_.size();
      for (size_t i = 0; i < own_.size(); ++i) {
        if (!own_[i]->sealed.load()) continue;
        if (victim == own_.size() || own_[i]->last_access_ms.load() < own_[victim]->last_access_ms.load() ||
            (own_[i]->last_access_ms.load() == own_[victim]->last_access_ms.load() && own_[i]->seq < own_[victim]->seq)) {
          victim = i;
        }
      }
      if (victim == own_.size()) return Status::Internal("no sealed region to reclaim");
      std::shared_ptr<Region> old = own_[victim];
      evictions_.fetch_add(DropRegionEntries(old), std::memory_order_relaxed);
      reclaimed_.fetch_add(1, std::memory_order_relaxed);
      region->seq = old->seq;
      region->path = old->path;
      region->file = old->file;
      own_[victim] = region;
    }
  }
  if (fresh) {
    FileOptions fo;
    fo.create = true;
    TW_ASSIGN_OR_RETURN(std::unique_ptr<File> file, env_->Open(region->path, fo));
    TW_RETURN_IF_ERROR(file->Preallocate(options_.region_bytes));
    region->file = std::move(file);
  }
  AlignedBuffer header(kBlockBytes);
  if (!header) return Status::ResourceExhausted("cannot allocate a region header");
  RegionHeader h{options_.region_bytes, region->epoch, region->seq, WallNowMs(), options_.owner};
  EncodeRegionHeader(h, reinterpret_cast<uint8_t*>(header.data()));
  TW_RETURN_IF_ERROR(region->file->WriteAt(0, header.span()));
  if (fresh) {
    std::lock_guard<std::mutex> lock(regions_mu_);
    own_.push_back(region);
  }
  return region;
}

}  // namespace tw

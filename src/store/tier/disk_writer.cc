// DiskTier's writer thread: drains the write queue into the active region, seals full regions,
// and opens or reclaims the next one. Only this thread writes region files (plus Open and the
// destructor while it is not running), so the active region needs no lock.
#include <algorithm>
#include <chrono>
#include <deque>
#include <random>

#include "common/check.h"
#include "common/clock.h"
#include "common/logging.h"
#include "store/tier/disk_tier.h"
#include "store/tier/io_gather.h"

namespace tw {
namespace {

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
  const uint64_t discover_ns = options_.discover_interval_ms * 1'000'000;
  uint64_t next_discover_ns = MonotonicNanos() + discover_ns;
  for (;;) {
    // Idle: wake for new records, a seal or stop, and on time for the interval sync and (shared
    // directories) discovery of other owners' regions.
    while (queue_.empty() && !seal_requested_ && !stop_) {
      const uint64_t sync_due_ns = SyncDueNs();
      const uint64_t renewals_due_ns = RenewalsDueNs();
      if (!options_.shared && !sync_due_ns && !renewals_due_ns) {
        queue_cv_.wait(lock);
        continue;
      }
      uint64_t wake_ns = options_.shared ? next_discover_ns : UINT64_MAX;
      if (sync_due_ns) wake_ns = std::min(wake_ns, sync_due_ns);
      if (renewals_due_ns) wake_ns = std::min(wake_ns, renewals_due_ns);
      const uint64_t now_ns = MonotonicNanos();
      if (wake_ns > now_ns && queue_cv_.wait_for(lock, std::chrono::nanoseconds(wake_ns - now_ns)) == std::cv_status::no_timeout) {
        continue;
      }
      lock.unlock();
      SyncActiveIfDue();
      if (renewals_due_ns && MonotonicNanos() >= renewals_due_ns) SaveRenewals();
      if (options_.shared && MonotonicNanos() >= next_discover_ns) {
        (void)Discover();
        next_discover_ns = MonotonicNanos() + discover_ns;
      }
      lock.lock();
    }
    if (!queue_.empty()) {
      writing_ = true;
      lock.unlock();
      StreamRecords();
      SyncActiveIfDue();  // under a steady trickle the queue may never stay empty for long
      lock.lock();
      writing_ = false;
      space_cv_.notify_all();
      continue;
    }
    if (seal_requested_) {
      lock.unlock();
      WaitForSeals();  // a caller of Seal() expects every region written so far to be published
      SaveRenewals();  // and every renewal so far to survive a crash
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

// Takes the queue's oldest record, or nullptr if there is none.
std::shared_ptr<DiskTier::Pending> DiskTier::PopQueued() {
  std::lock_guard<std::mutex> lock(queue_mu_);
  if (queue_.empty()) return nullptr;
  std::shared_ptr<Pending> p = std::move(queue_.front());
  queue_.pop_front();
  return p;
}

// Gives a record's ring space back (written, dropped or cancelled), lets go of what it borrowed and
// ends its pending visibility.
void DiskTier::Release(const std::shared_ptr<Pending>& p) {
  std::shared_ptr<const void> owner;
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    ring_.Free(p->ring_offset);
    borrowed_bytes_ -= p->borrowed_bytes;
    p->borrowed_bytes = 0;
    owner = std::move(p->owner);  // a read from the queue copies under queue_mu_, so none is running
    p->pieces.clear();
    auto it = pending_.find(IndexKey{p->meta.ns, p->meta.key});
    if (it != pending_.end() && it->second == p) pending_.erase(it);
  }
  space_cv_.notify_all();
  owner.reset();  // outside queue_mu_: the last reference to a DRAM object frees its pages
}

void DiskTier::StreamRecords() {
  // Records stream from the queue into the active region as one open-ended run of I/Os: the device
  // always has io_depth writes in flight while there is anything queued, and each record becomes
  // visible on disk (indexed) as soon as its own writes complete.
  struct Planned {
    std::shared_ptr<Pending> p;
    uint32_t ops_left = 0;
    bool planned_all = false;  // every byte has been handed to an op
    bool done = false;
  };
  std::deque<Planned> planned;  // in file order
  size_t first_live = 0;        // planned[0, first_live) are done and released
  std::shared_ptr<Pending> held;  // popped but does not fit the active region: goes first next round
  for (;;) {
    if (!admitting_.load()) {
      if (held) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        Release(held);
        held.reset();
      }
      while (auto p = PopQueued()) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        Release(p);
      }
      return;
    }
    std::shared_ptr<Pending> first = held ? std::move(held) : PopQueued();
    held.reset();
    if (!first) return;
    if (first->cancelled) {
      Release(first);
      continue;
    }
    const uint64_t limit = options_.region_bytes - kBlockBytes;
    auto fits = [&](const Pending& p) {
      return active_.region && active_.data_end + p.meta.record_bytes() + FooterBytes(active_.records.size() + 1) <= limit;
    };
    if (!fits(*first)) {
      Status s = EnsureActive(first->meta.record_bytes());
      if (!s.ok()) {
        counters_.errors.fetch_add(1, std::memory_order_relaxed);
        dropped_.fetch_add(1, std::memory_order_relaxed);
        Release(first);
        StopAdmitting(s);
        continue;
      }
    }
    // One stream over the active region: pulls records until the queue is empty or the region full.
    planned.clear();
    first_live = 0;
    bool region_full = false;
    size_t cur = 0;          // planned[cur] is being cut into ops
    uint64_t cur_done = 0;   // bytes of planned[cur] handed out
    size_t cur_piece = 0;    // ... the next of them from planned[cur].p->pieces[cur_piece]
    uint64_t piece_off = 0;  // ... at this offset
    std::vector<std::pair<size_t, size_t>> op_records;  // op -> [first, last] planned index it covers
    auto plan = [&](std::shared_ptr<Pending> p) {
      p->meta.epoch = active_.region->epoch;
      p->meta.seq = next_record_seq_.fetch_add(1, std::memory_order_relaxed);
      p->meta.offset = active_.data_end;
      EncodeRecordHeader(p->meta, reinterpret_cast<uint8_t*>(ring_.at(p->ring_offset)));
      uint64_t pieces_bytes = 0;
      for (const auto& piece : p->pieces) pieces_bytes += piece.size();
      TW_CHECK(pieces_bytes == p->meta.record_bytes());
      active_.data_end += p->meta.record_bytes();
      active_.records.push_back(p->meta);
      planned.push_back(Planned{std::move(p)});
    };
    plan(std::move(first));
    // Pops the next queued record into the plan, if there is one and it fits the region.
    auto pull = [&]() -> bool {
      if (region_full || !admitting_.load()) return false;
      std::shared_ptr<Pending> p = PopQueued();
      while (p && p->cancelled) {
        Release(p);
        p = PopQueued();
      }
      if (!p) return false;
      if (!fits(*p)) {
        held = std::move(p);
        region_full = true;
        return false;
      }
      plan(std::move(p));
      return true;
    };
    // Each op's pieces, kept until the stream ends (an op's iovecs point into them).
    std::deque<IoGather> gathers;
    auto next = [&](IoOp* op) -> bool {
      // Find bytes to write: the rest of planned[cur], else the next queued record that fits.
      while (cur < planned.size() && cur_done == planned[cur].p->meta.record_bytes()) {
        planned[cur].planned_all = true;
        ++cur;
        cur_done = 0;
        cur_piece = 0;
        piece_off = 0;
      }
      if (cur == planned.size() && !pull()) return false;  // asked again after the next completion
      // Every op is io_bytes of the file, as the raw baseline's are, gathered from the records'
      // pieces (a borrowed record's header from the ring, its payload from DRAM pages) and running
      // on into the following queued records. Pieces adjacent in memory merge, so copied records
      // coalesce in the ring into one plain (registered-buffer) write.
      IoGather& gather = gathers.emplace_back(options_.io_bytes);
      op->kind = IoOp::Kind::kWrite;
      op->offset = planned[cur].p->meta.offset + cur_done;
      const size_t first_rec = cur;
      ++planned[cur].ops_left;
      for (;;) {
        const Pending& q = *planned[cur].p;
        const std::span<const std::byte> piece = q.pieces[cur_piece];
        // The tier only ever writes from these bytes; IoOp is shared with reads, hence not const.
        std::byte* at = const_cast<std::byte*>(piece.data()) + piece_off;
        const uint64_t n = gather.Take(at, piece.size() - piece_off);
        cur_done += n;
        piece_off += n;
        if (piece_off == piece.size()) {
          ++cur_piece;
          piece_off = 0;
        }
        if (gather.full()) break;
        if (cur_piece < q.pieces.size()) continue;
        if (cur + 1 >= planned.size() && !pull()) break;
        planned[cur].planned_all = true;
        ++cur;
        cur_done = 0;
        cur_piece = 0;
        piece_off = 0;
        ++planned[cur].ops_left;
      }
      gather.Fill(op);
      op_records.emplace_back(first_rec, cur);
      return true;
    };
    auto on_done = [&](size_t i) {
      const auto [a, b] = op_records[i];
      for (size_t j = a; j <= b; ++j) {
        Planned& pl = planned[j];
        if (--pl.ops_left == 0 && (pl.planned_all || (j == cur && cur_done == pl.p->meta.record_bytes()))) {
          pl.done = true;
          Publish(*pl.p);
        }
      }
      // Release finished records at the front, in order (the ring frees its oldest first).
      while (first_live < planned.size() && planned[first_live].done) {
        Release(planned[first_live].p);
        ++first_live;
      }
    };
    Status s = active_.region->file->Stream(options_.io_depth, next, on_done);
    if (first_live > 0 && !active_.unsynced_since_ns) active_.unsynced_since_ns = MonotonicNanos();
    if (!s.ok()) {
      // Records not fully written are never indexed and never listed in the footer.
      counters_.errors.fetch_add(1, std::memory_order_relaxed);
      std::vector<RecordMeta> kept;
      size_t lost = 0;
      for (size_t j = first_live; j < planned.size(); ++j) lost += !planned[j].done;
      for (const RecordMeta& m : active_.records) {
        bool failed = false;
        for (size_t j = first_live; j < planned.size(); ++j) {
          if (!planned[j].done && planned[j].p->meta.offset == m.offset) failed = true;
        }
        if (!failed) kept.push_back(m);
      }
      active_.records = std::move(kept);
      dropped_.fetch_add(lost, std::memory_order_relaxed);
      StopAdmitting(s);
    }
    for (size_t j = first_live; j < planned.size(); ++j) Release(planned[j].p);
    planned.clear();
    gathers.clear();
  }
}

void DiskTier::Readmit(const std::shared_ptr<Region>& victim) {
  std::vector<IndexKey> keys;
  {
    std::lock_guard<std::mutex> lock(regions_mu_);
    auto it = region_keys_.find(victim.get());
    if (it == region_keys_.end()) return;
    keys = it->second;
  }
  const uint64_t now = clock_->NowMs();
  for (const IndexKey& k : keys) {
    Entry e;
    {
      Shard& s = ShardOf(k);
      std::lock_guard<std::mutex> lock(s.mu);
      auto it = s.map.find(k);
      if (it == s.map.end() || it->second.region != victim || !it->second.accessed || Expired(it->second, now)) continue;
      e = it->second;
    }
    const uint64_t bytes = kBlockBytes + RecordMeta::AlignUp4K(e.payload_bytes);
    std::optional<uint64_t> off;
    {
      std::lock_guard<std::mutex> lock(queue_mu_);
      // Never more than half the queue, and never waiting: callers' demotions come first.
      if (ring_.used_bytes() + bytes <= ring_.capacity_bytes() / 2) off = ring_.TryAllocate(bytes);
    }
    if (!off) break;
    auto p = std::make_shared<Pending>();
    p->ring_offset = *off;
    p->expires_at_ms = e.expires_at_ms;
    p->renewed = e.renewed;  // the copied header carries the record's first deadline, not the renewed one
    std::byte* rec = ring_.at(*off);
    Status s = victim->file->ReadAt(e.offset, {rec, bytes});
    Result<RecordMeta> m = s.ok() ? DecodeRecordHeader(reinterpret_cast<const uint8_t*>(rec)) : Result<RecordMeta>(s);
    if (!m.ok() || m->epoch != victim->epoch || m->key != k.key || m->ns != k.ns ||
        PayloadChecksum(rec + kBlockBytes, m->payload_bytes) != e.checksum) {
      std::lock_guard<std::mutex> lock(queue_mu_);
      ring_.Free(*off);  // unreadable now: let it go with the region
      continue;
    }
    p->meta = *m;
    p->pieces.emplace_back(rec, bytes);
    {
      std::lock_guard<std::mutex> lock(queue_mu_);
      queue_.push_back(p);
      pending_[k] = p;  // visible from the queue while the region is reused
    }
    readmitted_.fetch_add(1, std::memory_order_relaxed);
  }
}

// Makes a fully written record visible in the index.
void DiskTier::Publish(const Pending& p) {
  counters_.bytes_written.fetch_add(p.meta.record_bytes(), std::memory_order_relaxed);
  if (p.meta.type != RecordType::kObject) return;
  const IndexKey k{p.meta.ns, p.meta.key};
  std::lock_guard<std::mutex> lock(regions_mu_);
  Shard& s = ShardOf(k);
  std::lock_guard<std::mutex> shard_lock(s.mu);
  // A record removed while it was being written stays out of the index (its tombstone follows).
  if (p.cancelled) return;
  Entry e{active_.region, p.meta.offset, p.meta.payload_bytes, p.meta.payload_checksum, p.meta.seq,
          p.expires_at_ms.load(std::memory_order_relaxed), p.meta.parent, p.meta.geometry};
  e.renewed = p.renewed.load(std::memory_order_relaxed);
  if (s.map.emplace(k, std::move(e)).second) {
    counters_.objects.fetch_add(1, std::memory_order_relaxed);
    counters_.admissions.fetch_add(1, std::memory_order_relaxed);
    region_keys_[active_.region.get()].push_back(k);
  }
}

Status DiskTier::EnsureActive(uint64_t record_bytes) {
  SealActiveInBackground();
  TW_ASSIGN_OR_RETURN(std::shared_ptr<Region> region, NextRegion());
  active_.region = std::move(region);
  active_.data_end = kBlockBytes;
  active_.records.clear();
  if (active_.data_end + record_bytes + FooterBytes(1) > options_.region_bytes - kBlockBytes) {
    return Status::InvalidArgument("record larger than a region");
  }
  return Status::Ok();
}

DiskTier::SealJob DiskTier::TakeActive() {
  SealJob job{std::move(active_.region), active_.data_end, std::move(active_.records)};
  active_.region.reset();
  active_.records.clear();
  active_.unsynced_since_ns = 0;  // the seal syncs the region
  return job;
}

uint64_t DiskTier::SyncDueNs() const {
  if (!options_.sync_interval_ms || !active_.region || !active_.unsynced_since_ns) return 0;
  return active_.unsynced_since_ns + options_.sync_interval_ms * 1'000'000;
}

void DiskTier::SyncActiveIfDue() {
  const uint64_t due_ns = SyncDueNs();
  if (!due_ns || MonotonicNanos() < due_ns) return;
  active_.unsynced_since_ns = 0;
  if (Status s = active_.region->file->Sync(); !s.ok()) {
    counters_.errors.fetch_add(1, std::memory_order_relaxed);
    StopAdmitting(s);
  }
}

Status DiskTier::SealRegion(const SealJob& job) {
  TW_RETURN_IF_ERROR(WriteSeal(*job.region->file, job.region->epoch, job.region->region_bytes, job.data_end, job.records,
                               options_.io_depth));
  job.region->sealed.store(true);
  sealed_.fetch_add(1, std::memory_order_relaxed);
  return Status::Ok();
}

Status DiskTier::SealActive() {
  if (!active_.region) return Status::Ok();
  return SealRegion(TakeActive());
}

// Every record of the job has completed (the writer's stream over the region has ended), so the
// footer lists only written records; until the seal lands the region is unsealed, which restart
// handles as after any crash (scanned, then sealed), and it cannot be reclaimed.
void DiskTier::SealActiveInBackground() {
  if (!active_.region) return;
  {
    std::lock_guard<std::mutex> lock(seal_mu_);
    seal_jobs_.push_back(TakeActive());
  }
  seal_cv_.notify_all();
}

void DiskTier::SealerLoop() {
  std::unique_lock<std::mutex> lock(seal_mu_);
  for (;;) {
    seal_cv_.wait(lock, [&] { return !seal_jobs_.empty() || sealer_stop_; });
    if (seal_jobs_.empty()) return;  // stopping, nothing left
    SealJob job = std::move(seal_jobs_.front());
    seal_jobs_.pop_front();
    seal_busy_ = true;
    lock.unlock();
    Status s = SealRegion(job);
    if (!s.ok()) {
      counters_.errors.fetch_add(1, std::memory_order_relaxed);
      StopAdmitting(s);
    }
    lock.lock();
    seal_busy_ = false;
    seal_cv_.notify_all();
  }
}

void DiskTier::WaitForSeals() {
  std::unique_lock<std::mutex> lock(seal_mu_);
  seal_cv_.wait(lock, [&] { return seal_jobs_.empty() && !seal_busy_; });
}

Result<std::shared_ptr<Region>> DiskTier::NextRegion() {
  auto region = std::make_shared<Region>();
  region->own = true;
  region->owner = options_.owner;
  region->region_bytes = options_.region_bytes;
  region->epoch = NewEpoch();
  region->last_access_ms.store(clock_->NowMs());
  bool fresh = false;
  std::vector<IndexKey> evicted;  // taken out by a reclaim, reported once the locks are released
  {
    std::lock_guard<std::mutex> lock(regions_mu_);
    if (own_.size() < max_regions_) {
      region->seq = next_region_seq_++;
      region->path = options_.dir + "/" + RegionFileName(options_.owner, region->seq);
      fresh = true;
    } else {
      // Reclaim the coldest sealed region: the least recently read, the oldest on a tie.
      auto coldest = [&] {
        size_t victim = own_.size();
        for (size_t i = 0; i < own_.size(); ++i) {
          if (!own_[i]->sealed.load()) continue;
          if (victim == own_.size() || own_[i]->last_access_ms.load() < own_[victim]->last_access_ms.load() ||
              (own_[i]->last_access_ms.load() == own_[victim]->last_access_ms.load() && own_[i]->seq < own_[victim]->seq)) {
            victim = i;
          }
        }
        return victim;
      };
      size_t victim = coldest();
      if (victim == own_.size()) {
        // The only candidates may still be on the sealer (few regions): wait for them.
        regions_mu_.unlock();
        WaitForSeals();
        regions_mu_.lock();
        victim = coldest();
      }
      if (victim == own_.size()) return Status::Internal("no sealed region to reclaim");
      std::shared_ptr<Region> old = own_[victim];
      regions_mu_.unlock();
      Readmit(old);
      regions_mu_.lock();
      counters_.evictions.fetch_add(DropRegionEntries(old, options_.on_evict ? &evicted : nullptr), std::memory_order_relaxed);
      reclaimed_.fetch_add(1, std::memory_order_relaxed);
      region->seq = old->seq;
      region->path = old->path;
      region->file = old->file;
      own_[victim] = region;
    }
  }
  for (const IndexKey& k : evicted) {
    bool readmitted;
    {
      std::lock_guard<std::mutex> lock(queue_mu_);
      readmitted = pending_.count(k) > 0;  // still served, from the queue, then from its new region
    }
    if (!readmitted) options_.on_evict(k.ns, k.key);
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

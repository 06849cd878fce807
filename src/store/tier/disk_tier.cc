// DiskTier: open, the public read/write API and stats. The writer thread is in disk_writer.cc and
// restart/discovery in disk_recovery.cc.
#include "store/tier/disk_tier.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "common/logging.h"

namespace tw {
namespace {

bool ValidOwner(const std::string& owner) {
  if (owner.empty() || owner.size() >= kOwnerBytes) return false;
  for (char c : owner) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<DiskTier>> DiskTier::Open(const DiskTierOptions& options) {
  if (options.dir.empty()) return Status::InvalidArgument("disk tier: dir is empty");
  if (options.region_bytes < 16 * kBlockBytes || options.region_bytes % kBlockBytes) {
    return Status::InvalidArgument("disk tier: region_bytes must be a multiple of 4096 and at least 64 KiB");
  }
  if (options.capacity_bytes < 2 * options.region_bytes) {
    return Status::InvalidArgument("disk tier: capacity_bytes must hold at least two regions");
  }
  if (options.io_bytes == 0 || options.io_bytes % kBlockBytes || options.io_depth == 0) {
    return Status::InvalidArgument("disk tier: io_bytes must be a non-zero multiple of 4096 and io_depth > 0");
  }
  if (options.read_threads == 0 || options.read_threads > 64) {
    return Status::InvalidArgument("disk tier: read_threads must be 1 to 64");
  }
  if (options.write_queue_bytes < 2 * kBlockBytes) return Status::InvalidArgument("disk tier: write_queue_bytes too small");
  if (!ValidOwner(options.owner)) {
    return Status::InvalidArgument("disk tier: owner must be 1-31 characters of [A-Za-z0-9_-]");
  }
  std::unique_ptr<DiskTier> tier(new DiskTier(options));
  if (!tier->ring_.valid()) return Status::ResourceExhausted("disk tier: cannot map the write queue");
  TW_RETURN_IF_ERROR(tier->env_->CreateDirs(options.dir));
  TW_ASSIGN_OR_RETURN(tier->lock_, tier->env_->Lock(options.dir + "/" + options.owner + ".lock"));
  const uint64_t t0 = MonotonicNanos();
  TW_RETURN_IF_ERROR(tier->Recover());
  tier->recovery_s_ = static_cast<double>(MonotonicNanos() - t0) / 1e9;
  if (options.read_threads > 1) tier->readers_ = std::make_unique<FanOut>(options.read_threads - 1);
  tier->sealer_ = std::thread([t = tier.get()] { t->SealerLoop(); });
  tier->writer_ = std::thread([t = tier.get()] { t->WriterLoop(); });
  // Wait for the writer to pin its queue memory, so the first demotions run at full speed.
  std::unique_lock<std::mutex> lock(tier->queue_mu_);
  tier->space_cv_.wait(lock, [&] { return tier->writer_ready_; });
  lock.unlock();
  return tier;
}

DiskTier::DiskTier(const DiskTierOptions& options)
    : options_(options),
      env_(options.env ? options.env : Env::Posix()),
      clock_(options.clock ? options.clock : SteadyClock::Default()),
      wall_clock_(options.wall_clock ? options.wall_clock : WallClock::Default()),
      max_regions_(options.capacity_bytes / options.region_bytes),
      ring_(options.write_queue_bytes),
      renewal_file_(env_, options.dir, options.owner) {}

DiskTier::~DiskTier() {
  if (writer_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(queue_mu_);
      stop_ = true;
    }
    queue_cv_.notify_all();
    space_cv_.notify_all();
    writer_.join();
  }
  SaveRenewals();  // a clean close keeps every sliding deadline exactly
  // The writer has drained the queue; publish what it wrote so a restart need not scan.
  WaitForSeals();
  if (admitting_.load()) (void)SealActive();
  if (sealer_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(seal_mu_);
      sealer_stop_ = true;
    }
    seal_cv_.notify_all();
    sealer_.join();
  }
}

uint64_t DiskTier::max_payload_bytes() const {
  const uint64_t room = options_.region_bytes - 3 * kBlockBytes - FooterBytes(1);
  const uint64_t ring = ring_.capacity_bytes() - kBlockBytes;
  return std::min(room, ring) / kBlockBytes * kBlockBytes;
}

uint64_t DiskTier::WallFromStore(uint64_t expires_at_ms) const {
  if (expires_at_ms == 0) return 0;
  const uint64_t now = clock_->NowMs();
  return wall_clock_->NowMs() + (expires_at_ms > now ? expires_at_ms - now : 0);
}

uint64_t DiskTier::StoreFromWall(uint64_t expires_wall_ms) const {
  if (expires_wall_ms == 0) return 0;
  const uint64_t wall = wall_clock_->NowMs();
  const uint64_t now = clock_->NowMs();
  // An object that expired while the process was down comes back already expired (a miss).
  return expires_wall_ms > wall ? now + (expires_wall_ms - wall) : std::max<uint64_t>(now, 1);
}

Status DiskTier::Enqueue(const NamespaceId& ns, const BlockKey& key, const BlockKey& parent, const KvGeometry& geometry,
                         uint64_t expires_at_ms, std::span<const std::span<const std::byte>> segments,
                         uint64_t payload_bytes, std::shared_ptr<const void> owner) {
  RecordMeta m;
  m.type = RecordType::kObject;
  m.ns = ns;
  m.key = key;
  m.parent = parent;
  m.geometry = geometry;
  m.payload_bytes = payload_bytes;
  m.expires_wall_ms = WallFromStore(expires_at_ms);
  if (Contains(ns, key)) return Status::Ok();
  return EnqueueRecord(m, expires_at_ms, segments, std::move(owner));
}

namespace {

// True if the first `payload_bytes` of `segments` can be written with O_DIRECT where they are: every
// segment starts 4 KiB-aligned and all but the one holding the payload's end are whole blocks.
bool Borrowable(std::span<const std::span<const std::byte>> segments, uint64_t payload_bytes) {
  uint64_t left = payload_bytes;
  for (const auto& s : segments) {
    if (!left) break;
    if (reinterpret_cast<uintptr_t>(s.data()) % kIoAlign) return false;
    const uint64_t n = std::min<uint64_t>(left, s.size());
    left -= n;
    if (left && n % kIoAlign) return false;
  }
  return left == 0;
}

}  // namespace

Status DiskTier::EnqueueRecord(const RecordMeta& meta, uint64_t expires_at_ms,
                               std::span<const std::span<const std::byte>> segments, std::shared_ptr<const void> owner) {
  if (!admitting_.load(std::memory_order_relaxed)) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return Status::Unavailable("disk tier stopped admitting after an I/O error");
  }
  if (meta.payload_bytes > max_payload_bytes()) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return Status::InvalidArgument("object of " + std::to_string(meta.payload_bytes) + " bytes exceeds a disk region");
  }
  const IndexKey k{meta.ns, meta.key};
  // A borrowed payload's whole blocks stay where they are; the ring holds its header block and, if
  // the payload ends mid-block, a zero-padded copy of that last block (O_DIRECT writes whole blocks,
  // and the bytes past the payload in the owner's page are not ours to write).
  const uint64_t whole = meta.payload_bytes / kBlockBytes * kBlockBytes;
  const uint64_t tail = meta.payload_bytes - whole;
  // Only an object that could never fit the borrow bound is copied: past the bound the caller waits
  // for the disk like for a full ring. Copying there instead would only buy more buffering with the
  // CPU time the copy costs (memcpy + hash ran slower than the disk), and under sustained demotion
  // the disk sets the pace either way.
  const bool borrow = owner && meta.type == RecordType::kObject && whole > 0 && whole <= options_.borrow_limit_bytes &&
                      Borrowable(segments, meta.payload_bytes);
  const uint64_t bytes = borrow ? kBlockBytes + (tail ? kBlockBytes : 0) : meta.record_bytes();
  uint64_t off;
  {
    std::unique_lock<std::mutex> lock(queue_mu_);
    if (meta.type == RecordType::kObject && pending_.count(k)) return Status::Ok();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.enqueue_wait_ms);
    auto room = [&]() -> std::optional<uint64_t> {
      if (borrow && borrowed_bytes_ + whole > options_.borrow_limit_bytes) return std::nullopt;
      return ring_.TryAllocate(bytes);
    };
    std::optional<uint64_t> got;
    while (!(got = room())) {
      if (stop_ || !admitting_.load()) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return Status::Unavailable("disk tier is closing or stopped admitting");
      }
      if (space_cv_.wait_until(lock, deadline) == std::cv_status::timeout && !(got = room())) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return Status::ResourceExhausted("disk write queue full for " + std::to_string(options_.enqueue_wait_ms) + " ms");
      }
      if (got) break;
    }
    off = *got;
    if (borrow) borrowed_bytes_ += whole;
  }
  // Fill the ring outside the lock: its bytes are ours until queued.
  auto p = std::make_shared<Pending>();
  p->meta = meta;
  p->ring_offset = off;
  p->expires_at_ms = expires_at_ms;
  PayloadHasher hasher;
  if (borrow) {
    // Only the checksum reads the payload here (one pass, no copy); the writer's DMA reads it again.
    p->owner = std::move(owner);
    p->borrowed_bytes = whole;
    borrowed_.fetch_add(1, std::memory_order_relaxed);
    p->pieces.emplace_back(ring_.at(off), kBlockBytes);
    uint64_t left = meta.payload_bytes;
    for (const auto& s : segments) {
      const uint64_t n = std::min<uint64_t>(left, s.size());
      if (!n) break;
      hasher.Update(s.data(), n);
      const uint64_t blocks = std::min(n, left - tail) / kBlockBytes * kBlockBytes;
      if (blocks) p->pieces.emplace_back(s.data(), blocks);
      if (n > blocks) {  // the payload's partial last block
        std::byte* t = ring_.at(off) + kBlockBytes;
        std::memcpy(t, s.data() + blocks, n - blocks);
        std::memset(t + (n - blocks), 0, kBlockBytes - (n - blocks));
        p->pieces.emplace_back(t, kBlockBytes);
      }
      left -= n;
    }
  } else {
    p->pieces.emplace_back(ring_.at(off), meta.record_bytes());
    // Copy and checksum in one pass, a cache-sized chunk at a time: the hash reads what the copy just
    // wrote, from cache, instead of a second trip through memory.
    constexpr uint64_t kChunk = 256 << 10;
    std::byte* dst = ring_.at(off) + kBlockBytes;
    uint64_t left = meta.payload_bytes;
    for (const auto& s : segments) {
      const uint64_t n = std::min<uint64_t>(left, s.size());
      for (uint64_t done = 0; done < n; done += kChunk) {
        const uint64_t c = std::min(kChunk, n - done);
        std::memcpy(dst, s.data() + done, c);
        hasher.Update(dst, c);
        dst += c;
      }
      left -= n;
      if (!left) break;
    }
    std::memset(dst, 0, meta.stored_bytes() - meta.payload_bytes);
  }
  if (meta.type == RecordType::kObject) p->meta.payload_checksum = hasher.Digest();
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    queue_.push_back(p);
    if (meta.type == RecordType::kObject) pending_[k] = p;
  }
  queue_cv_.notify_one();
  return Status::Ok();
}

bool DiskTier::CopyQueuedPayload(const Pending& p, std::span<const std::span<std::byte>> dest) {
  // The payload follows the header block through the pieces; dest may be cut differently.
  uint64_t left = p.meta.payload_bytes;
  uint64_t skip = kBlockBytes;
  size_t di = 0;
  uint64_t doff = 0;
  for (const auto& piece : p.pieces) {
    uint64_t at = std::min<uint64_t>(skip, piece.size());
    skip -= at;
    while (at < piece.size() && left) {
      while (di < dest.size() && doff == dest[di].size()) ++di, doff = 0;
      if (di == dest.size()) return false;
      const uint64_t n = std::min({piece.size() - at, dest[di].size() - doff, left});
      std::memcpy(dest[di].data() + doff, piece.data() + at, n);
      at += n;
      doff += n;
      left -= n;
    }
  }
  return left == 0;
}

bool DiskTier::Contains(const NamespaceId& ns, const BlockKey& key) { return Find(ns, key).has_value(); }

std::optional<DiskObjectInfo> DiskTier::Find(const NamespaceId& ns, const BlockKey& key) {
  const IndexKey k{ns, key};
  {
    Shard& s = ShardOf(k);
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.map.find(k);
    if (it != s.map.end()) {
      const Entry& e = it->second;
      if (Expired(e, clock_->NowMs())) return std::nullopt;
      return DiskObjectInfo{e.parent, e.geometry, e.payload_bytes, e.expires_at_ms};
    }
  }
  std::lock_guard<std::mutex> lock(queue_mu_);
  auto it = pending_.find(k);
  if (it == pending_.end()) return std::nullopt;
  const Pending& p = *it->second;
  if (p.expires_at_ms && clock_->NowMs() >= p.expires_at_ms) return std::nullopt;
  return DiskObjectInfo{p.meta.parent, p.meta.geometry, p.meta.payload_bytes, p.expires_at_ms};
}

void DiskTier::ForEachKey(const std::function<bool(const NamespaceId&, const BlockKey&)>& fn) {
  // Queue before index: a record published between the two passes is then seen at least once
  // (in the queue, and maybe again in the index), never missed.
  std::vector<IndexKey> keys;
  const uint64_t now = clock_->NowMs();
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    keys.reserve(pending_.size());
    for (const auto& [k, p] : pending_) {
      if (!p->expires_at_ms || now < p->expires_at_ms) keys.push_back(k);
    }
  }
  for (const IndexKey& k : keys) {
    if (!fn(k.ns, k.key)) return;
  }
  for (Shard& shard : shards_) {
    keys.clear();
    {
      std::lock_guard<std::mutex> lock(shard.mu);
      keys.reserve(shard.map.size());
      for (const auto& [k, e] : shard.map) {
        if (!Expired(e, now)) keys.push_back(k);
      }
    }
    for (const IndexKey& k : keys) {
      if (!fn(k.ns, k.key)) return;
    }
  }
}

bool DiskTier::ForeignRegionChanged(const std::shared_ptr<Region>& region) {
  AlignedBuffer header(kBlockBytes);
  if (!header) return false;
  Status s = region->file->ReadAt(0, header.span());
  Result<RegionHeader> h = s.ok() ? DecodeRegionHeader(reinterpret_cast<const uint8_t*>(header.data()))
                                  : Result<RegionHeader>(s);
  if (h.ok() && h->epoch == region->epoch) return false;
  // Its owner reused (or is rewriting) the file: nothing indexed from the old epoch is there any more.
  std::lock_guard<std::mutex> lock(regions_mu_);
  DropRegionEntries(region);
  auto it = foreign_.find(region->path);
  if (it != foreign_.end() && it->second == region) foreign_.erase(it);
  return true;
}

Status DiskTier::Remove(const NamespaceId& ns, const BlockKey& key) {
  const IndexKey k{ns, key};
  bool found = false;
  BlockKey parent;
  KvGeometry geometry;
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    auto it = pending_.find(k);
    if (it != pending_.end()) {
      it->second->cancelled = true;
      pending_.erase(it);
      found = true;
    }
  }
  {
    Shard& s = ShardOf(k);
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.map.find(k);
    if (it != s.map.end()) {
      parent = it->second.parent;
      geometry = it->second.geometry;
      s.map.erase(it);
      counters_.objects.fetch_sub(1, std::memory_order_relaxed);
      found = true;
    }
  }
  if (!found) return Status::NotFound();
  if (admitting_.load()) {
    RecordMeta t;
    t.type = RecordType::kTombstone;
    t.ns = ns;
    t.key = key;
    t.parent = parent;
    t.geometry = geometry;
    (void)EnqueueRecord(t, 0, {}, nullptr);  // best effort: a lost tombstone can only bring back correct bytes
  }
  return Status::Ok();
}

void DiskTier::Flush() {
  std::unique_lock<std::mutex> lock(queue_mu_);
  space_cv_.wait(lock, [&] { return (queue_.empty() && !writing_) || stop_; });
}

bool DiskTier::WaitBorrowedReleased() {
  std::unique_lock<std::mutex> lock(queue_mu_);
  return space_cv_.wait_for(lock, std::chrono::milliseconds(options_.enqueue_wait_ms),
                            [&] { return borrowed_bytes_ == 0 || stop_ || !admitting_.load(); }) &&
         borrowed_bytes_ == 0;
}

Status DiskTier::Seal() {
  std::unique_lock<std::mutex> lock(queue_mu_);
  space_cv_.wait(lock, [&] { return (queue_.empty() && !writing_) || stop_; });
  if (stop_) return Status::Unavailable("disk tier is closing");
  seal_requested_ = true;
  queue_cv_.notify_all();
  space_cv_.wait(lock, [&] { return !seal_requested_ || stop_; });
  return admitting_.load() ? Status::Ok() : Status::Unavailable("disk tier stopped admitting after an I/O error");
}

void DiskTier::StopAdmitting(const Status& why) {
  if (admitting_.exchange(false)) {
    TW_LOG_WARN("disk tier {}: stops admitting: {}; objects already on disk are still served", options_.dir,
                why.ToString());
  }
  space_cv_.notify_all();
}

TierStats DiskTier::Stats() const {
  TierStats s;
  s.tier = Tier::kDisk;
  s.capacity_bytes = max_regions_ * options_.region_bytes;
  {
    std::lock_guard<std::mutex> lock(regions_mu_);
    s.used_bytes = own_.size() * options_.region_bytes;
  }
  counters_.SnapshotInto(&s);
  s.admitting = admitting_.load();
  return s;
}

DiskTierCounters DiskTier::Counters() const {
  DiskTierCounters c;
  c.admitting = admitting_.load();
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    c.queued_bytes = ring_.used_bytes();
    c.borrowed_bytes = borrowed_bytes_;
  }
  {
    std::lock_guard<std::mutex> lock(regions_mu_);
    c.foreign_regions = foreign_.size();
  }
  c.dropped = dropped_.load();
  c.corrupt = corrupt_.load();
  c.read_errors = read_errors_.load();
  c.reclaimed_regions = reclaimed_.load();
  c.readmitted = readmitted_.load();
  c.borrowed = borrowed_.load();
  c.sealed_regions = sealed_.load();
  c.recovered_objects = recovered_.load();
  c.recovery_s = recovery_s_;
  return c;
}

}  // namespace tw

// DiskTier: the second tier. A region log on local NVMe or a shared filesystem directory.
//
// Policy:
//  - Admission: the store offers objects (by default, each object the DRAM tier evicts; with
//    write-through, each Put too). The tier takes every offered object that is not already on disk
//    and fits a region, as long as it is healthy. After any write or read error (EIO, ENOSPC, ...)
//    it stops admitting for good (until reopened): one warning in the log, TierStats::errors and
//    DiskTierCounters::admitting report it, and reads of what is already on disk go on.
//  - Write-behind: an offered object is queued and the caller returns; one writer thread appends
//    queued records to the active region with O_DIRECT through io_uring (io_bytes per I/O, io_depth
//    in flight). An object offered with an owner (the DRAM tier's demotion) is borrowed, not copied:
//    its checksum is computed in place and its whole 4 KiB blocks are written straight from its pages,
//    the owner held until those writes complete; only the record header and a partial last block go
//    through the staging ring. Borrowing is bounded (borrow_limit_bytes), so a slow disk holds at
//    most that much DRAM hostage. Objects offered without an owner (or not in aligned blocks, or
//    larger than the bound) are copied into the bounded staging ring (write_queue_bytes). When
//    either bound is reached the caller waits up to enqueue_wait_ms (back-pressure), then the object
//    is dropped and counted: the queue never grows past its bounds. A queued object is already visible (Contains, Read serve it from the
//    ring or the borrowed pages), so chain checks do not flicker during demotion.
//  - Promotion: the store promotes a disk hit to DRAM by reading it straight into DRAM pages.
//    The disk copy stays (objects are immutable), so a re-eviction costs no write.
//  - Eviction: by region. When every region the tier may own (capacity_bytes / region_bytes) is in
//    use and the active one is full, the coldest sealed region (least recently read) is reclaimed:
//    its objects leave the index (expired ones are gone anyway) and the file is reused under a new
//    epoch. Its objects read since they were written (still hot) are first copied back into the
//    write queue, as far as it has room, and so re-admitted. Pins live in DRAM (a pinned object has been promoted), so nothing pinned is reclaimed.
//    The tier never uses more than capacity_bytes of files.
//  - Durability: a record is indexed only after its write completed, and every read verifies the
//    record header (key, epoch) and the payload checksum: a torn, failed or corrupt record is a
//    counted miss, never served. Records survive a process crash (O_DIRECT); regions are fdatasync'd
//    when sealed (in the background, while the next region is written), and the active region
//    sync_interval_ms after its first unsynced record, so a power cut on a lightly loaded tier
//    takes at most that interval's records (a trailer is written only after the records it lists
//    are synced). Warm restart loads sealed
//    regions' footers and scans the unsealed ones (the active region, and the previous one if its
//    seal had not landed) up to their first bad record, then seals them. Remove appends a
//    tombstone, applied at restart.
//  - Retention: an expired object is a miss (Contains, Find, Read) and leaves with its region. A
//    sliding retention's hit renews the deadline (Renew) in the index at once, and in the renewal
//    file (renewal_file.h) lazily: every renewal_flush_ms while renewals happen, at Seal and at
//    close. So after a clean close a sliding object keeps its exact deadline; after a crash it
//    keeps the one saved last, at most renewal_flush_ms of renewals older (it may expire that much
//    early, never late). Fixed deadlines are never renewed: those are in the record itself.
//  - Sharing: several processes may use one directory, each with its own owner id, writing only its
//    own region files. A region is published when sealed; others discover it (every
//    discover_interval_ms, or on Discover) and serve it read-only. A reused or deleted region is a
//    miss for them, never an error or a wrong read.
//
// Concurrency: the index is sharded (a mutex per shard). `queue_mu_` guards the staging ring, the
// queue and the pending map; `regions_mu_` guards the region lists; `seal_mu_` the sealer's jobs.
// Only the writer thread touches the active region and writes records; the sealer thread writes
// the footer and trailer of regions the writer has finished with. Lock order: regions_mu_ -> shard;
// queue_mu_ and seal_mu_ are leaves, so a borrowed object's owner is always dropped outside
// queue_mu_ (its last reference frees DRAM pages).
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/fan_out.h"
#include "common/env/env.h"
#include "store/tier/region.h"
#include "store/tier/region_format.h"
#include "store/tier/renewal_file.h"
#include "store/tier/staging_ring.h"
#include "tw/result.h"
#include "store/tier/tier_counters.h"
#include "tw/store.h"

namespace tw {

struct DiskTierOptions {
  std::string dir;                        // created if missing
  uint64_t capacity_bytes = 0;            // at least 2 regions
  uint64_t region_bytes = 256ull << 20;   // multiple of 4 KiB
  uint64_t write_queue_bytes = 256ull << 20;
  // Payload bytes of queued objects held by reference (Enqueue with an owner) at most: past it the
  // caller waits, as for a full ring. 0: always copy.
  uint64_t borrow_limit_bytes = 256ull << 20;
  uint64_t io_bytes = 1ull << 20;         // bytes per I/O (multiple of 4 KiB)
  uint32_t io_depth = 8;                  // I/Os in flight per batch (per reading thread)
  // Threads (the caller's included) that read one ReadBatch's runs of records at once. 1: the
  // caller alone.
  uint32_t read_threads = 4;
  uint64_t enqueue_wait_ms = 5000;        // back-pressure: longest a demoting caller waits
  std::string owner = "local";            // [A-Za-z0-9_-], < 32 chars; one process per owner id
  bool shared = false;                    // discover and serve other owners' sealed regions
  uint64_t discover_interval_ms = 1000;
  // The active region is fdatasync'd this long after its first record not yet synced, bounding what
  // a power cut (not a crash: O_DIRECT records survive those) can take. 0: synced only when sealed.
  uint64_t sync_interval_ms = 1000;
  Env* env = nullptr;                     // nullptr: Env::Posix()
  const Clock* clock = nullptr;           // for TTLs; nullptr: steady clock
  const Clock* wall_clock = nullptr;      // Unix ms, for deadlines on disk; nullptr: WallClock
  // Renewed deadlines (sliding retention) are saved at most this long after the first unsaved one
  // (and at Seal and close): the most renewal a crash can take back. 0: only at Seal and close.
  uint64_t renewal_flush_ms = 5000;
  // Called, outside every lock and on the writer thread, for each object a reclaimed region takes
  // out of the tier (not for those re-admitted, removed or expired).
  std::function<void(const NamespaceId&, const BlockKey&)> on_evict;
};

// What the tier knows about an object without reading it.
struct DiskObjectInfo {
  BlockKey parent;
  KvGeometry geometry;
  uint64_t payload_bytes = 0;
  uint64_t expires_at_ms = 0;  // store clock; 0: never
};

// Counters beyond TierStats.
struct DiskTierCounters {
  bool admitting = true;
  uint64_t queued_bytes = 0;    // staging ring bytes in use
  uint64_t borrowed_bytes = 0;  // payload bytes queued by reference (their owners still held)
  uint64_t borrowed = 0;        // objects ever queued by reference instead of copied
  uint64_t dropped = 0;        // offered objects not written: queue full, tier stopped, too large
  uint64_t corrupt = 0;        // records that failed verification on read
  uint64_t read_errors = 0;    // reads that failed (EIO, a file cut short): the object was dropped
  uint64_t reclaimed_regions = 0;
  uint64_t readmitted = 0;     // hot objects of reclaimed regions written again
  uint64_t sealed_regions = 0;
  uint64_t foreign_regions = 0;
  uint64_t recovered_objects = 0;  // indexed at open
  double recovery_s = 0;
};

class DiskTier {
 public:
  // Opens (creating if needed) the directory, takes the owner's lock, rebuilds the index from the
  // regions found there and starts the writer. kInvalidArgument for bad options; kUnavailable if
  // another live process holds the owner id; kIOError if the directory cannot be used.
  static Result<std::unique_ptr<DiskTier>> Open(const DiskTierOptions& options);
  // Drains the queue, seals the active region, stops the writer.
  ~DiskTier();

  // Offers an object for write-behind: `segments` are the payload, in order, `payload_bytes` in
  // total. Without an `owner` the payload is copied and the caller may reuse `segments` at once.
  // With one, and when every segment starts 4 KiB-aligned and all but the last are whole 4 KiB
  // blocks (DRAM pages are), the payload is borrowed: written straight from `segments`, which must
  // stay unchanged until the tier drops `owner` (after the record's writes complete, or it is
  // dropped). OK if queued or already present.
  // kUnavailable if the tier stopped admitting; kResourceExhausted if the queue stayed full for
  // enqueue_wait_ms; kInvalidArgument if the object cannot fit a region. Blocks only for back-pressure.
  Status Enqueue(const NamespaceId& ns, const BlockKey& key, const BlockKey& parent, const KvGeometry& geometry,
                 uint64_t expires_at_ms, std::span<const std::span<const std::byte>> segments, uint64_t payload_bytes,
                 std::shared_ptr<const void> owner = nullptr);

  bool Contains(const NamespaceId& ns, const BlockKey& key);
  // A sliding retention's hit: moves the unexpired object's deadline (store clock) to
  // `expires_at_ms` if that is later, in memory now and in the renewal file within
  // renewal_flush_ms. Returns the deadline held now (0: never), or nullopt if absent or expired.
  std::optional<uint64_t> Renew(const NamespaceId& ns, const BlockKey& key, uint64_t expires_at_ms);
  std::optional<DiskObjectInfo> Find(const NamespaceId& ns, const BlockKey& key);
  // The (namespace, key) of every visible, unexpired object: the queued ones first, then the
  // index, one shard at a time (each lock held only while copying keys out); stops when `fn`
  // returns false. A record written meanwhile moves from the queue to the index, so it may be
  // seen twice; callers that must not see duplicates remember what they saw. `fn` runs with no
  // lock held.
  void ForEachKey(const std::function<bool(const NamespaceId&, const BlockKey&)>& fn);

  // Reads the payload into `dest` and verifies it. `dest` is read into directly when it is made of
  // 4 KiB-aligned segments covering the payload rounded up to 4 KiB (DRAM pages are), else through a
  // bounce buffer; it must hold at least the payload. kNotFound on a miss, including a record that
  // failed verification (dropped and counted) or a region that vanished. Blocks for the I/O.
  Status Read(const NamespaceId& ns, const BlockKey& key, std::span<const std::span<std::byte>> dest);

  struct ReadItem {
    NamespaceId ns;
    BlockKey key;
    std::span<const std::span<std::byte>> dest;
    Status status;  // set by ReadBatch
  };
  // Reads several objects with their I/Os in flight together (a prefix being loaded), so the disk
  // is not left idle between one object's last I/O and the next one's first. Same rules as Read.
  void ReadBatch(std::span<ReadItem> items);

  // Drops the object from the index and appends a tombstone. kNotFound if absent.
  Status Remove(const NamespaceId& ns, const BlockKey& key);

  // Waits until every queued object is written (or dropped).
  void Flush();
  // Waits until no borrowed payload is held (every owner passed to Enqueue dropped), at most
  // enqueue_wait_ms. For a caller that needs the borrowed memory back (DRAM with nothing evictable).
  // Returns whether none is held.
  bool WaitBorrowedReleased();
  // Flushes, then seals the active region so that other processes can see it.
  Status Seal();
  // Looks for other owners' newly sealed, reused or deleted regions (shared mode).
  Status Discover();

  TierStats Stats() const;
  DiskTierCounters Counters() const;
  // False once a write error stopped the tier admitting (cheap: one atomic load).
  bool admitting() const { return admitting_.load(std::memory_order_relaxed); }
  const DiskTierOptions& options() const { return options_; }
  uint64_t max_payload_bytes() const;

 private:
  struct IndexKey {
    NamespaceId ns;
    BlockKey key;
    bool operator==(const IndexKey&) const = default;
    bool operator<(const IndexKey& o) const { return ns != o.ns ? ns < o.ns : key < o.key; }
  };
  struct IndexKeyHash {
    size_t operator()(const IndexKey& k) const { return k.key.Prefix64() ^ (k.ns.Prefix64() * 0x9E3779B97F4A7C15ull); }
  };
  struct Entry {
    std::shared_ptr<Region> region;
    uint64_t offset = 0;
    uint64_t payload_bytes = 0;
    uint64_t checksum = 0;
    uint64_t seq = 0;
    uint64_t expires_at_ms = 0;
    BlockKey parent;
    KvGeometry geometry;
    bool accessed = false;  // read since it was written (or loaded): re-admitted if its region is reclaimed
    bool renewed = false;   // expires_at_ms was moved past the record's own deadline: saved in the renewal file
  };
  static constexpr size_t kShards = 64;
  struct Shard {
    std::mutex mu;
    std::unordered_map<IndexKey, Entry, IndexKeyHash> map;
  };
  // A queued record, waiting for the writer. Its header block is in the staging ring at
  // ring_offset; `pieces` say where its bytes are, in file order, summing to meta.record_bytes():
  // one ring span for a copied record; for a borrowed one the ring header block, the borrowed
  // payload's whole blocks, then (if the payload ends mid-block) a zero-padded copy of its last
  // partial block, in the ring right after the header.
  struct Pending {
    RecordMeta meta;
    uint64_t ring_offset = 0;
    // Atomic: Renew moves them (under queue_mu_) while the writer publishes the record (under
    // regions_mu_ and its shard) and copies them into the index entry.
    std::atomic<uint64_t> expires_at_ms{0};
    std::atomic<bool> renewed{false};
    bool cancelled = false;  // removed while queued: freed, never written
    std::vector<std::span<const std::byte>> pieces;
    std::shared_ptr<const void> owner;  // keeps borrowed pieces unchanged until written; reset by Release
    uint64_t borrowed_bytes = 0;        // counted in borrowed_bytes_ until Release
  };
  // The region the writer appends to. Writer thread only.
  struct Active {
    std::shared_ptr<Region> region;
    uint64_t data_end = 0;
    std::vector<RecordMeta> records;
    uint64_t unsynced_since_ns = 0;  // MonotonicNanos() of the first record written since the last sync; 0: none
  };

  explicit DiskTier(const DiskTierOptions& options);
  Shard& ShardOf(const IndexKey& k) { return shards_[IndexKeyHash()(k) % kShards]; }
  bool Expired(const Entry& e, uint64_t now_ms) const { return e.expires_at_ms && now_ms >= e.expires_at_ms; }

  // Open-time recovery (disk_recovery.cc).
  Status Recover();
  Status LoadRegion(const std::string& name, const std::string& owner, uint64_t seq, bool own,
                    std::map<IndexKey, uint64_t>* tombstones);
  void IndexRecords(const std::shared_ptr<Region>& region, const std::vector<RecordMeta>& records,
                    std::map<IndexKey, uint64_t>* tombstones);
  // Verifies one read (record header, payload checksum) and settles item->status and the counters.
  void Finish(ReadItem* item, const Entry& e, const Status& io, const std::byte* header, uint64_t hashed,
              uint64_t digest, const AlignedBuffer& bounce);
  // True (and its entries dropped) if another owner's region no longer holds the epoch we indexed.
  bool ForeignRegionChanged(const std::shared_ptr<Region>& region);
  // Drops every index entry that points into `region`. Requires regions_mu_. Returns how many, and
  // appends their keys to *dropped if given.
  uint64_t DropRegionEntries(const std::shared_ptr<Region>& region, std::vector<IndexKey>* dropped = nullptr);

  // Writer thread (disk_writer.cc).
  void WriterLoop();
  void StreamRecords();
  std::shared_ptr<Pending> PopQueued();
  void Release(const std::shared_ptr<Pending>& p);
  void Publish(const Pending& p);
  Status EnsureActive(uint64_t record_bytes);
  // Seals the active region now (footer, trailer, fdatasync), or hands it to the sealer thread.
  // The monotonic time at which the active region is due for its interval sync; 0 if nothing is.
  uint64_t SyncDueNs() const;
  // fdatasyncs the active region if its interval has run out (a failure stops admitting).
  void SyncActiveIfDue();
  Status SealActive();
  void SealActiveInBackground();
  struct SealJob {
    std::shared_ptr<Region> region;
    uint64_t data_end = 0;
    std::vector<RecordMeta> records;
  };
  SealJob TakeActive();
  Status SealRegion(const SealJob& job);
  void SealerLoop();
  // Waits until every region handed to the sealer is sealed (or failed).
  void WaitForSeals();
  Result<std::shared_ptr<Region>> NextRegion();
  // Copies the still-hot (read since written) objects of a region about to be reclaimed back into
  // the write queue, as far as it has room without waiting. Writer thread.
  void Readmit(const std::shared_ptr<Region>& victim);
  void StopAdmitting(const Status& why);
  Status EnqueueRecord(const RecordMeta& meta, uint64_t expires_at_ms, std::span<const std::span<const std::byte>> segments,
                       std::shared_ptr<const void> owner);
  // Copies a queued record's payload into `dest` (a read served from the queue). Requires queue_mu_.
  static bool CopyQueuedPayload(const Pending& p, std::span<const std::span<std::byte>> dest);

  // Renewal file (disk_renewals.cc). Writer thread, or while it is not running.
  void ApplySavedRenewals();
  uint64_t RenewalsDueNs() const;  // monotonic time when unsaved renewals must be saved; 0: none
  void SaveRenewals();

  uint64_t WallFromStore(uint64_t expires_at_ms) const;
  uint64_t StoreFromWall(uint64_t expires_wall_ms) const;

  const DiskTierOptions options_;
  Env* env_;
  const Clock* clock_;
  const Clock* wall_clock_;
  std::unique_ptr<FileLock> lock_;
  uint64_t max_regions_ = 0;

  std::array<Shard, kShards> shards_;
  TierCounters counters_;

  mutable std::mutex regions_mu_;
  std::vector<std::shared_ptr<Region>> own_;                        // GUARDED_BY(regions_mu_)
  std::map<std::string, std::shared_ptr<Region>> foreign_;          // path -> region; GUARDED_BY(regions_mu_)
  std::unordered_map<Region*, std::vector<IndexKey>> region_keys_;  // GUARDED_BY(regions_mu_)
  uint64_t next_region_seq_ = 0;                                    // GUARDED_BY(regions_mu_)

  Active active_;                   // writer thread only (and Open/destructor while it is not running)
  std::atomic<uint64_t> next_record_seq_{1};

  mutable std::mutex queue_mu_;
  std::condition_variable queue_cv_;  // work for the writer
  std::condition_variable space_cv_;  // ring space or idleness for callers
  StagingRing ring_;                                                         // GUARDED_BY(queue_mu_)
  uint64_t borrowed_bytes_ = 0;                                              // GUARDED_BY(queue_mu_)
  std::deque<std::shared_ptr<Pending>> queue_;                               // GUARDED_BY(queue_mu_)
  std::unordered_map<IndexKey, std::shared_ptr<Pending>, IndexKeyHash> pending_;  // GUARDED_BY(queue_mu_)
  bool writing_ = false;       // GUARDED_BY(queue_mu_): a batch is in flight
  bool writer_ready_ = false;  // GUARDED_BY(queue_mu_): the writer has set up its I/O ring
  bool seal_requested_ = false;  // GUARDED_BY(queue_mu_)
  bool stop_ = false;          // GUARDED_BY(queue_mu_)
  std::thread writer_;

  // Background sealing: a full region is sealed by the sealer thread while the writer streams into
  // the next one, so its fdatasync (tens of ms on a busy shared disk) is off the write path.
  std::mutex seal_mu_;
  std::condition_variable seal_cv_;  // a seal to run, or a seal finished
  std::deque<SealJob> seal_jobs_;    // GUARDED_BY(seal_mu_)
  bool seal_busy_ = false;           // GUARDED_BY(seal_mu_)
  bool sealer_stop_ = false;         // GUARDED_BY(seal_mu_)
  std::thread sealer_;
  std::unique_ptr<FanOut> readers_;

  RenewalFile renewal_file_;
  // MonotonicNanos() of the first renewal not yet saved; 0: none. Set by Renew (any thread, with a
  // compare-exchange from 0, which then wakes the writer), cleared by SaveRenewals before it scans.
  std::atomic<uint64_t> renewals_unsaved_since_ns_{0};  // read_threads - 1 helpers for ReadBatch; null for one thread

  std::atomic<bool> admitting_{true};
  std::atomic<uint64_t> dropped_{0}, corrupt_{0}, read_errors_{0}, reclaimed_{0}, sealed_{0}, recovered_{0}, readmitted_{0}, borrowed_{0};
  double recovery_s_ = 0;
};

}  // namespace tw

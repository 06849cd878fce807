// The embedded store: the whole warehouse in-process, no daemon. Also what the daemon runs inside.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tw/policy.h"
#include "tw/result.h"
#include "tw/store.h"

namespace tw {

struct EmbeddedStoreOptions {
  // DRAM tier: one arena of this many bytes, reserved and pre-faulted at open.
  uint64_t dram_capacity_bytes = 1ull << 30;
  // The arena's allocation unit. An object occupies ceil(size / page_bytes) pages; no external
  // fragmentation is possible. Smaller pages waste less on small objects.
  uint64_t page_bytes = 2ull << 20;
  // Back the arena with 2 MiB huge pages if the kernel has them reserved; falls back silently.
  bool huge_pages = false;
  // Back the arena with a memfd so it can be shared with local clients (the daemon sets this).
  bool shareable_arena = false;
  // Pre-fault the arena at open (MAP_POPULATE); without it the first touch of each page faults.
  bool prefault = true;
  EvictionPolicyKind eviction = EvictionPolicyKind::kChainReuse;
  // Per-tenant byte quotas over all tiers' DRAM use; a tenant not listed is unlimited.
  std::map<std::string, uint64_t> tenant_quota_bytes;

  // Disk tier: a region log in this directory (local NVMe or a shared filesystem). Empty: no disk tier.
  std::string disk_dir;
  // Bytes of region files this store may own (at least two regions). The tier never exceeds it.
  uint64_t disk_capacity_bytes = 64ull << 30;
  // Size of each preallocated region file; objects larger than a region are never demoted.
  uint64_t disk_region_bytes = 256ull << 20;
  // The write-behind queue, written by a background thread. A demoted object is written straight
  // from its DRAM pages, which stay held until written, up to min(this, dram_capacity_bytes / 4)
  // bytes of objects; objects it cannot borrow are copied into a queue of this size. When either is
  // full, the evicting caller waits up to disk_enqueue_wait_ms, then the object is dropped.
  uint64_t disk_write_queue_bytes = 256ull << 20;
  uint64_t disk_enqueue_wait_ms = 5000;
  uint64_t disk_io_bytes = 1ull << 20;  // bytes per I/O
  uint32_t disk_io_depth = 8;           // I/Os in flight per reading or writing thread
  // Threads that read a batch (a prefix being promoted) at once, each with disk_io_depth I/Os in
  // flight and checksumming what it read; the caller is one of them.
  uint32_t disk_read_threads = 4;
  DiskAdmission disk_admission = DiskAdmission::kOnEvict;
  // Shared directories: each process needs its own owner id and writes only its own regions;
  // with disk_shared it also serves the regions other owners have sealed.
  std::string disk_owner = "local";
  bool disk_shared = false;
  uint64_t disk_discover_interval_ms = 1000;
  // The region being written is fdatasync'd this long after its first unsynced object, so a power
  // cut takes at most this interval's objects (a process crash takes none). 0: only when a region
  // is sealed (full, or on FlushDisk/close).
  uint64_t disk_sync_interval_ms = 1000;
  // Sliding retention: hits renew deadlines in memory at once; the disk tier saves the renewed
  // deadlines this long after the first unsaved one (and on FlushDisk and close), so a crash takes
  // back at most this much renewal (a sliding object may then expire that much early, never late).
  uint64_t disk_renewal_flush_ms = 5000;

  // Tier changes the store makes by itself (Put and Remove are the caller's own and not reported):
  // kEvicted{kDram} when DRAM drops an object to make room, then kStored{kDisk} if the disk tier took
  // it; kEvicted{kDisk} when the disk tier reclaims a region. Called on the thread that caused it,
  // outside the store's locks: keep it quick and never call back into the store. Empty: no events.
  std::function<void(const StoreEvent&)> on_event;
};

// The DRAM arena, for the GPU path to register as pinned memory or the daemon to share.
struct ArenaInfo {
  void* base = nullptr;
  uint64_t size_bytes = 0;
  uint64_t page_bytes = 0;
  int memfd = -1;  // >= 0 when shareable_arena was set
};

class EmbeddedStore : public Store {
 public:
  // kInvalidArgument for zero or inconsistent sizes; kResourceExhausted if the arena cannot be mapped.
  static Result<std::unique_ptr<EmbeddedStore>> Open(const EmbeddedStoreOptions& options);

  virtual ArenaInfo arena() const = 0;

  // One tenant's view of Stats(), what a tenant may see of a store it shares with others: the
  // counters of calls on its own namespaces; the DRAM tier's capacity (its quota, where it has one)
  // and the bytes it holds there; the disk tier's capacity and whether it admits (disk use is not
  // split by tenant, so used_bytes is 0). Every other tier counter is 0: they are the whole store's.
  // A tenant that never registered a namespace gets zeros and the capacities. Thread-safe.
  virtual StoreStats TenantStats(std::string_view tenant) = 0;

  // Waits until every object queued for the disk tier is written, then seals the active region so
  // that a restart needs no scan and other processes sharing the directory can see it. OK without
  // a disk tier; kUnavailable if the disk tier stopped admitting after an I/O error.
  virtual Status FlushDisk() = 0;

  // Calls `fn` with the namespace and key of every visible object in every tier (DRAM and disk,
  // each object at most once, even if it is in both), until it returns false. A scan for
  // background work (cluster re-replication), not a snapshot: objects stored, evicted, demoted or
  // reclaimed while it runs may or may not be seen. Objects of namespaces not
  // registered in this process (recovered from disk at a restart) are skipped. Never blocks other
  // calls for more than one index shard; `fn` runs with no lock held and may call back into the store.
  using ObjectVisitor =
      std::function<bool(const Namespace& nspace, const NamespaceOptions& options, const BlockKey& key)>;
  virtual void ForEachObject(const ObjectVisitor& fn) = 0;

  // Whether a read of `keys` (Get, Acquire, Pin) can be answered without touching the disk: true
  // when each key is in DRAM or absent. A hint, not a promise (an object may be evicted the next
  // moment): callers use it to keep reads that will wait for the disk off latency-critical threads.
  // Never blocks on I/O.
  virtual bool ServedFromDram(const NamespaceId& ns, std::span<const BlockKey> keys) = 0;

  // True with a disk tier: then Put, Reserve and Commit may wait (up to disk_enqueue_wait_ms) for
  // room in the disk write queue, and reads of objects only on disk wait for the disk.
  virtual bool has_disk_tier() const = 0;

  // NamespaceOptions::min_prefix_tokens for a store request made of several Reserve calls (the
  // daemon's PUT and RESERVE): whether the request storing `chain` (refs in chain order) is to be
  // skipped as a short prompt's. True counts the blocks in skipped_short and remembers the chain's
  // last key, so a later request continuing it is skipped too. Put and PutBatch apply it themselves;
  // Reserve does not (it sees one block, never the request). kInvalidArgument-free: an unknown
  // namespace is simply not skipped.
  virtual bool SkipShortChain(const NamespaceId& ns, std::span<const BlockRef> chain) = 0;

  // Reserve for a copy of an object held elsewhere (PutItem::expires_in_ms): the object expires
  // `expires_in_ms` from now, or at the namespace's retention if sooner. 0: as Reserve.
  virtual Result<WriteHandle> ReserveCopy(const NamespaceId& ns, const BlockRef& ref, uint64_t expires_in_ms) = 0;

  // Lookup and Get for background work (a cluster's re-replication scan, a peer's probe), not for
  // clients: neither renews a sliding deadline (a scan after every membership change would keep
  // every object alive) nor counts as a lookup or read. Same results and errors as Lookup and Get
  // of the whole object.
  virtual Result<LookupResult> Probe(const NamespaceId& ns, std::span<const BlockKey> keys) = 0;
  virtual Status ReadForCopy(const NamespaceId& ns, const BlockKey& key, std::span<std::byte> out) = 0;

  // How long the visible object has left: 0 for a persistent one; nullopt if absent or expired.
  // What a node passes on when it copies the object to another (PutItem::expires_in_ms).
  virtual std::optional<uint64_t> ExpiresInMs(const NamespaceId& ns, const BlockKey& key) = 0;
};

}  // namespace tw

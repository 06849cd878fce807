// tw::Store: the interface every warehouse speaks.
//
// The embedded store (embedded_store.h) implements it in-process; the remote client implements it
// over the wire to a `tokenwarehouse serve` daemon. Engines are written against this interface only.
//
// A request's life:
//   NamespaceId ns = store->RegisterNamespace(nspace, {}).value();
//   std::vector<BlockKey> keys = nspace.BlockKeys(prompt_tokens);
//   LookupResult hit = store->Lookup(ns, keys).value();       // longest present prefix
//   for (size_t i = 0; i < hit.matched; ++i) store->Get(ns, keys[i], buffer_i);
//   ... prefill only tokens after hit.matched * block_tokens ...
//   store->Put(ns, {keys[i], i ? keys[i-1] : nspace.Root()}, kv_of_block_i);   // new full blocks
//
// Contracts shared by every method:
//  - Thread-safe: any method may be called from any thread concurrently.
//  - Blocking: methods block for at most the I/O they need, and never wait for a lease. One bounded
//    wait for space: a Put (or Commit) into an embedded store with a disk tier, when DRAM must demote
//    objects to make room and the disk write queue is full, waits up to disk_enqueue_wait_ms (5 s by
//    default) for the queue, then drops the demoted object (never the Put). A remote store's calls
//    wait at most ClientOptions::io_timeout_ms.
//  - Objects are immutable and content-addressed: a Put of a key that exists succeeds without
//    rewriting it. A failed, partial or aborted write is never visible to Lookup or Get.
//  - A miss is kNotFound. An unregistered NamespaceId is kInvalidArgument.
//  - Batch forms return one Status per item plus one for the transport (BatchStatus).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tw/block_key.h"
#include "tw/geometry.h"
#include "tw/namespace.h"
#include "tw/retention.h"
#include "tw/result.h"
#include "tw/status.h"

namespace tw {

// Where an object lives. Ordered fastest first.
enum class Tier : uint8_t {
  kNone = 0,
  kDram = 1,  // the paged DRAM arena (pinned when a GPU path registers it)
  kDisk = 2,  // the region log on local NVMe or a shared filesystem
  kPeer = 3,  // another warehouse node
};
std::string_view TierName(Tier tier);  // "none", "dram", "disk", "peer"

// Per-namespace retention and limits, fixed at registration (tw/retention.h names the classes).
struct NamespaceOptions {
  // Objects expire this long after their store (fixed) or after their last hit (ttl_sliding);
  // 0 = persistent, kept until evicted. Against a daemon, 0 asks for the tenant's retention and a
  // longer one than the tenant's is cut to it.
  uint64_t ttl_ms = 0;
  // A hit renews the deadline: a Lookup that matches the object, a Get, Acquire or Pin that serves
  // it. The renewed deadline reaches the disk tier at once and its file lazily (see DiskTier), so
  // after a crash a sliding object may expire up to disk_renewal_flush_ms early, never late.
  bool ttl_sliding = false;
  // A store request whose chain starts at the root and covers fewer tokens than this (blocks x
  // block_tokens) is skipped: reported OK, counted as skipped_short, not stored, so tiny prompts do
  // not churn the tiers. The request is the unit (a PutBatch, a daemon PUT): engines store a
  // prompt's new blocks in one, and a prefix's first block cannot be skipped alone without
  // orphaning the rest. A Put continuing a skipped chain is skipped too. Reserve sees one block, so
  // it is not judged, by a daemon either (one older than this client judges it as a one-block
  // chain); a daemon judges its PUT requests and a remote PutBatch's reservations whole. An engine
  // that stores block by block through Reserve judges its prompts itself. A daemon's default is
  // the tenant's (1,024 unless its config says otherwise); a cluster client applies the value
  // asked here itself, as its nodes see single blocks (tw/cluster.h).
  // 0: store everything. Unlike the retention, registering the namespace again with another value
  // is accepted: the smallest asked so far applies (storing more is the safe direction).
  uint32_t min_prefix_tokens = 0;

  Retention retention() const { return Retention{ttl_ms, ttl_sliding}; }
};

// A block to store: its key and the key of the block before it (Namespace::Root() for the first).
struct BlockRef {
  BlockKey key;
  BlockKey parent;
};

// What one request did, in tokens (blocks x the namespace's block_tokens; only full blocks are
// stored, so the counts are exact), so an engine or router can bill it per request. The same words
// as the daemon's per-tenant accounting (/metrics tw_tenant_*_tokens_total, `tokenwarehouse stats`).
// Each call fills the fields that concern it and leaves the rest 0:
//   Lookup     hit_tokens_by_tier (the matched prefix, by the tier holding each block), miss_tokens
//              (the keys asked for past it)
//   PutBatch   write_tokens (newly stored: a cache write), present_tokens (already held: nothing
//              written), skipped_short_tokens (not stored: the chain was under min_prefix_tokens)
//   GetBatch   read_tokens (blocks served, whole or a slice)
// `reported` is false where the store could not say: a PutBatch to a daemon older than this client
// (its PUT replies carry no outcomes), a cluster's PutBatch that stored (see tw/cluster.h), a Store
// implementation that does not count. Single-item calls (Put, Get, Commit) report nothing: use the
// batch forms. Items that failed count in no field.
struct RequestUsage {
  bool reported = false;
  uint64_t write_tokens = 0;
  uint64_t present_tokens = 0;
  uint64_t skipped_short_tokens = 0;
  std::array<uint64_t, 4> hit_tokens_by_tier{};  // indexed by Tier; [kNone] stays 0
  uint64_t miss_tokens = 0;
  uint64_t read_tokens = 0;

  uint64_t hit_tokens() const { return hit_tokens_by_tier[1] + hit_tokens_by_tier[2] + hit_tokens_by_tier[3]; }
  // Field by field; reported only if both were.
  RequestUsage& operator+=(const RequestUsage& other);
};

// The usage of a lookup of `asked` keys that returned `tiers`, in a namespace of `block_tokens`.
RequestUsage LookupUsage(size_t asked, std::span<const Tier> tiers, uint32_t block_tokens);
// The usage of a GetBatch whose items ended `items`: the blocks served (OK) x `block_tokens`.
RequestUsage ReadUsage(std::span<const Status> items, uint32_t block_tokens);

struct LookupResult {
  size_t matched = 0;        // keys[0 .. matched) are present
  std::vector<Tier> tiers;   // tiers[i]: where keys[i] lives; size() == matched
  RequestUsage usage;        // hit tokens by tier and miss tokens (see RequestUsage)
};

struct BatchStatus {
  Status transport;           // not OK: the whole call failed, items are not meaningful
  std::vector<Status> items;  // one per item, in order
  RequestUsage usage;         // PutBatch: written / present / skipped short; GetBatch: read (see RequestUsage)
  bool all_ok() const;
};

struct PutItem {
  BlockRef ref;
  std::span<const std::byte> data;  // exactly geometry.ObjectBytes()
  // A copy of an object held elsewhere (a cluster node re-replicating it) keeps that object's
  // deadline: it expires this long from now, or at the namespace's retention, whichever is sooner,
  // so no copy outlives the original. 0: a new object, the namespace's retention from now.
  uint64_t expires_in_ms = 0;
};

struct GetItem {
  BlockKey key;
  std::span<std::byte> out;  // exactly geometry.SliceBytes(slice)
  KvSlice slice;
};

// Identifies a pin. Opaque; 0 is never a valid lease.
using LeaseId = uint64_t;

struct TierStats {
  Tier tier = Tier::kNone;
  uint64_t capacity_bytes = 0;
  uint64_t used_bytes = 0;
  uint64_t objects = 0;
  uint64_t hits = 0;         // Get / Acquire served from this tier
  uint64_t admissions = 0;   // objects that entered this tier
  uint64_t evictions = 0;    // objects that left it to make room (or expired)
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  uint64_t errors = 0;       // I/O errors and corrupt objects found
  // False once the tier stopped taking new objects after a write error (ENOSPC, EIO): it still
  // serves what it holds, but nothing new reaches it until the store is reopened. Operators see it
  // as "degraded" on the daemon's /healthz and as tw_tier_admitting 0 on /metrics.
  bool admitting = true;
};

// What happened to a block, for routers (the daemon's SUBSCRIBE) and listeners of the store. A
// block is available while some tier holds it: kStored{tier} says `tier` now holds it,
// kEvicted{tier} that `tier` let it go to make room (another tier may still hold it: an object DRAM
// evicts is usually demoted, reported as kStored{kDisk} right after), kRemoved that every tier
// dropped it on request.
struct StoreEvent {
  enum class Kind : uint8_t { kStored = 1, kRemoved = 2, kEvicted = 3 };
  Kind kind = Kind::kStored;
  NamespaceId ns;
  BlockKey key;
  Tier tier = Tier::kDram;
};

struct StoreStats {
  uint64_t lookups = 0;
  uint64_t lookup_keys = 0;     // keys asked for in all lookups
  uint64_t lookup_hits = 0;     // keys found (the matched prefixes, summed)
  uint64_t gets = 0;
  uint64_t get_misses = 0;
  uint64_t puts = 0;
  uint64_t put_duplicates = 0;  // puts of keys already present
  uint64_t put_rejected = 0;    // puts refused (full, quota, bad input)
  uint64_t skipped_short = 0;   // blocks not stored: their chain was under min_prefix_tokens
  uint64_t pinned_objects = 0;  // objects held by at least one live lease
  uint64_t active_leases = 0;
  std::vector<TierStats> tiers;
};

// Sums, for a view over several stores (a cluster's nodes). Sizes and counters add; a summed tier
// admits only while every part does. TierStats += needs the same tier (TW_CHECK); StoreStats +=
// matches tiers by kind and appends the ones it had not seen.
TierStats& operator+=(TierStats& sum, const TierStats& part);
StoreStats& operator+=(StoreStats& sum, const StoreStats& part);

class Store;

// Writable memory of a reserved object (the zero-copy write). Fill every segment, then
// Store::Commit. Destroying an uncommitted handle aborts the write: nothing becomes visible and the
// memory is returned. Move-only; not thread-safe (one writer per handle).
class WriteHandle {
 public:
  WriteHandle() = default;
  WriteHandle(Store* owner, uint64_t id, std::vector<std::span<std::byte>> segments);
  WriteHandle(WriteHandle&& other) noexcept;
  WriteHandle& operator=(WriteHandle&& other) noexcept;
  WriteHandle(const WriteHandle&) = delete;
  WriteHandle& operator=(const WriteHandle&) = delete;
  ~WriteHandle();

  bool open() const { return owner_ != nullptr; }
  uint64_t id() const { return id_; }
  // The object's memory in layout order; their sizes sum to the object size.
  const std::vector<std::span<std::byte>>& segments() const { return segments_; }
  uint64_t size_bytes() const;
  // Copies `data` into the object at byte `offset`, across segment boundaries.
  // kInvalidArgument if it does not fit or the handle is closed.
  Status Write(uint64_t offset, std::span<const std::byte> data);

 private:
  friend class Store;
  void Close();
  Store* owner_ = nullptr;
  uint64_t id_ = 0;
  std::vector<std::span<std::byte>> segments_;
};

// Read-only memory of a stored object under a lease (the zero-copy read). The object is pinned until
// the handle is released or the lease expires; the memory stays valid for the handle's lifetime.
// Move-only; destroying it releases the lease.
class ReadHandle {
 public:
  ReadHandle() = default;
  ReadHandle(Store* owner, uint64_t id, std::vector<std::span<const std::byte>> segments,
             std::shared_ptr<const void> keepalive);
  ReadHandle(ReadHandle&& other) noexcept;
  ReadHandle& operator=(ReadHandle&& other) noexcept;
  ReadHandle(const ReadHandle&) = delete;
  ReadHandle& operator=(const ReadHandle&) = delete;
  ~ReadHandle();

  bool open() const { return owner_ != nullptr; }
  const std::vector<std::span<const std::byte>>& segments() const { return segments_; }
  uint64_t size_bytes() const;
  // Copies the bytes of `runs` (object offsets) contiguously into `out`.
  Status CopyRuns(std::span<const ByteRun> runs, std::span<std::byte> out) const;

 private:
  friend class Store;
  void Close();
  Store* owner_ = nullptr;
  uint64_t id_ = 0;
  std::vector<std::span<const std::byte>> segments_;
  std::shared_ptr<const void> keepalive_;
};

class Store {
 public:
  virtual ~Store() = default;

  // Registers (idempotently) a namespace and returns its id. The namespace's geometry fixes the size
  // of every object in it. kInvalidArgument for an invalid namespace, or for one already registered
  // with different options. A server binds the tenant to the caller's identity.
  virtual Result<NamespaceId> RegisterNamespace(const Namespace& nspace, const NamespaceOptions& options) = 0;

  // The longest run of keys, from the first, present in some tier, and the tier of each. Does not
  // count as an access for eviction. An empty key list matches nothing and is OK.
  virtual Result<LookupResult> Lookup(const NamespaceId& ns, std::span<const BlockKey> keys) = 0;

  // Copies `data` (exactly geometry.ObjectBytes()) into the warehouse under `ref.key`.
  // kInvalidArgument: wrong size, or ref.parent is neither the root nor present (keys out of chain
  // order: such an object could never be reached by Lookup). kResourceExhausted: full of pinned
  // objects, or the tenant's quota is reached. OK if the key was already present.
  virtual Status Put(const NamespaceId& ns, const BlockRef& ref, std::span<const std::byte> data) = 0;
  // Items are stored in order, so a batch may carry a chain whose parents come first.
  virtual BatchStatus PutBatch(const NamespaceId& ns, std::span<const PutItem> items);

  // Zero-copy write: reserves the object's memory. Same errors as Put, except that the parent may
  // also be reserved and not yet committed, so a whole chain can be reserved at once; commit it
  // from its first block (a child whose parent is not present at its Commit is refused with
  // kInvalidArgument and dropped). If the key is already present, returns a handle whose Commit is
  // a no-op success. Publish with Commit; the handle's destructor aborts.
  virtual Result<WriteHandle> Reserve(const NamespaceId& ns, const BlockRef& ref) = 0;
  // Publishes a reserved object. kInvalidArgument if the handle is closed (already committed,
  // aborted, or default-constructed). Closes the handle whatever the outcome.
  Status Commit(WriteHandle& handle);

  // Copies `slice` of the object into `out` (exactly geometry.SliceBytes(slice)). kNotFound on a miss.
  virtual Status Get(const NamespaceId& ns, const BlockKey& key, std::span<std::byte> out,
                     const KvSlice& slice = KvSlice::All()) = 0;
  virtual BatchStatus GetBatch(const NamespaceId& ns, std::span<const GetItem> items);

  // Zero-copy read under a lease of `lease_ms` (> 0). kNotFound on a miss.
  virtual Result<ReadHandle> Acquire(const NamespaceId& ns, const BlockKey& key, uint64_t lease_ms) = 0;
  // Acquire for a batch: one result per key, in order (kNotFound for a miss). The objects of `keys`
  // that are only on disk are promoted together, their reads in flight at once; a daemon is asked in
  // one round trip per batch of its max_batch keys, not one per key (a GPU load of a 128k-token prefix
  // acquires 512 objects). The default calls Acquire per key.
  virtual std::vector<Result<ReadHandle>> AcquireBatch(const NamespaceId& ns, std::span<const BlockKey> keys,
                                                       uint64_t lease_ms);

  // Pins every key for `lease_ms` (> 0) so none is evicted: all or nothing. kNotFound if any key is
  // absent. The lease expires by itself; Unpin ends it early.
  virtual Result<LeaseId> Pin(const NamespaceId& ns, std::span<const BlockKey> keys, uint64_t lease_ms) = 0;
  // kDeadlineExceeded if the lease already expired or was released; kInvalidArgument if never issued.
  virtual Status Unpin(LeaseId lease) = 0;

  // Removes the object from every tier. kNotFound if absent. Readers holding a ReadHandle keep their
  // memory until they release it.
  virtual Status Remove(const NamespaceId& ns, const BlockKey& key) = 0;

  // Counters and tier occupancy. An embedded store always answers; a remote one asks its daemon
  // (kUnavailable if it cannot be reached: never zeros that look like an idle warehouse); a cluster
  // store sums the nodes it reaches (kUnavailable if it reaches none).
  virtual Result<StoreStats> Stats() = 0;

 protected:
  friend class WriteHandle;
  friend class ReadHandle;
  // Implementations publish or drop reservation `id`; called once per handle.
  virtual Status CommitWrite(uint64_t id) = 0;
  virtual void AbortWrite(uint64_t id) = 0;
  // Ends read lease `id`; called once per handle.
  virtual void ReleaseRead(uint64_t id) = 0;
};

}  // namespace tw

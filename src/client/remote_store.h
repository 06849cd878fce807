// RemoteStore: tw::Store over the wire to a `tokenwarehouse serve` daemon.
//
// Transfers: over TCP, GET payloads are received straight into the caller's buffers and verified as
// they land; PUT payloads are sent straight from the caller's buffers (gathered writes). Over a Unix
// socket with shared memory, the daemon's DRAM arena is mapped here: GET copies from the arena under
// a lease, PUT reserves pages, copies into them and commits (the daemon verifies the checksum before
// the object becomes visible). Batches are split only at the daemon's limits and pipelined, so a
// 128k-token prefix costs a few round trips.
//
// Thread-safety: every method may be called concurrently; each call borrows a pooled connection.
// `pool_mu_`, `ns_mu_`, `writes_mu_` and `arena_mu_` each guard their own member and are never
// held across I/O.
#pragma once

#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

#include "client/connection.h"
#include "net/messages.h"
#include "tw/client.h"

namespace tw::client {

// The daemon's DRAM arena mapped into this process.
struct ShmArena {
  std::byte* base = nullptr;
  uint64_t size_bytes = 0;
  uint64_t id = 0;
  ~ShmArena();
};

class RemoteStore final : public Store {
 public:
  // Connects once (so a wrong address or token fails here, not on first use).
  static Result<std::unique_ptr<RemoteStore>> Open(const Endpoint& endpoint, const ClientOptions& options);
  ~RemoteStore() override;

  Result<NamespaceId> RegisterNamespace(const Namespace& nspace, const NamespaceOptions& options) override;
  Result<LookupResult> Lookup(const NamespaceId& ns, std::span<const BlockKey> keys) override;
  Status Put(const NamespaceId& ns, const BlockRef& ref, std::span<const std::byte> data) override;
  BatchStatus PutBatch(const NamespaceId& ns, std::span<const PutItem> items) override;
  Result<WriteHandle> Reserve(const NamespaceId& ns, const BlockRef& ref) override;
  Status Get(const NamespaceId& ns, const BlockKey& key, std::span<std::byte> out, const KvSlice& slice) override;
  BatchStatus GetBatch(const NamespaceId& ns, std::span<const GetItem> items) override;
  Result<ReadHandle> Acquire(const NamespaceId& ns, const BlockKey& key, uint64_t lease_ms) override;
  std::vector<Result<ReadHandle>> AcquireBatch(const NamespaceId& ns, std::span<const BlockKey> keys,
                                               uint64_t lease_ms) override;
  Result<LeaseId> Pin(const NamespaceId& ns, std::span<const BlockKey> keys, uint64_t lease_ms) override;
  Status Unpin(LeaseId lease) override;
  Status Remove(const NamespaceId& ns, const BlockKey& key) override;
  Result<StoreStats> Stats() override;

  // The tenant the daemon bound this client to.
  const std::string& tenant() const { return tenant_; }
  // True when objects move through shared memory.
  bool shared_memory() const { return shm_; }
  // The daemon's DRAM arena as this process maps it now, after one round trip (so a daemon restarted
  // since is dialled again and its new arena mapped; the old mapping lives on while handles or callers
  // hold it). Null where objects do not move through shared memory. kUnavailable (or the transport's
  // code) if the daemon cannot be reached. Blocking; thread-safe. The GPU path registers this mapping.
  Result<std::shared_ptr<const ShmArena>> CurrentArena();

 protected:
  Status CommitWrite(uint64_t id) override;
  void AbortWrite(uint64_t id) override;
  void ReleaseRead(uint64_t id) override;

 private:
  struct Conn {
    std::unique_ptr<Connection> io;
    std::shared_ptr<ShmArena> arena;  // null: no shared memory on this connection
    std::string tenant;               // what the daemon bound this connection to
    uint16_t version = 1;             // metadata version settled by HELLO: 2 reports store outcomes
  };
  struct NsInfo {
    std::string encoding;
    NamespaceOptions options;  // as asked; the daemon caps them by the tenant's retention
    KvGeometry geometry;
    uint64_t object_bytes = 0;  // Namespace::ObjectBytes(): what the daemon stores
    bool coded = false;         // stored with a codec: read whole only
    BlockKey client_root;  // Root() of the namespace as the caller wrote it (its tenant field)
    BlockKey server_root;  // Root() of the namespace the daemon bound to our tenant
  };
  struct PendingWrite {
    NamespaceId ns;
    BlockRef ref;
    std::vector<std::byte> buffer;           // TCP: the object is built here, sent on commit
    std::vector<std::span<std::byte>> segs;  // shared memory: the reserved pages
    std::shared_ptr<ShmArena> arena;
  };

  RemoteStore(const Endpoint& endpoint, const ClientOptions& options) : endpoint_(endpoint), options_(options) {}

  Result<std::unique_ptr<Conn>> Dial();
  Result<std::unique_ptr<Conn>> Take();
  void Give(std::unique_ptr<Conn> conn);
  // Runs `fn` on a pooled connection; after a transport failure, retries on a fresh one.
  template <typename Fn>
  Status Run(Fn&& fn);
  // One request without payload; on OK, *body holds the reply metadata after the status.
  Status Call(Conn& c, net::Op op, const std::string& meta, std::string* body, uint16_t flags = 0);
  // Receives the reply to request `id` (sent earlier); on OK, *body holds what follows the status.
  Status Reply(Conn& c, net::Op op, uint64_t id, std::string* body);
  Status Register(Conn& c, NsInfo* info, NamespaceId* id);
  // `ref` with the caller's root replaced by the daemon's (first blocks of a chain).
  BlockRef Translate(const NamespaceId& ns, const BlockRef& ref);
  Status Geometry(const NamespaceId& ns, KvGeometry* geometry);
  Status Info(const NamespaceId& ns, NsInfo* info);

  Status GetTcp(Conn& c, const NamespaceId& ns, std::span<const GetItem> items, std::vector<Status>* out);
  // One ACQUIRE request for `keys` (at most the daemon's max_batch): the daemon's items, or the call's
  // failure (kCorruption for a reply that does not decode).
  Result<net::SegmentsResponse> AcquireChunk(Conn& c, const NamespaceId& ns, std::span<const BlockKey> keys,
                                             uint64_t lease_ms);
  // Ends the leases of `leases` (no reply is awaited); nothing to send is OK.
  Status Release(Conn& c, const net::IdsRequest& leases);
  Result<ReadHandle> AcquireCopy(const NamespaceId& ns, const NsInfo& info, const BlockKey& key);
  Status GetShm(Conn& c, const NamespaceId& ns, const NsInfo& info, std::span<const GetItem> items, std::vector<Status>* out);
  // Both fill *usage from the daemon's store outcomes (reported only at version 2).
  // `judge_short` false: the one block of a Reserve committed over TCP, which a version-2 daemon
  // then does not judge against min_prefix_tokens (as RESERVE's judge_short).
  Status PutTcp(Conn& c, const NamespaceId& ns, std::span<const PutItem> items, std::vector<Status>* out, RequestUsage* usage,
                bool judge_short = true);
  Status PutShm(Conn& c, const NamespaceId& ns, std::span<const PutItem> items, std::vector<Status>* out, RequestUsage* usage);
  // The namespace's block_tokens; 0 if this store never registered it.
  uint32_t BlockTokens(const NamespaceId& ns);
  // Arena spans of `segments`, bounds-checked against the mapping.
  Status MapSegments(const ShmArena& arena, const std::vector<ByteRun>& segments, std::vector<std::span<std::byte>>* out);

  const Endpoint endpoint_;
  const ClientOptions options_;
  std::shared_ptr<TlsClient> tls_;  // tws:// only; set once by Open
  std::string tenant_;  // set once by Open
  bool shm_ = false;

  std::mutex pool_mu_;
  std::vector<std::unique_ptr<Conn>> idle_;  // GUARDED_BY(pool_mu_)

  std::shared_mutex ns_mu_;
  std::unordered_map<NamespaceId, NsInfo> namespaces_;  // GUARDED_BY(ns_mu_)

  std::mutex writes_mu_;
  uint64_t next_local_id_ = 1;                              // GUARDED_BY(writes_mu_)
  std::unordered_map<uint64_t, PendingWrite> writes_;       // GUARDED_BY(writes_mu_)

  std::mutex arena_mu_;
  std::shared_ptr<ShmArena> arena_;  // GUARDED_BY(arena_mu_); the newest mapping
};

}  // namespace tw::client

// ServerCore: what the daemon does with each request, apart from moving bytes on sockets.
//
// It owns the store and the server-wide tables: which tenant owns each namespace (so a connection
// can only name its own tenant's namespaces: another tenant's id answers exactly like an unknown
// one, so it cannot even be probed), the shared-memory handles (leases and reservations) clients
// hold, a cache of whole-object checksums, and the event hub. Sessions (session.cc) parse frames
// and stream payloads; ServerCore decides. Everything here is free of Asio.
//
// Thread-safety: all methods may be called concurrently from any I/O thread. ConnectionState is
// owned by one session and only ever touched from it. `ns_mu_`, `handles_mu_`, `sums_mu_` each guard
// their own table and are never held together or across a store call.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/log_rate_limiter.h"
#include "net/messages.h"
#include "server/write_budget.h"
#include "server/auth.h"
#include "server/config.h"
#include "server/event_hub.h"
#include "server/eviction_log.h"
#include "server/metrics.h"
#include "server/usage_file.h"
#include "server/usage_ledger.h"
#include "tw/embedded_store.h"

namespace tw::server {

// Per-connection state, owned by its session.
struct ConnectionState {
  uint64_t id = 0;
  bool local_peer = false;   // loopback TCP or the Unix socket
  bool unix_socket = false;
  std::string peer;          // "tcp 1.2.3.4:5678" or "unix", for logs and per-peer limits
  std::string peer_address;  // the TCP peer's address alone (per-peer limits); empty on the Unix socket
  bool authenticated = false;
  Identity identity;
  bool shm_granted = false;
  std::vector<uint64_t> handles;  // ids opened by this connection (some may be closed already)
  size_t open_handles = 0;
  bool put_skipped_short = false;  // the PUT in progress is a short prompt's (BeginPut of its first item)
  uint16_t version = 1;            // the metadata version HELLO settled (net::kMetaVersion)
};

// The answer to a request that needs no payload streaming.
struct Reply {
  Status status;          // the request's outcome (also the first field of `meta`), for metrics
  std::string meta;
  bool close = false;     // close the connection once the reply is sent
  int attach_fd = -1;     // pass this fd with SCM_RIGHTS along the reply (HELLO granting shared memory)
};

// A GET answer whose payload is gathered straight from DRAM pages.
struct GetPlan {
  Status status;
  std::string meta;
  std::vector<std::span<const std::byte>> payload;
  uint64_t payload_bytes = 0;
  std::vector<ReadHandle> holds;  // keep the pages pinned until the payload is sent
};

// One item of a streaming PUT: where its bytes go.
struct PutSlot {
  Status status;        // not OK: read and discard the item's bytes, report this status
  bool discard = false; // read and discard the bytes (an error, or the key is already present)
  net::StoreOutcome outcome = net::StoreOutcome::kNone;  // of a discarded item: present or skipped short
  WriteBudget::Charge charge;  // declared before the handle: released after the pages go back
  WriteHandle handle;
  std::vector<std::span<std::byte>> segments;
};

class ServerCore {
 public:
  static Result<std::unique_ptr<ServerCore>> Create(const ServerConfig& config);
  ~ServerCore();

  // Every request but GET, PUT and SUBSCRIBE (which stream). Only HELLO is accepted before HELLO.
  Reply Handle(ConnectionState& conn, const net::FrameHeader& header, std::string_view meta);

  // GET: resolves every item, pins it, and lays out the response (statuses, lengths, checksums).
  GetPlan PlanGet(ConnectionState& conn, std::string_view meta);

  // PUT: checks the request's namespace and that the items' lengths sum to the payload.
  Status CheckPut(ConnectionState& conn, const net::PutRequest& req, uint64_t payload_bytes);
  PutSlot BeginPut(ConnectionState& conn, const net::PutRequest& req, size_t index);
  // Publishes the filled item if `computed_checksum` matches the one the client sent.
  Status FinishPut(ConnectionState& conn, const net::PutRequest& req, size_t index, PutSlot& slot, uint64_t computed_checksum);

  // Whether serving this request (GET, ACQUIRE, PIN: a read of an object only on disk; RESERVE,
  // COMMIT: a write that may wait for room in the disk write queue) may wait for the disk. The
  // session then runs it on the store pool, so a slow disk never holds a network thread and a DRAM
  // hit on another connection is served meanwhile. Cheap: decodes the keys, touches no disk.
  bool MayBlock(const net::FrameHeader& header, std::string_view meta);
  // Whether BeginPut and FinishPut may wait for the disk write queue (the store has a disk tier).
  bool WritesMayBlock() const { return store_->has_disk_tier(); }

  // Drops every handle the connection still holds (its reservations abort: nothing partial is visible).
  void CloseConnection(ConnectionState& conn);

  // Writes out everything queued for the disk tier and seals its active region (shutdown). OK
  // without a disk tier.
  Status FlushDisk();

  // Status to refuse SUBSCRIBE with, or OK.
  Status CheckSubscribe(const ConnectionState& conn) const;

  EmbeddedStore& store() { return *store_; }
  ServerMetrics& metrics() { return metrics_; }
  // Requests refused with a close (bad frames, malformed metadata, requests before HELLO): logged
  // with the peer, at most one line a second for the whole daemon.
  LogRateLimiter& protocol_error_log() { return protocol_error_log_; }

  // Hook for subsystems outside the server (the cluster, src/cluster/cluster_node.h) to add to the
  // admin endpoints: extra Prometheus text for /metrics, a JSON value under "cluster" in /stats,
  // and a reason /healthz reports "degraded" (empty: healthy). Set once any time; thread-safe.
  struct AdminExtension {
    std::function<std::string()> prometheus;
    std::function<std::string()> json;
    std::function<std::string()> degraded;
  };
  void SetAdminExtension(std::shared_ptr<const AdminExtension> ext) { std::atomic_store(&admin_ext_, std::move(ext)); }
  std::shared_ptr<const AdminExtension> admin_extension() const { return std::atomic_load(&admin_ext_); }
  EventHub& events() { return events_; }

  // A second listener for block events besides SUBSCRIBE: the KV-events publishers
  // (server/kv_event_publisher.h). Told of every stored / removed / evicted block with the tenant
  // of its namespace, the namespace's block_tokens, and the parent key where the PUT named it
  // (zero otherwise, and for a chain's first block, whose parent is the namespace root). Set once, before the listeners start; called on the thread that made the
  // change, so it must be quick and never block.
  struct BlockEvent {
    const std::string& tenant;
    const net::Event& event;
    const BlockKey& parent;
    uint32_t block_tokens;
  };
  void SetBlockEventSink(std::function<void(const BlockEvent&)> sink) { block_sink_ = std::move(sink); }
  // The store's most recent evictions (every tenant's), for the admin console.
  const EvictionLog& evictions() const { return evictions_; }

  // A namespace registered since the daemon started, with its usage (usage_ledger.h), for the
  // admin endpoints: which tenant holds and reads what.
  struct NamespaceInfo {
    NamespaceId id;
    std::string tenant;
    std::string model_id;
    uint64_t object_bytes = 0;
    uint32_t block_tokens = 0;
    UsageTotals usage;
  };
  std::vector<NamespaceInfo> RegisteredNamespaces();
  // Usage summed per tenant over its registered namespaces, sorted by tenant.
  std::vector<std::pair<std::string, UsageTotals>> TenantUsage();
  // Writes every namespace's usage to <data_dir>/usage.json (usage_file.h), those not registered
  // since the start included, so a restart keeps counting. kIOError if it cannot be written.
  Status SaveUsage();
  const ServerConfig& config() const { return config_; }
  const Authenticator& auth() const { return auth_; }
  uint64_t arena_id() const { return arena_id_; }

 private:
  struct NamespaceEntry {
    std::string tenant;
    KvGeometry geometry;
    uint64_t object_bytes = 0;
    bool coded = false;  // stored with a codec: served whole only
    std::string model_id;  // for people (the console); never used to decide anything
    // Never null once registered; kept when the namespace is registered again, so the counts
    // run for the daemon's life. Shared: a request bumps it without holding ns_mu_.
    std::shared_ptr<NamespaceUsage> usage;
  };
  struct HandleEntry {
    uint64_t owner = 0;
    std::string tenant;
    NamespaceId ns;
    BlockKey key;
    ReadHandle read;
    WriteBudget::Charge charge;  // of `write`; destroyed after it
    WriteHandle write;
  };
  struct SumKey {
    NamespaceId ns;
    BlockKey key;
    bool operator==(const SumKey&) const = default;
  };
  struct SumKeyHash {
    size_t operator()(const SumKey& k) const { return k.key.Prefix64() ^ (k.ns.Prefix64() * 0x9E3779B97F4A7C15ull); }
  };
  struct SumEntry {
    const std::byte* first = nullptr;  // where the object's bytes started: a re-stored object moves
    uint64_t checksum = 0;
  };

  explicit ServerCore(const ServerConfig& config);

  Reply Hello(ConnectionState& conn, std::string_view meta);
  Reply Register(ConnectionState& conn, std::string_view meta);
  Reply Lookup(ConnectionState& conn, std::string_view meta);
  Reply Remove(ConnectionState& conn, std::string_view meta);
  Reply Pin(ConnectionState& conn, std::string_view meta);
  Reply Unpin(ConnectionState& conn, std::string_view meta);
  Reply Stats(const ConnectionState& conn);
  Reply Acquire(ConnectionState& conn, std::string_view meta);
  Reply Reserve(ConnectionState& conn, std::string_view meta);
  Reply Commit(ConnectionState& conn, std::string_view meta);
  Reply CloseHandles(ConnectionState& conn, std::string_view meta);  // RELEASE and ABORT

  std::string UsagePath() const { return config_.data_dir + "/usage.json"; }
  // Whether the connection's calls count as a tenant's usage: a cluster peer's are the cluster's
  // own housekeeping (re-replication copies), never a tenant's cache writes or reads.
  static bool Billable(const ConnectionState& conn) { return !conn.identity.cluster_peer; }
  // The usage counters of a registered namespace, or null.
  std::shared_ptr<NamespaceUsage> UsageOf(const NamespaceId& ns);
  // OK if `ns` is registered by the connection's tenant; fills *entry.
  Status OwnNamespace(const ConnectionState& conn, const NamespaceId& ns, NamespaceEntry* entry);
  // Whose subscribers hear of a change the caller made in `ns`: the caller's tenant, except for a
  // cluster peer, which acts for the tenant the namespace names.
  std::string EventTenant(const ConnectionState& conn, const NamespaceId& ns);
  uint64_t AddHandle(ConnectionState& conn, HandleEntry entry);
  uint64_t WholeObjectChecksum(const NamespaceId& ns, const BlockKey& key, const std::vector<std::span<const std::byte>>& segs);
  void RememberChecksum(const NamespaceId& ns, const BlockKey& key, const std::byte* first, uint64_t checksum);
  std::vector<ByteRun> ArenaOffsets(const std::vector<std::span<const std::byte>>& segs) const;
  void Published(const std::string& tenant, net::EventKind kind, const NamespaceId& ns, const BlockKey& key,
                 Tier tier = Tier::kDram, const BlockKey& parent = BlockKey{});
  // The store's listener (EmbeddedStoreOptions::on_event): evictions into the eviction log, and
  // evictions and demotions to subscribers.
  void OnStoreEvent(const StoreEvent& e);

  const ServerConfig config_;
  std::unique_ptr<EmbeddedStore> store_;  // set by Create
  ArenaInfo arena_;                       // set by Create
  const uint64_t arena_id_;
  Authenticator auth_;
  ServerMetrics metrics_;
  LogRateLimiter protocol_error_log_{1000};
  WriteBudget budget_;  // before handles_: their charges point into it
  std::shared_ptr<const AdminExtension> admin_ext_;  // accessed only through atomic_load/store
  EventHub events_;
  std::function<void(const BlockEvent&)> block_sink_;  // set before serving, then read-only
  EvictionLog evictions_;
  std::atomic<uint64_t> next_handle_{1};

  std::shared_mutex ns_mu_;
  std::unordered_map<NamespaceId, NamespaceEntry> namespaces_;  // GUARDED_BY(ns_mu_)
  // Usage loaded from the usage file for namespaces not registered again yet: seeded into their
  // counters at registration, and saved again meanwhile. GUARDED_BY(ns_mu_)
  UsageByNamespace saved_usage_;
  std::mutex save_mu_;  // one SaveUsage at a time (they share the temporary file); taken before ns_mu_

  std::mutex handles_mu_;
  std::unordered_map<uint64_t, HandleEntry> handles_;  // GUARDED_BY(handles_mu_)

  std::mutex pins_mu_;
  std::unordered_map<LeaseId, std::string> pins_;  // lease -> tenant; GUARDED_BY(pins_mu_)

  static constexpr size_t kMaxSums = 1 << 20;
  std::mutex sums_mu_;
  std::unordered_map<SumKey, SumEntry, SumKeyHash> sums_;  // GUARDED_BY(sums_mu_)
};

// The spans of `segments` that hold the object bytes named by `runs`, in order.
std::vector<std::span<const std::byte>> SliceSegments(const std::vector<std::span<const std::byte>>& segments,
                                                      std::span<const ByteRun> runs);

}  // namespace tw::server

// ServerConfig: everything `tokenwarehouse serve` reads from its YAML file (docs/operations.md lists
// every key with its default). The defaults are the embedded single-machine setup: loopback only,
// anonymous access from loopback, a DRAM arena sized from the machine, data under ./tw-data.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "net/frame.h"
#include "store/store_seams.h"
#include "tw/embedded_store.h"
#include "tw/retention.h"
#include "tw/result.h"

namespace tw::server {

// What a tenant's namespaces keep, and for how long (tw/retention.h). The retention is both the
// default of a namespace that asks for none and the cap of one that asks for more (the operator's
// cost control); min_prefix_tokens is the default of a namespace that asks for none (0).
// The default, 1,024 tokens, is what prompt-caching products cache from: shorter prompts are cheap
// to recompute and would only churn the tiers. 0 stores every prefix (tests of short prompts).
inline constexpr uint32_t kDefaultMinPrefixTokens = 1024;
struct RetentionConfig {
  Retention retention;  // YAML "<class>[ sliding|fixed]"; default persistent
  uint32_t min_prefix_tokens = kDefaultMinPrefixTokens;  // 0: store every prefix
};

struct TenantConfig {
  std::string name;
  std::string token_sha256;   // lower-case hex SHA-256 of the token; tokens are never stored in clear
  uint64_t quota_bytes = 0;   // 0: unlimited
  bool shared_memory = false; // may map the DRAM arena (sees every tenant's bytes: trusted engines only)
  // A cluster peer (the token other nodes pass as --peer-token): it acts on behalf of the tenant
  // each namespace names, so a re-replicated object lands under its original tenant. It can read
  // and write every tenant's objects: give it to warehouse nodes only.
  bool cluster_peer = false;
  // Sees the whole daemon's STATS (every tenant's counts); others see only their own. For an
  // operator's token; a cluster peer sees the whole daemon too (the cluster sums its nodes).
  bool admin = false;
  // Overrides of the server's `retention:` section for this tenant; unset: the server's.
  std::optional<Retention> retention;
  std::optional<uint32_t> min_prefix_tokens;
};

// One KV-events publisher (server/kv_event_publisher.h): the events of one tenant, in vLLM's wire
// format, on a ZMQ PUB socket and (optionally) a ROUTER replay socket. A ZMQ endpoint has no
// authentication: whoever reaches it sees the tenant's block hashes. So nothing is published unless
// the operator lists the tenant here, and each tenant gets endpoints of its own (an ipc:// path's
// file permissions, or a loopback/private address, are the access control).
struct KvEventsEndpoint {
  std::string tenant;           // whose events; required
  std::string endpoint;         // PUB, bound: "tcp://127.0.0.1:5557", "tcp://*:5557", "ipc:///run/tw/ev.sock"
  std::string replay_endpoint;  // ROUTER, bound; empty: no replay
  std::string topic;            // first frame of every message ("" as vLLM's default)
  uint32_t buffer_batches = 10'000;    // batches kept for replay (vLLM's buffer_steps)
  uint32_t hwm = 100'000;              // ZMQ send high-water mark of the PUB socket
  uint32_t max_queue_events = 100'000; // events waiting for the publisher thread; beyond, dropped
};

// What the cache saves, for the console and /stats: a hit token is a token the engine did not
// prefill. Operator-set figures (the engine's measured prefill rate, the price of a GPU-hour);
// with a rate of 0 no savings are computed.
struct EconomicsConfig {
  double prefill_tokens_per_s = 0;                            // default for every model
  std::map<std::string, double> prefill_tokens_per_s_by_model;  // by namespace model_id
  double gpu_hour_price = 0;                                  // per GPU-hour; 0: no money figures
  std::string currency = "USD";

  // Prefill rate for `model_id` (its own, else the default); 0: unknown.
  double PrefillRate(const std::string& model_id) const;
};

struct ServerConfig {
  std::string listen = "127.0.0.1:7700";  // host:port for TCP; empty disables TCP
  std::string unix_socket;                // empty: <data_dir>/tw.sock; "none" disables
  std::string admin_listen = "127.0.0.1:7701";  // /metrics, /healthz, /stats; empty disables
  std::string data_dir = "tw-data";
  uint32_t io_threads = 0;                // 0: min(4, cores)
  // Threads for store calls that may wait for the disk (a read of an object only on disk, a write
  // waiting for the disk write queue), so that those never hold a network thread. 0: 8.
  uint32_t store_threads = 0;

  uint64_t dram_capacity_bytes = 0;       // 0: an eighth of physical memory, at most 4 GiB
  uint64_t page_bytes = 2ull << 20;
  bool huge_pages = false;
  EvictionPolicyKind eviction = EmbeddedStoreOptions().eviction;  // the store's default

  bool disk_enabled = true;               // a disk tier under disk_directory (once the store has one)
  std::string disk_directory;             // empty: <data_dir>/disk
  uint64_t disk_capacity_bytes = 0;       // 0: the store's default
  std::string disk_admission = "write_through";  // or on_evict (only what DRAM evicts reaches disk)
  uint64_t disk_sync_interval_ms = EmbeddedStoreOptions().disk_sync_interval_ms;
  // The disk tier's reads (EmbeddedStoreOptions has the why): bytes per I/O, I/Os in flight per
  // thread, threads reading one promotion batch. A disk's best mix differs (a virtual disk may want
  // fewer, larger I/Os): `bench disk` measures it against raw O_DIRECT.
  uint64_t disk_io_bytes = EmbeddedStoreOptions().disk_io_bytes;
  uint32_t disk_io_depth = EmbeddedStoreOptions().disk_io_depth;
  uint32_t disk_read_threads = EmbeddedStoreOptions().disk_read_threads;

  bool allow_anonymous_loopback = true;   // unauthenticated clients from loopback / the Unix socket
  std::string anonymous_tenant = "default";
  bool anonymous_shared_memory = true;
  std::vector<TenantConfig> tenants;

  bool shared_memory = true;              // offer the arena over the Unix socket at all
  net::FrameLimits frame_limits;
  uint32_t max_connections = 1024;
  uint32_t max_handles_per_connection = 4096;  // open shared-memory leases and reservations
  uint64_t idle_timeout_ms = 300'000;     // a connection with no request for this long is closed
  // A connection must complete HELLO (authenticate) within this, or it is closed: silent sockets
  // must not hold limits.max_connections slots for idle_timeout_ms.
  uint64_t hello_timeout_ms = 5'000;
  uint32_t max_connections_per_peer = 256;  // TCP connections from one address (the Unix socket: no limit)
  // DRAM that unfinished writes (PUTs whose payload is still arriving, RESERVEs not yet committed)
  // may hold: in all (0: half the arena) and per tenant (0: a quarter). See server/write_budget.h.
  uint64_t max_unfinished_write_bytes = 0;
  uint64_t max_unfinished_write_bytes_per_tenant = 0;
  // A PUT whose payload stops arriving for this long is closed (its reservation dropped), long
  // before request_timeout_ms would end it.
  uint64_t payload_stall_ms = 5'000;
  uint64_t request_timeout_ms = 60'000;   // a request must arrive whole within this
  uint64_t drain_timeout_ms = 10'000;     // SIGTERM: in-flight requests get this long to finish
  uint64_t lease_ms = 30'000;             // leases behind GET streams and shared-memory ACQUIRE

  // TLS for the TCP listener (the Unix socket stays plain: it never leaves the host). Both set: every
  // TCP connection must speak TLS 1.2 or newer; both empty: plain TCP. PEM files; the certificate file
  // may hold the chain.
  std::string tls_cert_file;
  std::string tls_key_file;
  bool tls_enabled() const { return !tls_cert_file.empty(); }

  std::string log_level = "info";
  EconomicsConfig economics;
  // YAML `retention:` ({class, min_prefix_tokens}): every tenant's unless it sets its own. By
  // default persistent, and prompts under 1,024 tokens are not stored (counted as skipped_short);
  // `min_prefix_tokens: 0` stores every prefix.
  RetentionConfig retention;
  // The retention section that applies to `tenant` (its overrides over the server's).
  RetentionConfig RetentionOf(const std::string& tenant) const;

  std::vector<KvEventsEndpoint> kv_events;  // YAML `events:`; empty: no KV events published

  // Not a config key: tests inject I/O faults into the disk tier through it (nullptr: the real disk).
  Env* disk_env = nullptr;

  // The path the Unix socket listens on (resolves the default), or empty when disabled.
  std::string UnixSocketPath() const;
};

// Parses a YAML file. kInvalidArgument names the offending key; unknown keys are errors too, so a
// typo never silently falls back to a default.
Result<ServerConfig> LoadServerConfig(const std::string& path);
Result<ServerConfig> ParseServerConfig(const std::string& yaml_text);

// "4GiB", "512MiB", "1G", "123" -> bytes.
Result<uint64_t> ParseBytes(std::string_view text);

// Fills machine-dependent defaults (DRAM size, threads) and checks consistency, including that an
// explicit DRAM size fits the memory this process can have (see CheckDramFits).
Status FinalizeConfig(ServerConfig* config);

// The memory a daemon on this machine can have: physical, available now (MemAvailable), and the
// limit of its cgroup (v2 memory.max or v1 memory.limit_in_bytes) less what the cgroup already uses.
// 0 where unknown.
struct MemoryInfo {
  uint64_t physical_bytes = 0;
  uint64_t available_bytes = 0;
  uint64_t cgroup_limit_bytes = 0;  // 0: no limit
  uint64_t cgroup_used_bytes = 0;
};
MemoryInfo ReadMemoryInfo();

// kInvalidArgument naming the machine's memory when an arena of dram_bytes (pre-faulted at start)
// cannot be had: without this the kernel's OOM killer ends the daemon, or another process, instead.
Status CheckDramFits(uint64_t dram_bytes, const MemoryInfo& mem);

// Room for the disk tier in its directory: the filesystem's free space plus what the tier's own
// region files already take (they are reused). 0 where unknown.
struct DiskSpace {
  uint64_t free_bytes = 0;
  uint64_t own_region_bytes = 0;
};
// Creates `dir` if needed and measures it (statvfs, and the *.twr files in it).
Result<DiskSpace> ReadDiskSpace(const std::string& dir);

// The disk tier's capacity. `asked` 0 means the default, 64 GiB, lowered to nine tenths of the room
// there is. kInvalidArgument, naming the room, when an explicit size exceeds it or the room holds
// fewer than two regions: without this a tier larger than its filesystem reports its nominal
// capacity and "ok", then stops admitting at the first ENOSPC.
Result<uint64_t> ResolveDiskCapacity(uint64_t asked, uint64_t region_bytes, const std::string& dir, const DiskSpace& space);

}  // namespace tw::server

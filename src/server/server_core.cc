#include "server/server_core.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>

#include "common/stored_slice.h"
#include "common/clock.h"
#include "common/logging.h"
#include "net/payload_checksum.h"
#include "store/store_seams.h"

namespace tw::server {

using net::MetaReader;
using net::MetaWriter;

namespace {

Reply StatusReply(Status s, bool close = false) {
  Reply r;
  MetaWriter w;
  w.Stat(s);
  r.meta = std::move(w.str());
  r.status = std::move(s);
  r.close = close;
  return r;
}

// A reply whose body follows an OK status.
template <typename Body>
Reply OkReply(const Body& body) {
  Reply r;
  MetaWriter w;
  w.Stat(Status::Ok());
  body.Encode(w);
  r.meta = std::move(w.str());
  return r;
}

// Malformed metadata: the peer is broken or hostile, and the stream cannot be trusted any more.
Reply Malformed(const Status& s) { return StatusReply(s, /*close=*/true); }

constexpr std::string_view kUnknownNamespace = "unknown namespace: register it first";

}  // namespace

std::vector<std::span<const std::byte>> SliceSegments(const std::vector<std::span<const std::byte>>& segments,
                                                      std::span<const ByteRun> runs) {
  std::vector<std::span<const std::byte>> out;
  size_t seg = 0;
  uint64_t seg_start = 0;  // object offset where segments[seg] begins
  for (const ByteRun& run : runs) {
    uint64_t off = run.offset, left = run.length;
    // Runs are in layout order, so the segment cursor only moves forward.
    while (seg < segments.size() && seg_start + segments[seg].size() <= off) {
      seg_start += segments[seg].size();
      ++seg;
    }
    size_t s = seg;
    uint64_t s_start = seg_start;
    while (left > 0 && s < segments.size()) {
      const uint64_t in_seg = off - s_start;
      const uint64_t n = std::min<uint64_t>(left, segments[s].size() - in_seg);
      out.push_back(segments[s].subspan(in_seg, n));
      off += n;
      left -= n;
      s_start += segments[s].size();
      ++s;
    }
  }
  return out;
}

Status ServerCore::FlushDisk() { return store_->FlushDisk(); }

Result<std::unique_ptr<ServerCore>> ServerCore::Create(const ServerConfig& config) {
  std::unique_ptr<ServerCore> core(new ServerCore(config));
  EmbeddedStoreOptions options;
  options.dram_capacity_bytes = config.dram_capacity_bytes;
  options.page_bytes = config.page_bytes;
  options.huge_pages = config.huge_pages;
  options.shareable_arena = config.shared_memory;
  options.eviction = config.eviction;
  for (const TenantConfig& t : config.tenants) {
    if (t.quota_bytes) options.tenant_quota_bytes[t.name] = t.quota_bytes;
  }
  if (config.disk_enabled) {
    options.disk_dir = config.disk_directory.empty() ? config.data_dir + "/disk" : config.disk_directory;
    TW_ASSIGN_OR_RETURN(DiskSpace space, ReadDiskSpace(options.disk_dir));
    TW_ASSIGN_OR_RETURN(options.disk_capacity_bytes,
                        ResolveDiskCapacity(config.disk_capacity_bytes, options.disk_region_bytes, options.disk_dir, space));
    options.disk_admission = ParseDiskAdmission(config.disk_admission).value();  // checked by the config parser
    options.disk_sync_interval_ms = config.disk_sync_interval_ms;
    options.disk_io_bytes = config.disk_io_bytes;
    options.disk_io_depth = config.disk_io_depth;
    options.disk_read_threads = config.disk_read_threads;
  }
  // Evictions and demotions reach subscribers as events. The store is destroyed first (~ServerCore),
  // so the listener never outlives what it touches.
  options.on_event = [c = core.get()](const StoreEvent& e) { c->OnStoreEvent(e); };
  TW_ASSIGN_OR_RETURN(core->store_, OpenEmbeddedStore(options, StoreSeams{.disk_env = config.disk_env}));
  // Counts are billing data, but a bad file must not keep the node from serving: start from zero.
  if (Result<UsageByNamespace> saved = LoadUsageFile(core->UsagePath()); saved.ok()) {
    core->saved_usage_ = std::move(*saved);
  } else {
    TW_LOG_WARN("token usage starts from zero: {}", saved.status().ToString());
  }
  core->arena_ = core->store_->arena();
  return core;
}

namespace {

// FinalizeConfig fills these; a config that skipped it gets the same defaults.
uint64_t UnfinishedBound(uint64_t set, uint64_t dram, uint64_t divisor) {
  if (set) return set;
  return dram ? dram / divisor : UINT64_MAX;
}

}  // namespace

ServerCore::ServerCore(const ServerConfig& config)
    : config_(config),
      arena_id_(std::random_device{}() | (uint64_t{std::random_device{}()} << 32) | 1),
      auth_(config),
      budget_(UnfinishedBound(config.max_unfinished_write_bytes, config.dram_capacity_bytes, 2),
              UnfinishedBound(config.max_unfinished_write_bytes_per_tenant, config.dram_capacity_bytes, 4)) {}

ServerCore::~ServerCore() {
  // Handles must go before the store they point into; the store before the tables its events use.
  {
    std::lock_guard<std::mutex> lock(handles_mu_);
    handles_.clear();
  }
  store_.reset();
}

Reply ServerCore::Handle(ConnectionState& conn, const net::FrameHeader& h, std::string_view meta) {
  const auto op = static_cast<net::Op>(h.type);
  if (!conn.authenticated && op != net::Op::kHello) {
    metrics_.auth_failures.fetch_add(1, std::memory_order_relaxed);
    return StatusReply(Status::Unauthenticated("send HELLO first"), true);
  }
  if (h.payload_bytes != 0) return Malformed(Status::Corruption(std::string(net::OpName(op)) + " carries no payload"));
  switch (op) {
    case net::Op::kHello: return Hello(conn, meta);
    case net::Op::kRegister: return Register(conn, meta);
    case net::Op::kLookup: return Lookup(conn, meta);
    case net::Op::kRemove: return Remove(conn, meta);
    case net::Op::kPin: return Pin(conn, meta);
    case net::Op::kUnpin: return Unpin(conn, meta);
    case net::Op::kStats: return meta.empty() ? Stats(conn) : Malformed(Status::Corruption("stats takes no metadata"));
    case net::Op::kAcquire: return Acquire(conn, meta);
    case net::Op::kReserve: return Reserve(conn, meta);
    case net::Op::kCommit: return Commit(conn, meta);
    case net::Op::kRelease:
    case net::Op::kAbort: return CloseHandles(conn, meta);
    case net::Op::kPing: return meta.empty() ? StatusReply(Status::Ok()) : Malformed(Status::Corruption("ping takes no metadata"));
    default: return Malformed(Status::InvalidArgument("unexpected op " + std::to_string(h.type)));
  }
}

Reply ServerCore::Hello(ConnectionState& conn, std::string_view meta) {
  Result<net::HelloRequest> req = net::HelloRequest::Decode(meta);
  if (!req.ok()) return Malformed(req.status());
  if (conn.authenticated) return StatusReply(Status::InvalidArgument("HELLO sent twice"), true);
  if (req->min_version > net::kMetaVersion || req->max_version < 1 || req->min_version > req->max_version) {
    return StatusReply(Status::NotSupported("this daemon speaks protocol versions 1 to " + std::to_string(net::kMetaVersion)), true);
  }
  Result<Identity> id = auth_.Authenticate(req->token, conn.local_peer);
  if (!id.ok()) {
    metrics_.auth_failures.fetch_add(1, std::memory_order_relaxed);
    TW_LOG_WARN("connection {}: authentication failed: {}", conn.id, id.status().ToString());
    return StatusReply(id.status(), true);
  }
  conn.authenticated = true;
  conn.identity = *id;
  conn.version = std::min<uint16_t>(req->max_version, net::kMetaVersion);
  net::HelloResponse resp;
  resp.version = conn.version;
  resp.tenant = conn.identity.tenant;
  resp.max_meta_bytes = config_.frame_limits.max_meta_bytes;
  resp.max_payload_bytes = config_.frame_limits.max_payload_bytes;
  resp.max_batch = config_.frame_limits.max_batch;
  Reply r;
  if (req->want_shm && conn.unix_socket && conn.identity.shared_memory && arena_.memfd >= 0) {
    conn.shm_granted = true;
    resp.shm = true;
    resp.arena_id = arena_id_;
    resp.arena_bytes = arena_.size_bytes;
    resp.page_bytes = arena_.page_bytes;
    r.attach_fd = arena_.memfd;
  }
  TW_LOG_DEBUG("connection {}: tenant '{}' ({}), shared memory {}", conn.id, conn.identity.tenant, req->client_name,
               conn.shm_granted ? "on" : "off");
  Reply ok = OkReply(resp);
  ok.attach_fd = r.attach_fd;
  return ok;
}

Status ServerCore::OwnNamespace(const ConnectionState& conn, const NamespaceId& ns, NamespaceEntry* entry) {
  std::shared_lock<std::shared_mutex> lock(ns_mu_);
  auto it = namespaces_.find(ns);
  if (it == namespaces_.end()) return Status::FailedPrecondition(kUnknownNamespace);
  // A cluster peer registered the namespace under the tenant it names, not its own: it may use any.
  if (it->second.tenant != conn.identity.tenant && !conn.identity.cluster_peer) {
    return Status::FailedPrecondition(kUnknownNamespace);
  }
  if (entry) *entry = it->second;
  return Status::Ok();
}

std::string ServerCore::EventTenant(const ConnectionState& conn, const NamespaceId& ns) {
  if (!conn.identity.cluster_peer) return conn.identity.tenant;
  std::shared_lock<std::shared_mutex> lock(ns_mu_);
  auto it = namespaces_.find(ns);
  return it != namespaces_.end() ? it->second.tenant : conn.identity.tenant;
}

Reply ServerCore::Register(ConnectionState& conn, std::string_view meta) {
  Result<net::RegisterRequest> req = net::RegisterRequest::Decode(meta);
  if (!req.ok()) return Malformed(req.status());
  Result<Namespace> nspace = Namespace::Decode(req->nspace);
  if (!nspace.ok()) return StatusReply(Status::InvalidArgument("bad namespace encoding: " + nspace.status().ToString()));
  // The tenant is the caller's identity, whatever the client wrote; except for a cluster peer
  // copying another tenant's object between nodes, which must land under that tenant's namespace
  // id (the id hashes the tenant) or its owner would never find it.
  if (!conn.identity.cluster_peer) nspace->tenant = conn.identity.tenant;
  // The operator's retention for the namespace's tenant is the default and the cap (a peer's
  // registration names the tenant, and gets that tenant's, like its first registration did).
  const RetentionConfig tenant = config_.RetentionOf(nspace->tenant);
  const Retention granted = CapRetention(Retention{req->ttl_ms, req->ttl_sliding}, tenant.retention);
  NamespaceOptions options;
  options.ttl_ms = granted.ttl_ms;
  options.ttl_sliding = granted.sliding;
  // The tenant's min_prefix_tokens is a default, not a floor: a cluster client (whose nodes see
  // every block as a chain head, so cannot judge prompts) registers with 1.
  options.min_prefix_tokens = req->min_prefix_tokens ? req->min_prefix_tokens : tenant.min_prefix_tokens;
  Result<NamespaceId> id = store_->RegisterNamespace(*nspace, options);
  if (!id.ok()) return StatusReply(id.status());
  {
    std::unique_lock<std::shared_mutex> lock(ns_mu_);
    NamespaceEntry& e = namespaces_[*id];
    std::shared_ptr<NamespaceUsage> usage = std::move(e.usage);
    if (!usage) {
      usage = std::make_shared<NamespaceUsage>(nspace->geometry.block_tokens);
      if (auto saved = saved_usage_.find(*id); saved != saved_usage_.end()) {  // counted before a restart
        usage->Seed(saved->second);
        saved_usage_.erase(saved);
      }
    }
    e = NamespaceEntry{nspace->tenant, nspace->geometry, nspace->ObjectBytes(), nspace->codec != KvCodec::kNone,
                       nspace->model_id, std::move(usage)};
  }
  MetaWriter w;
  w.Stat(Status::Ok());
  w.Id(*id);
  // The root of the bound namespace: the client's own Root() was computed with the tenant it
  // wrote, so it names first blocks with that and the client library translates.
  w.Id(nspace->Root());
  Reply r;
  r.meta = std::move(w.str());
  return r;
}

Reply ServerCore::Lookup(ConnectionState& conn, std::string_view meta) {
  Result<net::KeysRequest> req = net::KeysRequest::Decode(meta, config_.frame_limits.max_batch);
  if (!req.ok()) return Malformed(req.status());
  NamespaceEntry ns;
  Status s = OwnNamespace(conn, req->ns, &ns);
  if (!s.ok()) return StatusReply(std::move(s));
  // A cluster peer's lookup is another node's re-replication scan asking whether this node holds a
  // copy: not a hit, so it renews no sliding deadline.
  Result<LookupResult> res = conn.identity.cluster_peer ? store_->Probe(req->ns, req->keys) : store_->Lookup(req->ns, req->keys);
  if (!res.ok()) return StatusReply(res.status());
  if (Billable(conn)) ns.usage->Looked(req->keys.size(), res->tiers);
  net::LookupResponse resp;
  resp.matched = static_cast<uint32_t>(res->matched);
  resp.tiers = std::move(res->tiers);
  return OkReply(resp);
}

Reply ServerCore::Remove(ConnectionState& conn, std::string_view meta) {
  Result<net::KeysRequest> req = net::KeysRequest::Decode(meta, config_.frame_limits.max_batch);
  if (!req.ok()) return Malformed(req.status());
  Status s = OwnNamespace(conn, req->ns, nullptr);
  if (!s.ok()) return StatusReply(std::move(s));
  net::ItemsResponse resp;
  for (const BlockKey& key : req->keys) {
    Status item = store_->Remove(req->ns, key);
    if (item.ok()) Published(EventTenant(conn, req->ns), net::EventKind::kRemoved, req->ns, key);
    resp.items.push_back(std::move(item));
  }
  return OkReply(resp);
}

Reply ServerCore::Pin(ConnectionState& conn, std::string_view meta) {
  Result<net::KeysRequest> req = net::KeysRequest::Decode(meta, config_.frame_limits.max_batch);
  if (!req.ok()) return Malformed(req.status());
  Status s = OwnNamespace(conn, req->ns, nullptr);
  if (!s.ok()) return StatusReply(std::move(s));
  Result<LeaseId> lease = store_->Pin(req->ns, req->keys, req->lease_ms);
  if (!lease.ok()) return StatusReply(lease.status());
  {
    std::lock_guard<std::mutex> lock(pins_mu_);
    pins_[*lease] = conn.identity.tenant;
  }
  MetaWriter w;
  w.Stat(Status::Ok());
  w.U64(*lease);
  Reply r;
  r.meta = std::move(w.str());
  return r;
}

Reply ServerCore::Unpin(ConnectionState& conn, std::string_view meta) {
  Result<net::IdsRequest> req = net::IdsRequest::Decode(meta, config_.frame_limits.max_batch);
  if (!req.ok()) return Malformed(req.status());
  net::ItemsResponse resp;
  for (uint64_t lease : req->ids) {
    bool mine = false;
    {
      std::lock_guard<std::mutex> lock(pins_mu_);
      auto it = pins_.find(lease);
      mine = it != pins_.end() && it->second == conn.identity.tenant;
      if (mine) pins_.erase(it);
    }
    resp.items.push_back(mine ? store_->Unpin(lease) : Status::InvalidArgument("unknown lease"));
  }
  return OkReply(resp);
}

Reply ServerCore::Stats(const ConnectionState& conn) {
  MetaWriter w;
  w.Stat(Status::Ok());
  // A tenant sees its own counts; the whole daemon's are an operator's (and the cluster's) to see.
  const StoreStats stats = conn.identity.sees_all_stats ? store_->Stats().value()  // embedded: always answers
                                                        : store_->TenantStats(conn.identity.tenant);
  net::EncodeStoreStats(stats, w);
  Reply r;
  r.meta = std::move(w.str());
  return r;
}

std::vector<ByteRun> ServerCore::ArenaOffsets(const std::vector<std::span<const std::byte>>& segs) const {
  std::vector<ByteRun> out;
  out.reserve(segs.size());
  const auto* base = static_cast<const std::byte*>(arena_.base);
  for (const auto& s : segs) out.push_back(ByteRun{static_cast<uint64_t>(s.data() - base), s.size()});
  return out;
}

uint64_t ServerCore::AddHandle(ConnectionState& conn, HandleEntry entry) {
  const uint64_t id = next_handle_.fetch_add(1, std::memory_order_relaxed);
  entry.owner = conn.id;
  entry.tenant = conn.identity.tenant;
  {
    std::lock_guard<std::mutex> lock(handles_mu_);
    handles_.emplace(id, std::move(entry));
  }
  conn.handles.push_back(id);
  ++conn.open_handles;
  return id;
}

Reply ServerCore::Acquire(ConnectionState& conn, std::string_view meta) {
  Result<net::KeysRequest> req = net::KeysRequest::Decode(meta, config_.frame_limits.max_batch);
  if (!req.ok()) return Malformed(req.status());
  if (!conn.shm_granted) return StatusReply(Status::PermissionDenied("shared memory was not granted on this connection"));
  NamespaceEntry ns;
  Status s = OwnNamespace(conn, req->ns, &ns);
  if (!s.ok()) return StatusReply(std::move(s));
  const uint64_t lease_ms = req->lease_ms ? req->lease_ms : config_.lease_ms;
  // As many keys as the connection may still hold leases for, acquired in one batch (their disk
  // reads in flight together); the rest are refused.
  const size_t room = config_.max_handles_per_connection > conn.open_handles
                          ? config_.max_handles_per_connection - conn.open_handles : 0;
  const std::span<const BlockKey> wanted(req->keys.data(), std::min(room, req->keys.size()));
  std::vector<Result<ReadHandle>> handles = store_->AcquireBatch(req->ns, wanted, lease_ms);
  if (Billable(conn)) {
    ns.usage->Read(static_cast<uint64_t>(std::count_if(handles.begin(), handles.end(), [](const auto& h) { return h.ok(); })));
  }
  net::SegmentsResponse resp;
  for (size_t i = 0; i < req->keys.size(); ++i) {
    const BlockKey& key = req->keys[i];
    net::SegmentsResponse::Item item;
    if (i >= handles.size()) {
      item.status = Status::ResourceExhausted("too many open leases on this connection (limits.max_handles_per_connection)");
    } else {
      Result<ReadHandle>& h = handles[i];
      if (h.ok()) {
        item.segments = ArenaOffsets(h->segments());
        HandleEntry e;
        e.ns = req->ns;
        e.key = key;
        e.read = std::move(*h);
        item.id = AddHandle(conn, std::move(e));
      } else {
        item.status = h.status();
      }
    }
    resp.items.push_back(std::move(item));
  }
  return OkReply(resp);
}

Reply ServerCore::Reserve(ConnectionState& conn, std::string_view meta) {
  Result<net::ReserveRequest> req = net::ReserveRequest::Decode(meta, config_.frame_limits.max_batch);
  if (!req.ok()) return Malformed(req.status());
  if (!conn.shm_granted) return StatusReply(Status::PermissionDenied("shared memory was not granted on this connection"));
  NamespaceEntry nse;
  Status s = OwnNamespace(conn, req->ns, &nse);
  if (!s.ok()) return StatusReply(std::move(s));
  const uint64_t object_bytes = nse.object_bytes;
  net::SegmentsResponse resp;
  const bool outcomes = conn.version >= 2;
  if (req->judge_short && store_->SkipShortChain(req->ns, req->refs)) {
    // A short prompt's chain: answered as if every block were present (nothing to write), and
    // at version 2 said to be skipped, so the client does not count it as present.
    resp.items.resize(req->refs.size());
    if (outcomes) resp.outcomes.assign(req->refs.size(), net::StoreOutcome::kSkippedShort);
    return OkReply(resp);
  }
  for (const BlockRef& ref : req->refs) {
    net::SegmentsResponse::Item item;
    if (conn.open_handles >= config_.max_handles_per_connection) {
      item.status = Status::ResourceExhausted("too many open reservations on this connection (limits.max_handles_per_connection)");
    } else if (Result<WriteBudget::Charge> charge = budget_.Take(conn.identity.tenant, object_bytes); !charge.ok()) {
      metrics_.writes_over_budget.fetch_add(1, std::memory_order_relaxed);
      item.status = charge.status();
    } else {
      Result<WriteHandle> h = store_->Reserve(req->ns, ref);
      if (!h.ok()) {
        item.status = h.status();
      } else if (!h->segments().empty()) {  // empty: already present, nothing to write (id stays 0)
        std::vector<std::span<const std::byte>> segs(h->segments().begin(), h->segments().end());
        item.segments = ArenaOffsets(segs);
        HandleEntry e;
        e.ns = req->ns;
        e.key = ref.key;
        e.charge = std::move(*charge);
        e.write = std::move(*h);
        item.id = AddHandle(conn, std::move(e));
      }
    }
    // Present: OK with nothing to write. A reservation to fill has no outcome yet: its COMMIT's
    // OK is the cache write.
    if (outcomes) resp.outcomes.push_back(item.status.ok() && item.id == 0 ? net::StoreOutcome::kPresent : net::StoreOutcome::kNone);
    resp.items.push_back(std::move(item));
  }
  return OkReply(resp);
}

Reply ServerCore::Commit(ConnectionState& conn, std::string_view meta) {
  Result<net::CommitRequest> req = net::CommitRequest::Decode(meta, config_.frame_limits.max_batch);
  if (!req.ok()) return Malformed(req.status());
  net::ItemsResponse resp;
  for (const auto& item : req->items) {
    HandleEntry e;
    bool found = false;
    {
      std::lock_guard<std::mutex> lock(handles_mu_);
      auto it = handles_.find(item.write_id);
      if (it != handles_.end() && it->second.tenant == conn.identity.tenant && it->second.write.open()) {
        e = std::move(it->second);
        handles_.erase(it);
        found = true;
      }
    }
    if (!found) {
      resp.items.push_back(Status::InvalidArgument("unknown reservation (aborted, committed, or its connection closed)"));
      continue;
    }
    if (e.owner == conn.id && conn.open_handles) --conn.open_handles;
    const uint64_t sum = net::ChecksumOfSegments(e.write.segments());
    if (sum != item.checksum) {
      metrics_.checksum_failures.fetch_add(1, std::memory_order_relaxed);
      resp.items.push_back(Status::Corruption("payload checksum mismatch: the object was not stored"));
      continue;  // e.write's destructor aborts the reservation
    }
    const std::byte* first = e.write.segments().front().data();
    Status s = store_->Commit(e.write);
    if (s.ok()) {
      if (auto usage = Billable(conn) ? UsageOf(e.ns) : nullptr) usage->Wrote(1);
      RememberChecksum(e.ns, e.key, first, sum);
      Published(EventTenant(conn, e.ns), net::EventKind::kStored, e.ns, e.key);
    }
    resp.items.push_back(std::move(s));
  }
  return OkReply(resp);
}

Reply ServerCore::CloseHandles(ConnectionState& conn, std::string_view meta) {
  Result<net::IdsRequest> req = net::IdsRequest::Decode(meta, config_.frame_limits.max_batch);
  if (!req.ok()) return Malformed(req.status());
  std::vector<HandleEntry> closing;  // destroyed outside the lock: releasing calls into the store
  size_t unknown = 0;
  {
    std::lock_guard<std::mutex> lock(handles_mu_);
    for (uint64_t id : req->ids) {
      auto it = handles_.find(id);
      if (it == handles_.end() || it->second.tenant != conn.identity.tenant) {
        ++unknown;
        continue;
      }
      if (it->second.owner == conn.id && conn.open_handles) --conn.open_handles;
      closing.push_back(std::move(it->second));
      handles_.erase(it);
    }
  }
  closing.clear();
  return StatusReply(unknown ? Status::InvalidArgument(std::to_string(unknown) + " unknown handle ids") : Status::Ok());
}

void ServerCore::CloseConnection(ConnectionState& conn) {
  std::vector<HandleEntry> closing;
  {
    std::lock_guard<std::mutex> lock(handles_mu_);
    for (uint64_t id : conn.handles) {
      auto it = handles_.find(id);
      if (it != handles_.end() && it->second.owner == conn.id) {
        closing.push_back(std::move(it->second));
        handles_.erase(it);
      }
    }
  }
  conn.handles.clear();
  conn.open_handles = 0;
  closing.clear();  // reservations abort, leases end
}

Status ServerCore::CheckSubscribe(const ConnectionState& conn) const {
  if (!conn.authenticated) return Status::Unauthenticated("send HELLO first");
  return Status::Ok();
}

void ServerCore::RememberChecksum(const NamespaceId& ns, const BlockKey& key, const std::byte* first, uint64_t checksum) {
  std::lock_guard<std::mutex> lock(sums_mu_);
  // Evicted objects leave stale entries behind; a full wipe now and then bounds the table without
  // per-eviction callbacks. A stale entry is harmless: it is keyed by where the bytes live.
  if (sums_.size() >= kMaxSums) sums_.clear();
  sums_[SumKey{ns, key}] = SumEntry{first, checksum};
}

uint64_t ServerCore::WholeObjectChecksum(const NamespaceId& ns, const BlockKey& key,
                                         const std::vector<std::span<const std::byte>>& segs) {
  const std::byte* first = segs.empty() ? nullptr : segs.front().data();
  {
    std::lock_guard<std::mutex> lock(sums_mu_);
    auto it = sums_.find(SumKey{ns, key});
    if (it != sums_.end() && it->second.first == first) return it->second.checksum;
  }
  const uint64_t sum = net::ChecksumOfSegments(segs);
  RememberChecksum(ns, key, first, sum);
  return sum;
}

bool ServerCore::MayBlock(const net::FrameHeader& header, std::string_view meta) {
  if (!store_->has_disk_tier()) return false;
  switch (static_cast<net::Op>(header.type)) {
    case net::Op::kGet: {
      Result<net::GetRequest> req = net::GetRequest::Decode(meta, config_.frame_limits.max_batch);
      if (!req.ok()) return false;  // refused without a store call
      std::vector<BlockKey> keys;
      keys.reserve(req->items.size());
      for (const auto& item : req->items) keys.push_back(item.key);
      return !store_->ServedFromDram(req->ns, keys);
    }
    case net::Op::kAcquire:
    case net::Op::kPin: {
      Result<net::KeysRequest> req = net::KeysRequest::Decode(meta, config_.frame_limits.max_batch);
      return req.ok() && !store_->ServedFromDram(req->ns, req->keys);
    }
    case net::Op::kPut:
    case net::Op::kReserve:
    case net::Op::kCommit:
      return true;
    default:
      return false;
  }
}

GetPlan ServerCore::PlanGet(ConnectionState& conn, std::string_view meta) {
  GetPlan plan;
  Result<net::GetRequest> req = net::GetRequest::Decode(meta, config_.frame_limits.max_batch);
  NamespaceEntry ns;
  if (req.ok()) plan.status = OwnNamespace(conn, req->ns, &ns);
  if (!req.ok() || !plan.status.ok()) {
    if (!req.ok()) plan.status = req.status();
    MetaWriter w;
    w.Stat(plan.status);
    plan.meta = std::move(w.str());
    return plan;
  }
  // Every item with a valid slice is acquired in one batch, so the objects only on disk are read
  // with their I/Os in flight together; the payload limit then applies to what hit, in order.
  const size_t n = req->items.size();
  std::vector<Result<std::vector<ByteRun>>> runs;
  runs.reserve(n);
  std::vector<BlockKey> keys;
  for (const auto& item : req->items) {
    runs.push_back(StoredSliceRuns(ns.geometry, ns.coded, ns.object_bytes, item.slice));
    if (runs.back().ok()) keys.push_back(item.key);
  }
  std::vector<Result<ReadHandle>> handles = store_->AcquireBatch(req->ns, keys, config_.lease_ms);
  net::GetResponse resp;
  resp.items.reserve(n);
  size_t next_handle = 0;
  for (size_t i = 0; i < n; ++i) {
    const auto& item = req->items[i];
    net::GetResponse::Item out;
    if (!runs[i].ok()) {
      out.status = runs[i].status();
    } else if (Result<ReadHandle>& h = handles[next_handle++]; !h.ok()) {
      out.status = h.status();
    } else if (plan.payload_bytes + StoredSliceBytes(ns.geometry, ns.coded, ns.object_bytes, item.slice) > config_.frame_limits.max_payload_bytes) {
      out.status = Status::ResourceExhausted("response would exceed limits.max_payload_bytes: ask in smaller batches");
    } else {
      std::vector<std::span<const std::byte>> spans =
          item.slice.IsAll() ? h->segments() : SliceSegments(h->segments(), *runs[i]);
      out.length = 0;
      for (const auto& s : spans) out.length += s.size();
      out.checksum = item.slice.IsAll() ? WholeObjectChecksum(req->ns, item.key, spans) : net::ChecksumOfSegments(spans);
      plan.payload.insert(plan.payload.end(), spans.begin(), spans.end());
      plan.payload_bytes += out.length;
      plan.holds.push_back(std::move(*h));
    }
    resp.items.push_back(std::move(out));
  }
  if (Billable(conn)) ns.usage->Read(plan.holds.size());
  MetaWriter w;
  w.Stat(Status::Ok());
  resp.Encode(w);
  plan.meta = std::move(w.str());
  return plan;
}

Status ServerCore::CheckPut(ConnectionState& conn, const net::PutRequest& req, uint64_t payload_bytes) {
  TW_RETURN_IF_ERROR(OwnNamespace(conn, req.ns, nullptr));
  uint64_t sum = 0;
  for (const auto& item : req.items) {
    if (item.length > payload_bytes - sum) return Status::Corruption("put items' lengths exceed the frame payload");
    sum += item.length;
  }
  if (sum != payload_bytes) return Status::Corruption("put items' lengths do not add up to the frame payload");
  return Status::Ok();
}

PutSlot ServerCore::BeginPut(ConnectionState& conn, const net::PutRequest& req, size_t index) {
  PutSlot slot;
  slot.discard = true;
  const auto& item = req.items[index];
  NamespaceEntry ns;
  slot.status = OwnNamespace(conn, req.ns, &ns);
  if (!slot.status.ok()) return slot;
  if (item.length != ns.object_bytes) {
    slot.status = Status::InvalidArgument("object is " + std::to_string(item.length) + " bytes; geometry " +
                                          ns.geometry.ToString() + " needs " + std::to_string(ns.object_bytes));
    return slot;
  }
  if (index == 0) {
    // The request is the unit of min_prefix_tokens (a prompt's new blocks): judged once, at its
    // first item, for all of them.
    std::vector<BlockRef> chain;
    chain.reserve(req.items.size());
    for (const auto& it : req.items) chain.push_back(BlockRef{it.key, it.parent});
    conn.put_skipped_short = req.judge_short && store_->SkipShortChain(req.ns, chain);
  }
  if (conn.put_skipped_short) {  // OK; the bytes are read and discarded
    if (index == 0) {
      TW_LOG_DEBUG("connection {}: a PUT of {} block(s) skipped: its prompt is under min_prefix_tokens", conn.id,
                   req.items.size());
    }
    slot.outcome = net::StoreOutcome::kSkippedShort;
    return slot;
  }
  Result<WriteBudget::Charge> charge = budget_.Take(conn.identity.tenant, ns.object_bytes);
  if (!charge.ok()) {
    metrics_.writes_over_budget.fetch_add(1, std::memory_order_relaxed);
    slot.status = charge.status();
    return slot;
  }
  Result<WriteHandle> h = item.expires_in_ms ? store_->ReserveCopy(req.ns, BlockRef{item.key, item.parent}, item.expires_in_ms)
                                             : store_->Reserve(req.ns, BlockRef{item.key, item.parent});
  if (!h.ok()) {
    slot.status = h.status();
    return slot;
  }
  if (h->segments().empty()) {  // already present: OK, bytes discarded (the charge goes back)
    slot.outcome = net::StoreOutcome::kPresent;
    return slot;
  }
  slot.segments = h->segments();
  slot.charge = std::move(*charge);
  slot.handle = std::move(*h);
  slot.discard = false;
  return slot;
}

Status ServerCore::FinishPut(ConnectionState& conn, const net::PutRequest& req, size_t index, PutSlot& slot,
                             uint64_t computed_checksum) {
  if (slot.discard) return slot.status;
  const auto& item = req.items[index];
  if (computed_checksum != item.checksum) {
    metrics_.checksum_failures.fetch_add(1, std::memory_order_relaxed);
    slot.handle = WriteHandle();  // aborts: never visible
    return Status::Corruption("payload checksum mismatch: the object was not stored");
  }
  const std::byte* first = slot.segments.front().data();
  TW_RETURN_IF_ERROR(store_->Commit(slot.handle));
  if (auto usage = Billable(conn) ? UsageOf(req.ns) : nullptr) usage->Wrote(1);
  RememberChecksum(req.ns, item.key, first, computed_checksum);
  Published(EventTenant(conn, req.ns), net::EventKind::kStored, req.ns, item.key, Tier::kDram, item.parent);
  return Status::Ok();
}

void ServerCore::Published(const std::string& tenant, net::EventKind kind, const NamespaceId& ns, const BlockKey& key, Tier tier,
                           const BlockKey& parent) {
  net::Event e;
  e.kind = kind;
  e.ns = ns;
  e.key = key;
  e.tier = tier;
  if (events_.Publish(tenant, e)) metrics_.events_published.fetch_add(1, std::memory_order_relaxed);
  if (block_sink_) {
    uint32_t block_tokens = 0;
    {
      std::shared_lock<std::shared_mutex> lock(ns_mu_);
      auto it = namespaces_.find(ns);
      if (it != namespaces_.end()) block_tokens = it->second.geometry.block_tokens;
    }
    // The first block of a chain names the namespace root as parent: nil for the sink, as vLLM's
    // first block has none (the root derives from the tenant-bound namespace id, which a router
    // does not know; the key itself is what it matches).
    const bool first = !parent.IsZero() && (parent == RootKey(ns, KeyHash::kSha256) || parent == RootKey(ns, KeyHash::kXxh3));
    block_sink_(BlockEvent{tenant, e, first ? BlockKey{} : parent, block_tokens});
  }
}

void ServerCore::OnStoreEvent(const StoreEvent& e) {
  const bool evicted = e.kind == StoreEvent::Kind::kEvicted;
  // The common case: no router listens (SUBSCRIBE, KV-events publishers) and nothing left a tier,
  // so there is nothing to look up.
  if (!evicted && !events_.HasSubscribers() && !block_sink_) return;
  std::string tenant, model_id;
  bool known = false;
  {
    std::shared_lock<std::shared_mutex> lock(ns_mu_);
    auto it = namespaces_.find(e.ns);
    if (it != namespaces_.end()) {
      known = true;
      tenant = it->second.tenant;
      model_id = it->second.model_id;
    }
  }
  // An unknown namespace was registered before a restart and not since: logged without a tenant.
  if (evicted) evictions_.Record(EvictionRecord{UnixMillis(), e.tier, tenant, model_id, e.ns, e.key});
  // Nobody can name an unknown namespace, so no subscriber may hear of it.
  if (known && (events_.HasSubscribers() || block_sink_)) Published(tenant, static_cast<net::EventKind>(e.kind), e.ns, e.key, e.tier);
}

std::vector<ServerCore::NamespaceInfo> ServerCore::RegisteredNamespaces() {
  std::shared_lock<std::shared_mutex> lock(ns_mu_);
  std::vector<NamespaceInfo> out;
  out.reserve(namespaces_.size());
  for (const auto& [id, e] : namespaces_) {
    NamespaceInfo info{id, e.tenant, e.model_id, e.object_bytes, e.geometry.block_tokens, e.usage->Totals()};
    if (const double rate = config_.economics.PrefillRate(e.model_id); rate > 0) {
      info.usage.gpu_seconds_saved = static_cast<double>(info.usage.hit_tokens) / rate;
    }
    out.push_back(std::move(info));
  }
  return out;
}

std::vector<std::pair<std::string, UsageTotals>> ServerCore::TenantUsage() {
  std::map<std::string, UsageTotals> sums;
  for (const NamespaceInfo& n : RegisteredNamespaces()) sums[n.tenant] += n.usage;
  return {sums.begin(), sums.end()};
}

Status ServerCore::SaveUsage() {
  std::lock_guard<std::mutex> save(save_mu_);
  UsageByNamespace all;
  {
    std::shared_lock<std::shared_mutex> lock(ns_mu_);
    all = saved_usage_;
    for (const auto& [id, e] : namespaces_) all[id] = e.usage->Totals();
  }
  std::error_code ec;
  std::filesystem::create_directories(config_.data_dir, ec);
  return SaveUsageFile(UsagePath(), all);
}

std::shared_ptr<NamespaceUsage> ServerCore::UsageOf(const NamespaceId& ns) {
  std::shared_lock<std::shared_mutex> lock(ns_mu_);
  auto it = namespaces_.find(ns);
  return it == namespaces_.end() ? nullptr : it->second.usage;
}

}  // namespace tw::server

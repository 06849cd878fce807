#include "client/remote_store.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <thread>

#include "common/stored_slice.h"
#include "common/hash.h"
#include "common/segments.h"
#include "net/messages.h"
#include "net/payload_checksum.h"

namespace tw::client {

using net::MetaReader;
using net::MetaWriter;

namespace {

// Ids this client makes up for handles the daemon never hears of. Daemon ids never set this bit.
constexpr uint64_t kLocalBit = 1ull << 63;
constexpr uint64_t kNoopWrite = kLocalBit;  // Reserve of a key already present: Commit does nothing
// Bytes copied and hashed per step of a shared-memory PUT: the chunk is still in cache when hashed.
constexpr size_t kCopyChunk = 256 << 10;

Status Malformed(std::string_view what) { return Status::Corruption("malformed reply from the daemon: " + std::string(what)); }

// Counts one item's store outcome (an OK item: a failed one counts nowhere).
void CountOutcome(net::StoreOutcome o, uint64_t block_tokens, RequestUsage* usage) {
  switch (o) {
    case net::StoreOutcome::kStored: usage->write_tokens += block_tokens; break;
    case net::StoreOutcome::kPresent: usage->present_tokens += block_tokens; break;
    case net::StoreOutcome::kSkippedShort: usage->skipped_short_tokens += block_tokens; break;
    case net::StoreOutcome::kNone: break;
  }
}

}  // namespace

ShmArena::~ShmArena() {
  if (base) munmap(base, size_bytes);
}

Result<std::unique_ptr<RemoteStore>> RemoteStore::Open(const Endpoint& endpoint, const ClientOptions& options) {
  std::unique_ptr<RemoteStore> store(new RemoteStore(endpoint, options));
  if (endpoint.tls) {
    TW_ASSIGN_OR_RETURN(store->tls_, TlsClient::Create(options.tls_ca_file));
  }
  TW_ASSIGN_OR_RETURN(std::unique_ptr<Conn> conn, store->Dial());
  store->shm_ = conn->arena != nullptr;
  store->tenant_ = conn->tenant;
  store->Give(std::move(conn));
  return store;
}

RemoteStore::~RemoteStore() = default;

Result<std::unique_ptr<RemoteStore::Conn>> RemoteStore::Dial() {
  auto c = std::make_unique<Conn>();
  TW_ASSIGN_OR_RETURN(c->io, Connection::Dial(endpoint_, options_.connect_timeout_ms, options_.io_timeout_ms, tls_.get()));
  net::HelloRequest hello;
  hello.token = options_.token;
  hello.client_name = options_.client_name;
  hello.want_shm = options_.shared_memory && c->io->is_unix();
  MetaWriter w;
  hello.Encode(w);
  const uint64_t id = c->io->NextRequestId();
  TW_RETURN_IF_ERROR(c->io->Send(net::Op::kHello, 0, id, w.str()));
  net::FrameHeader h;
  std::string meta;
  int fd = -1;
  TW_RETURN_IF_ERROR(c->io->Receive(net::Op::kHello, id, &h, &meta, &fd));
  MetaReader r(meta);
  Status s = r.Stat();
  if (!r.ok()) s = Malformed("hello");
  Result<net::HelloResponse> resp = s.ok() ? net::HelloResponse::Decode(r) : Result<net::HelloResponse>(s);
  if (!resp.ok()) {
    if (fd >= 0) ::close(fd);
    return resp.status();
  }
  c->io->peer_limits().max_meta_bytes = resp->max_meta_bytes;
  c->io->peer_limits().max_payload_bytes = resp->max_payload_bytes;
  c->io->peer_limits().max_batch = std::max<uint32_t>(resp->max_batch, 1);
  c->tenant = resp->tenant;
  c->version = resp->version;  // a daemon older than kMetaVersion answers 1
  if (resp->shm && fd >= 0) {
    std::lock_guard<std::mutex> lock(arena_mu_);
    if (arena_ && arena_->id == resp->arena_id) {
      ::close(fd);
    } else {
      // MAP_POPULATE: page faults cost microseconds each here; take them all once, now.
      void* p = mmap(nullptr, resp->arena_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
      ::close(fd);
      if (p == MAP_FAILED) return Status::Unavailable(std::string("cannot map the daemon's arena: ") + std::strerror(errno));
      auto arena = std::make_shared<ShmArena>();
      arena->base = static_cast<std::byte*>(p);
      arena->size_bytes = resp->arena_bytes;
      arena->id = resp->arena_id;
      arena_ = std::move(arena);
    }
    c->arena = arena_;
  } else if (fd >= 0) {
    ::close(fd);
  }
  // Replay every namespace this store registered: the daemon may have restarted since.
  std::vector<NsInfo> known;
  {
    std::shared_lock<std::shared_mutex> lock(ns_mu_);
    for (const auto& [nid, info] : namespaces_) known.push_back(info);
  }
  for (NsInfo& info : known) {
    NamespaceId ignored;
    TW_RETURN_IF_ERROR(Register(*c, &info, &ignored));
  }
  return c;
}

Result<std::unique_ptr<RemoteStore::Conn>> RemoteStore::Take() {
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
  }
  return Dial();
}

void RemoteStore::Give(std::unique_ptr<Conn> conn) {
  std::lock_guard<std::mutex> lock(pool_mu_);
  if (conn->io->broken()) {
    // One dead connection usually means the daemon went away: the idle ones are dead too.
    idle_.clear();
    return;
  }
  idle_.push_back(std::move(conn));
}

template <typename Fn>
Status RemoteStore::Run(Fn&& fn) {
  Status s;
  for (uint32_t attempt = 0;; ++attempt) {
    Result<std::unique_ptr<Conn>> c = Take();
    if (!c.ok()) {
      s = c.status();
      if (attempt >= options_.retries || s.code() == StatusCode::kUnauthenticated) return s;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    s = fn(**c);
    const bool broken = (*c)->io->broken();
    Give(std::move(*c));
    if (!broken || attempt >= options_.retries) return s;
  }
}

Status RemoteStore::Call(Conn& c, net::Op op, const std::string& meta, std::string* body, uint16_t flags) {
  const uint64_t id = c.io->NextRequestId();
  TW_RETURN_IF_ERROR(c.io->Send(op, flags, id, meta));
  if (flags & net::kFlagNoReply) return Status::Ok();
  return Reply(c, op, id, body);
}

Status RemoteStore::Reply(Conn& c, net::Op op, uint64_t id, std::string* body) {
  net::FrameHeader h;
  std::string reply;
  TW_RETURN_IF_ERROR(c.io->Receive(op, id, &h, &reply));
  if (h.payload_bytes) TW_RETURN_IF_ERROR(c.io->SkipPayload(h.payload_bytes));
  MetaReader r(reply);
  Status s = r.Stat();
  if (!r.ok()) return Malformed(net::OpName(op));
  if (s.ok() && body) *body = std::string(r.rest());
  return s;
}

Status RemoteStore::Register(Conn& c, NsInfo* info, NamespaceId* id) {
  net::RegisterRequest req;
  req.nspace = info->encoding;
  req.ttl_ms = info->options.ttl_ms;
  req.ttl_sliding = info->options.ttl_sliding;
  req.min_prefix_tokens = info->options.min_prefix_tokens;
  MetaWriter w;
  req.Encode(w);
  std::string body;
  TW_RETURN_IF_ERROR(Call(c, net::Op::kRegister, w.str(), &body));
  MetaReader r(body);
  *id = r.Id<NamespaceIdTag>();
  info->server_root = r.Id<BlockKeyTag>();
  return r.Finish("register reply");
}

BlockRef RemoteStore::Translate(const NamespaceId& ns, const BlockRef& ref) {
  std::shared_lock<std::shared_mutex> lock(ns_mu_);
  auto it = namespaces_.find(ns);
  if (it == namespaces_.end() || ref.parent != it->second.client_root) return ref;
  return BlockRef{ref.key, it->second.server_root};
}

Status RemoteStore::Geometry(const NamespaceId& ns, KvGeometry* geometry) {
  std::shared_lock<std::shared_mutex> lock(ns_mu_);
  auto it = namespaces_.find(ns);
  if (it == namespaces_.end()) return Status::FailedPrecondition("unknown namespace " + ns.ToHex() + ": register it first");
  *geometry = it->second.geometry;
  return Status::Ok();
}

uint32_t RemoteStore::BlockTokens(const NamespaceId& ns) {
  std::shared_lock<std::shared_mutex> lock(ns_mu_);
  auto it = namespaces_.find(ns);
  return it == namespaces_.end() ? 0 : it->second.geometry.block_tokens;
}

Status RemoteStore::Info(const NamespaceId& ns, NsInfo* info) {
  std::shared_lock<std::shared_mutex> lock(ns_mu_);
  auto it = namespaces_.find(ns);
  if (it == namespaces_.end()) return Status::FailedPrecondition("unknown namespace " + ns.ToHex() + ": register it first");
  *info = it->second;
  return Status::Ok();
}

Result<NamespaceId> RemoteStore::RegisterNamespace(const Namespace& nspace, const NamespaceOptions& options) {
  TW_RETURN_IF_ERROR(nspace.Validate());
  NsInfo info{nspace.Encode(), options, nspace.geometry, nspace.ObjectBytes(), nspace.codec != KvCodec::kNone,
              nspace.Root(), BlockKey()};
  NamespaceId id;
  TW_RETURN_IF_ERROR(Run([&](Conn& c) { return Register(c, &info, &id); }));
  std::unique_lock<std::shared_mutex> lock(ns_mu_);
  namespaces_[id] = std::move(info);
  return id;
}

Result<LookupResult> RemoteStore::Lookup(const NamespaceId& ns, std::span<const BlockKey> keys) {
  LookupResult out;
  Status s = Run([&](Conn& c) -> Status {
    out = LookupResult();
    const size_t batch = c.io->peer_limits().max_batch;
    for (size_t off = 0; off < keys.size() || off == 0; off += batch) {
      net::KeysRequest req;
      req.ns = ns;
      req.keys.assign(keys.begin() + off, keys.begin() + std::min(keys.size(), off + batch));
      MetaWriter w;
      req.Encode(w);
      std::string body;
      TW_RETURN_IF_ERROR(Call(c, net::Op::kLookup, w.str(), &body));
      MetaReader r(body);
      Result<net::LookupResponse> resp = net::LookupResponse::Decode(r, static_cast<uint32_t>(req.keys.size()));
      if (!resp.ok()) return resp.status();
      out.tiers.insert(out.tiers.end(), resp->tiers.begin(), resp->tiers.end());
      if (resp->matched < req.keys.size()) break;  // the prefix ended in this chunk
      if (keys.empty()) break;
    }
    out.matched = out.tiers.size();
    return Status::Ok();
  });
  if (!s.ok()) return s;
  // Derived here, not sent: the reply's tiers and the keys asked say it all.
  out.usage = LookupUsage(keys.size(), out.tiers, BlockTokens(ns));
  return out;
}

// ---- GET

Status RemoteStore::GetTcp(Conn& c, const NamespaceId& ns, std::span<const GetItem> items, std::vector<Status>* out) {
  NsInfo info;
  TW_RETURN_IF_ERROR(Info(ns, &info));
  // Split at the daemon's limits; send every request first (pipelined), then read the replies.
  struct Chunk {
    size_t begin, end;
    uint64_t id;
  };
  std::vector<Chunk> chunks;
  const auto& lim = c.io->peer_limits();
  size_t i = 0;
  while (i < items.size()) {
    net::GetRequest req;
    req.ns = ns;
    const size_t begin = i;
    uint64_t bytes = 0;
    while (i < items.size() && req.items.size() < lim.max_batch) {
      const uint64_t n = StoredSliceBytes(info.geometry, info.coded, info.object_bytes, items[i].slice);
      if (!req.items.empty() && bytes + n > lim.max_payload_bytes) break;
      bytes += n;
      req.items.push_back({items[i].key, items[i].slice});
      ++i;
    }
    MetaWriter w;
    req.Encode(w);
    const uint64_t id = c.io->NextRequestId();
    TW_RETURN_IF_ERROR(c.io->Send(net::Op::kGet, 0, id, w.str()));
    chunks.push_back({begin, i, id});
  }
  out->assign(items.size(), Status::Ok());
  net::PayloadChecksum sum;
  for (const Chunk& ch : chunks) {
    net::FrameHeader h;
    std::string meta;
    TW_RETURN_IF_ERROR(c.io->Receive(net::Op::kGet, ch.id, &h, &meta));
    MetaReader r(meta);
    Status s = r.Stat();
    if (!r.ok()) return Malformed("get");
    if (!s.ok()) {
      if (h.payload_bytes) TW_RETURN_IF_ERROR(c.io->SkipPayload(h.payload_bytes));
      for (size_t k = ch.begin; k < ch.end; ++k) (*out)[k] = s;
      continue;
    }
    Result<net::GetResponse> resp = net::GetResponse::Decode(r, static_cast<uint32_t>(ch.end - ch.begin));
    if (!resp.ok() || resp->items.size() != ch.end - ch.begin) return Malformed("get items");
    uint64_t left = h.payload_bytes;
    for (size_t k = ch.begin; k < ch.end; ++k) {
      auto& it = resp->items[k - ch.begin];
      if (!it.status.ok()) {
        (*out)[k] = std::move(it.status);
        continue;
      }
      if (it.length > left) return Malformed("get payload shorter than its items");
      left -= it.length;
      if (it.length != items[k].out.size()) {
        TW_RETURN_IF_ERROR(c.io->SkipPayload(it.length));
        (*out)[k] = Status::InvalidArgument("output buffer is " + std::to_string(items[k].out.size()) + " bytes; the slice is " +
                                            std::to_string(it.length));
        continue;
      }
      sum.Reset();
      TW_RETURN_IF_ERROR(c.io->ReceivePayload(items[k].out, &sum));
      if (sum.Digest() != it.checksum) (*out)[k] = Status::Corruption("payload checksum mismatch: the object was not returned");
    }
    if (left) TW_RETURN_IF_ERROR(c.io->SkipPayload(left));
  }
  return Status::Ok();
}

Status RemoteStore::MapSegments(const ShmArena& arena, const std::vector<ByteRun>& segments, std::vector<std::span<std::byte>>* out) {
  out->clear();
  for (const ByteRun& s : segments) {
    if (s.offset > arena.size_bytes || s.length > arena.size_bytes - s.offset) return Malformed("segment outside the arena");
    out->emplace_back(arena.base + s.offset, s.length);
  }
  return Status::Ok();
}

Status RemoteStore::GetShm(Conn& c, const NamespaceId& ns, const NsInfo& info, std::span<const GetItem> items,
                           std::vector<Status>* out) {
  out->assign(items.size(), Status::Ok());
  const size_t batch = c.io->peer_limits().max_batch;
  for (size_t off = 0; off < items.size(); off += batch) {
    const size_t end = std::min(items.size(), off + batch);
    std::vector<BlockKey> keys;
    for (size_t k = off; k < end; ++k) keys.push_back(items[k].key);
    Result<net::SegmentsResponse> resp = AcquireChunk(c, ns, keys, options_.lease_ms);
    if (!resp.ok()) {
      // Broken, or a reply that does not decode (kCorruption: the daemon answers a whole ACQUIRE
      // with no such code): the call fails. Otherwise the daemon refused this chunk's items.
      if (c.io->broken() || resp.status().IsCorruption()) return resp.status();
      for (size_t k = off; k < end; ++k) (*out)[k] = resp.status();
      continue;
    }
    net::IdsRequest release;
    std::vector<std::span<std::byte>> spans;
    for (size_t k = off; k < end; ++k) {
      auto& it = resp->items[k - off];
      if (it.id) release.ids.push_back(it.id);
      if (!it.status.ok()) {
        (*out)[k] = std::move(it.status);
        continue;
      }
      Status ms = MapSegments(*c.arena, it.segments, &spans);
      Result<std::vector<ByteRun>> runs = StoredSliceRuns(info.geometry, info.coded, info.object_bytes, items[k].slice);
      if (!ms.ok()) (*out)[k] = ms;
      else if (!runs.ok()) (*out)[k] = runs.status();
      else (*out)[k] = GatherRuns(std::vector<std::span<const std::byte>>(spans.begin(), spans.end()), *runs, items[k].out);
    }
    TW_RETURN_IF_ERROR(Release(c, release));
  }
  return Status::Ok();
}

Result<net::SegmentsResponse> RemoteStore::AcquireChunk(Conn& c, const NamespaceId& ns, std::span<const BlockKey> keys,
                                                        uint64_t lease_ms) {
  net::KeysRequest req;
  req.ns = ns;
  req.lease_ms = lease_ms;
  req.keys.assign(keys.begin(), keys.end());
  MetaWriter w;
  req.Encode(w);
  std::string body;
  TW_RETURN_IF_ERROR(Call(c, net::Op::kAcquire, w.str(), &body));
  MetaReader r(body);
  Result<net::SegmentsResponse> resp = net::SegmentsResponse::Decode(r, static_cast<uint32_t>(keys.size()));
  if (!resp.ok() || resp->items.size() != keys.size()) return Malformed("acquire");
  return resp;
}

Status RemoteStore::Release(Conn& c, const net::IdsRequest& leases) {
  if (leases.ids.empty()) return Status::Ok();
  MetaWriter w;
  leases.Encode(w);
  return Call(c, net::Op::kRelease, w.str(), nullptr, net::kFlagNoReply);
}

Status RemoteStore::Get(const NamespaceId& ns, const BlockKey& key, std::span<std::byte> out, const KvSlice& slice) {
  GetItem item{key, out, slice};
  BatchStatus b = GetBatch(ns, std::span<const GetItem>(&item, 1));
  if (!b.transport.ok()) return b.transport;
  return b.items[0];
}

BatchStatus RemoteStore::GetBatch(const NamespaceId& ns, std::span<const GetItem> items) {
  BatchStatus out;
  NsInfo info;
  out.transport = Info(ns, &info);
  if (!out.transport.ok()) return out;
  out.transport = Run([&](Conn& c) {
    return c.arena ? GetShm(c, ns, info, items, &out.items) : GetTcp(c, ns, items, &out.items);
  });
  if (out.transport.ok()) {
    out.usage = ReadUsage(out.items, info.geometry.block_tokens);
  }
  return out;
}

// ---- PUT

Status RemoteStore::PutTcp(Conn& c, const NamespaceId& ns, std::span<const PutItem> items, std::vector<Status>* out,
                           RequestUsage* usage, bool judge_short) {
  NsInfo info;
  TW_RETURN_IF_ERROR(Info(ns, &info));
  *usage = RequestUsage();
  usage->reported = c.version >= 2;
  const uint64_t object_bytes = info.object_bytes;
  out->assign(items.size(), Status::Ok());
  struct Frame {
    std::vector<size_t> index;  // items carried
    uint64_t id;
  };
  std::vector<Frame> frames;
  const auto& lim = c.io->peer_limits();
  size_t i = 0;
  while (i < items.size()) {
    net::PutRequest req;
    req.ns = ns;
    req.judge_short = judge_short || c.version < 2;  // a version-1 daemon rejects the flag
    Frame f;
    std::vector<std::span<const std::byte>> payload;
    uint64_t bytes = 0;
    while (i < items.size() && req.items.size() < lim.max_batch) {
      const PutItem& it = items[i];
      if (it.data.size() != object_bytes) {
        (*out)[i++] = Status::InvalidArgument("object is " + std::to_string(it.data.size()) + " bytes; geometry " + info.geometry.ToString() +
                                              " needs " + std::to_string(object_bytes));
        continue;
      }
      if (!req.items.empty() && bytes + it.data.size() > lim.max_payload_bytes) break;
      const BlockRef ref = Translate(ns, it.ref);
      req.items.push_back({ref.key, ref.parent, it.data.size(), net::PayloadChecksum64(it.data.data(), it.data.size()),
                           it.expires_in_ms});
      payload.push_back(it.data);
      bytes += it.data.size();
      f.index.push_back(i++);
    }
    if (req.items.empty()) continue;
    MetaWriter w;
    req.Encode(w);
    f.id = c.io->NextRequestId();
    TW_RETURN_IF_ERROR(c.io->Send(net::Op::kPut, 0, f.id, w.str(), payload));
    frames.push_back(std::move(f));
  }
  for (const Frame& f : frames) {
    net::FrameHeader h;
    std::string meta;
    TW_RETURN_IF_ERROR(c.io->Receive(net::Op::kPut, f.id, &h, &meta));
    MetaReader r(meta);
    Status s = r.Stat();
    if (!r.ok()) return Malformed("put");
    if (!s.ok()) {
      for (size_t k : f.index) (*out)[k] = s;
      continue;
    }
    Result<net::ItemsResponse> resp = net::ItemsResponse::Decode(r, static_cast<uint32_t>(f.index.size()));
    if (!resp.ok() || resp->items.size() != f.index.size()) return Malformed("put items");
    if (resp->outcomes.empty()) usage->reported = false;
    for (size_t k = 0; k < resp->outcomes.size(); ++k) {
      if (resp->items[k].ok()) CountOutcome(resp->outcomes[k], info.geometry.block_tokens, usage);
    }
    for (size_t k = 0; k < f.index.size(); ++k) (*out)[f.index[k]] = std::move(resp->items[k]);
  }
  return Status::Ok();
}

Status RemoteStore::PutShm(Conn& c, const NamespaceId& ns, std::span<const PutItem> items, std::vector<Status>* out,
                           RequestUsage* usage) {
  // Windows of items: one RESERVE for the whole window (the daemon accepts a parent reserved in
  // the same window), the copies, then one COMMIT in chain order, sent together with the next
  // window's RESERVE. A 500-block prefix costs a handful of round trips. A window holds at most an
  // eighth of the arena, so a big batch never reserves memory the daemon needs for others.
  out->assign(items.size(), Status::Ok());
  // RESERVE says present or skipped short; a COMMIT's OK is the write.
  const uint64_t block_tokens = BlockTokens(ns);
  *usage = RequestUsage();
  usage->reported = c.version >= 2;
  const uint64_t window_bytes = std::max<uint64_t>(c.arena->size_bytes / 8, 1);
  const size_t max_batch = c.io->peer_limits().max_batch;
  struct Written {
    size_t index;
    uint64_t write_id;
    uint64_t checksum;
  };
  std::vector<Written> to_commit;  // the previous window's objects, copied, in chain order
  uint64_t commit_rid = 0;
  size_t next = 0;
  while (next < items.size() || !to_commit.empty()) {
    if (!to_commit.empty()) {
      net::CommitRequest commit;
      for (const Written& w : to_commit) commit.items.push_back({w.write_id, w.checksum});
      MetaWriter w;
      commit.Encode(w);
      commit_rid = c.io->NextRequestId();
      TW_RETURN_IF_ERROR(c.io->Send(net::Op::kCommit, 0, commit_rid, w.str()));
    }
    const size_t first = next;
    uint64_t reserve_rid = 0;
    if (next < items.size()) {
      net::ReserveRequest req;
      req.ns = ns;
      uint64_t bytes = 0;
      while (next < items.size() && req.refs.size() < max_batch && (req.refs.empty() || bytes + items[next].data.size() <= window_bytes)) {
        bytes += items[next].data.size();
        req.refs.push_back(Translate(ns, items[next++].ref));
      }
      MetaWriter w;
      req.Encode(w);
      reserve_rid = c.io->NextRequestId();
      TW_RETURN_IF_ERROR(c.io->Send(net::Op::kReserve, 0, reserve_rid, w.str()));
    }
    if (!to_commit.empty()) {
      std::string body;
      Status s = Reply(c, net::Op::kCommit, commit_rid, &body);
      if (c.io->broken()) return s;
      std::optional<net::ItemsResponse> resp;
      if (s.ok()) {
        MetaReader r(body);
        Result<net::ItemsResponse> decoded = net::ItemsResponse::Decode(r, to_commit.size());
        if (!decoded.ok() || decoded->items.size() != to_commit.size()) return Malformed("commit");
        resp = std::move(*decoded);
      }
      for (size_t k = 0; k < to_commit.size(); ++k) {
        Status& item = (*out)[to_commit[k].index];
        item = resp ? std::move(resp->items[k]) : s;
        if (item.ok()) usage->write_tokens += block_tokens;
      }
      to_commit.clear();
    }
    if (reserve_rid == 0) break;
    std::string body;
    Status s = Reply(c, net::Op::kReserve, reserve_rid, &body);
    if (c.io->broken()) return s;
    if (!s.ok()) {
      for (size_t i = first; i < next; ++i) (*out)[i] = s;
      continue;
    }
    MetaReader r(body);
    Result<net::SegmentsResponse> resp = net::SegmentsResponse::Decode(r, next - first);
    if (!resp.ok() || resp->items.size() != next - first) return Malformed("reserve");
    if (resp->outcomes.empty()) usage->reported = false;
    std::vector<uint64_t> aborts;
    for (size_t i = first; i < next; ++i) {
      auto& it = resp->items[i - first];
      if (!resp->outcomes.empty() && it.status.ok()) CountOutcome(resp->outcomes[i - first], block_tokens, usage);
      if (!it.status.ok() || it.id == 0) {  // refused, or already present
        (*out)[i] = std::move(it.status);
        continue;
      }
      std::vector<std::span<std::byte>> spans;
      TW_RETURN_IF_ERROR(MapSegments(*c.arena, it.segments, &spans));
      uint64_t total = 0;
      for (const auto& sp : spans) total += sp.size();
      const PutItem& item = items[i];
      if (total != item.data.size()) {
        (*out)[i] = Status::InvalidArgument("object is " + std::to_string(item.data.size()) + " bytes; the namespace needs " +
                                            std::to_string(total));
        aborts.push_back(it.id);
        continue;
      }
      // Copy and hash in cache-sized steps: each chunk is hashed right after it is copied.
      net::PayloadChecksum sum;
      const std::byte* src = item.data.data();
      for (const auto& sp : spans) {
        for (size_t off = 0; off < sp.size(); off += kCopyChunk) {
          const size_t n = std::min(kCopyChunk, sp.size() - off);
          std::memcpy(sp.data() + off, src, n);
          sum.Update(src, n);
          src += n;
        }
      }
      to_commit.push_back(Written{i, it.id, sum.Digest()});
    }
    if (!aborts.empty()) {
      net::IdsRequest abort;
      abort.ids = std::move(aborts);
      MetaWriter aw;
      abort.Encode(aw);
      TW_RETURN_IF_ERROR(Call(c, net::Op::kAbort, aw.str(), nullptr, net::kFlagNoReply));
    }
  }
  return Status::Ok();
}

Status RemoteStore::Put(const NamespaceId& ns, const BlockRef& ref, std::span<const std::byte> data) {
  PutItem item{ref, data};
  BatchStatus b = PutBatch(ns, std::span<const PutItem>(&item, 1));
  if (!b.transport.ok()) return b.transport;
  return b.items[0];
}

BatchStatus RemoteStore::PutBatch(const NamespaceId& ns, std::span<const PutItem> items) {
  BatchStatus out;
  KvGeometry g;
  out.transport = Geometry(ns, &g);
  if (!out.transport.ok()) return out;
  out.transport = Run([&](Conn& c) -> Status {
    // Copies that keep a deadline go as PUT frames, which carry it (RESERVE does not).
    const bool copies = std::any_of(items.begin(), items.end(), [](const PutItem& it) { return it.expires_in_ms != 0; });
    return c.arena && !copies ? PutShm(c, ns, items, &out.items, &out.usage) : PutTcp(c, ns, items, &out.items, &out.usage);
  });
  return out;
}

// ---- Zero-copy handles

Result<WriteHandle> RemoteStore::Reserve(const NamespaceId& ns, const BlockRef& ref) {
  NsInfo info;
  TW_RETURN_IF_ERROR(Info(ns, &info));
  PendingWrite pw;
  pw.ns = ns;
  pw.ref = ref;
  uint64_t id = 0;
  Status item_status;
  Status s = Run([&](Conn& c) -> Status {
    if (!c.arena) return Status::Ok();
    net::ReserveRequest req;
    req.ns = ns;
    req.refs.push_back(Translate(ns, ref));
    // One block of an engine's own chain: not a prompt to judge, as in the embedded store. A
    // version-1 daemon judges every RESERVE (as a one-block chain here).
    req.judge_short = c.version < 2;
    MetaWriter w;
    req.Encode(w);
    std::string body;
    TW_RETURN_IF_ERROR(Call(c, net::Op::kReserve, w.str(), &body));
    MetaReader r(body);
    Result<net::SegmentsResponse> resp = net::SegmentsResponse::Decode(r, 1);
    if (!resp.ok() || resp->items.size() != 1) return Malformed("reserve");
    item_status = resp->items[0].status;
    id = resp->items[0].id;
    pw.arena = c.arena;
    if (id) return MapSegments(*c.arena, resp->items[0].segments, &pw.segs);
    if (item_status.ok()) id = kNoopWrite;
    return Status::Ok();
  });
  TW_RETURN_IF_ERROR(s);
  TW_RETURN_IF_ERROR(item_status);
  if (id == kNoopWrite) return WriteHandle(this, kNoopWrite, {});
  std::vector<std::span<std::byte>> segs;
  std::lock_guard<std::mutex> lock(writes_mu_);
  if (!pw.arena) {  // TCP: build the object here, send it on Commit
    pw.buffer.resize(info.object_bytes);
    id = kLocalBit | next_local_id_++;
    segs.emplace_back(pw.buffer.data(), pw.buffer.size());
  } else {
    segs = pw.segs;
  }
  writes_.emplace(id, std::move(pw));
  return WriteHandle(this, id, std::move(segs));
}

Status RemoteStore::CommitWrite(uint64_t id) {
  if (id == kNoopWrite) return Status::Ok();
  PendingWrite pw;
  {
    std::lock_guard<std::mutex> lock(writes_mu_);
    auto it = writes_.find(id);
    if (it == writes_.end()) return Status::InvalidArgument("unknown reservation");
    pw = std::move(it->second);
    writes_.erase(it);
  }
  if (id & kLocalBit) {
    // Over TCP the reserved block goes as a PUT of its own, not judged as a prompt (see Reserve).
    PutItem item{pw.ref, pw.buffer};
    std::vector<Status> items;
    RequestUsage usage;
    TW_RETURN_IF_ERROR(Run([&](Conn& c) {
      return PutTcp(c, pw.ns, std::span<const PutItem>(&item, 1), &items, &usage, /*judge_short=*/false);
    }));
    return items.empty() ? Status::Internal("no status for the committed block") : items[0];
  }
  net::CommitRequest commit;
  commit.items.push_back({id, net::ChecksumOfSegments(pw.segs)});
  MetaWriter w;
  commit.Encode(w);
  Status item;
  Status s = Run([&](Conn& c) -> Status {
    std::string body;
    TW_RETURN_IF_ERROR(Call(c, net::Op::kCommit, w.str(), &body));
    MetaReader r(body);
    Result<net::ItemsResponse> resp = net::ItemsResponse::Decode(r, 1);
    if (!resp.ok() || resp->items.size() != 1) return Malformed("commit");
    item = std::move(resp->items[0]);
    return Status::Ok();
  });
  TW_RETURN_IF_ERROR(s);
  return item;
}

void RemoteStore::AbortWrite(uint64_t id) {
  if (id == kNoopWrite) return;
  {
    std::lock_guard<std::mutex> lock(writes_mu_);
    writes_.erase(id);
  }
  if (id & kLocalBit) return;
  net::IdsRequest req;
  req.ids.push_back(id);
  MetaWriter w;
  req.Encode(w);
  // Best effort: if the daemon is unreachable, the reservation died with the connection anyway.
  (void)Run([&](Conn& c) { return Call(c, net::Op::kAbort, w.str(), nullptr, net::kFlagNoReply); });
}

Result<ReadHandle> RemoteStore::Acquire(const NamespaceId& ns, const BlockKey& key, uint64_t lease_ms) {
  std::vector<Result<ReadHandle>> one = AcquireBatch(ns, std::span<const BlockKey>(&key, 1), lease_ms);
  return std::move(one.front());
}

// TCP has no shared arena: the handle owns a copy fetched with Get.
Result<ReadHandle> RemoteStore::AcquireCopy(const NamespaceId& ns, const NsInfo& info, const BlockKey& key) {
  auto buffer = std::make_shared<std::vector<std::byte>>(info.object_bytes);
  TW_RETURN_IF_ERROR(Get(ns, key, *buffer, KvSlice::All()));
  std::vector<std::span<const std::byte>> segs = {std::span<const std::byte>(*buffer)};
  return ReadHandle(this, kLocalBit, std::move(segs), buffer);
}

std::vector<Result<ReadHandle>> RemoteStore::AcquireBatch(const NamespaceId& ns, std::span<const BlockKey> keys,
                                                          uint64_t lease_ms) {
  std::vector<Result<ReadHandle>> out;
  auto fail_all = [&](const Status& s) {
    out.clear();
    out.reserve(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) out.emplace_back(s);
  };
  if (lease_ms == 0) {
    fail_all(Status::InvalidArgument("lease_ms must be > 0"));
    return out;
  }
  if (keys.empty()) return out;
  NsInfo info;
  if (Status s = Info(ns, &info); !s.ok()) {
    fail_all(s);
    return out;
  }
  bool shm = false;
  Status s = Run([&](Conn& c) -> Status {
    out.clear();  // a retry on a new connection starts over (the old leases died with the old one)
    if (!c.arena) return Status::Ok();
    shm = true;
    const size_t batch = c.io->peer_limits().max_batch;
    for (size_t off = 0; off < keys.size(); off += batch) {
      const size_t end = std::min(keys.size(), off + batch);
      Result<net::SegmentsResponse> resp = AcquireChunk(c, ns, keys.subspan(off, end - off), lease_ms);
      TW_RETURN_IF_ERROR(resp.status());
      std::vector<std::span<std::byte>> spans;
      net::IdsRequest release;  // leases granted to items that are not handed out
      for (auto& it : resp->items) {
        Status ms = it.status.ok() ? MapSegments(*c.arena, it.segments, &spans) : std::move(it.status);
        if (!ms.ok()) {
          if (it.id) release.ids.push_back(it.id);
          out.emplace_back(std::move(ms));
          continue;
        }
        out.emplace_back(ReadHandle(this, it.id, std::vector<std::span<const std::byte>>(spans.begin(), spans.end()),
                                    c.arena));
      }
      TW_RETURN_IF_ERROR(Release(c, release));
    }
    return Status::Ok();
  });
  if (!s.ok()) {
    fail_all(s);
  } else if (!shm) {
    for (const BlockKey& key : keys) out.push_back(AcquireCopy(ns, info, key));
  }
  return out;
}

void RemoteStore::ReleaseRead(uint64_t id) {
  if (id & kLocalBit) return;
  net::IdsRequest req;
  req.ids.push_back(id);
  MetaWriter w;
  req.Encode(w);
  (void)Run([&](Conn& c) { return Call(c, net::Op::kRelease, w.str(), nullptr, net::kFlagNoReply); });
}

// ---- The rest

Result<LeaseId> RemoteStore::Pin(const NamespaceId& ns, std::span<const BlockKey> keys, uint64_t lease_ms) {
  net::KeysRequest req;
  req.ns = ns;
  req.lease_ms = lease_ms;
  req.keys.assign(keys.begin(), keys.end());
  MetaWriter w;
  req.Encode(w);
  LeaseId lease = 0;
  TW_RETURN_IF_ERROR(Run([&](Conn& c) -> Status {
    if (keys.size() > c.io->peer_limits().max_batch) return Status::InvalidArgument("more keys than the daemon's max_batch in one pin");
    std::string body;
    TW_RETURN_IF_ERROR(Call(c, net::Op::kPin, w.str(), &body));
    MetaReader r(body);
    lease = r.U64();
    return r.Finish("pin reply");
  }));
  return lease;
}

Status RemoteStore::Unpin(LeaseId lease) {
  net::IdsRequest req;
  req.ids.push_back(lease);
  MetaWriter w;
  req.Encode(w);
  Status item;
  TW_RETURN_IF_ERROR(Run([&](Conn& c) -> Status {
    std::string body;
    TW_RETURN_IF_ERROR(Call(c, net::Op::kUnpin, w.str(), &body));
    MetaReader r(body);
    Result<net::ItemsResponse> resp = net::ItemsResponse::Decode(r, 1);
    if (!resp.ok() || resp->items.size() != 1) return Malformed("unpin");
    item = std::move(resp->items[0]);
    return Status::Ok();
  }));
  return item;
}

Status RemoteStore::Remove(const NamespaceId& ns, const BlockKey& key) {
  net::KeysRequest req;
  req.ns = ns;
  req.keys.push_back(key);
  MetaWriter w;
  req.Encode(w);
  Status item;
  TW_RETURN_IF_ERROR(Run([&](Conn& c) -> Status {
    std::string body;
    TW_RETURN_IF_ERROR(Call(c, net::Op::kRemove, w.str(), &body));
    MetaReader r(body);
    Result<net::ItemsResponse> resp = net::ItemsResponse::Decode(r, 1);
    if (!resp.ok() || resp->items.size() != 1) return Malformed("remove");
    item = std::move(resp->items[0]);
    return Status::Ok();
  }));
  return item;
}

Result<std::shared_ptr<const ShmArena>> RemoteStore::CurrentArena() {
  std::shared_ptr<const ShmArena> arena;
  // Any request proves the connection alive (Run re-dials after a broken one); Stats is the cheapest.
  TW_RETURN_IF_ERROR(Run([&](Conn& c) -> Status {
    TW_RETURN_IF_ERROR(Call(c, net::Op::kStats, "", nullptr));
    arena = c.arena;
    return Status::Ok();
  }));
  return arena;
}

Result<StoreStats> RemoteStore::Stats() {
  StoreStats out;
  TW_RETURN_IF_ERROR(Run([&](Conn& c) -> Status {
    std::string body;
    TW_RETURN_IF_ERROR(Call(c, net::Op::kStats, "", &body));
    MetaReader r(body);
    Result<StoreStats> s = net::DecodeStoreStats(r);
    if (!s.ok()) return s.status();
    out = std::move(*s);
    return Status::Ok();
  }));
  return out;
}

}  // namespace tw::client

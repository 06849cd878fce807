#include "net/messages.h"

#include <algorithm>

namespace tw::net {

namespace {

// Smallest encoded size of one item of each batch, used to reject forged counts early.
constexpr size_t kKeyBytes = 16;
constexpr size_t kGetItemBytes = 16 + 16;
constexpr size_t kPutItemBytes = 16 + 16 + 8 + 8;
constexpr size_t kStatusMinBytes = 3;

void EncodeSlice(const KvSlice& s, MetaWriter& w) {
  w.U32(s.layer_begin);
  w.U32(s.layer_end);
  w.U32(s.head_begin);
  w.U32(s.head_end);
}

KvSlice DecodeSlice(MetaReader& r) {
  KvSlice s;
  s.layer_begin = r.U32();
  s.layer_end = r.U32();
  s.head_begin = r.U32();
  s.head_end = r.U32();
  return s;
}

}  // namespace

void HelloRequest::Encode(MetaWriter& w) const {
  w.U16(min_version);
  w.U16(max_version);
  w.Bytes(token);
  w.Bytes(client_name);
  w.U8(want_shm ? 1 : 0);
}

Result<HelloRequest> HelloRequest::Decode(std::string_view meta) {
  MetaReader r(meta);
  HelloRequest m;
  m.min_version = r.U16();
  m.max_version = r.U16();
  m.token = r.Bytes(kMaxTokenBytes);
  m.client_name = r.Bytes(kMaxNameBytes);
  uint8_t shm = r.U8();
  if (shm > 1) r.Fail();
  m.want_shm = shm == 1;
  TW_RETURN_IF_ERROR(r.Finish("hello"));
  return m;
}

void RegisterRequest::Encode(MetaWriter& w) const {
  w.Bytes(nspace);
  w.U64(ttl_ms);
  // Added with retention classes. Sent only when not the defaults, so a client that asks for
  // nothing new speaks the first release's bytes to a daemon of the first release.
  if (ttl_sliding || min_prefix_tokens) {
    w.U8(ttl_sliding ? 1 : 0);
    w.U32(min_prefix_tokens);
  }
}

Result<RegisterRequest> RegisterRequest::Decode(std::string_view meta) {
  MetaReader r(meta);
  RegisterRequest m;
  m.nspace = r.Bytes(kMaxNamespaceBytes);
  m.ttl_ms = r.U64();
  if (r.ok() && !r.done()) {
    const uint8_t sliding = r.U8();
    if (sliding > 1) r.Fail();
    m.ttl_sliding = sliding == 1;
    m.min_prefix_tokens = r.U32();
  }
  TW_RETURN_IF_ERROR(r.Finish("register"));
  return m;
}

void KeysRequest::Encode(MetaWriter& w) const {
  w.Id(ns);
  w.U64(lease_ms);
  w.U32(static_cast<uint32_t>(keys.size()));
  for (const BlockKey& k : keys) w.Id(k);
}

Result<KeysRequest> KeysRequest::Decode(std::string_view meta, uint32_t max_batch) {
  MetaReader r(meta);
  KeysRequest m;
  m.ns = r.Id<NamespaceIdTag>();
  m.lease_ms = r.U64();
  uint32_t n = r.Count(max_batch, kKeyBytes);
  m.keys.reserve(n);
  for (uint32_t i = 0; i < n && r.ok(); ++i) m.keys.push_back(r.Id<BlockKeyTag>());
  TW_RETURN_IF_ERROR(r.Finish("keys"));
  return m;
}

void GetRequest::Encode(MetaWriter& w) const {
  w.Id(ns);
  w.U32(static_cast<uint32_t>(items.size()));
  for (const Item& it : items) {
    w.Id(it.key);
    EncodeSlice(it.slice, w);
  }
}

Result<GetRequest> GetRequest::Decode(std::string_view meta, uint32_t max_batch) {
  MetaReader r(meta);
  GetRequest m;
  m.ns = r.Id<NamespaceIdTag>();
  uint32_t n = r.Count(max_batch, kGetItemBytes);
  m.items.reserve(n);
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    Item it;
    it.key = r.Id<BlockKeyTag>();
    it.slice = DecodeSlice(r);
    m.items.push_back(it);
  }
  TW_RETURN_IF_ERROR(r.Finish("get"));
  return m;
}

void PutRequest::Encode(MetaWriter& w) const {
  w.Id(ns);
  w.U32(static_cast<uint32_t>(items.size()));
  for (const Item& it : items) {
    w.Id(it.key);
    w.Id(it.parent);
    w.U64(it.length);
    w.U64(it.checksum);
  }
  // Added with retention classes: a copy's remaining lifetime, one per item, sent only when some
  // item has one (cluster re-replication), so every other PUT keeps the first release's bytes.
  if (std::any_of(items.begin(), items.end(), [](const Item& it) { return it.expires_in_ms != 0; })) {
    w.U32(static_cast<uint32_t>(items.size()));
    for (const Item& it : items) w.U64(it.expires_in_ms);
  }
  // Added with version 2, after everything else: one byte, so it cannot be mistaken for the
  // lifetimes' trailer (at least four).
  if (!judge_short) w.U8(0);
}

Result<PutRequest> PutRequest::Decode(std::string_view meta, uint32_t max_batch) {
  MetaReader r(meta);
  PutRequest m;
  m.ns = r.Id<NamespaceIdTag>();
  uint32_t n = r.Count(max_batch, kPutItemBytes);
  m.items.reserve(n);
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    Item it;
    it.key = r.Id<BlockKeyTag>();
    it.parent = r.Id<BlockKeyTag>();
    it.length = r.U64();
    it.checksum = r.U64();
    m.items.push_back(it);
  }
  if (r.ok() && r.rest().size() > 1) {
    if (r.U32() != m.items.size()) r.Fail();
    for (Item& it : m.items) {
      if (!r.ok()) break;
      it.expires_in_ms = r.U64();
    }
  }
  if (r.ok() && !r.done()) {
    const uint8_t judge = r.U8();
    if (judge > 1) r.Fail();
    m.judge_short = judge == 1;
  }
  TW_RETURN_IF_ERROR(r.Finish("put"));
  return m;
}

void ReserveRequest::Encode(MetaWriter& w) const {
  w.Id(ns);
  w.U32(static_cast<uint32_t>(refs.size()));
  for (const BlockRef& ref : refs) {
    w.Id(ref.key);
    w.Id(ref.parent);
  }
  if (!judge_short) w.U8(0);
}

Result<ReserveRequest> ReserveRequest::Decode(std::string_view meta, uint32_t max_batch) {
  MetaReader r(meta);
  ReserveRequest m;
  m.ns = r.Id<NamespaceIdTag>();
  uint32_t n = r.Count(max_batch, 2 * kKeyBytes);
  m.refs.reserve(n);
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    BlockRef ref;
    ref.key = r.Id<BlockKeyTag>();
    ref.parent = r.Id<BlockKeyTag>();
    m.refs.push_back(ref);
  }
  if (r.ok() && !r.done()) {
    const uint8_t judge = r.U8();
    if (judge > 1) r.Fail();
    m.judge_short = judge == 1;
  }
  TW_RETURN_IF_ERROR(r.Finish("reserve"));
  return m;
}

void CommitRequest::Encode(MetaWriter& w) const {
  w.U32(static_cast<uint32_t>(items.size()));
  for (const Item& it : items) {
    w.U64(it.write_id);
    w.U64(it.checksum);
  }
}

Result<CommitRequest> CommitRequest::Decode(std::string_view meta, uint32_t max_batch) {
  MetaReader r(meta);
  CommitRequest m;
  uint32_t n = r.Count(max_batch, 16);
  m.items.reserve(n);
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    Item it;
    it.write_id = r.U64();
    it.checksum = r.U64();
    m.items.push_back(it);
  }
  TW_RETURN_IF_ERROR(r.Finish("commit"));
  return m;
}

void IdsRequest::Encode(MetaWriter& w) const {
  w.U32(static_cast<uint32_t>(ids.size()));
  for (uint64_t id : ids) w.U64(id);
}

Result<IdsRequest> IdsRequest::Decode(std::string_view meta, uint32_t max_batch) {
  MetaReader r(meta);
  IdsRequest m;
  uint32_t n = r.Count(max_batch, 8);
  m.ids.reserve(n);
  for (uint32_t i = 0; i < n && r.ok(); ++i) m.ids.push_back(r.U64());
  TW_RETURN_IF_ERROR(r.Finish("ids"));
  return m;
}

Status ValidateRequestMeta(Op op, std::string_view meta, uint32_t max_batch) {
  switch (op) {
    case Op::kHello: return HelloRequest::Decode(meta).status();
    case Op::kRegister: return RegisterRequest::Decode(meta).status();
    case Op::kLookup:
    case Op::kPin:
    case Op::kRemove:
    case Op::kAcquire: return KeysRequest::Decode(meta, max_batch).status();
    case Op::kGet: return GetRequest::Decode(meta, max_batch).status();
    case Op::kPut: return PutRequest::Decode(meta, max_batch).status();
    case Op::kReserve: return ReserveRequest::Decode(meta, max_batch).status();
    case Op::kCommit: return CommitRequest::Decode(meta, max_batch).status();
    case Op::kUnpin:
    case Op::kRelease:
    case Op::kAbort: return IdsRequest::Decode(meta, max_batch).status();
    case Op::kStats:
    case Op::kSubscribe:
    case Op::kPing: return meta.empty() ? Status::Ok() : Status::Corruption("unexpected metadata");
    case Op::kEvent: return Event::Decode(meta).status();
  }
  return Status::Corruption("unknown op");
}

// ---- Responses

void HelloResponse::Encode(MetaWriter& w) const {
  w.U16(version);
  w.Bytes(tenant);
  w.U32(max_meta_bytes);
  w.U64(max_payload_bytes);
  w.U32(max_batch);
  w.U8(shm ? 1 : 0);
  w.U64(arena_id);
  w.U64(arena_bytes);
  w.U64(page_bytes);
}

Result<HelloResponse> HelloResponse::Decode(MetaReader& r) {
  HelloResponse m;
  m.version = r.U16();
  m.tenant = r.Bytes(kMaxNameBytes);
  m.max_meta_bytes = r.U32();
  m.max_payload_bytes = r.U64();
  m.max_batch = r.U32();
  m.shm = r.U8() == 1;
  m.arena_id = r.U64();
  m.arena_bytes = r.U64();
  m.page_bytes = r.U64();
  TW_RETURN_IF_ERROR(r.Finish("hello response"));
  return m;
}

void LookupResponse::Encode(MetaWriter& w) const {
  w.U32(matched);
  for (Tier t : tiers) w.U8(static_cast<uint8_t>(t));
}

Result<LookupResponse> LookupResponse::Decode(MetaReader& r, uint32_t max_batch) {
  LookupResponse m;
  m.matched = r.Count(max_batch, 1);
  m.tiers.reserve(m.matched);
  for (uint32_t i = 0; i < m.matched && r.ok(); ++i) {
    uint8_t t = r.U8();
    if (t > static_cast<uint8_t>(Tier::kPeer)) r.Fail();
    m.tiers.push_back(static_cast<Tier>(t));
  }
  TW_RETURN_IF_ERROR(r.Finish("lookup response"));
  return m;
}

void GetResponse::Encode(MetaWriter& w) const {
  w.U32(static_cast<uint32_t>(items.size()));
  for (const Item& it : items) {
    w.Stat(it.status);
    w.U64(it.length);
    w.U64(it.checksum);
  }
}

Result<GetResponse> GetResponse::Decode(MetaReader& r, uint32_t max_batch) {
  GetResponse m;
  uint32_t n = r.Count(max_batch, kStatusMinBytes + 16);
  m.items.reserve(n);
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    Item it;
    it.status = r.Stat();
    it.length = r.U64();
    it.checksum = r.U64();
    m.items.push_back(std::move(it));
  }
  TW_RETURN_IF_ERROR(r.Finish("get response"));
  return m;
}

void EncodeOutcomes(const std::vector<StoreOutcome>& outcomes, MetaWriter& w) {
  if (outcomes.empty()) return;
  w.U32(static_cast<uint32_t>(outcomes.size()));
  for (StoreOutcome o : outcomes) w.U8(static_cast<uint8_t>(o));
}

void DecodeOutcomes(MetaReader& r, size_t items, std::vector<StoreOutcome>* out) {
  out->clear();
  if (!r.ok() || r.done()) return;  // a version-1 reply
  if (r.U32() != items || r.rest().size() < items) {
    r.Fail();
    return;
  }
  out->reserve(items);
  for (size_t i = 0; i < items; ++i) {
    const uint8_t o = r.U8();
    if (o > static_cast<uint8_t>(StoreOutcome::kSkippedShort)) r.Fail();
    out->push_back(static_cast<StoreOutcome>(o));
  }
}

void ItemsResponse::Encode(MetaWriter& w) const {
  w.U32(static_cast<uint32_t>(items.size()));
  for (const Status& s : items) w.Stat(s);
  EncodeOutcomes(outcomes, w);
}

Result<ItemsResponse> ItemsResponse::Decode(MetaReader& r, uint32_t max_batch) {
  ItemsResponse m;
  uint32_t n = r.Count(max_batch, kStatusMinBytes);
  m.items.reserve(n);
  for (uint32_t i = 0; i < n && r.ok(); ++i) m.items.push_back(r.Stat());
  DecodeOutcomes(r, m.items.size(), &m.outcomes);
  TW_RETURN_IF_ERROR(r.Finish("items response"));
  return m;
}

void SegmentsResponse::Encode(MetaWriter& w) const {
  w.U32(static_cast<uint32_t>(items.size()));
  for (const Item& it : items) {
    w.Stat(it.status);
    w.U64(it.id);
    w.U32(static_cast<uint32_t>(it.segments.size()));
    for (const ByteRun& s : it.segments) {
      w.U64(s.offset);
      w.U64(s.length);
    }
  }
  EncodeOutcomes(outcomes, w);
}

Result<SegmentsResponse> SegmentsResponse::Decode(MetaReader& r, uint32_t max_batch) {
  SegmentsResponse m;
  uint32_t n = r.Count(max_batch, kStatusMinBytes + 12);
  m.items.reserve(n);
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    Item it;
    it.status = r.Stat();
    it.id = r.U64();
    uint32_t segs = r.Count(1u << 20, 16);
    it.segments.reserve(segs);
    for (uint32_t j = 0; j < segs && r.ok(); ++j) {
      ByteRun run;
      run.offset = r.U64();
      run.length = r.U64();
      it.segments.push_back(run);
    }
    m.items.push_back(std::move(it));
  }
  DecodeOutcomes(r, m.items.size(), &m.outcomes);
  TW_RETURN_IF_ERROR(r.Finish("segments response"));
  return m;
}

void EncodeStoreStats(const StoreStats& s, MetaWriter& w) {
  for (uint64_t v : {s.lookups, s.lookup_keys, s.lookup_hits, s.gets, s.get_misses, s.puts, s.put_duplicates,
                     s.put_rejected, s.pinned_objects, s.active_leases}) {
    w.U64(v);
  }
  w.U32(static_cast<uint32_t>(s.tiers.size()));
  for (const TierStats& t : s.tiers) {
    w.U8(static_cast<uint8_t>(t.tier));
    for (uint64_t v : {t.capacity_bytes, t.used_bytes, t.objects, t.hits, t.admissions, t.evictions, t.bytes_read,
                       t.bytes_written, t.errors}) {
      w.U64(v);
    }
  }
  // Added after the first release: one admitting flag per tier, after every tier. A decoder of the
  // first release stops before it; this decoder reads it only where it is present.
  for (const TierStats& t : s.tiers) w.U8(t.admitting ? 1 : 0);
  // Added with retention classes, after the admitting flags, read the same way.
  w.U64(s.skipped_short);
}

Result<StoreStats> DecodeStoreStats(MetaReader& r) {
  StoreStats s;
  for (uint64_t* v : {&s.lookups, &s.lookup_keys, &s.lookup_hits, &s.gets, &s.get_misses, &s.puts, &s.put_duplicates,
                      &s.put_rejected, &s.pinned_objects, &s.active_leases}) {
    *v = r.U64();
  }
  uint32_t n = r.Count(16, 1 + 9 * 8);
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    TierStats t;
    uint8_t tier = r.U8();
    if (tier > static_cast<uint8_t>(Tier::kPeer)) r.Fail();
    t.tier = static_cast<Tier>(tier);
    for (uint64_t* v : {&t.capacity_bytes, &t.used_bytes, &t.objects, &t.hits, &t.admissions, &t.evictions,
                        &t.bytes_read, &t.bytes_written, &t.errors}) {
      *v = r.U64();
    }
    s.tiers.push_back(t);
  }
  if (r.ok() && !r.done()) {
    for (TierStats& t : s.tiers) t.admitting = r.U8() != 0;
  }
  if (r.ok() && !r.done()) {
    s.skipped_short = r.U64();
  }
  if (!r.ok()) return Status::Corruption("malformed stats");
  return s;
}

void Event::Encode(MetaWriter& w) const {
  w.U8(static_cast<uint8_t>(kind));
  w.Id(ns);
  w.Id(key);
  w.U8(static_cast<uint8_t>(tier));
}

Result<Event> Event::Decode(std::string_view meta) {
  MetaReader r(meta);
  Event e;
  uint8_t kind = r.U8();
  e.ns = r.Id<NamespaceIdTag>();
  e.key = r.Id<BlockKeyTag>();
  uint8_t tier = r.U8();
  if (kind < 1 || kind > 3 || tier > static_cast<uint8_t>(Tier::kPeer)) r.Fail();
  e.kind = static_cast<EventKind>(kind);
  e.tier = static_cast<Tier>(tier);
  TW_RETURN_IF_ERROR(r.Finish("event"));
  return e;
}

}  // namespace tw::net

// The metadata of every request and response (docs/protocol.md is the normative description).
//
// Each message is a plain struct with Encode (into a MetaWriter) and Decode (from untrusted bytes:
// kCorruption for anything malformed, never a crash, never an allocation beyond the input's size
// and the batch limit). Object bytes travel in the frame payload, not here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "net/frame.h"
#include "net/wire.h"
#include "tw/geometry.h"
#include "tw/store.h"

namespace tw::net {

inline constexpr size_t kMaxTokenBytes = 4096;
inline constexpr size_t kMaxNameBytes = 256;
inline constexpr size_t kMaxNamespaceBytes = 8192;
inline constexpr size_t kMaxJsonBytes = 1 << 20;

// ---- Requests

struct HelloRequest {
  uint16_t min_version = 1;             // metadata versions this client speaks (kMetaVersion)
  uint16_t max_version = kMetaVersion;
  std::string token;        // empty: anonymous (allowed only where the server's config says so)
  std::string client_name;  // for logs
  bool want_shm = false;    // ask for the DRAM arena over a Unix socket
  void Encode(MetaWriter& w) const;
  static Result<HelloRequest> Decode(std::string_view meta);
};

struct RegisterRequest {
  std::string nspace;  // Namespace::Encode(); the server replaces the tenant with the caller's
  uint64_t ttl_ms = 0;               // 0: the tenant's retention
  bool ttl_sliding = false;          // optional on the wire (absent: false)
  uint32_t min_prefix_tokens = 0;    // optional on the wire (absent: 0, the tenant's)
  void Encode(MetaWriter& w) const;
  static Result<RegisterRequest> Decode(std::string_view meta);
};

// LOOKUP, PIN, REMOVE and ACQUIRE: a namespace, a lease (PIN, ACQUIRE) and keys.
struct KeysRequest {
  NamespaceId ns;
  uint64_t lease_ms = 0;
  std::vector<BlockKey> keys;
  void Encode(MetaWriter& w) const;
  static Result<KeysRequest> Decode(std::string_view meta, uint32_t max_batch);
};

struct GetRequest {
  struct Item {
    BlockKey key;
    KvSlice slice;
  };
  NamespaceId ns;
  std::vector<Item> items;
  void Encode(MetaWriter& w) const;
  static Result<GetRequest> Decode(std::string_view meta, uint32_t max_batch);
};

// The payload holds items' bytes back to back; sum(length) must equal the frame's payload_bytes.
struct PutRequest {
  struct Item {
    BlockKey key;
    BlockKey parent;
    uint64_t length = 0;
    uint64_t checksum = 0;  // Checksum64 of the item's bytes
    uint64_t expires_in_ms = 0;  // a copy's remaining lifetime (PutItem); optional on the wire
  };
  NamespaceId ns;
  std::vector<Item> items;
  // As ReserveRequest::judge_short: false for the one block of a Store::Reserve committed over
  // TCP. Version 2, optional on the wire: a last single byte (0), sent only when false.
  bool judge_short = true;
  void Encode(MetaWriter& w) const;
  static Result<PutRequest> Decode(std::string_view meta, uint32_t max_batch);
};

struct ReserveRequest {
  NamespaceId ns;
  std::vector<BlockRef> refs;
  // Whether the refs are a whole store request, judged against min_prefix_tokens (a PutBatch over
  // shared memory), or blocks an engine reserves one at a time (Store::Reserve), which are not: a
  // single block cannot say how long its prompt is. Version 2, optional on the wire: sent (as
  // u8 0) only when false, and only to a daemon that settled on version 2; absent: true.
  bool judge_short = true;
  void Encode(MetaWriter& w) const;
  static Result<ReserveRequest> Decode(std::string_view meta, uint32_t max_batch);
};

struct CommitRequest {
  struct Item {
    uint64_t write_id = 0;
    uint64_t checksum = 0;
  };
  std::vector<Item> items;
  void Encode(MetaWriter& w) const;
  static Result<CommitRequest> Decode(std::string_view meta, uint32_t max_batch);
};

// UNPIN, RELEASE, ABORT: ids the server issued.
struct IdsRequest {
  std::vector<uint64_t> ids;
  void Encode(MetaWriter& w) const;
  static Result<IdsRequest> Decode(std::string_view meta, uint32_t max_batch);
};

// Decodes the request metadata of any op, for the fuzzer and for error replies: OK iff the server
// would accept its shape.
Status ValidateRequestMeta(Op op, std::string_view meta, uint32_t max_batch);

// ---- Responses. Every response's metadata starts with the request's Status; the body follows
// only when it is OK.

struct HelloResponse {
  uint16_t version = 1;  // the metadata version settled: the highest both speak
  std::string tenant;
  uint32_t max_meta_bytes = 0;
  uint64_t max_payload_bytes = 0;
  uint32_t max_batch = 0;
  bool shm = false;        // the arena's memfd rides on this response (SCM_RIGHTS)
  uint64_t arena_id = 0;   // differs per daemon start: a client remaps when it changes
  uint64_t arena_bytes = 0;
  uint64_t page_bytes = 0;
  void Encode(MetaWriter& w) const;
  static Result<HelloResponse> Decode(MetaReader& r);
};

struct LookupResponse {
  uint32_t matched = 0;
  std::vector<Tier> tiers;
  void Encode(MetaWriter& w) const;
  static Result<LookupResponse> Decode(MetaReader& r, uint32_t max_batch);
};

// GET: the payload holds the found items' bytes back to back, in order.
struct GetResponse {
  struct Item {
    Status status;
    uint64_t length = 0;
    uint64_t checksum = 0;
  };
  std::vector<Item> items;
  void Encode(MetaWriter& w) const;
  static Result<GetResponse> Decode(MetaReader& r, uint32_t max_batch);
};

// What a PUT or RESERVE did with one item (metadata version 2), for per-request accounting.
enum class StoreOutcome : uint8_t {
  kNone = 0,          // nothing to count: the item failed (see its status), or RESERVE's "write it"
  kStored = 1,        // newly stored: a cache write
  kPresent = 2,       // already present: nothing written
  kSkippedShort = 3,  // not stored: its request's chain was under min_prefix_tokens
};

// Outcomes travel as a trailer, `u32 n, u8 outcome x n`, n equal to the reply's items. Decoders
// read it only where present (a version-1 reply has none).
void EncodeOutcomes(const std::vector<StoreOutcome>& outcomes, MetaWriter& w);
void DecodeOutcomes(MetaReader& r, size_t items, std::vector<StoreOutcome>* out);

// PUT, COMMIT, REMOVE, UNPIN: one status per item.
struct ItemsResponse {
  std::vector<Status> items;
  std::vector<StoreOutcome> outcomes;  // PUT at version 2: one per item; empty: not sent
  void Encode(MetaWriter& w) const;
  static Result<ItemsResponse> Decode(MetaReader& r, uint32_t max_batch);
};

// ACQUIRE and RESERVE: for each item, an id (lease or write) and its pages as arena offsets.
struct SegmentsResponse {
  struct Item {
    Status status;
    uint64_t id = 0;  // 0: nothing to release (a miss) or nothing to write (already present)
    std::vector<ByteRun> segments;
  };
  std::vector<Item> items;
  std::vector<StoreOutcome> outcomes;  // RESERVE at version 2: one per item; empty: not sent
  void Encode(MetaWriter& w) const;
  static Result<SegmentsResponse> Decode(MetaReader& r, uint32_t max_batch);
};

void EncodeStoreStats(const StoreStats& s, MetaWriter& w);
Result<StoreStats> DecodeStoreStats(MetaReader& r);

// A SUBSCRIBE stream's frames (op kEvent).
enum class EventKind : uint8_t { kStored = 1, kRemoved = 2, kEvicted = 3 };
struct Event {
  EventKind kind = EventKind::kStored;
  NamespaceId ns;
  BlockKey key;
  Tier tier = Tier::kDram;
  void Encode(MetaWriter& w) const;
  static Result<Event> Decode(std::string_view meta);
};

}  // namespace tw::net

// Block keys and namespace ids: 128-bit names derived from token ids.
//
// A namespace id names everything that must match for KV to be reusable (see namespace.h). A block
// key names one block *and its whole prefix*, because keys chain:
//
//   root   = H(ns_id || "root")
//   key_1  = H(ns_id || root    || tokens of block 1 as uint32 LE)
//   key_i  = H(ns_id || key_i-1 || tokens of block i as uint32 LE)
//
// H is SHA-256 truncated to 128 bits by default: collision-resistant, so no tenant can craft tokens
// whose keys collide with another's blocks. xxh3-128 is faster and fine for trusted single-tenant
// fleets. The byte encodings here are pinned by known-answer tests; changing them is a format change.
#pragma once

#include <compare>
#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace tw {

// 16 bytes, compared and printed as bytes. Tag keeps namespace ids and block keys from mixing.
template <typename Tag>
struct Id128 {
  uint8_t bytes[16] = {};

  bool IsZero() const {
    static constexpr uint8_t kZero[16] = {};
    return std::memcmp(bytes, kZero, 16) == 0;
  }
  // The first 8 bytes as a little-endian integer: uniformly distributed, used for hashing and sharding.
  uint64_t Prefix64() const {
    uint64_t v;
    std::memcpy(&v, bytes, 8);
    return v;
  }
  std::string ToHex() const;  // 32 lower-case hex digits
  // Parses 32 hex digits; returns false (and leaves *out untouched) on anything else.
  static bool FromHex(std::string_view hex, Id128* out);

  friend bool operator==(const Id128& a, const Id128& b) { return std::memcmp(a.bytes, b.bytes, 16) == 0; }
  friend auto operator<=>(const Id128& a, const Id128& b) { return std::memcmp(a.bytes, b.bytes, 16) <=> 0; }
};

struct NamespaceIdTag;
struct BlockKeyTag;
using NamespaceId = Id128<NamespaceIdTag>;
using BlockKey = Id128<BlockKeyTag>;

// Which function derives block keys. Part of the namespace: keys of different hashes never meet.
enum class KeyHash : uint8_t {
  kSha256 = 1,  // default; collision-resistant
  kXxh3 = 2,    // xxh3-128; for trusted single-tenant fleets
};

// The chain's anchor: the parent of the first block.
BlockKey RootKey(const NamespaceId& ns, KeyHash hash = KeyHash::kSha256);

// The key of the block whose parent is `parent` and whose tokens are `tokens`.
BlockKey ChainKey(const NamespaceId& ns, const BlockKey& parent, std::span<const uint32_t> tokens,
                  KeyHash hash = KeyHash::kSha256);

// The keys of every *full* block of `tokens` (tokens.size() / block_tokens of them), chained from the
// root. A trailing partial block gets no key: only full blocks are stored.
std::vector<BlockKey> ComputeBlockKeys(const NamespaceId& ns, std::span<const uint32_t> tokens,
                                       uint32_t block_tokens, KeyHash hash = KeyHash::kSha256);

}  // namespace tw

template <typename Tag>
struct std::hash<tw::Id128<Tag>> {
  size_t operator()(const tw::Id128<Tag>& id) const noexcept { return id.Prefix64(); }
};

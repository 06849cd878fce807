#include "tw/block_key.h"

#include "common/hash.h"
#include "common/little_endian.h"

namespace tw {

namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Hashes one chain step with the namespace's function. The byte string is
// ns_id(16) || parent(16) || tokens (uint32 LE each) for a block, ns_id(16) || "root" for the root.
template <typename Hasher>
BlockKey HashParts(const NamespaceId& ns, std::span<const uint8_t> middle, std::span<const uint32_t> tokens) {
  Hasher h;
  h.Update(ns.bytes, 16);
  h.Update(middle.data(), middle.size());
  if constexpr (std::endian::native == std::endian::little) {
    h.Update(tokens.data(), tokens.size_bytes());
  } else {
    for (uint32_t t : tokens) {
      uint8_t le[4];
      StoreLE32(le, t);
      h.Update(le, 4);
    }
  }
  BlockKey key;
  h.Finish(key.bytes);
  return key;
}

BlockKey Hash(KeyHash hash, const NamespaceId& ns, std::span<const uint8_t> middle,
              std::span<const uint32_t> tokens) {
  return hash == KeyHash::kXxh3 ? HashParts<Xxh3Hash128>(ns, middle, tokens)
                                : HashParts<Sha256Trunc128>(ns, middle, tokens);
}

}  // namespace

template <typename Tag>
std::string Id128<Tag>::ToHex() const {
  std::string out(32, '0');
  for (int i = 0; i < 16; ++i) {
    out[2 * i] = kHexDigits[bytes[i] >> 4];
    out[2 * i + 1] = kHexDigits[bytes[i] & 0xf];
  }
  return out;
}

template <typename Tag>
bool Id128<Tag>::FromHex(std::string_view hex, Id128* out) {
  if (hex.size() != 32) return false;
  Id128 id;
  for (int i = 0; i < 16; ++i) {
    int hi = HexValue(hex[2 * i]);
    int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    id.bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  *out = id;
  return true;
}

template struct Id128<NamespaceIdTag>;
template struct Id128<BlockKeyTag>;

BlockKey RootKey(const NamespaceId& ns, KeyHash hash) {
  static constexpr uint8_t kRoot[4] = {'r', 'o', 'o', 't'};
  return Hash(hash, ns, kRoot, {});
}

BlockKey ChainKey(const NamespaceId& ns, const BlockKey& parent, std::span<const uint32_t> tokens, KeyHash hash) {
  return Hash(hash, ns, parent.bytes, tokens);
}

std::vector<BlockKey> ComputeBlockKeys(const NamespaceId& ns, std::span<const uint32_t> tokens,
                                       uint32_t block_tokens, KeyHash hash) {
  std::vector<BlockKey> keys;
  if (block_tokens == 0) return keys;
  const size_t blocks = tokens.size() / block_tokens;
  keys.reserve(blocks);
  BlockKey parent = RootKey(ns, hash);
  for (size_t i = 0; i < blocks; ++i) {
    parent = ChainKey(ns, parent, tokens.subspan(i * block_tokens, block_tokens), hash);
    keys.push_back(parent);
  }
  return keys;
}

}  // namespace tw

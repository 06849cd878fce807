// Helpers for tests that drive a Store: namespaces, chains and payloads derived from keys, so any
// byte read back can be checked without remembering what was written.
#pragma once

#include <cstring>
#include <random>
#include <vector>

#include "tw/namespace.h"
#include "tw/store.h"

namespace tw::testing {

inline Namespace SmallNamespace(std::string tenant = "t", std::string model = "m") {
  Namespace ns;
  ns.tenant = std::move(tenant);
  ns.model_id = std::move(model);
  ns.model_revision = "r1";
  ns.geometry = KvGeometry{2, 2, 16, KvDtype::kF16, 16};  // 4 KiB objects
  return ns;
}

// The payload every test stores under `key`: a pseudo-random stream seeded by the key.
inline std::vector<std::byte> PayloadFor(const BlockKey& key, size_t size) {
  std::vector<std::byte> out(size);
  std::mt19937_64 rng(key.Prefix64());
  for (size_t i = 0; i < size; i += 8) {
    uint64_t v = rng();
    std::memcpy(out.data() + i, &v, std::min<size_t>(8, size - i));
  }
  return out;
}

// `blocks` chained keys of prompt `seed`.
inline std::vector<BlockKey> ChainKeys(const Namespace& ns, size_t blocks, uint32_t seed) {
  std::vector<uint32_t> tokens(blocks * ns.geometry.block_tokens);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<uint32_t>(seed * 1000003u + i);
  return ns.BlockKeys(tokens);
}

inline BlockRef RefAt(const Namespace& ns, const std::vector<BlockKey>& keys, size_t i) {
  return {keys[i], i ? keys[i - 1] : ns.Root()};
}

inline Status PutChain(Store& store, const NamespaceId& id, const Namespace& ns, const std::vector<BlockKey>& keys) {
  for (size_t i = 0; i < keys.size(); ++i) {
    TW_RETURN_IF_ERROR(store.Put(id, RefAt(ns, keys, i), PayloadFor(keys[i], ns.geometry.ObjectBytes())));
  }
  return Status::Ok();
}

}  // namespace tw::testing

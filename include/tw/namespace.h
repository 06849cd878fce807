// tw::Namespace: everything that must match for stored KV to be reusable.
//
// Two requests may share KV only if they agree on tenant, model id and revision, KV dtype, model
// geometry, adapter (LoRA) id and cache salt. The namespace is encoded canonically (versioned,
// length-prefixed, little-endian; see docs/formats.md) and hashed with SHA-256 into a 128-bit id.
// The id is mixed into every block key, so blocks of different namespaces never alias.
#pragma once

#include <cstdint>
#include <string>

#include "tw/block_key.h"
#include "tw/geometry.h"
#include "tw/status.h"

namespace tw {

// Version of the canonical namespace encoding. Bumped only together with new known-answer tests.
inline constexpr uint8_t kNamespaceEncodingVersion = 1;

struct Namespace {
  std::string tenant;          // bound by the server from the caller's identity, never trusted from a client
  std::string model_id;        // e.g. "meta-llama/Llama-3.1-8B"
  std::string model_revision;  // e.g. a commit hash of the weights
  std::string adapter_id;      // LoRA adapter id; empty for the base model
  std::string cache_salt;      // per-request isolation salt; empty for none
  KvGeometry geometry;         // layers, KV heads, head dim, dtype, block tokens
  KeyHash key_hash = KeyHash::kSha256;

  // kInvalidArgument if the model id is empty, a string exceeds 1 KiB, or the geometry is invalid.
  Status Validate() const;

  // The canonical byte encoding (format version kNamespaceEncodingVersion).
  std::string Encode() const;
  // Parses an encoding produced by Encode(); kCorruption for truncated or malformed bytes,
  // kNotSupported for an unknown version.
  static Result<Namespace> Decode(std::string_view bytes);

  // SHA-256 of the encoding, truncated to 128 bits.
  NamespaceId Id() const;
  // RootKey(Id(), key_hash).
  BlockKey Root() const;
  // ComputeBlockKeys(Id(), tokens, geometry.block_tokens, key_hash).
  std::vector<BlockKey> BlockKeys(std::span<const uint32_t> tokens) const;
};

}  // namespace tw

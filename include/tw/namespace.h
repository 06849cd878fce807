// tw::Namespace: everything that must match for stored KV to be reusable.
//
// Two requests may share KV only if they agree on tenant, model id and revision, KV dtype, model
// geometry, adapter (LoRA) id, cache salt and the codec its objects are stored with (tw/codec.h). The namespace is encoded canonically (versioned,
// length-prefixed, little-endian; see docs/formats.md) and hashed with SHA-256 into a 128-bit id.
// The id is mixed into every block key, so blocks of different namespaces never alias.
#pragma once

#include <cstdint>
#include <string>

#include "tw/block_key.h"
#include "tw/codec.h"
#include "tw/geometry.h"
#include "tw/status.h"

namespace tw {

// Version of the canonical namespace encoding. Bumped only together with new known-answer tests.
// A namespace stored without a codec encodes as version 1 (so its id never changed); one with a
// codec as version 2, which appends the codec.
inline constexpr uint8_t kNamespaceEncodingVersion = 2;

struct Namespace {
  std::string tenant;          // bound by the server from the caller's identity, never trusted from a client
  std::string model_id;        // e.g. "meta-llama/Llama-3.1-8B"
  std::string model_revision;  // e.g. a commit hash of the weights
  std::string adapter_id;      // LoRA adapter id; empty for the base model
  std::string cache_salt;      // per-request isolation salt; empty for none
  KvGeometry geometry;         // layers, KV heads, head dim, dtype, block tokens
  KeyHash key_hash = KeyHash::kSha256;
  // How objects are stored: kNone (the canonical bytes), or a fixed-size lossy codec (fp8, int8,
  // kivi2) whose objects are the encoding (tw/codec.h) and must be decoded before use. A different
  // codec is a different namespace: its objects hold different bytes and, lossy, other numbers.
  KvCodec codec = KvCodec::kNone;

  // kInvalidArgument if the model id is empty, a string exceeds 1 KiB, the geometry is invalid, or
  // the codec cannot encode the dtype (a lossy codec over 8-bit KV); kNotSupported for `lossless`
  // (its objects vary in size; the tiers store fixed-size objects).
  Status Validate() const;

  // Bytes of one stored object: geometry.ObjectBytes() for kNone, the codec's exact encoded size
  // otherwise (EncodedKvBound). Defined in the codec library (tw_codec), which knows the sizes.
  uint64_t ObjectBytes() const;

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

// vLLM's KV events as an engine publishes them (vllm/distributed/kv_events.py, vLLM 0.32), decoded
// for the router: which blocks an engine's GPU prefix cache gained and lost.
//
// A published message is [topic, sequence (8 bytes, big-endian), payload]; the payload is a msgpack
// KVEventBatch `[ts, [event...], data_parallel_rank]`. An event is a msgpack map tagged by class
// (msgspec tag=True): {"type": "BlockStored", "block_hashes", "parent_block_hash", "token_ids",
// "block_size", "medium", ...}, {"type": "BlockRemoved", "block_hashes", "medium", ...},
// {"type": "AllBlocksCleared"}. Older vLLM wrote events array_like (["BlockStored", hashes, parent,
// token_ids, block_size, lora_id, medium]); both forms decode. Fields this router does not use
// (lora, extra_keys, group_idx, ...) are skipped, so newer fields do not break decoding.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tw/result.h"

namespace tw::router {

struct VllmKvEvent {
  enum class Kind : uint8_t { kBlockStored, kBlockRemoved, kAllBlocksCleared };
  Kind kind = Kind::kBlockStored;
  // vLLM's block hashes, opaque: bytes as sent; an int hash (VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES) as
  // its 8 big-endian bytes. They cannot be recomputed outside vLLM; the router only matches them.
  std::vector<std::string> block_hashes;
  std::optional<std::string> parent_block_hash;  // BlockStored: nullopt for a chain's first block
  std::vector<uint32_t> token_ids;               // BlockStored: block_size tokens per block, in order
  uint32_t block_size = 0;                       // BlockStored
  std::optional<std::string> medium;             // "GPU", "CPU", ...; nullopt when not sent (means GPU)
};

struct VllmKvEventBatch {
  double ts = 0;
  std::vector<VllmKvEvent> events;  // events of an unknown type are left out
};

// Decodes one payload. kCorruption if it is not a KVEventBatch (malformed msgpack, wrong shapes);
// kNotSupported in a build without msgpack (TW_HAVE_KV_EVENTS off).
Result<VllmKvEventBatch> DecodeVllmKvEventBatch(std::string_view payload);

}  // namespace tw::router

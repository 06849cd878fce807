// KV events in vLLM's wire format (vllm/distributed/kv_events.py, vLLM 0.32): what a KV-aware router
// (llm-d's indexer, Dynamo, vLLM's own consumers) already decodes from engines, now also from the
// warehouse, so that blocks on DRAM and disk count as prefix hits when it routes.
//
// A batch is a msgpack array `[ts, [event...], nil]` (msgspec array_like writes every field, so
// `data_parallel_rank` is there, None: the warehouse is no DP rank). Each event is a msgpack map tagged by class name (msgspec tag=True on a non-array
// struct): {"type": "BlockStored", "block_hashes": [...], "parent_block_hash": ..., "token_ids": [...],
// "block_size": n, "lora_id": nil, "medium": "CPU", "lora_name": nil}; {"type": "BlockRemoved",
// "block_hashes": [...], "medium": ...}; {"type": "AllBlocksCleared"}. Fields vLLM gives a default
// are left out (msgspec omit_defaults), fields without one are always written, as msgspec does.
//
// Block hashes are our 128-bit block keys as 16-byte msgpack bin (vLLM's ExternalBlockHash is
// `bytes | int`). token_ids is always empty: the daemon is given keys, never tokens (and tokens on an
// unauthenticated socket would be the tenant's prompts); a router derives the keys from its own
// token ids (docs/protocol.md, "KV events").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tw/block_key.h"
#include "tw/store.h"

namespace tw::server {

// vLLM's media (MEDIUM_GPU/CPU/STORAGE) for our tiers: dram "CPU", disk "STORAGE", and "PEER" for a
// block held by another warehouse node (vLLM names no medium for that). Tier::kNone is written as
// nil: a BlockRemoved that an explicit REMOVE caused, which leaves every tier.
std::string_view KvEventMedium(Tier tier);

struct KvEvent {
  enum class Kind : uint8_t { kBlockStored, kBlockRemoved, kAllBlocksCleared };
  Kind kind = Kind::kBlockStored;
  std::vector<BlockKey> block_hashes;
  std::optional<BlockKey> parent_block_hash;  // BlockStored only; nil when unknown
  uint32_t block_size = 0;                    // BlockStored only: tokens per block
  Tier tier = Tier::kDram;                    // written as `medium`
};

// The msgpack payload of one batch (the third frame of a published message).
std::string EncodeKvEventBatch(double ts, const std::vector<KvEvent>& events);

}  // namespace tw::server

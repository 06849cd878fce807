// GpuPrefixIndex: the token-block chains one engine holds in its GPU prefix cache, learnt from the
// engine's KV events (router/vllm_kv_event.h), so the router can say how many leading tokens of a
// request that engine would not recompute.
//
// vLLM names a block by a hash the router cannot recompute (it seeds from vLLM's own hash function
// and salts with LoRA, multimodal and cache-salt keys). So the index keys blocks by a chain hash of
// its own, over token ids only: chain_0 = seed, chain_i = xxh3_64(tokens of block i, seed chain_{i-1}).
// A BlockStored event carries the tokens and the parent's vLLM hash; the parent's chain hash is
// looked up in a vLLM hash -> chain hash map kept as events arrive, so a request's tokens are
// matched by hashing them the same way. Because every chain hash covers the whole prefix, a lookup
// walks the request's blocks and stops at the first one absent, as vLLM's own prefix cache does.
//
// What the index does not know makes it optimistic or pessimistic, never wrong about what is served:
// a BlockStored whose parent it never saw (events before the router subscribed, a dropped message)
// is skipped (counted in unknown_parent()), so that chain scores 0; a missed BlockRemoved leaves a
// block scored that vLLM no longer holds, which costs a recompute on the engine, not a wrong answer.
// Two vLLM hashes for the same tokens (different salts) map to one chain hash, counted twice, so the
// chain is held while either is.
//
// Only GPU blocks count: events whose medium is another tier (vLLM's CPU offloading) are ignored.
// Thread-safe: Apply from the engine's event thread, LongestPrefixTokens from request threads.
#pragma once

#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>

#include "router/vllm_kv_event.h"

namespace tw::router {

class GpuPrefixIndex {
 public:
  void Apply(const VllmKvEvent& event);
  void Clear();

  // Leading tokens of `tokens` held on the GPU: a multiple of the engine's block size (0 before any
  // BlockStored has told the index that size).
  uint32_t LongestPrefixTokens(std::span<const uint32_t> tokens) const;

  size_t blocks() const;
  uint32_t block_size() const;
  uint64_t unknown_parent() const;

 private:
  mutable std::mutex mu_;
  uint32_t block_size_ = 0;                                 // GUARDED_BY(mu_); from the first BlockStored
  std::unordered_map<std::string, uint64_t> vllm_to_chain_;  // GUARDED_BY(mu_)
  std::unordered_map<uint64_t, uint32_t> chain_refs_;       // GUARDED_BY(mu_): vLLM hashes per chain hash
  uint64_t unknown_parent_ = 0;                             // GUARDED_BY(mu_)
};

}  // namespace tw::router

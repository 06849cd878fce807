// Where a token's row of one (layer, K or V, head) lives in the engine's KV cache, for the layouts
// of include/tw/gpu.h. Device code shared by the copy and the codec kernels.
#pragma once

#include "gpu/kv_kernels.h"

namespace tw::gpu {

__device__ __forceinline__ char* EngineRow(const LayerCopyArgs& a, uint32_t layer, uint32_t kv_head, uint32_t block,
                                           uint32_t token) {
  const uint32_t kv = kv_head / a.kv_heads;
  const uint32_t head = kv_head - kv * a.kv_heads;
  char* base = (kv == 0 ? a.k : a.v)[layer];
  const uint64_t t = static_cast<uint64_t>(block) * a.block_tokens + token;
  if (a.layout == 1) {
    return base + (static_cast<uint64_t>(head) * a.seq_capacity + t) * a.row_bytes;
  }
  const uint64_t page = static_cast<uint64_t>(a.page_table[t / a.page_tokens]);
  const uint64_t row = page * a.page_tokens + (t % a.page_tokens);
  return base + (row * a.kv_heads + head) * a.row_bytes;
}

}  // namespace tw::gpu

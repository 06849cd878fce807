// The kernels of the GPU copy path, behind a host-callable launcher so that only kv_kernels.cu is
// compiled by nvcc. Internal to src/gpu.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace tw::gpu {

// One contiguous run of an object: K or V of one head of one block, tokens [tok_begin, tok_end) of the
// block, starting at `object` (pinned host memory mapped for the GPU, or device staging).
struct ChunkDesc {
  uint64_t object;     // address of token tok_begin's row
  uint32_t block;      // the object's index in the request
  uint16_t kv_head;    // kv * kv_heads + head (kv: 0 = K, 1 = V)
  uint16_t layer;
  uint32_t tok_begin;
  uint32_t tok_end;
};

enum class Direction : int { kToEngine = 0, kFromEngine = 1 };

struct LayerCopyArgs {
  const ChunkDesc* descs = nullptr;  // device memory
  uint32_t n_descs = 0;
  char* const* k = nullptr;  // per-layer engine tensors (device array of device pointers)
  char* const* v = nullptr;
  uint32_t kv_heads = 0;
  uint32_t block_tokens = 0;
  uint32_t row_bytes = 0;  // head_dim * dtype bytes
  int layout = 1;          // EngineLayout: 1 = HF, 2 = paged
  uint64_t seq_capacity = 0;            // HF
  const int32_t* page_table = nullptr;  // paged, device memory
  uint32_t page_tokens = 0;             // paged
  Direction direction = Direction::kToEngine;
};

// Launches the copy of the chunks (of one layer for a load, of every layer for a store) on `stream`. Returns the launch error, if any.
cudaError_t LaunchLayerCopy(const LayerCopyArgs& args, cudaStream_t stream);

}  // namespace tw::gpu

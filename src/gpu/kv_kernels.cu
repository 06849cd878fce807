// One CUDA block per chunk: a chunk is block_tokens rows of head_dim elements, contiguous in the object.
// In the HF layout the destination rows are contiguous too (one head's tokens), so the copy is a
// straight streaming copy; in the paged layout each row lands in its page at stride kv_heads * row.
// Threads move 16-byte vectors when every row and pointer allows it, and keep four loads in flight
// before storing, so reads of pinned host memory over PCIe have enough outstanding requests.
#include "gpu/kv_kernels.h"

#include "gpu/engine_row.cuh"

namespace tw::gpu {
namespace {

constexpr int kThreads = 256;
constexpr int kUnroll = 4;

template <typename Vec>
__global__ void __launch_bounds__(kThreads) LayerCopyKernel(LayerCopyArgs a) {
  const ChunkDesc d = a.descs[blockIdx.x];
  const uint32_t vecs_per_row = a.row_bytes / sizeof(Vec);
  const uint32_t rows = d.tok_end - d.tok_begin;
  const uint32_t total = rows * vecs_per_row;
  const bool to_engine = a.direction == Direction::kToEngine;
  char* object = reinterpret_cast<char*>(d.object);
  for (uint32_t base = threadIdx.x; base < total; base += kThreads * kUnroll) {
    Vec buf[kUnroll];
    Vec* dst[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const uint32_t i = base + u * kThreads;
      dst[u] = nullptr;
      if (i < total) {
        const uint32_t r = i / vecs_per_row;
        const uint32_t c = i - r * vecs_per_row;
        Vec* obj = reinterpret_cast<Vec*>(object + static_cast<uint64_t>(r) * a.row_bytes) + c;
        Vec* eng = reinterpret_cast<Vec*>(EngineRow(a, d.layer, d.kv_head, d.block, d.tok_begin + r)) + c;
        buf[u] = to_engine ? *obj : *eng;
        dst[u] = to_engine ? eng : obj;
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (dst[u]) *dst[u] = buf[u];
    }
  }
}

}  // namespace

cudaError_t LaunchLayerCopy(const LayerCopyArgs& args, cudaStream_t stream) {
  if (args.n_descs == 0) return cudaSuccess;
  const bool wide = args.row_bytes % 16 == 0;  // the caller checked pointer alignment
  if (wide) {
    LayerCopyKernel<uint4><<<args.n_descs, kThreads, 0, stream>>>(args);
  } else {
    LayerCopyKernel<unsigned char><<<args.n_descs, kThreads, 0, stream>>>(args);
  }
  return cudaGetLastError();
}

}  // namespace tw::gpu

// An encoded run as the codec kernels see it: its pieces (RunPiece, kv_codec_kernels.h) in shared
// memory, and the address of any of its bytes. Device code shared by kv_codec_kernels.cu and
// kivi_kernels.cu.
#pragma once

#include "gpu/kv_codec_kernels.h"

namespace tw::gpu {

// The address of run-relative byte `offset` (never across a piece: pieces end on 8-byte bounds).
__device__ __forceinline__ char* At(const RunPiece* pieces, uint32_t n, uint64_t offset) {
  uint32_t i = 0;
  while (i + 1 < n && pieces[i + 1].begin <= offset) ++i;
  return reinterpret_cast<char*>(pieces[i].address + (offset - pieces[i].begin));
}

struct RunShared {
  RunPiece pieces[kMaxRunPieces];
};

__device__ __forceinline__ void LoadPieces(const CodedRunArgs& a, const CodedRunDesc& d, RunShared& sh) {
  for (uint32_t i = threadIdx.x; i < d.piece_count; i += blockDim.x) sh.pieces[i] = a.pieces[d.piece_first + i];
}

}  // namespace tw::gpu

// kivi2 runs on the GPU. One CUDA block per run, its threads as kivi_run.h's lanes. Decode: the
// run's (min, scale) pairs into shared memory while the window's raw rows are copied, then each
// thread expands one 8-byte word of codes (32 values) at a time. All reads of the run go straight to
// pinned host memory, so only the encoded bytes cross PCIe. Encode: one thread per group folds its
// values from the engine (device memory) into its parameters while the window is copied out, then
// each thread packs one word of codes.
#include "gpu/kivi_kernels.h"

#include "gpu/engine_row.cuh"
#include "gpu/run_pieces.cuh"

namespace tw::gpu {
namespace {

constexpr int kThreads = 256;

// kivi_run.h's accessors over the engine's KV (one run's rows) and over the run's host pages.
struct EngineRows {
  const LayerCopyArgs* copy;
  uint32_t layer, kv_head, block;
  __device__ __forceinline__ char* Row(uint32_t t) const { return EngineRow(*copy, layer, kv_head, block, t); }
};

struct CodedBytes {
  const RunPiece* pieces;
  uint32_t n;
  __device__ __forceinline__ char* At(uint64_t offset) const { return tw::gpu::At(pieces, n, offset); }
};

__global__ void __launch_bounds__(kThreads) DecodeKiviKernel(KiviRunArgs a) {
  extern __shared__ uint32_t params[];
  __shared__ RunShared sh;
  const CodedRunDesc d = a.runs.runs[blockIdx.x];
  const kivi::Run r = d.kv_head < a.runs.copy.kv_heads ? a.key : a.value;
  LoadPieces(a.runs, d, sh);
  __syncthreads();
  const CodedBytes coded{sh.pieces, d.piece_count};
  const EngineRows engine{&a.runs.copy, d.layer, d.kv_head, d.block};
  kivi::LoadParams(r, d.tok_end, threadIdx.x, blockDim.x, coded, params);
  kivi::CopyWindowToEngine(r, d.tok_end, threadIdx.x, blockDim.x, coded, engine);
  __syncthreads();
  kivi::DecodeCodes(r, d.tok_end, threadIdx.x, blockDim.x, coded, engine, params);
}

__global__ void __launch_bounds__(kThreads) EncodeKiviKernel(KiviRunArgs a) {
  extern __shared__ uint32_t params[];
  __shared__ RunShared sh;
  const CodedRunDesc d = a.runs.runs[blockIdx.x];
  const kivi::Run r = d.kv_head < a.runs.copy.kv_heads ? a.key : a.value;
  LoadPieces(a.runs, d, sh);
  __syncthreads();
  const CodedBytes coded{sh.pieces, d.piece_count};
  const EngineRows engine{&a.runs.copy, d.layer, d.kv_head, d.block};
  kivi::EncodeParams(r, threadIdx.x, blockDim.x, engine, coded, params);
  kivi::CopyWindowFromEngine(r, threadIdx.x, blockDim.x, engine, coded);
  __syncthreads();
  kivi::EncodeCodes(r, threadIdx.x, blockDim.x, engine, coded, params);
}

uint32_t SharedBytes(const KiviRunArgs& a) { return 4 * (a.key.params > a.value.params ? a.key.params : a.value.params); }

}  // namespace

cudaError_t LaunchDecodeKiviRuns(const KiviRunArgs& a, cudaStream_t stream) {
  if (a.runs.n_runs == 0) return cudaSuccess;
  DecodeKiviKernel<<<a.runs.n_runs, kThreads, SharedBytes(a), stream>>>(a);
  return cudaGetLastError();
}

cudaError_t LaunchEncodeKiviRuns(const KiviRunArgs& a, cudaStream_t stream) {
  if (a.runs.n_runs == 0) return cudaSuccess;
  EncodeKiviKernel<<<a.runs.n_runs, kThreads, SharedBytes(a), stream>>>(a);
  return cudaGetLastError();
}

}  // namespace tw::gpu

// The GPU half of the 8-bit KV codecs (include/tw/codec.h: fp8 and int8): decoding inside a load, so
// that only the encoded bytes cross PCIe and are expanded in GPU memory, and encoding inside a store.
// Same arithmetic as the CPU codec (src/codec/run_codecs.cc), so GPU and CPU agree bit for bit.
// The run descriptors and pieces here serve kivi2 too (kivi_kernels.h).
// Internal to src/gpu; only kv_codec_kernels.cu is compiled by nvcc.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "gpu/kv_kernels.h"

namespace tw::gpu {

// A contiguous piece of an encoded run in host memory (pinned, mapped): the run's bytes from
// `begin` (an offset from the run's start) up to the next piece's begin live at `address`. A run
// crosses a piece boundary wherever the object's pages are not adjacent.
struct RunPiece {
  uint64_t begin;
  uint64_t address;
};

// One encoded run, tokens [0, tok_end) of it moved; fp8 / int8: [scales: f32 x (K: head_dim,
// V: block_tokens)][codes: block_tokens x head_dim]; kivi2: kivi_run.h. Its pieces are
// pieces[piece_first, piece_first + piece_count).
struct CodedRunDesc {
  uint32_t piece_first;
  uint16_t piece_count;
  uint16_t layer;
  uint32_t block;      // the object's index in the request
  uint16_t kv_head;    // kv * kv_heads + head (kv: 0 = K, 1 = V)
  uint16_t reserved;
  uint32_t tok_end;
};

// At most this many pieces per run: a run is tens of KiB, and arena pages are at least 4 KiB.
inline constexpr uint32_t kMaxRunPieces = 32;

struct CodedRunArgs {
  LayerCopyArgs copy;            // the engine side (layout, pointers, geometry), as for a plain copy
  const CodedRunDesc* runs = nullptr;  // device memory
  uint32_t n_runs = 0;
  const RunPiece* pieces = nullptr;    // device memory
  uint32_t head_dim = 0;
  bool fp8 = true;               // false: int8
  bool bf16 = true;              // the engine's dtype: bf16, else f16
};

// Decodes the runs into the engine (copy.direction must be kToEngine); one launch.
cudaError_t LaunchDecodeRuns(const CodedRunArgs& args, cudaStream_t stream);
// Encodes the engine's KV into the runs (copy.direction kFromEngine): scales and codes. The object's
// header and run table are the host's to write. One launch.
cudaError_t LaunchEncodeRuns(const CodedRunArgs& args, cudaStream_t stream);

}  // namespace tw::gpu

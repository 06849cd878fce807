// The GPU half of the kivi2 KV codec (include/tw/codec.h): decoding inside a load, so that only the
// encoded bytes (0.29 of bf16's at 256-token blocks) cross PCIe and are expanded in GPU memory, and
// encoding inside a store. The per-run work is kivi_run.h's, the CPU codec's arithmetic and layout,
// so GPU and CPU agree bit for bit. Internal to src/gpu; only kivi_kernels.cu is compiled by nvcc.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "gpu/kivi_run.h"
#include "gpu/kv_codec_kernels.h"

namespace tw::gpu {

// The (min, scale) pairs of a run are kept in shared memory while its codes are coded: at most
// this many bytes of them (256-token blocks of 128-dim heads take 3.5 KiB).
inline constexpr uint32_t kKiviMaxParamBytes = 40 * 1024;

struct KiviRunArgs {
  CodedRunArgs runs;   // descriptors, pieces and the engine side, as for fp8 / int8 (fp8 unused)
  kivi::Run key;       // the shape and layout of every K run
  kivi::Run value;     // and of every V run
};

// Decodes the runs into the engine (runs.copy.direction kToEngine), tokens [0, tok_end) of each; one launch.
cudaError_t LaunchDecodeKiviRuns(const KiviRunArgs& args, cudaStream_t stream);
// Encodes the engine's KV into the runs (kFromEngine): params, codes and window. The object's header
// and run table are the host's to write. One launch.
cudaError_t LaunchEncodeKiviRuns(const KiviRunArgs& args, cudaStream_t stream);

}  // namespace tw::gpu

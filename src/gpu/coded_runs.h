// Host side of the GPU codec path: where each encoded run of an object lies in its (paged) host
// memory, as descriptors and pieces for the kernels of kv_codec_kernels.cu (fp8, int8) and
// kivi_kernels.cu (kivi2); the object's header and run table, checked before a load and written
// before a store; and which kernels code this codec.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "gpu/kivi_kernels.h"
#include "gpu/kv_codec_kernels.h"
#include "tw/codec.h"
#include "tw/gpu.h"

namespace tw::gpu {

// The shape and layout of the kivi2 K (is_key) or V runs of `geometry`, as the kernels take them.
kivi::Run KiviRunOf(const KvGeometry& geometry, bool is_key);

class CodedRuns {
 public:
  // kNotSupported for a codec or geometry the GPU path cannot code (see KvMover::Create).
  static Result<CodedRuns> Make(KvCodec codec, const KvGeometry& geometry);

  // kCorruption unless the object's header and run table are this codec's and geometry's.
  Status CheckHeader(const HostSegments& object) const;
  // Writes the header and run table into the object's first bytes.
  Status WriteHeader(const MutableHostSegments& object) const;

  // Appends the runs of `layer` of object `block` (tokens [0, tok_end) of each) and their pieces.
  Status Add(const HostSegments& object, uint32_t block, uint32_t layer, uint32_t tok_end,
             std::vector<CodedRunDesc>* runs, std::vector<RunPiece>* pieces) const;

  // Launches this codec's decode (a load) or encode (a store) of the runs in `args`.
  cudaError_t LaunchDecode(const CodedRunArgs& args, cudaStream_t stream) const;
  cudaError_t LaunchEncode(const CodedRunArgs& args, cudaStream_t stream) const;

 private:
  CodedRuns(KvCodec codec, const KvGeometry& g, std::vector<uint64_t> offsets)
      : codec_(codec), g_(g), offsets_(std::move(offsets)) {}
  KiviRunArgs KiviArgs(const CodedRunArgs& args) const;

  KvCodec codec_;
  KvGeometry g_;
  std::vector<uint64_t> offsets_;  // of each run, then the object's end
  kivi::Run kivi_key_, kivi_value_;  // kivi2 only
};

}  // namespace tw::gpu

// Host side of the GPU codec path: where each encoded run of an object lies in its (paged) host
// memory, as descriptors and pieces for the kernels of kv_codec_kernels.cu; and the object's header
// and run table, checked before a load and written before a store.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "gpu/kv_codec_kernels.h"
#include "tw/codec.h"
#include "tw/gpu.h"

namespace tw::gpu {

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

 private:
  CodedRuns(KvCodec codec, const KvGeometry& g, std::vector<uint64_t> offsets)
      : codec_(codec), g_(g), offsets_(std::move(offsets)) {}
  KvCodec codec_;
  KvGeometry g_;
  std::vector<uint64_t> offsets_;  // of each run, then the object's end
};

}  // namespace tw::gpu

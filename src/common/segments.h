// Copies between scattered object memory (a list of segments in layout order) and flat buffers.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "tw/geometry.h"
#include "tw/status.h"

namespace tw {

// Copies the object bytes named by `runs` (offsets into the object) contiguously into `out`.
// kInvalidArgument if a run falls outside the segments or `out` is not exactly their total size.
Status GatherRuns(const std::vector<std::span<const std::byte>>& segments, std::span<const ByteRun> runs,
                  std::span<std::byte> out);

// Copies `data` into the object at byte `offset`. kInvalidArgument if it does not fit.
Status ScatterAt(const std::vector<std::span<std::byte>>& segments, uint64_t offset, std::span<const std::byte> data);

}  // namespace tw

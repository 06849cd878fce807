// Which bytes of a stored object a KvSlice covers, for canonical and encoded objects alike.
#pragma once

#include <cstdint>
#include <vector>

#include "tw/geometry.h"
#include "tw/result.h"

namespace tw {

// The byte runs of `slice` in one stored object of `object_bytes` bytes. A canonical object has the
// geometry's slice runs; an encoded one (`coded`: its namespace stores with a codec) is read whole
// only: one run for KvSlice::All(), kNotSupported for anything narrower (read the whole object and
// decode the slice: DecodeKvSlice). kInvalidArgument for a slice outside the geometry.
Result<std::vector<ByteRun>> StoredSliceRuns(const KvGeometry& g, bool coded, uint64_t object_bytes, const KvSlice& slice);

// The bytes those runs add up to; 0 where StoredSliceRuns fails.
uint64_t StoredSliceBytes(const KvGeometry& g, bool coded, uint64_t object_bytes, const KvSlice& slice);

}  // namespace tw

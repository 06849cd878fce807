#include "common/stored_slice.h"

namespace tw {

Result<std::vector<ByteRun>> StoredSliceRuns(const KvGeometry& g, bool coded, uint64_t object_bytes, const KvSlice& slice) {
  if (!coded) return g.SliceRuns(slice);
  TW_RETURN_IF_ERROR(g.Resolve(slice).status());
  if (!slice.IsAll()) {
    return Status::NotSupported("a slice of an encoded object: read the whole object and decode the slice");
  }
  return std::vector<ByteRun>{ByteRun{0, object_bytes}};
}

uint64_t StoredSliceBytes(const KvGeometry& g, bool coded, uint64_t object_bytes, const KvSlice& slice) {
  if (!coded) return g.SliceBytes(slice);
  return slice.IsAll() ? object_bytes : 0;
}

}  // namespace tw

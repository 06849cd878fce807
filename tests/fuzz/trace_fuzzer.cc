// libFuzzer target for the simulator's trace parser (src/sim/trace.h): JSONL files a user hands to
// `tokenwarehouse simulate` and `plan`. Any text is either a trace whose invariants hold or a clear
// error; nothing may crash, hang or read out of bounds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "sim/trace.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tw::Result<tw::sim::Trace> t = tw::sim::ParseMooncakeTrace(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!t.ok()) return 0;
  uint64_t accesses = 0;
  int64_t last = INT64_MIN;
  for (const tw::sim::TraceRequest& r : t->requests) {
    if (r.timestamp_ms < last) std::abort();  // sorted by timestamp
    last = r.timestamp_ms;
    for (uint32_t b : r.blocks) {
      if (b >= t->unique_blocks) std::abort();  // dense block indices
    }
    accesses += r.blocks.size();
  }
  if (accesses != t->block_accesses || t->parent.size() != t->unique_blocks) std::abort();
  for (uint32_t p : t->parent) {
    if (p != UINT32_MAX && p >= t->unique_blocks) std::abort();
  }
  return 0;
}

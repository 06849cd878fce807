#include "common/segments.h"

#include <algorithm>
#include <cstring>

namespace tw {

namespace {

// Calls fn(segment_piece_ptr, length, position_in_request) over the object bytes [offset, offset+length).
template <typename Seg, typename Fn>
bool ForRange(const std::vector<std::span<Seg>>& segments, uint64_t offset, uint64_t length, Fn fn) {
  uint64_t seg_start = 0;
  uint64_t done = 0;
  for (const auto& seg : segments) {
    const uint64_t seg_end = seg_start + seg.size();
    if (length == done) break;
    const uint64_t want = offset + done;
    if (want < seg_end) {
      const uint64_t in_seg = want - seg_start;
      const uint64_t n = std::min<uint64_t>(seg.size() - in_seg, length - done);
      fn(seg.data() + in_seg, n, done);
      done += n;
    }
    seg_start = seg_end;
  }
  return done == length;
}

}  // namespace

Status GatherRuns(const std::vector<std::span<const std::byte>>& segments, std::span<const ByteRun> runs,
                  std::span<std::byte> out) {
  uint64_t total = 0;
  for (const ByteRun& r : runs) total += r.length;
  if (total != out.size()) return Status::InvalidArgument("output buffer size does not match the requested runs");
  uint64_t pos = 0;
  for (const ByteRun& r : runs) {
    bool ok = ForRange(segments, r.offset, r.length, [&](const std::byte* src, uint64_t n, uint64_t at) {
      std::memcpy(out.data() + pos + at, src, n);
    });
    if (!ok) return Status::InvalidArgument("byte run outside the object");
    pos += r.length;
  }
  return Status::Ok();
}

Status ScatterAt(const std::vector<std::span<std::byte>>& segments, uint64_t offset, std::span<const std::byte> data) {
  bool ok = ForRange(segments, offset, data.size(), [&](std::byte* dst, uint64_t n, uint64_t at) {
    std::memcpy(dst, data.data() + at, n);
  });
  return ok ? Status::Ok() : Status::InvalidArgument("write outside the reserved object");
}

}  // namespace tw

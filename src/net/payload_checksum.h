// Streaming Checksum64 (xxh3-64, seed 0) over scattered bytes: the payload checksum of the wire
// protocol, equal to Checksum64 of the bytes laid end to end. Used by both ends to verify objects
// while they stream, without gathering them first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace tw::net {

class PayloadChecksum {
 public:
  PayloadChecksum();
  ~PayloadChecksum();
  PayloadChecksum(const PayloadChecksum&) = delete;
  PayloadChecksum& operator=(const PayloadChecksum&) = delete;

  void Reset();
  void Update(const void* data, size_t size);
  uint64_t Digest() const;

 private:
  void* state_;  // XXH3_state_t*, opaque so xxhash.h stays out of includers
};

// Checksum64 of one contiguous range, through the same fast path.
uint64_t PayloadChecksum64(const void* data, size_t size);

// Checksum64 of the concatenation of `segments`.
template <typename Byte>
uint64_t ChecksumOfSegments(const std::vector<std::span<Byte>>& segments) {
  PayloadChecksum c;
  for (const auto& s : segments) c.Update(s.data(), s.size());
  return c.Digest();
}

}  // namespace tw::net

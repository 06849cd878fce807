// The frame: the unit of the Token Warehouse wire protocol (docs/protocol.md).
//
// Every message is one frame: a fixed 32-byte header, then `meta_bytes` of structured metadata
// (messages.h), then `payload_bytes` of raw object bytes. Metadata is small and bounded; the payload
// is streamed straight between sockets and DRAM pages, never buffered whole. The header is decoded
// from untrusted bytes, so every field is checked against FrameLimits before anything is allocated.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "tw/result.h"

namespace tw::net {

inline constexpr uint32_t kFrameMagic = 0x31505754;  // "TWP1" as little-endian bytes
// The frame header's version: changes only with an incompatible change of the frame itself.
inline constexpr uint8_t kProtocolVersion = 1;
// The metadata version HELLO negotiates (docs/protocol.md, Versioning). 2 appends the store
// outcomes to PUT and RESERVE replies. A daemon speaks 1..kMetaVersion and writes a version-2
// body only on a connection whose HELLO settled on 2, so a client of the first release (which
// rejects trailing bytes in those replies) reads exactly what it always read.
inline constexpr uint16_t kMetaVersion = 2;
inline constexpr size_t kFrameHeaderBytes = 32;

// Operations. A response carries its request's op with kResponseBit set.
enum class Op : uint8_t {
  kHello = 1,
  kRegister = 2,
  kLookup = 3,
  kGet = 4,
  kPut = 5,
  kRemove = 6,
  kPin = 7,
  kUnpin = 8,
  kStats = 9,
  kSubscribe = 10,
  kAcquire = 11,  // shared memory: page locations under a lease
  kRelease = 12,  // shared memory: ends Acquire leases
  kReserve = 13,  // shared memory: pages to fill
  kCommit = 14,   // shared memory: publish filled pages after verifying their checksum
  kAbort = 15,    // shared memory: give reserved pages back
  kPing = 16,
  kEvent = 64,    // server to client only, on a subscribed connection
};
inline constexpr uint8_t kResponseBit = 0x80;
std::string_view OpName(Op op);
bool IsKnownRequestOp(uint8_t op);

// Header flags.
inline constexpr uint16_t kFlagNoReply = 1;  // the server sends no response (Release, Abort)
inline constexpr uint16_t kKnownFlags = kFlagNoReply;

struct FrameHeader {
  uint8_t version = kProtocolVersion;
  uint8_t type = 0;  // an Op, with kResponseBit on responses
  uint16_t flags = 0;
  uint64_t request_id = 0;  // chosen by the client, echoed by the server
  uint32_t meta_bytes = 0;
  uint64_t payload_bytes = 0;
};

// What a peer accepts. Exceeding any limit is an error reply and a closed connection.
struct FrameLimits {
  uint32_t max_meta_bytes = 1u << 20;
  uint64_t max_payload_bytes = 1ull << 30;
  uint32_t max_batch = 4096;  // items in one request
};

void EncodeFrameHeader(const FrameHeader& header, uint8_t out[kFrameHeaderBytes]);

// Parses and validates a header. kCorruption: bad magic, non-zero reserved bytes or unknown flags;
// kNotSupported: another protocol version; kResourceExhausted: meta or payload over the limits.
Result<FrameHeader> DecodeFrameHeader(std::span<const uint8_t> bytes, const FrameLimits& limits);

}  // namespace tw::net

#include "net/frame.h"

#include <string>

#include "common/little_endian.h"

namespace tw::net {

std::string_view OpName(Op op) {
  switch (op) {
    case Op::kHello: return "hello";
    case Op::kRegister: return "register";
    case Op::kLookup: return "lookup";
    case Op::kGet: return "get";
    case Op::kPut: return "put";
    case Op::kRemove: return "remove";
    case Op::kPin: return "pin";
    case Op::kUnpin: return "unpin";
    case Op::kStats: return "stats";
    case Op::kSubscribe: return "subscribe";
    case Op::kAcquire: return "acquire";
    case Op::kRelease: return "release";
    case Op::kReserve: return "reserve";
    case Op::kCommit: return "commit";
    case Op::kAbort: return "abort";
    case Op::kPing: return "ping";
    case Op::kEvent: return "event";
  }
  return "unknown";
}

bool IsKnownRequestOp(uint8_t op) { return op >= static_cast<uint8_t>(Op::kHello) && op <= static_cast<uint8_t>(Op::kPing); }

// Layout: magic u32 | version u8 | type u8 | flags u16 | request_id u64 | meta_bytes u32 |
//         reserved u32 (zero) | payload_bytes u64. All little-endian.
void EncodeFrameHeader(const FrameHeader& h, uint8_t out[kFrameHeaderBytes]) {
  StoreLE32(out, kFrameMagic);
  out[4] = h.version;
  out[5] = h.type;
  StoreLE16(out + 6, h.flags);
  StoreLE64(out + 8, h.request_id);
  StoreLE32(out + 16, h.meta_bytes);
  StoreLE32(out + 20, 0);
  StoreLE64(out + 24, h.payload_bytes);
}

Result<FrameHeader> DecodeFrameHeader(std::span<const uint8_t> bytes, const FrameLimits& limits) {
  if (bytes.size() < kFrameHeaderBytes) return Status::Corruption("short frame header");
  const uint8_t* p = bytes.data();
  if (LoadLE32(p) != kFrameMagic) return Status::Corruption("bad frame magic (not a Token Warehouse peer?)");
  FrameHeader h;
  h.version = p[4];
  h.type = p[5];
  h.flags = LoadLE16(p + 6);
  h.request_id = LoadLE64(p + 8);
  h.meta_bytes = LoadLE32(p + 16);
  h.payload_bytes = LoadLE64(p + 24);
  if (LoadLE32(p + 20) != 0) return Status::Corruption("reserved header bytes are not zero");
  if (h.version != kProtocolVersion) {
    return Status::NotSupported("protocol version " + std::to_string(h.version) + "; this peer speaks " +
                                std::to_string(kProtocolVersion));
  }
  if (h.flags & ~kKnownFlags) return Status::Corruption("unknown frame flags");
  if (h.meta_bytes > limits.max_meta_bytes) {
    return Status::ResourceExhausted("frame metadata of " + std::to_string(h.meta_bytes) + " bytes exceeds the limit of " +
                                     std::to_string(limits.max_meta_bytes));
  }
  if (h.payload_bytes > limits.max_payload_bytes) {
    return Status::ResourceExhausted("frame payload of " + std::to_string(h.payload_bytes) + " bytes exceeds the limit of " +
                                     std::to_string(limits.max_payload_bytes));
  }
  return h;
}

}  // namespace tw::net

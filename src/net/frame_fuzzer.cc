// libFuzzer target for the frame parser: a header, then the metadata of the op it names, then every
// reply decoder the client runs over bytes from the daemon. Nothing may crash, hang, leak or read out
// of bounds on any input. Built with clang -fsanitize=fuzzer,address,undefined (src/net/CMakeLists.txt).
#include <cstddef>
#include <cstdint>

#include "net/frame.h"
#include "net/messages.h"

namespace {

void Replies(std::string_view meta, uint32_t max_batch) {
  using namespace tw::net;
  {
    MetaReader r(meta);
    (void)r.Stat();
    (void)HelloResponse::Decode(r);
  }
  {
    MetaReader r(meta);
    (void)LookupResponse::Decode(r, max_batch);
  }
  {
    MetaReader r(meta);
    (void)GetResponse::Decode(r, max_batch);
  }
  {
    MetaReader r(meta);
    (void)ItemsResponse::Decode(r, max_batch);
  }
  {
    MetaReader r(meta);
    (void)SegmentsResponse::Decode(r, max_batch);
  }
  {
    MetaReader r(meta);
    (void)DecodeStoreStats(r);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tw::net;
  FrameLimits limits;
  limits.max_meta_bytes = 1 << 16;
  limits.max_batch = 256;
  tw::Result<FrameHeader> h = DecodeFrameHeader(std::span<const uint8_t>(data, size), limits);
  const size_t header = size < kFrameHeaderBytes ? size : kFrameHeaderBytes;
  std::string_view rest(reinterpret_cast<const char*>(data) + header, size - header);
  if (h.ok()) {
    std::string_view meta = rest.substr(0, h->meta_bytes);
    if (IsKnownRequestOp(h->type)) (void)ValidateRequestMeta(static_cast<Op>(h->type), meta, limits.max_batch);
    Replies(meta, limits.max_batch);
  } else if (size > 0) {
    // Headers rarely decode by chance: also feed the metadata decoders directly, op from byte 0.
    std::string_view meta(reinterpret_cast<const char*>(data) + 1, size - 1);
    const uint8_t op = static_cast<uint8_t>(data[0] % 17);
    if (IsKnownRequestOp(op)) (void)ValidateRequestMeta(static_cast<Op>(op), meta, limits.max_batch);
    Replies(meta, limits.max_batch);
  }
  return 0;
}

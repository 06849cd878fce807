// KV codec decoders against arbitrary bytes: an encoded object read back from disk or a peer may be
// anything. Decoding must answer OK or kCorruption, never crash, read out of bounds or hang; and
// every object encoded from arbitrary values must decode.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "tw/codec.h"

namespace {

tw::KvGeometry GeometryFor(uint8_t pick) {
  tw::KvGeometry g;
  g.layers = 1 + (pick & 1);
  g.kv_heads = 1 + ((pick >> 1) & 1);
  g.head_dim = 8 + 8 * ((pick >> 2) & 1);
  g.block_tokens = (pick & 8) ? 40 : 16;  // 40: a kivi2 window plus a partial group; 16: window only
  static const tw::KvDtype kDtypes[] = {tw::KvDtype::kBF16, tw::KvDtype::kF16, tw::KvDtype::kF32, tw::KvDtype::kBF16};
  g.dtype = kDtypes[(pick >> 4) & 3];
  return g;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const tw::KvCodec codec = static_cast<tw::KvCodec>(1 + data[0] % 4);
  const tw::KvGeometry g = GeometryFor(data[1]);
  const std::span<const std::byte> rest(reinterpret_cast<const std::byte*>(data + 2), size - 2);

  std::vector<std::byte> canonical(g.ObjectBytes());
  (void)tw::DecodeKv(codec, g, rest, canonical);
  tw::KvSlice slice{0, 1, 0, 1};
  std::vector<std::byte> part(g.SliceBytes(slice));
  (void)tw::DecodeKvSlice(codec, g, slice, rest, part);

  // The input's bytes as KV values (NaNs, infinities, subnormals and all): encode, then decode.
  for (size_t i = 0; i < canonical.size(); ++i) canonical[i] = rest.empty() ? std::byte{0} : rest[i % rest.size()];
  std::vector<std::byte> encoded(tw::EncodedKvBound(codec, g));
  tw::Result<uint64_t> n = tw::EncodeKv(codec, g, canonical, encoded);
  if (!n.ok()) __builtin_trap();
  std::vector<std::byte> back(canonical.size());
  if (!tw::DecodeKv(codec, g, std::span<const std::byte>(encoded.data(), *n), back).ok()) __builtin_trap();
  if (codec == tw::KvCodec::kLossless && std::memcmp(back.data(), canonical.data(), back.size()) != 0) __builtin_trap();
  return 0;
}

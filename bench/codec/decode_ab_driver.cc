// The driver of bench/codec/decode_ab.sh: decodes one fp8 and one int8 object 41 times each and
// prints the median decode bandwidth (bytes of bf16 KV out per second).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>
#include <cstring>
#include "tw/codec.h"
int main() {
  tw::KvGeometry g{4, 8, 128, tw::KvDtype::kBF16, 256};
  std::vector<std::byte> raw(g.ObjectBytes()), back(raw.size());
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0, 1);
  for (size_t i = 0; i < raw.size(); i += 2) { float f = nd(rng); uint32_t u; memcpy(&u, &f, 4); uint16_t h = u >> 16; memcpy(&raw[i], &h, 2); }
  for (auto c : {tw::KvCodec::kFp8, tw::KvCodec::kInt8}) {
    std::vector<std::byte> enc(tw::EncodedKvBound(c, g));
    size_t n = *tw::EncodeKv(c, g, raw, enc);
    enc.resize(n);
    std::vector<double> t;
    for (int r = 0; r < 41; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      if (!tw::DecodeKv(c, g, enc, back).ok()) return 1;
      t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(t.begin(), t.end());
    printf("%s decode %.2f GB/s\n", c == tw::KvCodec::kFp8 ? "fp8" : "int8", raw.size() / t[20] / 1e9);
  }
}

// `tokenwarehouse bench codec`: every KV codec on the CPU against memcpy of the same object, in one
// run: compression ratio, encode and decode GB/s (of canonical bytes), whether it is bit-exact, and
// its error on the KV it coded.
//
// The KV here is synthetic (Gaussian, keys with outlier channels an order of magnitude larger, as
// real models' keys have): the ratios and speeds are the codecs', not a model's. What a lossy codec
// costs a model is measured on real KV through an engine, not inferred from this error figure.
#include <cmath>
#include <cstring>
#include <random>

#include "bench_util.h"
#include "codec/numeric.h"
#include "commands.h"
#include "tw/codec.h"

namespace tw::cli {
namespace {

struct BenchCodecOptions {
  uint32_t layers = 4;
  uint32_t kv_heads = 8;
  uint32_t head_dim = 128;
  uint32_t block_tokens = 256;
  std::string dtype = "bf16";
  int reps = 5;
  bool json = false;
};

struct CodecResult {
  KvCodec codec;
  uint64_t encoded_bytes = 0;
  double encode_gbps = 0, decode_gbps = 0;
  bool bit_exact = false;
  double relative_error = 0;  // ||x - decode(encode(x))|| / ||x||
};

float ValueAt(const KvGeometry& g, const std::byte* p, uint64_t i) {
  if (g.dtype == KvDtype::kF32) {
    float f;
    std::memcpy(&f, p + 4 * i, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, p + 2 * i, 2);
  return g.dtype == KvDtype::kF16 ? codec::F16ToFloat(h) : codec::Bf16ToFloat(h);
}

void FillSyntheticKv(const KvGeometry& g, std::byte* p) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const uint64_t n = g.ObjectBytes() / KvDtypeBytes(g.dtype);
  const uint64_t run = uint64_t{g.block_tokens} * g.head_dim;
  for (uint64_t i = 0; i < n; ++i) {
    const bool key = ((i / run) / g.kv_heads) % 2 == 0;
    const uint64_t d = i % g.head_dim;
    const float v = normal(rng) * (key && d % 16 == 3 ? 12.0f : 1.0f);
    if (g.dtype == KvDtype::kF32) {
      std::memcpy(p + 4 * i, &v, 4);
    } else {
      const uint16_t h = g.dtype == KvDtype::kF16 ? codec::FloatToF16(v) : codec::FloatToBf16(v);
      std::memcpy(p + 2 * i, &h, 2);
    }
  }
}

template <typename F>
double MedianGbps(int reps, uint64_t bytes, F&& fn) {
  std::vector<double> gbps;
  for (int r = 0; r < reps; ++r) {
    const uint64_t t0 = MonotonicNanos();
    fn();
    gbps.push_back(Gbps(bytes, MonotonicNanos() - t0));
  }
  return Median(gbps);
}

int Run(const BenchCodecOptions& o) {
  Result<KvDtype> dtype = ParseKvDtype(o.dtype);
  if (!dtype.ok()) {
    std::fprintf(stderr, "bench codec: %s\n", dtype.status().ToString().c_str());
    return 2;
  }
  const KvGeometry g{o.layers, o.kv_heads, o.head_dim, *dtype, o.block_tokens};
  if (Status s = g.Validate(); !s.ok()) {
    std::fprintf(stderr, "bench codec: %s\n", s.ToString().c_str());
    return 2;
  }
  const uint64_t bytes = g.ObjectBytes();
  Buffer src(bytes), dst(bytes), back(bytes);
  Buffer encoded(EncodedKvBound(KvCodec::kLossless, g));  // lossless' bound is the largest
  if (!src.data || !dst.data || !back.data || !encoded.data) {
    std::fprintf(stderr, "bench codec: cannot map %llu-byte buffers\n", static_cast<unsigned long long>(bytes));
    return 1;
  }
  FillSyntheticKv(g, src.data);
  const std::span<const std::byte> in(src.data, bytes);
  const double memcpy_gbps = MedianGbps(o.reps, bytes, [&] { std::memcpy(dst.data, src.data, bytes); });

  std::vector<CodecResult> results;
  for (KvCodec c : {KvCodec::kNone, KvCodec::kLossless, KvCodec::kFp8, KvCodec::kInt8, KvCodec::kKivi2}) {
    if (!CheckKvCodec(c, g).ok()) continue;
    Progress("bench codec: %s\n", std::string(KvCodecName(c)).c_str());
    CodecResult r{c};
    const std::span<std::byte> out(encoded.data, encoded.size);
    Status failed;
    r.encode_gbps = MedianGbps(o.reps, bytes, [&] {
      Result<uint64_t> n = EncodeKv(c, g, in, out);
      if (n.ok()) r.encoded_bytes = *n;
      else failed = n.status();
    });
    const std::span<const std::byte> enc(encoded.data, r.encoded_bytes);
    r.decode_gbps = MedianGbps(o.reps, bytes, [&] {
      if (Status s = DecodeKv(c, g, enc, std::span<std::byte>(back.data, bytes)); !s.ok()) failed = s;
    });
    if (!failed.ok()) {
      std::fprintf(stderr, "bench codec: %s failed: %s\n", std::string(KvCodecName(c)).c_str(), failed.ToString().c_str());
      return 1;
    }
    r.bit_exact = std::memcmp(src.data, back.data, bytes) == 0;
    double num = 0, den = 0;
    for (uint64_t i = 0; i < bytes / KvDtypeBytes(g.dtype); ++i) {
      const double x = ValueAt(g, src.data, i), y = ValueAt(g, back.data, i);
      num += (x - y) * (x - y);
      den += x * x;
    }
    r.relative_error = den > 0 ? std::sqrt(num / den) : 0;
    results.push_back(r);
  }

  if (o.json) {
    std::printf("{\"geometry\": \"%s\", \"object_bytes\": %llu, \"kv\": \"synthetic\", \"memcpy_gbps\": %.3f, \"codecs\": [",
                g.ToString().c_str(), static_cast<unsigned long long>(bytes), memcpy_gbps);
    for (size_t i = 0; i < results.size(); ++i) {
      const CodecResult& r = results[i];
      std::printf("%s{\"codec\": \"%s\", \"ratio\": %.4f, \"encoded_bytes\": %llu, \"encode_gbps\": %.3f, "
                  "\"decode_gbps\": %.3f, \"memcpy_gbps\": %.3f, \"bit_exact\": %s, \"relative_error\": %.6f}",
                  i ? ", " : "", std::string(KvCodecName(r.codec)).c_str(), double(bytes) / r.encoded_bytes,
                  static_cast<unsigned long long>(r.encoded_bytes), r.encode_gbps, r.decode_gbps, memcpy_gbps,
                  r.bit_exact ? "true" : "false", r.relative_error);
    }
    std::printf("]}\n");
    return 0;
  }
  std::printf("KV codecs on the CPU, one thread: %s, %.1f MiB an object (synthetic KV), median of %d\n",
              g.ToString().c_str(), double(bytes) / (1 << 20), o.reps);
  std::printf("memcpy of the same object: %.2f GB/s\n\n", memcpy_gbps);
  std::printf("%-9s %7s %12s %12s %10s %10s %9s %10s\n", "codec", "ratio", "encode GB/s", "decode GB/s", "enc/memcpy",
              "dec/memcpy", "bit-exact", "rel.error");
  for (const CodecResult& r : results) {
    std::printf("%-9s %6.2fx %12.2f %12.2f %9.3fx %9.3fx %9s %10.4f\n", std::string(KvCodecName(r.codec)).c_str(),
                double(bytes) / r.encoded_bytes, r.encode_gbps, r.decode_gbps, r.encode_gbps / memcpy_gbps,
                r.decode_gbps / memcpy_gbps, r.bit_exact ? "yes" : "no", r.relative_error);
  }
  return 0;
}

}  // namespace

void RegisterBenchCodecCommand(CLI::App& bench) {
  auto opt = std::make_shared<BenchCodecOptions>();
  CLI::App* cmd = bench.add_subcommand("codec", "KV codecs on the CPU: ratio, encode/decode GB/s vs memcpy, error");
  cmd->add_option("--layers", opt->layers, "Layers of the benchmark object")->capture_default_str()->check(CLI::Range(1, 256));
  cmd->add_option("--kv-heads", opt->kv_heads, "KV heads")->capture_default_str()->check(CLI::Range(1, 256));
  cmd->add_option("--head-dim", opt->head_dim, "Head dimension")->capture_default_str()->check(CLI::Range(1, 1024));
  cmd->add_option("--block-tokens", opt->block_tokens, "Tokens per block")->capture_default_str()->check(CLI::Range(1, 65536));
  cmd->add_option("--dtype", opt->dtype, "KV dtype: bf16, f16 or f32")->capture_default_str();
  cmd->add_option("--reps", opt->reps, "Repetitions per measurement (the median is reported)")->capture_default_str()->check(CLI::Range(1, 100));
  cmd->add_flag("--json", opt->json, "Print one JSON object instead of a table");
  cmd->callback([opt] { ExitCode() = Run(*opt); });
}

}  // namespace tw::cli

// Prefill figures measured on the lent H200 (docs/simulator.md, shared/notes/gpu-machine.md):
// transformers, sdpa attention, random weights of the model's shape. TinyLlama was not measured; its
// curve is Llama-3-8B's scaled by the ratio of parameters (1.1 / 8), a first-order estimate.
#include "sim/model.h"

namespace tw::sim {
namespace {

ModelProfile Make(std::string name, uint32_t layers, uint32_t heads, uint32_t dim, KvDtype dtype,
                  std::vector<std::pair<double, double>> points, std::string source) {
  ModelProfile m;
  m.name = std::move(name);
  m.geometry.layers = layers;
  m.geometry.kv_heads = heads;
  m.geometry.head_dim = dim;
  m.geometry.dtype = dtype;
  m.prefill = *PrefillCurve::FromPoints(std::move(points));
  m.prefill_source = std::move(source);
  return m;
}

std::vector<ModelProfile> Models() {
  const double kTiny = 1.1 / 8.0;
  return {
      Make("llama-3-8b", 32, 8, 128, KvDtype::kBF16,
           {{4096, 0.20}, {32768, 1.48}, {65536, 3.8}, {131072, 12.0}}, "measured, H200"),
      Make("qwen2.5-32b", 64, 8, 128, KvDtype::kBF16,
           {{8192, 1.0}, {32768, 4.9}, {65536, 12.0}, {131072, 34.8}}, "measured, H200"),
      Make("tinyllama-1.1b", 22, 4, 64, KvDtype::kF16,
           {{4096, 0.20 * kTiny}, {32768, 1.48 * kTiny}, {65536, 3.8 * kTiny}, {131072, 12.0 * kTiny}},
           "llama-3-8b scaled by parameters (estimate)"),
  };
}

}  // namespace

Result<ModelProfile> FindModel(std::string_view name) {
  for (ModelProfile& m : Models()) {
    if (m.name == name) return std::move(m);
  }
  std::string names;
  for (const std::string& n : ModelNames()) names += (names.empty() ? "" : ", ") + n;
  return Status::InvalidArgument("unknown model '" + std::string(name) + "' (known: " + names + ")");
}

std::vector<std::string> ModelNames() {
  std::vector<std::string> out;
  for (const ModelProfile& m : Models()) out.push_back(m.name);
  return out;
}

}  // namespace tw::sim

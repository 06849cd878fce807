// Named model shapes for sizing: how many bytes of KV one block takes, and the measured prefill
// speed that a hit saves.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "sim/cost_model.h"
#include "tw/geometry.h"
#include "tw/result.h"

namespace tw::sim {

struct ModelProfile {
  std::string name;
  KvGeometry geometry;  // block_tokens is left at the caller's choice
  PrefillCurve prefill;
  std::string prefill_source;  // where the prefill figures come from
};

// "llama-3-8b", "qwen2.5-32b", "tinyllama-1.1b". kInvalidArgument otherwise, listing the names.
Result<ModelProfile> FindModel(std::string_view name);
std::vector<std::string> ModelNames();

}  // namespace tw::sim

// What `simulate` and `plan` print: JSON, human tables, and the byte sizes they accept.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "sim/planner.h"
#include "sim/replay.h"
#include "tw/result.h"

namespace tw::sim {

// "123", "64GiB", "1.5TB", "512MiB" (binary suffixes Ki/Mi/Gi/Ti, decimal K/M/G/T, optional B).
Result<uint64_t> ParseBytes(std::string_view text);
std::string FormatBytes(double bytes);  // "17.2 GB"

std::string SimResultJson(const SimResult& r);
std::string SimResultTable(const SimResult& r);
std::string PlanResultJson(const PlanResult& p, uint64_t object_bytes);
std::string PlanResultTable(const PlanResult& p, uint64_t object_bytes);

}  // namespace tw::sim

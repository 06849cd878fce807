// The cost model that turns hits into prefill seconds and time to first token (TTFT).
//
// Prefill of n prompt tokens takes T(n) seconds, T interpolated piecewise-linearly through measured
// (tokens, seconds) points and extrapolated along the last segment (T(0) = 0). A request of n tokens
// whose first h tokens hit computes only the rest; its attention still reads the cached prefix, so
// its compute is T(n) - T(h) (exact for a cost that is a function of the final length). Loading the
// hit KV costs bytes / bandwidth of each tier it comes from, and is not overlapped with compute (an
// upper bound: engines that load layer by layer hide part of it). No queueing: TTFT here is the
// service time of one request alone on the GPU.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tw/result.h"

namespace tw::sim {

class PrefillCurve {
 public:
  PrefillCurve() = default;
  // Points (tokens, seconds), any order; kInvalidArgument if empty, or not increasing in both.
  static Result<PrefillCurve> FromPoints(std::vector<std::pair<double, double>> points);
  // "4096:0.20,32768:1.48" -> points.
  static Result<PrefillCurve> Parse(std::string_view text);

  double Seconds(double tokens) const;
  std::string ToString() const;
  const std::vector<std::pair<double, double>>& points() const { return points_; }

 private:
  std::vector<std::pair<double, double>> points_;
};

struct CostModel {
  PrefillCurve prefill;
  // Host memory to GPU, pinned (measured 55 GB/s on PCIe 5 x16; docs/simulator.md).
  double dram_bytes_per_s = 55e9;
  // Disk to GPU through pinned staging (measured 1.3-1.7 GB/s with O_DIRECT on the lent machine).
  double disk_bytes_per_s = 1.5e9;
};

}  // namespace tw::sim

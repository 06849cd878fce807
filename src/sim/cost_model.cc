#include "sim/cost_model.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace tw::sim {

Result<PrefillCurve> PrefillCurve::FromPoints(std::vector<std::pair<double, double>> points) {
  if (points.empty()) return Status::InvalidArgument("a prefill curve needs at least one tokens:seconds point");
  std::sort(points.begin(), points.end());
  double prev_t = 0, prev_s = 0;
  for (const auto& [t, s] : points) {
    if (!(t > prev_t) || !(s > prev_s)) {
      return Status::InvalidArgument("prefill points must grow in both tokens and seconds");
    }
    prev_t = t;
    prev_s = s;
  }
  PrefillCurve c;
  c.points_ = std::move(points);
  return c;
}

Result<PrefillCurve> PrefillCurve::Parse(std::string_view text) {
  std::vector<std::pair<double, double>> points;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    size_t colon = item.find(':');
    double t = 0, s = 0;
    if (colon == std::string_view::npos ||
        std::from_chars(item.data(), item.data() + colon, t).ec != std::errc() ||
        std::from_chars(item.data() + colon + 1, item.data() + item.size(), s).ec != std::errc()) {
      return Status::InvalidArgument("prefill point '" + std::string(item) + "' is not tokens:seconds");
    }
    points.emplace_back(t, s);
  }
  return FromPoints(std::move(points));
}

double PrefillCurve::Seconds(double tokens) const {
  if (tokens <= 0 || points_.empty()) return 0;
  double t0 = 0, s0 = 0;
  for (size_t i = 0; i < points_.size(); ++i) {
    auto [t1, s1] = points_[i];
    if (tokens <= t1 || i + 1 == points_.size()) {
      return s0 + (s1 - s0) * (tokens - t0) / (t1 - t0);
    }
    t0 = t1;
    s0 = s1;
  }
  return 0;
}

std::string PrefillCurve::ToString() const {
  std::string out;
  char buf[64];
  for (const auto& [t, s] : points_) {
    std::snprintf(buf, sizeof(buf), "%s%.0f:%.3g", out.empty() ? "" : ",", t, s);
    out += buf;
  }
  return out;
}

}  // namespace tw::sim

#include "tw/retention.h"

#include <algorithm>
#include <charconv>

namespace tw {
namespace {

constexpr std::string_view kForms =
    "expected `persistent` or a class (`5m`, `1h`, `24h`, or a duration such as `90s`, `30m`, `7d`, `1500ms`), "
    "optionally followed by `sliding` (a hit renews the deadline; the default) or `fixed`";

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

Status Bad(std::string_view text) { return Status::InvalidArgument("retention '" + std::string(text) + "': " + std::string(kForms)); }

}  // namespace

Result<Retention> ParseRetention(std::string_view text) {
  std::string_view s = Trim(text);
  std::string_view mode;
  if (size_t space = s.find_first_of(" \t"); space != std::string_view::npos) {
    mode = Trim(s.substr(space));
    s = s.substr(0, space);
  }
  Retention r;
  if (s == "persistent") {
    if (!mode.empty()) return Bad(text);  // nothing to renew
    return r;
  }
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || end == s.data() || n == 0) return Bad(text);
  const std::string_view unit(end, s.data() + s.size() - end);
  uint64_t scale = 0;
  if (unit == "ms") scale = 1;
  else if (unit == "s") scale = 1000;
  else if (unit == "m") scale = 60'000;
  else if (unit == "h") scale = 3'600'000;
  else if (unit == "d") scale = 86'400'000;
  else return Bad(text);
  if (n > UINT64_MAX / scale) return Bad(text);
  r.ttl_ms = n * scale;
  if (mode.empty() || mode == "sliding") r.sliding = true;
  else if (mode == "fixed") r.sliding = false;
  else return Bad(text);
  return r;
}

std::string FormatRetention(const Retention& r) {
  if (r.persistent()) return "persistent";
  static constexpr std::pair<uint64_t, const char*> kUnits[] = {
      {86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1000, "s"}, {1, "ms"}};
  std::string out;
  for (const auto& [scale, name] : kUnits) {
    if (r.ttl_ms % scale == 0) {
      out = std::to_string(r.ttl_ms / scale) + name;
      break;
    }
  }
  return out + (r.sliding ? " sliding" : " fixed");
}

Retention CapRetention(const Retention& asked, const Retention& cap) {
  if (asked.persistent()) return cap;  // the tenant's default
  Retention out = asked;
  if (!cap.persistent()) out.ttl_ms = std::min(asked.ttl_ms, cap.ttl_ms);
  out.sliding = asked.sliding && (cap.sliding || cap.persistent());
  return out;
}

}  // namespace tw

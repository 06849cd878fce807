#include "sim/report.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace tw::sim {
namespace {

std::string F(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, v);
  return buf;
}
std::string U(uint64_t v) { return std::to_string(v); }
std::string Q(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

Result<uint64_t> ParseBytes(std::string_view text) {
  double v = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (r.ec != std::errc() || v < 0) return Status::InvalidArgument("not a size: " + std::string(text));
  std::string suffix(r.ptr, text.data() + text.size());
  for (char& c : suffix) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!suffix.empty() && suffix.back() == 'b') suffix.pop_back();
  double m = 1;
  if (suffix.empty()) m = 1;
  else if (suffix == "k") m = 1e3; else if (suffix == "m") m = 1e6; else if (suffix == "g") m = 1e9; else if (suffix == "t") m = 1e12;
  else if (suffix == "ki") m = 0x1p10; else if (suffix == "mi") m = 0x1p20; else if (suffix == "gi") m = 0x1p30; else if (suffix == "ti") m = 0x1p40;
  else return Status::InvalidArgument("unknown size suffix in " + std::string(text));
  return static_cast<uint64_t>(std::llround(v * m));
}

std::string FormatBytes(double bytes) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB", "PB"};
  int u = 0;
  while (bytes >= 1000 && u < 5) { bytes /= 1000; ++u; }
  return F(u == 0 ? "%.0f" : "%.1f", bytes) + " " + units[u];
}

std::string SimResultJson(const SimResult& r) {
  std::string o = "{";
  o += "\"policy\": " + Q(r.policy) + ", \"capacity_blocks\": " + U(r.capacity_blocks);
  o += ", \"hit_ratio\": " + F("%.6f", r.hit_ratio) + ", \"hit_blocks\": " + U(r.hit_blocks);
  o += ", \"block_accesses\": " + U(r.block_accesses) + ", \"unique_blocks\": " + U(r.unique_blocks);
  o += ", \"requests\": " + U(r.requests) + ", \"tiers\": [";
  for (size_t i = 0; i < r.tiers.size(); ++i) {
    const TierStats& t = r.tiers[i];
    o += std::string(i ? ", " : "") + "{\"name\": " + Q(t.name) + ", \"capacity_blocks\": " + U(t.capacity_blocks) +
         ", \"hit_blocks\": " + U(t.hit_blocks) + ", \"bytes_read\": " + U(t.bytes_read) +
         ", \"bytes_written\": " + U(t.bytes_written) + ", \"admissions\": " + U(t.admissions) +
         ", \"evictions\": " + U(t.evictions) + "}";
  }
  o += "], \"prompt_tokens\": " + U(r.prompt_tokens) + ", \"prefill_tokens_avoided\": " + U(r.prefill_tokens_avoided);
  o += ", \"gpu_seconds_without_cache\": " + F("%.3f", r.gpu_seconds_without_cache);
  o += ", \"gpu_seconds_saved\": " + F("%.3f", r.gpu_seconds_saved);
  o += ", \"ttft_mean_s\": " + F("%.4f", r.ttft_mean_s) + ", \"ttft_p90_s\": " + F("%.4f", r.ttft_p90_s);
  o += ", \"ttft_mean_no_cache_s\": " + F("%.4f", r.ttft_mean_no_cache_s) +
       ", \"ttft_p90_no_cache_s\": " + F("%.4f", r.ttft_p90_no_cache_s) + "}";
  return o;
}

std::string SimResultTable(const SimResult& r) {
  std::string o;
  o += "policy                  " + r.policy + "\n";
  o += "capacity                " + U(r.capacity_blocks) + " blocks (" +
       F("%.1f", 100.0 * r.capacity_blocks / std::max<uint64_t>(r.unique_blocks, 1)) + "% of " + U(r.unique_blocks) + " unique)\n";
  o += "requests                " + U(r.requests) + ", " + U(r.block_accesses) + " block accesses\n";
  o += "prefix hit ratio        " + F("%.4f", r.hit_ratio) + "  (" + U(r.hit_blocks) + " hit blocks)\n";
  o += "\ntier   capacity(blocks)  hits        read          written       evictions\n";
  for (const TierStats& t : r.tiers) {
    char line[256];
    std::snprintf(line, sizeof(line), "%-6s %-17llu %-11llu %-13s %-13s %llu\n", t.name.c_str(),
                  (unsigned long long)t.capacity_blocks, (unsigned long long)t.hit_blocks,
                  FormatBytes(t.bytes_read).c_str(), FormatBytes(t.bytes_written).c_str(), (unsigned long long)t.evictions);
    o += line;
  }
  o += "\nprefill tokens avoided  " + U(r.prefill_tokens_avoided) + " of " + U(r.prompt_tokens) + " (" +
       F("%.1f", 100.0 * r.prefill_tokens_avoided / std::max<uint64_t>(r.prompt_tokens, 1)) + "%)\n";
  o += "GPU prefill seconds     " + F("%.1f", r.gpu_seconds_saved) + " saved of " + F("%.1f", r.gpu_seconds_without_cache) + "\n";
  o += "TTFT mean / p90         " + F("%.3f", r.ttft_mean_s) + " s / " + F("%.3f", r.ttft_p90_s) + " s   (no cache: " +
       F("%.3f", r.ttft_mean_no_cache_s) + " s / " + F("%.3f", r.ttft_p90_no_cache_s) + " s)\n";
  return o;
}

std::string PlanResultJson(const PlanResult& p, uint64_t object_bytes) {
  std::string o = "{\"unique_blocks\": " + U(p.unique_blocks) + ", \"unlimited_hit_ratio\": " + F("%.6f", p.unlimited_hit_ratio);
  o += ", \"curves\": [";
  for (size_t i = 0; i < p.curves.size(); ++i) {
    o += std::string(i ? ", " : "") + "{\"policy\": " + Q(p.curves[i].policy) + ", \"points\": [";
    for (size_t j = 0; j < p.curves[i].points.size(); ++j) {
      const CurvePoint& c = p.curves[i].points[j];
      o += std::string(j ? ", " : "") + "{\"fraction\": " + F("%.4f", c.fraction) + ", \"capacity_blocks\": " +
           U(c.capacity_blocks) + ", \"capacity_bytes\": " + U(c.capacity_blocks * object_bytes) +
           ", \"hit_ratio\": " + F("%.6f", c.hit_ratio) + "}";
    }
    o += "]}";
  }
  o += "], \"sizing\": {\"policy\": " + Q(p.sizing_policy) + ", \"target_hit_ratio\": " + F("%.6f", p.target_hit_ratio);
  o += ", \"dram_blocks\": " + U(p.dram_blocks) + ", \"dram_bytes\": " + U(p.dram_blocks * object_bytes);
  o += ", \"disk_blocks\": " + U(p.disk_blocks) + ", \"disk_bytes\": " + U(p.disk_blocks * object_bytes);
  o += ", \"result\": " + SimResultJson(p.sized) + "}}";
  return o;
}

std::string PlanResultTable(const PlanResult& p, uint64_t object_bytes) {
  std::string o = "hit ratio by capacity (share of " + U(p.unique_blocks) + " unique blocks; unlimited: " +
                  F("%.4f", p.unlimited_hit_ratio) + ")\n\ncapacity    bytes       ";
  for (const PolicyCurve& c : p.curves) { char b[32]; std::snprintf(b, sizeof(b), "%-13s", c.policy.c_str()); o += b; }
  o += "\n";
  if (!p.curves.empty()) {
    for (size_t j = 0; j < p.curves[0].points.size(); ++j) {
      char b[64];
      std::snprintf(b, sizeof(b), "%-11s %-11s ", (F("%.1f", 100 * p.curves[0].points[j].fraction) + "%").c_str(),
                    FormatBytes(static_cast<double>(p.curves[0].points[j].capacity_blocks) * object_bytes).c_str());
      o += b;
      for (const PolicyCurve& c : p.curves) { std::snprintf(b, sizeof(b), "%-13.4f", c.points[j].hit_ratio); o += b; }
      o += "\n";
    }
  }
  o += "\nto reach " + F("%.4f", p.target_hit_ratio) + " (" + F("%.0f", 100 * p.target_hit_ratio / std::max(p.unlimited_hit_ratio, 1e-12)) +
       "% of unlimited) with " + p.sizing_policy + ":\n";
  o += "  DRAM  " + U(p.dram_blocks) + " blocks = " + FormatBytes(static_cast<double>(p.dram_blocks) * object_bytes) + "\n";
  o += "  disk  " + U(p.disk_blocks) + " blocks = " + FormatBytes(static_cast<double>(p.disk_blocks) * object_bytes) + "\n";
  o += "  which replays to hit ratio " + F("%.4f", p.sized.hit_ratio) + ", GPU prefill seconds saved " +
       F("%.1f", p.sized.gpu_seconds_saved) + " of " + F("%.1f", p.sized.gpu_seconds_without_cache) +
       ", TTFT mean " + F("%.3f", p.sized.ttft_mean_s) + " s / p90 " + F("%.3f", p.sized.ttft_p90_s) + " s (no cache " +
       F("%.3f", p.sized.ttft_mean_no_cache_s) + " / " + F("%.3f", p.sized.ttft_p90_no_cache_s) + " s)\n";
  return o;
}

}  // namespace tw::sim

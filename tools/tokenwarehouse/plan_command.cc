// `tokenwarehouse plan`: hit ratio versus capacity for every policy (and Belady), plotted, and the
// DRAM and disk sizes that reach a target share of the unlimited-capacity hit ratio, with the TTFT
// and GPU seconds they buy; what each capacity saves in GPU-hours and money, priced like the
// daemon's `economics:` (sim/savings.h), plotted too; and how many tokens a GB holds with each KV
// codec. See docs/simulator.md.
#include <cstdio>
#include <iostream>
#include <memory>

#include "commands.h"
#include "sim/model.h"
#include "sim/planner.h"
#include "sim/progress_bar.h"
#include "server/config.h"
#include "sim/report.h"
#include "sim/savings.h"
#include "sim/svg_plot.h"
#include "tw/codec.h"

namespace tw::cli {
namespace {

struct PlanArgs {
  std::string trace;
  std::string model = "llama-3-8b";
  uint32_t block_tokens = 512;
  double target = 0.9;
  double dram_target = 0.5;
  std::string dram_size;
  std::string policy = "default";
  std::string prefill_points;
  double dram_gbps = 55, disk_gbps = 1.5;
  bool json = false;
  std::string plot;
  std::string plot_savings;
  std::string codec = "none";
  // Economics, as the daemon's config names them (economics.*); --config reads them from one.
  std::string config;
  double prefill_tokens_per_s = 0;
  double gpu_hour_price = 0;
  std::string currency = "USD";
};

// Tokens one GB (1e9 bytes) of a tier holds with each codec that has a fixed size. lossless
// depends on the KV itself: `tokenwarehouse bench codec` (or the engine's own KV) measures it.
struct CodecCapacity {
  KvCodec codec;
  uint64_t object_bytes;
  double tokens_per_gb;
};

std::vector<CodecCapacity> CodecCapacities(const KvGeometry& g) {
  std::vector<CodecCapacity> out;
  for (KvCodec c : {KvCodec::kNone, KvCodec::kFp8, KvCodec::kInt8, KvCodec::kKivi2}) {
    if (!CheckKvCodec(c, g).ok()) continue;
    const uint64_t bytes = EncodedKvBound(c, g);
    out.push_back({c, bytes, 1e9 / static_cast<double>(bytes) * g.block_tokens});
  }
  return out;
}

int RunPlan(const PlanArgs& a) {
  auto fail = [](const Status& s) {
    std::fprintf(stderr, "plan: %s\n", s.ToString().c_str());
    return 1;
  };
  auto model = sim::FindModel(a.model);
  if (!model.ok()) return fail(model.status());
  KvGeometry geometry = model->geometry;
  geometry.block_tokens = a.block_tokens;
  if (Status s = geometry.Validate(); !s.ok()) return fail(s);
  auto codec = ParseKvCodec(a.codec);
  if (!codec.ok()) return fail(codec.status());
  if (*codec == KvCodec::kLossless) {
    return fail(Status::InvalidArgument("lossless has no fixed size: measure its ratio (tokenwarehouse bench codec) "
                                        "and plan with none, or a fixed-size codec"));
  }
  if (Status s = CheckKvCodec(*codec, geometry); !s.ok()) return fail(s);
  const std::vector<CodecCapacity> capacities = CodecCapacities(geometry);
  auto trace = sim::ReadMooncakeTrace(a.trace);
  if (!trace.ok()) return fail(trace.status());

  sim::PlanOptions o;
  o.sizing_policy = a.policy == "default" ? sim::DefaultPolicyName() : a.policy;
  o.target_share = a.target;
  o.dram_target_share = std::min(a.dram_target, a.target);
  o.base.block_tokens = a.block_tokens;
  // A block takes its encoded size in every tier and moves as that many bytes; the decode itself is
  // not modelled (on the GPU it runs inside the layer-by-layer load).
  o.base.object_bytes = EncodedKvBound(*codec, geometry);
  o.base.cost.prefill = model->prefill;
  if (!a.prefill_points.empty()) {
    auto c = sim::PrefillCurve::Parse(a.prefill_points);
    if (!c.ok()) return fail(c.status());
    o.base.cost.prefill = *c;
  }
  o.dram_bytes_per_s = o.base.cost.dram_bytes_per_s = a.dram_gbps * 1e9;
  o.disk_bytes_per_s = o.base.cost.disk_bytes_per_s = a.disk_gbps * 1e9;
  if (!a.dram_size.empty()) {
    auto b = sim::ParseBytes(a.dram_size);
    if (!b.ok()) return fail(b.status());
    o.dram_blocks = std::max<uint64_t>(1, *b / o.base.object_bytes);
  }
  sim::EconomicsOptions economics{a.prefill_tokens_per_s, a.gpu_hour_price, a.currency};
  if (!a.config.empty()) {
    // The daemon's own figures, so the plan prices hits exactly as its /stats will. Flags given
    // explicitly (non-zero) win over the file's.
    auto c = server::LoadServerConfig(a.config);
    if (!c.ok()) return fail(c.status());
    if (economics.prefill_tokens_per_s == 0) economics.prefill_tokens_per_s = c->economics.PrefillRate(a.model);
    if (economics.gpu_hour_price == 0) economics.gpu_hour_price = c->economics.gpu_hour_price;
    if (a.currency == "USD") economics.currency = c->economics.currency;
  }
  if (economics.prefill_tokens_per_s < 0 || economics.gpu_hour_price < 0) {
    return fail(Status::InvalidArgument("--prefill-tokens-per-s and --gpu-hour-price cannot be negative"));
  }
  sim::ProgressBar bar("plan");
  o.progress = [&bar](uint64_t d, uint64_t t) { bar.Update(d, t); };
  auto plan = sim::Plan(*trace, o);
  if (!plan.ok()) return fail(plan.status());

  if (!a.plot.empty()) {
    sim::PlotSpec spec;
    spec.title = "Prefix hit ratio vs capacity, " + a.model + " (" + a.trace.substr(a.trace.find_last_of('/') + 1) + ")";
    spec.x_label = "capacity (% of unique blocks)";
    spec.y_label = "prefix hit ratio";
    spec.log_x = true;
    for (const sim::PolicyCurve& c : plan->curves) {
      sim::PlotSeries s{c.policy, {}, c.policy == "belady"};
      for (const sim::CurvePoint& p : c.points) s.points.push_back({100 * p.fraction, p.hit_ratio});
      spec.series.push_back(std::move(s));
    }
    if (Status s = sim::WriteSvg(a.plot, spec); !s.ok()) return fail(s);
  }
  const sim::PolicyCurve* sizing = nullptr;
  for (const sim::PolicyCurve& c : plan->curves) {
    if (c.policy == plan->sizing_policy) sizing = &c;
  }
  if (!sizing && !plan->curves.empty()) sizing = &plan->curves.front();
  std::vector<sim::SavingsPoint> savings;
  if (sizing) {
    auto s = sim::Savings(*sizing, economics);
    if (!s.ok()) return fail(s.status());
    savings = std::move(*s);
  }
  if (!a.plot_savings.empty()) {
    const std::string what = economics.gpu_hour_price > 0 ? economics.currency + " saved" : "GPU-hours saved";
    auto spec = sim::SavingsPlot(*plan, economics, what + " vs capacity, " + a.model + " (" +
                                                        a.trace.substr(a.trace.find_last_of('/') + 1) + ")");
    if (!spec.ok()) return fail(spec.status());
    if (Status s = sim::WriteSvg(a.plot_savings, *spec); !s.ok()) return fail(s);
  }
  if (a.json) {
    std::string json = sim::PlanResultJson(*plan, o.base.object_bytes);
    json.pop_back();  // the closing brace: the codec figures go in the same object
    json += ", \"economics\": {\"prefill_tokens_per_s\": " + std::to_string(economics.prefill_tokens_per_s) +
            ", \"gpu_hour_price\": " + std::to_string(economics.gpu_hour_price) + ", \"currency\": \"" + economics.currency +
            "\", \"policy\": \"" + (sizing ? sizing->policy : std::string()) + "\", \"savings\": [";
    for (size_t i = 0; i < savings.size(); ++i) {
      char b[200];
      std::snprintf(b, sizeof(b),
                    "%s{\"fraction\": %.4f, \"capacity_blocks\": %llu, \"hit_tokens\": %llu, \"gpu_seconds_saved\": %.3f, "
                    "\"money_saved\": %.4f}",
                    i ? ", " : "", savings[i].fraction, static_cast<unsigned long long>(savings[i].capacity_blocks),
                    static_cast<unsigned long long>(savings[i].hit_tokens), savings[i].gpu_seconds_saved, savings[i].money_saved);
      json += b;
    }
    json += "]}";
    json += ", \"codec\": \"" + std::string(KvCodecName(*codec)) + "\", \"codecs\": [";
    for (size_t i = 0; i < capacities.size(); ++i) {
      char b[160];
      std::snprintf(b, sizeof(b), "%s{\"codec\": \"%s\", \"object_bytes\": %llu, \"tokens_per_gb\": %.1f}", i ? ", " : "",
                    std::string(KvCodecName(capacities[i].codec)).c_str(),
                    static_cast<unsigned long long>(capacities[i].object_bytes), capacities[i].tokens_per_gb);
      json += b;
    }
    std::cout << json << "]}\n";
  } else {
    std::cout << "model " << a.model << ": " << geometry.ToString() << ", "
              << sim::FormatBytes(static_cast<double>(o.base.object_bytes)) << " a block (codec " << KvCodecName(*codec) << ")\n\n";
    std::cout << sim::PlanResultTable(*plan, o.base.object_bytes);
    if (sizing) std::cout << "\n" << sim::SavingsTable(sizing->policy, savings, o.base.object_bytes, economics);
    std::cout << "\ntokens a GB holds, by KV codec (lossless: measure with `tokenwarehouse bench codec`)\n";
    for (const CodecCapacity& c : capacities) {
      std::printf("  %-8s %10.0f tokens/GB  %s a block\n", std::string(KvCodecName(c.codec)).c_str(), c.tokens_per_gb,
                  sim::FormatBytes(static_cast<double>(c.object_bytes)).c_str());
    }
  }
  return 0;
}

}  // namespace

void RegisterPlanCommand(CLI::App& app) {
  auto a = std::make_shared<PlanArgs>();
  CLI::App* cmd = app.add_subcommand("plan", "Capacity planner: hit ratio vs capacity per policy, and the DRAM + disk sizes for a target");
  cmd->add_option("--trace", a->trace, "Trace in Mooncake JSONL format")->required();
  cmd->add_option("--model", a->model, "Named model: llama-3-8b, qwen2.5-32b, tinyllama-1.1b")->capture_default_str();
  cmd->add_option("--block-tokens", a->block_tokens, "Tokens per block of the trace's hash_ids")->capture_default_str();
  cmd->add_option("--target", a->target, "Share of the unlimited-capacity hit ratio to reach with DRAM + disk")->capture_default_str();
  cmd->add_option("--dram-target", a->dram_target, "Share of it that DRAM alone should reach (sizes DRAM unless --dram is given)")->capture_default_str();
  cmd->add_option("--dram", a->dram_size, "Fix the DRAM size (e.g. 512GiB); disk makes up the rest");
  cmd->add_option("--policy", a->policy, "Policy to size for (default: chain-reuse, the store's default)")->capture_default_str();
  cmd->add_option("--prefill-points", a->prefill_points, "Prefill cost as tokens:seconds points (default: the model's measured curve)");
  cmd->add_option("--dram-gbps", a->dram_gbps, "DRAM-to-GPU bandwidth, GB/s")->capture_default_str();
  cmd->add_option("--disk-gbps", a->disk_gbps, "Disk-to-GPU bandwidth, GB/s")->capture_default_str();
  cmd->add_flag("--json", a->json, "Print one JSON object instead of the tables");
  cmd->add_option("--plot", a->plot, "Write the hit-ratio curves as SVG");
  cmd->add_option("--plot-savings", a->plot_savings, "Write money (or GPU-hours, without a price) saved vs capacity as SVG");
  cmd->add_option("--prefill-tokens-per-s", a->prefill_tokens_per_s,
                  "Prefill rate that prices hit tokens, as the daemon's economics.prefill_tokens_per_s "
                  "(0: the model's measured prefill curve)")
      ->capture_default_str();
  cmd->add_option("--gpu-hour-price", a->gpu_hour_price, "Price of a GPU-hour, as economics.gpu_hour_price (0: no money figures)")
      ->capture_default_str();
  cmd->add_option("--currency", a->currency, "Currency of the price, as economics.currency")->capture_default_str();
  cmd->add_option("--config", a->config, "Take the economics from a `tokenwarehouse serve` config file (flags given win)");
  cmd->add_option("--codec", a->codec, "KV codec the tiers store blocks with: none, fp8, int8 or kivi2 (blocks take, and load as, their encoded size)")
      ->capture_default_str();
  cmd->callback([a] { ExitCode() = RunPlan(*a); });
}

}  // namespace tw::cli

// `tokenwarehouse route`: an OpenAI-compatible HTTP front for several vLLM servers that sends each
// request to the engine with the lowest estimated time to first token: GPU prefix (the engine's KV
// events), warehouse prefix (the daemon, by tier) and load (the engine's /metrics). The work is in
// src/router (router.h); this file is flags, start-up and the wait for a stop signal.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "commands.h"
#include "router/router.h"
#include "sim/model.h"
#include "stop_signals.h"

namespace tw::cli {
namespace {

struct RouteFlags {
  std::vector<std::string> engines;
  std::string listen = "127.0.0.1:8000";
  std::string warehouse, model_id, model_revision, kv_dtype, key_hash = "sha256";
  uint32_t layers = 0, kv_heads = 0, head_dim = 0, block_tokens = 256;
  uint64_t ttl_ms = 0;
  std::string routing = "warehouse-aware";
  std::string prefill_points;
  double dram_gbps = 55, disk_gbps = 1.5, peer_gbps = 10, queued_request_s = 0.5;
  uint64_t poll_ms = 250;
  double engine_timeout_s = 600;
  std::string log_level = "info", ready_file, config;
};

int Fail(const Status& s) {
  std::fprintf(stderr, "route: %s\n", s.ToString().c_str());
  return 2;
}

// A config file is the flags themselves: one source of truth for names, defaults and help. CLI11
// 2.1 reads config files for the top-level app only, so the subcommand applies its own: each key
// sets the flag of that name, unless the command line gave it.
Status ApplyConfigFile(CLI::App& cmd, const std::string& path) {
  std::vector<CLI::ConfigItem> items;
  try {
    items = CLI::ConfigTOML().from_file(path);
  } catch (const CLI::Error& e) {
    return Status::InvalidArgument("--config " + path + ": " + e.what());
  }
  for (const CLI::ConfigItem& item : items) {
    if (item.name == "++" || item.name == "--") continue;  // CLI11's marks of a [section]'s start and end
    CLI::Option* opt = cmd.get_option_no_throw("--" + item.name);
    if (opt == nullptr || item.name == "config") {
      return Status::InvalidArgument("--config " + path + ": unknown key '" + item.name + "' (keys are route's flags)");
    }
    if (opt->count() > 0) continue;
    try {
      opt->add_result(item.inputs);
      opt->run_callback();
    } catch (const CLI::Error& e) {
      return Status::InvalidArgument("--config " + path + ": " + item.name + ": " + e.what());
    }
  }
  return Status::Ok();
}

int Run(const RouteFlags& f) {
  if (f.engines.empty()) return Fail(Status::InvalidArgument("at least one --engine (or engine = [...] in --config)"));
  spdlog::set_default_logger(spdlog::stderr_color_mt("tokenwarehouse-route"));
  spdlog::set_level(spdlog::level::from_str(f.log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

  router::RouterOptions o;
  o.listen = f.listen;
  for (const std::string& e : f.engines) {
    auto spec = router::ParseEngineSpec(e);
    if (!spec.ok()) return Fail(spec.status());
    o.engines.push_back(std::move(*spec));
  }
  auto policy = sim::ParseRoutingPolicy(f.routing);
  if (!policy.ok()) return Fail(policy.status());
  o.policy = *policy;
  auto model = sim::FindModel("llama-3-8b");
  if (!model.ok()) return Fail(model.status());
  o.costs.route.cost.prefill = model->prefill;
  if (!f.prefill_points.empty()) {
    auto curve = sim::PrefillCurve::Parse(f.prefill_points);
    if (!curve.ok()) return Fail(curve.status());
    o.costs.route.cost.prefill = *curve;
  }
  o.costs.route.cost.dram_bytes_per_s = f.dram_gbps * 1e9;
  o.costs.route.cost.disk_bytes_per_s = f.disk_gbps * 1e9;
  o.costs.route.peer_bytes_per_s = f.peer_gbps * 1e9;
  o.costs.queued_request_s = f.queued_request_s;
  o.poll_ms = f.poll_ms;
  o.engine_timeout_ms = static_cast<uint64_t>(f.engine_timeout_s * 1000);

  const bool any_warehouse = !f.warehouse.empty() || std::any_of(o.engines.begin(), o.engines.end(), [](const auto& e) {
    return !e.warehouse.empty();
  });
  if (any_warehouse) {
    if (f.layers == 0 || f.kv_heads == 0 || f.head_dim == 0 || f.kv_dtype.empty()) {
      return Fail(Status::InvalidArgument(
          "a warehouse (--warehouse, or an engine's warehouse=) needs the namespace the connector registers: "
          "--layers, --kv-heads, --head-dim, --kv-dtype (and --block-tokens if the connector's block_tokens is not 256)"));
    }
    router::WarehouseOptions w;
    w.url = f.warehouse;
    if (const char* token = std::getenv("TW_TOKEN")) w.token = token;
    w.nspace.model_id = f.model_id;
    w.nspace.model_revision = f.model_revision;
    w.nspace.geometry.layers = f.layers;
    w.nspace.geometry.kv_heads = f.kv_heads;
    w.nspace.geometry.head_dim = f.head_dim;
    auto dtype = ParseKvDtype(f.kv_dtype);
    if (!dtype.ok()) return Fail(dtype.status());
    w.nspace.geometry.dtype = *dtype;
    w.nspace.geometry.block_tokens = f.block_tokens;
    if (f.key_hash == "xxh3") w.nspace.key_hash = KeyHash::kXxh3;
    else if (f.key_hash != "sha256") return Fail(Status::InvalidArgument("--key-hash is sha256 or xxh3"));
    // Validate with a stand-in model id: the real one may come with each request.
    Namespace check = w.nspace;
    if (check.model_id.empty()) check.model_id = "model";
    if (Status s = check.Validate(); !s.ok()) return Fail(s);
    w.ttl_ms = f.ttl_ms;
    o.warehouse = std::move(w);
  }

  // Before any thread starts: only sigwait below sees the stop signals; a client gone mid-stream
  // (SIGPIPE) is an error code.
  const sigset_t stop = BlockStopSignals();

  const size_t engines = o.engines.size();
  const std::string warehouse = !f.warehouse.empty() ? f.warehouse : any_warehouse ? "per engine" : "none";
  auto router = router::Router::Start(std::move(o));
  if (!router.ok()) return Fail(router.status());
  spdlog::info("routing on http://{} to {} engine(s), policy {}, warehouse {}", (*router)->address(), engines,
               f.routing, warehouse);
  if (!f.ready_file.empty()) {
    std::ofstream(f.ready_file + ".tmp") << "http://" << (*router)->address() << "\n";
    std::rename((f.ready_file + ".tmp").c_str(), f.ready_file.c_str());
  }
  int sig = 0;
  sigwait(&stop, &sig);
  spdlog::info("{} received: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  (*router)->Stop();
  return 0;
}

}  // namespace

void RegisterRouteCommand(CLI::App& app) {
  auto f = std::make_shared<RouteFlags>();
  CLI::App* cmd = app.add_subcommand(
      "route",
      "OpenAI-compatible router in front of vLLM servers of one model. Each request goes to the engine with the lowest "
      "estimated time to first token (the policy `simulate --engines N` measures): load (the router's requests in "
      "flight to the engine, plus its other running + waiting requests from its /metrics) x --queued-request-s, plus loading "
      "the prefix it would hit (its GPU prefix cache, from its KV events; then the warehouse's DRAM, disk or peer "
      "tier, each at its rate), plus prefilling the rest. Serves /v1/completions and /v1/chat/completions (streams "
      "pass through), /v1/models, /health, /metrics and /router/engines. Each answer says where it went: headers "
      "x-tw-engine, x-tw-reason (gpu-prefix, warehouse-prefix, load, round-robin, only-engine), x-tw-gpu-prefix-tokens, "
      "x-tw-warehouse-prefix-tokens. An engine that does not answer is skipped and retried by the poller; without "
      "the warehouse the router scores GPU prefix and load. See docs/engines/router.md.");
  cmd->add_option("--config", f->config,
                  "Read flags from a TOML file: each key is a flag's name without the dashes, e.g. "
                  "engine = [\"http://127.0.0.1:8001,events=tcp://127.0.0.1:5557\", \"http://127.0.0.1:8002\"], "
                  "warehouse = \"unix:///run/tw/tw.sock\", layers = 32; flags given on the command line win");
  cmd->add_option("--engine", f->engines,
                  "A vLLM server: http://host:port[,events=tcp://host:port][,topic=T][,name=N][,warehouse=URL]. events= "
                  "is where to connect to its KV events, for its GPU prefix (its --kv-events-config endpoint must "
                  "bind: tcp://*:PORT); warehouse= is its node's daemon when not --warehouse (engines of several "
                  "nodes); repeat for each engine")
;
  cmd->add_option("--listen", f->listen, "host:port to serve on (port 0 picks one)")->capture_default_str();
  cmd->add_option("--warehouse", f->warehouse,
                  "The daemon the engines' connector uses (unix:///path/tw.sock, tw://host:port, tws://, etcd://); "
                  "token from $TW_TOKEN. Needs the connector's namespace: --layers --kv-heads --head-dim --kv-dtype");
  cmd->add_option("--model-id", f->model_id,
                  "Namespace model id (the connector's model_id; default: each request's \"model\", the served name)");
  cmd->add_option("--model-revision", f->model_revision, "Namespace model revision (the connector's model_revision)");
  cmd->add_option("--layers", f->layers, "Namespace: the model's attention layers");
  cmd->add_option("--kv-heads", f->kv_heads, "Namespace: KV heads");
  cmd->add_option("--head-dim", f->head_dim, "Namespace: head dimension");
  cmd->add_option("--kv-dtype", f->kv_dtype, "Namespace: KV dtype as vLLM holds it (f32, f16, bf16)");
  cmd->add_option("--block-tokens", f->block_tokens, "Namespace: tokens per stored block (the connector's block_tokens)")
      ->capture_default_str();
  cmd->add_option("--key-hash", f->key_hash, "Namespace: sha256 or xxh3 (the connector's key_hash)")->capture_default_str();
  cmd->add_option("--ttl-ms", f->ttl_ms, "The connector's ttl_ms (a namespace registers with one TTL)")->capture_default_str();
  cmd->add_option("--routing", f->routing, "round-robin, least-loaded, gpu-prefix or warehouse-aware")->capture_default_str();
  cmd->add_option("--prefill-points", f->prefill_points,
                  "Prefill cost as tokens:seconds points (default: Llama-3-8B measured on an H200, as `simulate`)");
  cmd->add_option("--dram-gbps", f->dram_gbps, "Warehouse DRAM to GPU, GB/s (measured pinned copy: 55)")->capture_default_str();
  cmd->add_option("--disk-gbps", f->disk_gbps, "Warehouse disk to GPU, GB/s (measured O_DIRECT: 1.5)")->capture_default_str();
  cmd->add_option("--peer-gbps", f->peer_gbps, "Another warehouse node to GPU, GB/s")->capture_default_str();
  cmd->add_option("--queued-request-s", f->queued_request_s,
                  "Seconds of work one running or waiting request counts for (about the fleet's mean TTFT)")
      ->capture_default_str();
  cmd->add_option("--poll-ms", f->poll_ms, "How often each engine's /metrics is read")->capture_default_str();
  cmd->add_option("--engine-timeout-s", f->engine_timeout_s, "The longest an engine may stay silent mid-response")
      ->capture_default_str();
  cmd->add_option("--log-level", f->log_level, "trace, debug (one line per decision), info, warn, error")->capture_default_str();
  cmd->add_option("--ready-file", f->ready_file, "Write the bound URL here once listening (for scripts and tests)");
  cmd->callback([f, cmd] {
    if (!f->config.empty()) {
      if (Status s = ApplyConfigFile(*cmd, f->config); !s.ok()) {
        ExitCode() = Fail(s);
        return;
      }
    }
    ExitCode() = Run(*f);
  });
}

}  // namespace tw::cli

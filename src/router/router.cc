#include "router/router.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "common/log_rate_limiter.h"
#include "common/logging.h"
#include "router/stream_relay.h"

namespace tw::router {

namespace {

using json = nlohmann::json;

constexpr int kSlowPollsToDown = 3;

void JsonError(httplib::Response& res, int status, const std::string& message) {
  // OpenAI's error shape, which clients of vLLM already parse.
  json err = {{"error", {{"message", message}, {"type", "router_error"}, {"code", status}}}};
  res.status = status;
  res.set_content(err.dump(), "application/json");
}

// What the router passes on from a client's request to the engine besides the body: the API key
// (vLLM's --api-key) and a request id, if the client sent them.
httplib::Headers UpstreamHeaders(const httplib::Request& req) {
  httplib::Headers h;
  for (const char* name : {"Authorization", "X-Request-Id"}) {
    if (req.has_header(name)) h.emplace(name, req.get_header_value(name));
  }
  return h;
}

std::string Quote(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

class RouterImpl final : public Router {
 public:
  explicit RouterImpl(RouterOptions o) : options_(std::move(o)) {
    options_.costs.route.block_tokens = 1;
    for (const EngineSpec& s : options_.engines) engines_.push_back(std::make_unique<Engine>(s));
  }

  ~RouterImpl() override { Stop(); }

  Status Init() {
    for (auto& e : engines_) {
      Status s = e->StartEvents();
      if (s.code() == StatusCode::kNotSupported) {
        TW_LOG_WARN("engine {}: {}; its GPU prefix scores 0", e->name(), s.message());
      } else if (!s.ok()) {
        return s.WithContext("engine " + e->name());
      }
    }
    std::string host = "127.0.0.1";
    int port = 0;
    const size_t colon = options_.listen.rfind(':');
    if (colon == std::string::npos) return Status::InvalidArgument("--listen is host:port");
    host = options_.listen.substr(0, colon);
    port = std::atoi(options_.listen.c_str() + colon + 1);
    const uint32_t threads = options_.threads;
    http_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    http_.set_read_timeout(std::chrono::seconds(60));
    http_.set_write_timeout(std::chrono::seconds(60));
    Routes();
    if (port == 0) port = http_.bind_to_any_port(host);
    else if (!http_.bind_to_port(host, port)) port = -1;
    if (port <= 0) return Status::Unavailable("cannot bind " + options_.listen);
    address_ = host + ":" + std::to_string(port);
    server_ = std::thread([this] { http_.listen_after_bind(); });
    poller_ = std::thread([this] { Poll(); });
    return Status::Ok();
  }

  std::string address() const override { return address_; }

  void Stop() override {
    {
      std::lock_guard lock(stop_mu_);
      if (stopped_) return;
      stopped_ = true;
      stop_cv_.notify_all();
    }
    http_.stop();
    if (server_.joinable()) server_.join();
    if (poller_.joinable()) poller_.join();
  }

 private:
  void Routes() {
    http_.Post("/v1/completions", [this](const httplib::Request& q, httplib::Response& r) { Handle(q, r, false); });
    http_.Post("/v1/chat/completions", [this](const httplib::Request& q, httplib::Response& r) { Handle(q, r, true); });
    http_.Get("/v1/models", [this](const httplib::Request& q, httplib::Response& r) { Models(q, r); });
    http_.Get("/health", [this](const httplib::Request&, httplib::Response& r) {
      const bool any = std::any_of(engines_.begin(), engines_.end(), [](const auto& e) { return e->up(); });
      r.status = any ? 200 : 503;
      r.set_content(any ? "ok\n" : "no engine is up\n", "text/plain");
    });
    http_.Get("/metrics", [this](const httplib::Request&, httplib::Response& r) {
      r.set_content(MetricsText(), "text/plain; version=0.0.4");
    });
    http_.Get("/router/engines", [this](const httplib::Request&, httplib::Response& r) {
      r.set_content(EnginesJson().dump(2), "application/json");
    });
  }

  // ---- one request -------------------------------------------------------------------------------

  void Handle(const httplib::Request& req, httplib::Response& res, bool chat) {
    json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded() || !body.is_object()) return JsonError(res, 400, "the request body is not a JSON object");
    const bool stream = body.contains("stream") && body["stream"].is_boolean() && body["stream"].get<bool>();
    const std::vector<uint32_t> tokens = Tokenize(req, body, chat);
    ScoringCosts costs = options_.costs;
    // Each warehouse is asked once per request, however many engines share it (one per node).
    std::map<std::string, WarehouseHit> hits;
    auto hit_of = [&](const Engine& e) -> const WarehouseHit& {
      const std::string& url = WarehouseUrl(e);
      auto it = hits.find(url);
      if (it != hits.end()) return it->second;
      WarehouseHit hit;
      if (WarehousePrefix* w = WarehouseFor(url, body)) {
        costs.route.object_bytes = static_cast<uint64_t>(w->bytes_per_token());  // one namespace: one size
        hit = Lookup(*w, tokens);
      }
      return hits.emplace(url, std::move(hit)).first->second;
    };
    const std::string path = chat ? "/v1/chat/completions" : "/v1/completions";

    std::vector<size_t> tried;
    for (;;) {
      std::vector<Candidate> candidates;
      for (size_t i = 0; i < engines_.size(); ++i) {
        Engine& e = *engines_[i];
        if (!e.up() || std::find(tried.begin(), tried.end(), i) != tried.end()) continue;
        candidates.push_back({i, e.load(), e.index().LongestPrefixTokens(tokens), hit_of(e)});
      }
      if (candidates.empty()) {
        no_engine_.fetch_add(1, std::memory_order_relaxed);
        return JsonError(res, 503, tried.empty() ? "no engine is up" : "every engine failed this request");
      }
      Choice choice;
      {
        std::lock_guard lock(turn_mu_);
        choice = Choose(options_.policy, candidates, static_cast<uint32_t>(tokens.size()), costs, &turn_);
      }
      Engine& e = *engines_[choice.engine];
      decisions_[static_cast<size_t>(choice.reason)].fetch_add(1, std::memory_order_relaxed);
      const uint64_t warehouse_tokens = hit_of(e).tokens();
      // spdlog::debug, not TW_LOG_DEBUG (compiled out of Release builds): `--log-level debug` is how
      // an operator sees each decision.
      spdlog::debug("{} {} tokens -> {} ({}; gpu prefix {}, warehouse prefix {}, load {:.1f}, estimate {:.3f} s)", path,
                   tokens.size(), e.name(), ReasonName(choice.reason), choice.view.gpu_blocks, warehouse_tokens,
                   e.load(), choice.estimate_s);
      for (const char* h : {"x-tw-engine", "x-tw-reason", "x-tw-gpu-prefix-tokens", "x-tw-warehouse-prefix-tokens",
                            "x-tw-prompt-tokens"}) {
        res.headers.erase(h);  // a retry decides again
      }
      res.set_header("x-tw-engine", e.name());
      res.set_header("x-tw-reason", std::string(ReasonName(choice.reason)));
      res.set_header("x-tw-gpu-prefix-tokens", std::to_string(choice.view.gpu_blocks));
      res.set_header("x-tw-warehouse-prefix-tokens", std::to_string(warehouse_tokens));
      res.set_header("x-tw-prompt-tokens", std::to_string(tokens.size()));
      const bool sent = stream ? ForwardStream(e, req, path, res) : Forward(e, req, path, res);
      if (sent) return;
      tried.push_back(choice.engine);
      retries_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  // False if the engine never answered (connection refused or cut before a response): the caller
  // tries the next engine, the client has seen nothing.
  bool Forward(Engine& e, const httplib::Request& req, const std::string& path, httplib::Response& res) {
    httplib::Client cli(e.spec().host, e.spec().port);
    cli.set_connection_timeout(std::chrono::milliseconds(options_.connect_timeout_ms));
    cli.set_read_timeout(std::chrono::milliseconds(options_.engine_timeout_ms));
    e.routed.fetch_add(1, std::memory_order_relaxed);
    e.BeginRequest();
    httplib::Result r = cli.Post(path, UpstreamHeaders(req), req.body, "application/json");
    e.EndRequest();
    if (!r) {
      EngineFailed(e, httplib::to_string(r.error()));
      return false;
    }
    res.status = r->status;
    const std::string ct = r->get_header_value("Content-Type");
    res.set_content(r->body, ct.empty() ? "application/json" : ct);
    return true;
  }

  bool ForwardStream(Engine& e, const httplib::Request& req, const std::string& path, httplib::Response& res) {
    StreamRelay::Upstream up;
    up.host = e.spec().host;
    up.port = e.spec().port;
    up.path = path;
    up.body = req.body;
    up.headers = UpstreamHeaders(req);
    up.headers.emplace("Content-Type", "application/json");
    up.connect_timeout_ms = options_.connect_timeout_ms;
    up.read_timeout_ms = options_.engine_timeout_ms;
    e.routed.fetch_add(1, std::memory_order_relaxed);
    e.BeginRequest();
    auto relay = std::make_shared<StreamRelay>(std::move(up), [&e](bool, bool) { e.EndRequest(); });
    if (!relay->WaitForHeaders()) {
      EngineFailed(e, relay->error());
      return false;
    }
    res.status = relay->status();
    const std::string ct = relay->content_type().empty() ? "text/event-stream" : relay->content_type();
    res.set_chunked_content_provider(
        ct, [relay](size_t, httplib::DataSink& sink) { return relay->Pump(sink); },
        [relay](bool) { relay->Cancel(); });
    return true;
  }

  void EngineFailed(Engine& e, const std::string& why) {
    e.failed.fetch_add(1, std::memory_order_relaxed);
    if (e.MarkDown()) TW_LOG_WARN("engine {} down ({}): routing around it until it answers a poll", e.name(), why);
  }

  // The request's prompt as token ids, from a live engine's /tokenize (every engine serves the same
  // model, so any tokenizes for all). Empty if it cannot be had: the request is then routed by load.
  std::vector<uint32_t> Tokenize(const httplib::Request& req, const json& body, bool chat) {
    json t = json::object();
    if (body.contains("model")) t["model"] = body["model"];
    if (chat) {
      if (!body.contains("messages")) return {};
      for (const char* key : {"messages", "add_generation_prompt", "continue_final_message", "add_special_tokens",
                              "chat_template", "chat_template_kwargs", "tools"}) {
        if (body.contains(key)) t[key] = body[key];
      }
    } else {
      if (!body.contains("prompt")) return {};
      const json* p = &body["prompt"];
      // A batch of prompts is scored by its first; a prompt of token ids needs no tokenizer.
      if (p->is_array() && !p->empty() && !(*p)[0].is_number_integer()) p = &(*p)[0];
      if (p->is_array()) return TokenIds(*p);
      if (!p->is_string()) return {};
      t["prompt"] = *p;
    }
    // The least loaded live engine first; one that does not answer is marked down and the next
    // tried, so a killed engine costs this request no tokens.
    std::vector<Engine*> order;
    for (auto& e : engines_) {
      if (e->up()) order.push_back(e.get());
    }
    std::stable_sort(order.begin(), order.end(), [](Engine* a, Engine* b) { return a->load() < b->load(); });
    std::string why = "no engine is up";
    for (Engine* e : order) {
      httplib::Client cli(e->spec().host, e->spec().port);
      cli.set_connection_timeout(std::chrono::milliseconds(options_.connect_timeout_ms));
      cli.set_read_timeout(std::chrono::seconds(10));
      httplib::Result r = cli.Post("/tokenize", UpstreamHeaders(req), t.dump(), "application/json");
      if (!r) {
        why = e->name() + ": " + httplib::to_string(r.error());
        EngineFailed(*e, httplib::to_string(r.error()));
        continue;
      }
      if (r->status == 200) {
        json out = json::parse(r->body, nullptr, false);
        if (out.is_object() && out.contains("tokens") && out["tokens"].is_array()) return TokenIds(out["tokens"]);
      }
      why = e->name() + ": HTTP " + std::to_string(r->status);  // the request itself (e.g. too long)
      break;
    }
    tokenize_failures_.fetch_add(1, std::memory_order_relaxed);
    uint64_t n = 0;
    if (tokenize_log_.Allow(&n)) TW_LOG_WARN("tokenizing failed ({} time(s)), {}; routing by load alone", n, why);
    return {};
  }

  static std::vector<uint32_t> TokenIds(const json& a) {
    std::vector<uint32_t> ids;
    ids.reserve(a.size());
    for (const json& v : a) {
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > UINT32_MAX) return {};
      ids.push_back(static_cast<uint32_t>(v.get<int64_t>()));
    }
    return ids;
  }

  // The warehouse an engine reads: its own warehouse= or the router's --warehouse ("" for none).
  const std::string& WarehouseUrl(const Engine& e) const {
    static const std::string kNone;
    if (!e.spec().warehouse.empty()) return e.spec().warehouse;
    return options_.warehouse ? options_.warehouse->url : kNone;
  }

  // The client of one warehouse in the request's namespace: one per (url, model id), the model id
  // being the flag's or the request's "model"; made on first use. nullptr without a url, namespace
  // or model id.
  WarehousePrefix* WarehouseFor(const std::string& url, const json& body) {
    if (url.empty() || !options_.warehouse) return nullptr;
    std::string model = options_.warehouse->nspace.model_id;
    if (model.empty() && body.contains("model") && body["model"].is_string()) model = body["model"].get<std::string>();
    if (model.empty()) return nullptr;
    std::lock_guard lock(warehouse_mu_);
    auto& w = warehouses_[{url, model}];
    if (!w) {
      WarehouseOptions o = *options_.warehouse;
      o.url = url;
      o.nspace.model_id = model;
      w = std::make_unique<WarehousePrefix>(std::move(o));
    }
    return w.get();
  }

  static WarehouseHit Lookup(WarehousePrefix& w, const std::vector<uint32_t>& tokens) {
    WarehouseHit hit;
    if (tokens.empty()) return hit;
    Result<LookupResult> r = w.Lookup(tokens);
    if (!r.ok()) return hit;
    hit.up = true;
    hit.block_tokens = w.block_tokens();
    hit.tiers = std::move(r->tiers);
    return hit;
  }

  void Models(const httplib::Request& req, httplib::Response& res) {
    for (auto& e : engines_) {
      if (!e->up()) continue;
      httplib::Client cli(e->spec().host, e->spec().port);
      cli.set_connection_timeout(std::chrono::milliseconds(options_.connect_timeout_ms));
      cli.set_read_timeout(std::chrono::seconds(10));
      httplib::Result r = cli.Get("/v1/models", UpstreamHeaders(req));
      if (!r) {
        EngineFailed(*e, httplib::to_string(r.error()));
        continue;
      }
      res.status = r->status;
      res.set_content(r->body, "application/json");
      return;
    }
    JsonError(res, 503, "no engine is up");
  }

  // ---- engine state ------------------------------------------------------------------------------

  void Poll() {
    for (;;) {
      for (auto& e : engines_) {
        httplib::Client cli(e->spec().host, e->spec().port);
        cli.set_connection_timeout(std::chrono::milliseconds(std::min<uint64_t>(options_.connect_timeout_ms, 500)));
        cli.set_read_timeout(std::chrono::seconds(2));
        // The engine's count includes this router's requests; which of those it had seen when it
        // answered is unknown, so the larger of ours before and after is taken as included.
        const int64_t before = e->in_flight();
        httplib::Result r = cli.Get("/metrics");
        const int64_t ours = std::max(before, e->in_flight());
        if (r && r->status == 200) {
          Result<double> load = ParseVllmLoad(r->body);
          if (e->MarkUp(load.ok() ? *load : 0, ours)) TW_LOG_INFO("engine {} up", e->name());
          e->slow_polls = 0;
          continue;
        }
        // Refused: the process is gone, down now. Anything else (a read timeout while the engine's
        // cores are busy with a long batch) is down only after kSlowPollsToDown polls in a row, since
        // going down clears the engine's GPU index.
        const bool refused = !r && (r.error() == httplib::Error::Connection || r.error() == httplib::Error::ConnectionTimeout);
        const std::string why = r ? "answered HTTP " + std::to_string(r->status) : httplib::to_string(r.error());
        if ((refused || ++e->slow_polls >= kSlowPollsToDown) && e->MarkDown()) {
          TW_LOG_WARN("engine {} down: /metrics {}", e->name(), why);
        } else if (!e->up() && !e->announced_absent) {
          TW_LOG_WARN("engine {} not answering yet: /metrics {}", e->name(), why);  // once, at start
        }
        e->announced_absent = true;
      }
      std::unique_lock lock(stop_mu_);
      if (stop_cv_.wait_for(lock, std::chrono::milliseconds(options_.poll_ms), [&] { return stopped_; })) return;
    }
  }

  std::string MetricsText() {
    std::string m;
    m += "# HELP tw_router_decisions_total Requests routed, by what set the chosen engine apart.\n";
    m += "# TYPE tw_router_decisions_total counter\n";
    for (size_t i = 0; i < kReasonCount; ++i) {
      m += "tw_router_decisions_total{reason=\"" + std::string(ReasonName(static_cast<Reason>(i))) + "\"} " +
           std::to_string(decisions_[i].load()) + "\n";
    }
    m += "# TYPE tw_router_retries_total counter\ntw_router_retries_total " + std::to_string(retries_.load()) + "\n";
    m += "# TYPE tw_router_no_engine_total counter\ntw_router_no_engine_total " + std::to_string(no_engine_.load()) + "\n";
    m += "# TYPE tw_router_tokenize_failures_total counter\ntw_router_tokenize_failures_total " +
         std::to_string(tokenize_failures_.load()) + "\n";
    auto per_engine = [&](const char* name, const char* type, auto value) {
      m += std::string("# TYPE ") + name + " " + type + "\n";
      for (auto& e : engines_) m += std::string(name) + "{engine=\"" + Quote(e->name()) + "\"} " + value(*e) + "\n";
    };
    per_engine("tw_router_engine_up", "gauge", [](Engine& e) { return std::to_string(e.up() ? 1 : 0); });
    per_engine("tw_router_engine_load", "gauge", [](Engine& e) { return std::to_string(e.load()); });
    per_engine("tw_router_engine_requests_total", "counter", [](Engine& e) { return std::to_string(e.routed.load()); });
    per_engine("tw_router_engine_failures_total", "counter", [](Engine& e) { return std::to_string(e.failed.load()); });
    per_engine("tw_router_engine_gpu_blocks", "gauge", [](Engine& e) { return std::to_string(e.index().blocks()); });
    per_engine("tw_router_engine_kv_event_batches_total", "counter",
               [](Engine& e) { return std::to_string(e.events() ? e.events()->batches() : 0); });
    m += "# TYPE tw_router_warehouse_up gauge\n";
    std::lock_guard lock(warehouse_mu_);
    for (const auto& [key, w] : warehouses_) {
      m += "tw_router_warehouse_up{url=\"" + Quote(key.first) + "\",model=\"" + Quote(key.second) + "\"} " +
           std::to_string(w->up() ? 1 : 0) + "\n";
    }
    return m;
  }

  json EnginesJson() {
    json out = json::array();
    for (auto& e : engines_) {
      const KvEventSubscriber* ev = e->events();
      out.push_back({{"name", e->name()},
                     {"url", "http://" + e->spec().host + ":" + std::to_string(e->spec().port)},
                     {"events", e->spec().events},
                     {"up", e->up()},
                     {"load", e->load()},
                     {"polled_load", e->polled_load()},
                     {"in_flight", e->in_flight()},
                     {"requests", e->routed.load()},
                     {"failures", e->failed.load()},
                     {"gpu_blocks", e->index().blocks()},
                     {"gpu_block_size", e->index().block_size()},
                     {"kv_event_batches", ev ? ev->batches() : 0},
                     {"kv_event_gaps", ev ? ev->gaps() : 0},
                     {"kv_event_malformed", ev ? ev->malformed() : 0},
                     {"kv_event_unknown_parent", e->index().unknown_parent()}});
    }
    return out;
  }

  RouterOptions options_;
  std::vector<std::unique_ptr<Engine>> engines_;
  httplib::Server http_;
  std::string address_;
  std::thread server_, poller_;

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopped_ = false;  // GUARDED_BY(stop_mu_)

  std::mutex turn_mu_;
  uint64_t turn_ = 0;  // GUARDED_BY(turn_mu_): the policy's round-robin cursor

  std::mutex warehouse_mu_;
  // (url, model id) -> its client. GUARDED_BY(warehouse_mu_)
  std::map<std::pair<std::string, std::string>, std::unique_ptr<WarehousePrefix>> warehouses_;

  std::array<std::atomic<uint64_t>, kReasonCount> decisions_{};
  std::atomic<uint64_t> retries_{0}, no_engine_{0}, tokenize_failures_{0};
  LogRateLimiter tokenize_log_{10'000};
};

}  // namespace

Result<std::unique_ptr<Router>> Router::Start(RouterOptions options) {
  if (options.engines.empty()) return Status::InvalidArgument("the router needs at least one --engine");
  auto r = std::make_unique<RouterImpl>(std::move(options));
  Status s = r->Init();
  if (!s.ok()) return s;
  return std::unique_ptr<Router>(std::move(r));
}

}  // namespace tw::router

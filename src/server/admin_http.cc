#include "server/admin_http.h"

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/clock.h"
#include "common/logging.h"
#include "server/console_assets.h"
#include "server/server_core.h"
#include "server/stats_history.h"
#include "server/tenant_usage.h"

namespace tw::server {

Status SplitHostPort(const std::string& address, std::string* host, uint16_t* port) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon + 1 == address.size()) return Status::InvalidArgument("expected host:port, got '" + address + "'");
  std::string h = address.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h.empty()) return Status::InvalidArgument("expected host:port, got '" + address + "'");
  unsigned long p = 0;
  for (size_t i = colon + 1; i < address.size(); ++i) {
    if (address[i] < '0' || address[i] > '9') return Status::InvalidArgument("bad port in '" + address + "'");
    p = p * 10 + static_cast<unsigned long>(address[i] - '0');
    if (p > 65535) return Status::InvalidArgument("bad port in '" + address + "'");
  }
  *host = h;
  *port = static_cast<uint16_t>(p);
  return Status::Ok();
}

namespace {

class AdminHttpImpl final : public AdminHttp {
 public:
  AdminHttpImpl(ServerCore& core, const std::atomic<bool>& draining) : core_(core), draining_(draining), start_ns_(MonotonicNanos()) {
    http_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      std::string text = core_.metrics().RenderPrometheus(core_.store().Stats().value(), Uptime());
      text += RenderUsagePrometheus(core_.TenantUsage());
      if (auto ext = core_.admin_extension(); ext && ext->prometheus) text += ext->prometheus();
      res.set_content(text, "text/plain; version=0.0.4");
    });
    http_.Get("/stats", [this](const httplib::Request&, httplib::Response& res) {
      std::string json = core_.metrics().RenderJson(core_.store().Stats().value(), Uptime());
      if (!json.empty() && json.back() == '}') {  // token usage per tenant (usage_ledger.h), savings
        json.pop_back();
        json += "," + RenderUsageJson(core_.TenantUsage(), core_.config().economics) + "}";
      }
      if (auto ext = core_.admin_extension(); ext && ext->json && !json.empty() && json.back() == '}') {
        json.pop_back();
        json += ",\"cluster\":" + ext->json() + "}";
      }
      res.set_content(json, "application/json");
    });
    http_.Get("/stats/history", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(history_.RenderJson(), "application/json");
    });
    http_.Get("/stats/evictions", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(core_.evictions().RenderJson(kEvictionsShown), "application/json");
    });
    http_.Get("/stats/tenants", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(RenderTenantUsageJson(core_.store(), core_.config(), core_.RegisteredNamespaces()), "application/json");
    });
    // The console: a page and its script and style, compiled in (console_assets.h). Read-only: it
    // only fetches the GET endpoints above, so it needs no more access than /stats.
    http_.Get("/", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/console"); });
    http_.Get("/console", [](const httplib::Request&, httplib::Response& res) { ServeAsset("index.html", res); });
    http_.Get(R"(/console/([A-Za-z0-9_.-]+))", [](const httplib::Request& req, httplib::Response& res) {
      ServeAsset(req.matches[1].str(), res);
    });
    http_.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
      if (draining_.load()) {
        res.status = 503;
        res.set_content("draining\n", "text/plain");
        return;
      }
      // Degraded is still serving (200): a load balancer must not drop a node that only lost etcd
      // or whose disk filled up; an operator must still see it.
      const std::string degraded = DegradedReasons();
      res.set_content(degraded.empty() ? "ok\n" : "degraded: " + degraded + "\n", "text/plain");
    });
  }
  ~AdminHttpImpl() override { Stop(); }

  static void ServeAsset(const std::string& name, httplib::Response& res) {
    const ConsoleAsset* a = FindConsoleAsset(name);
    if (a == nullptr) {
      res.status = 404;
      res.set_content("no such console file\n", "text/plain");
      return;
    }
    res.set_content(std::string(a->bytes), std::string(a->content_type));
    // The console is part of the binary: a new daemon may ship a new one, so never cache it stale.
    res.set_header("Cache-Control", "no-cache");
  }

  Status Bind(const std::string& address) {
    std::string host;
    uint16_t port = 0;
    TW_RETURN_IF_ERROR(SplitHostPort(address, &host, &port));
    int bound = port ? (http_.bind_to_port(host, port) ? port : -1) : http_.bind_to_any_port(host);
    if (bound <= 0) return Status::Unavailable("admin HTTP cannot bind " + address);
    address_ = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(bound);
    // The first sample before anyone can ask: the console (and a test) never sees an empty history.
    history_.Record(StatsSample{UnixMillis(), core_.store().Stats().value()});
    thread_ = std::thread([this] { http_.listen_after_bind(); });
    sampler_ = std::thread([this] { Sample(); });
    return Status::Ok();
  }

  std::string address() const override { return address_; }

  void Stop() override {
    if (sampler_.joinable()) {
      {
        std::lock_guard<std::mutex> lock(sampler_mu_);
        stopping_ = true;
      }
      sampler_cv_.notify_all();
      sampler_.join();
    }
    if (thread_.joinable()) {
      http_.stop();
      thread_.join();
    }
  }

 private:
  // Why the node serves less than it should, "; "-separated; empty when healthy.
  std::string DegradedReasons() const {
    std::string reasons;
    auto add = [&](const std::string& r) { reasons += (reasons.empty() ? "" : "; ") + r; };
    for (const TierStats& t : core_.store().Stats().value().tiers) {
      if (!t.admitting) add(std::string(TierName(t.tier)) + " tier stopped admitting after a write error (see the log)");
    }
    const uint64_t open = core_.metrics().connections_open.load(std::memory_order_relaxed);
    if (open >= core_.config().max_connections) {
      add("every connection slot is taken (" + std::to_string(open) + " of limits.max_connections); new clients are refused");
    }
    if (auto ext = core_.admin_extension(); ext && ext->degraded) {
      if (std::string cluster = ext->degraded(); !cluster.empty()) add(cluster);
    }
    return reasons;
  }

  // The history's clock: a sample every interval after Bind's first. Sleeps on a condition
  // variable so Stop never waits out an interval. Every kSamplesPerUsageSave samples it also saves
  // token usage, so a crash loses at most that long.
  void Sample() {
    std::unique_lock<std::mutex> lock(sampler_mu_);
    for (uint64_t n = 2;; ++n) {
      sampler_cv_.wait_for(lock, std::chrono::milliseconds(history_.interval_ms()), [this] { return stopping_; });
      if (stopping_) return;
      lock.unlock();
      history_.Record(StatsSample{UnixMillis(), core_.store().Stats().value()});
      if (n % kSamplesPerUsageSave == 0) {
        const Status s = core_.SaveUsage();
        if (!s.ok() && !usage_save_failed_) TW_LOG_WARN("saving token usage: {}", s.ToString());
        usage_save_failed_ = !s.ok();
      }
      lock.lock();
    }
  }

  uint64_t Uptime() const { return (MonotonicNanos() - start_ns_) / 1'000'000'000; }

  ServerCore& core_;
  const std::atomic<bool>& draining_;
  const uint64_t start_ns_;
  static constexpr size_t kEvictionsShown = 100;  // of the log's ring, the newest this many
  static constexpr uint64_t kSamplesPerUsageSave = 10;

  StatsHistory history_;
  std::mutex sampler_mu_;
  std::condition_variable sampler_cv_;
  bool stopping_ = false;  // GUARDED_BY(sampler_mu_)
  bool usage_save_failed_ = false;  // the sampler's own: logs a failing save once, not every 10 s
  std::thread sampler_;
  httplib::Server http_;
  std::thread thread_;
  std::string address_;
};

}  // namespace

Result<std::unique_ptr<AdminHttp>> AdminHttp::Start(const std::string& address, ServerCore& core, const std::atomic<bool>& draining) {
  auto impl = std::make_unique<AdminHttpImpl>(core, draining);
  TW_RETURN_IF_ERROR(impl->Bind(address));
  return std::unique_ptr<AdminHttp>(std::move(impl));
}

}  // namespace tw::server

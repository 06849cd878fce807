// The admin HTTP endpoints as an operator's scraper sees them, over a real socket.
#include "server/admin_http.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "common/env/fault_env.h"
#include "server/server_core.h"
#include "store/tier/disk_test_util.h"

namespace tw::server {
namespace {

// A disk that fills up (ENOSPC) stops the disk tier admitting; the node still serves, so /healthz
// stays 200, but says "degraded" and why, and /metrics and /stats show which tier.
TEST(AdminHttp, HealthzSaysDegradedWhenTheDiskTierStopsAdmitting) {
  FaultInjectingEnv env(Env::Posix());
  ServerConfig c;
  c.data_dir = testing::FreshDir("admin_degraded");
  c.retention.min_prefix_tokens = 0;  // these tests store short chains: keep every one
  c.dram_capacity_bytes = 64 << 20;
  c.page_bytes = 1 << 20;
  c.disk_capacity_bytes = 1ull << 30;
  c.disk_env = &env;
  ASSERT_TRUE(FinalizeConfig(&c).ok());
  auto core = ServerCore::Create(c).value();
  std::atomic<bool> draining{false};
  auto admin = AdminHttp::Start("127.0.0.1:0", *core, draining).value();
  httplib::Client http("http://" + admin->address());

  auto health = http.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "ok\n");

  Namespace n;
  n.tenant = "default";
  n.model_id = "m";
  n.geometry = KvGeometry{2, 2, 64, KvDtype::kF16, 16};
  const NamespaceId ns = core->store().RegisterNamespace(n, {}).value();
  std::vector<std::byte> kv(n.geometry.ObjectBytes(), std::byte{7});
  env.FailWrites(ENOSPC);
  const BlockKey key = testing::TestKey(1);
  ASSERT_TRUE(core->store().Put(ns, {key, n.Root()}, kv).ok());  // DRAM takes it; the disk write fails behind
  (void)core->FlushDisk();

  health = http.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body.rfind("degraded: disk tier stopped admitting", 0), 0u) << health->body;
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("tw_tier_admitting{tier=\"disk\"} 0"), std::string::npos);
  EXPECT_NE(metrics->body.find("tw_tier_admitting{tier=\"dram\"} 1"), std::string::npos);
  auto stats = http.Get("/stats");
  ASSERT_TRUE(stats);
  EXPECT_NE(stats->body.find("\"tier\":\"disk\""), std::string::npos);
  EXPECT_NE(stats->body.find("\"admitting\":false"), std::string::npos);
  std::vector<std::byte> out(kv.size());
  EXPECT_TRUE(core->store().Get(ns, key, out).ok());  // still served from DRAM

  draining.store(true);
  health = http.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 503);
}


// The console and the JSON it draws from: the page and its files come from the binary, the
// history has a first sample at once, evictions are logged with their tenant, and tenants list
// what they hold.
TEST(AdminHttp, ServesTheConsoleAndItsJson) {
  ServerConfig c;
  c.data_dir = testing::FreshDir("admin_console");
  c.retention.min_prefix_tokens = 0;  // these tests store short chains: keep every one
  c.disk_enabled = false;
  c.dram_capacity_bytes = 8 << 20;
  c.page_bytes = 1 << 20;
  ASSERT_TRUE(FinalizeConfig(&c).ok());
  auto core = ServerCore::Create(c).value();
  std::atomic<bool> draining{false};
  auto admin = AdminHttp::Start("127.0.0.1:0", *core, draining).value();
  httplib::Client http("http://" + admin->address());

  auto root = http.Get("/");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->status, 302);
  EXPECT_EQ(root->get_header_value("Location"), "/console");
  auto page = http.Get("/console");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type").rfind("text/html", 0), 0u);
  EXPECT_NE(page->body.find("console.js"), std::string::npos);
  auto script = http.Get("/console/console.js");
  ASSERT_TRUE(script);
  EXPECT_EQ(script->status, 200);
  EXPECT_EQ(script->get_header_value("Content-Type").rfind("text/javascript", 0), 0u);
  auto missing = http.Get("/console/nope.js");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);

  auto history = http.Get("/stats/history");
  ASSERT_TRUE(history);
  auto h = nlohmann::json::parse(history->body);
  ASSERT_GE(h["samples"].size(), 1u);  // sampled at start, not a second later
  EXPECT_EQ(h["samples"][0]["tiers"]["dram"]["capacity_bytes"], 8 << 20);

  // Sixteen one-page objects through an eight-page arena: at least eight evictions.
  Namespace n;
  n.tenant = "default";
  n.model_id = "console-model";
  n.geometry = KvGeometry{2, 2, 64, KvDtype::kF16, 16};
  const NamespaceId ns = core->store().RegisterNamespace(n, {}).value();
  std::vector<std::byte> kv(n.geometry.ObjectBytes(), std::byte{7});
  for (int i = 0; i < 16; ++i) ASSERT_TRUE(core->store().Put(ns, {testing::TestKey(100 + i), n.Root()}, kv).ok());
  auto ev = nlohmann::json::parse(http.Get("/stats/evictions")->body);
  EXPECT_GE(ev["total"].get<uint64_t>(), 8u);
  ASSERT_FALSE(ev["evictions"].empty());
  EXPECT_EQ(ev["evictions"][0]["tier"], "dram");
  EXPECT_EQ(ev["evictions"][0]["namespace"], ns.ToHex());
  // Registered straight on the store, not through a session: the daemon cannot name its tenant.
  EXPECT_EQ(ev["evictions"][0]["tenant"], "");

  auto tenants = nlohmann::json::parse(http.Get("/stats/tenants")->body);
  ASSERT_FALSE(tenants["tenants"].empty());
  EXPECT_EQ(tenants["tenants"][0]["tenant"], "default");  // the anonymous tenant, on by default
  EXPECT_EQ(tenants["tenants"][0]["puts"], 16);
  EXPECT_GT(tenants["tenants"][0]["dram_used_bytes"].get<uint64_t>(), 0u);
}

}  // namespace
}  // namespace tw::server

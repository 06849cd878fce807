// The admin HTTP endpoints as an operator's scraper sees them, over a real socket.
#include "server/admin_http.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <cerrno>

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

}  // namespace
}  // namespace tw::server

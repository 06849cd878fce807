// Token usage as a bill needs it: counted per tenant by a real daemon, served on /stats, and still
// there after the daemon restarts (issue 18, item 2).
#include <signal.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "daemon_fixture.h"
#include "tw/client.h"

namespace tw {
namespace {

using testing::ConnectTcp;
using testing::DaemonProcess;

constexpr uint32_t kBlockTokens = 64;

Namespace Small() {
  Namespace n;
  n.model_id = "usage-model";
  n.geometry = KvGeometry{2, 2, 64, KvDtype::kF16, kBlockTokens};
  return n;
}

std::vector<BlockKey> Keys(const Namespace& n, size_t blocks) {
  std::vector<uint32_t> tokens(blocks * kBlockTokens);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<uint32_t>(i * 13 + 5);
  return n.BlockKeys(tokens);
}

// The anonymous tenant's entry in /stats' "usage", or null.
nlohmann::json Usage(const DaemonProcess& d) {
  const auto stats = nlohmann::json::parse(d.HttpGet("/stats"));
  for (const auto& u : stats.at("usage")) {
    if (u.at("tenant") == "default") return u;
  }
  return nullptr;
}

TEST(DaemonUsage, TokensAreCountedAndSurviveARestart) {
  DaemonProcess d("economics: {prefill_tokens_per_s: 6400}\n");
  ASSERT_TRUE(d.ready()) << d.log();
  const Namespace n = Small();
  const std::vector<BlockKey> keys = Keys(n, 6);
  {
    auto store = ConnectTcp(d);
    ASSERT_NE(store, nullptr);
    const NamespaceId ns = store->RegisterNamespace(n, {}).value();
    std::vector<std::byte> kv(n.geometry.ObjectBytes(), std::byte{3});
    for (size_t i = 0; i < 4; ++i) ASSERT_TRUE(store->Put(ns, {keys[i], i ? keys[i - 1] : n.Root()}, kv).ok());
    ASSERT_TRUE(store->Put(ns, {keys[0], n.Root()}, kv).ok());  // a duplicate: not a cache write
    EXPECT_EQ(store->Lookup(ns, keys)->matched, 4u);             // 4 hit, 2 past the prefix
    ASSERT_TRUE(store->Get(ns, keys[3], kv).ok());
  }
  nlohmann::json u = Usage(d);
  ASSERT_FALSE(u.is_null()) << d.HttpGet("/stats");
  EXPECT_EQ(u["write_tokens"], 4 * kBlockTokens);
  EXPECT_EQ(u["hit_tokens"], 4 * kBlockTokens);
  EXPECT_EQ(u["hit_tokens_by_tier"]["dram"], 4 * kBlockTokens);
  EXPECT_EQ(u["miss_tokens"], 2 * kBlockTokens);
  EXPECT_EQ(u["read_tokens"], 1 * kBlockTokens);
  EXPECT_DOUBLE_EQ(u["gpu_seconds_saved"].get<double>(), 4.0 * kBlockTokens / 6400);
  const std::string metrics = d.HttpGet("/metrics");
  EXPECT_NE(metrics.find("tw_tenant_write_tokens_total{tenant=\"default\"} 256\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("tw_tenant_hit_tokens_total{tenant=\"default\",tier=\"dram\"} 256\n"), std::string::npos);

  d.Signal(SIGTERM);
  ASSERT_EQ(d.Wait(), 0) << d.log();
  d.Start();
  ASSERT_TRUE(d.ready()) << d.log();
  // The counts wait for the namespace to be registered again; then they continue.
  EXPECT_TRUE(Usage(d).is_null() || Usage(d)["write_tokens"] == 0);
  {
    auto store = ConnectTcp(d);
    ASSERT_NE(store, nullptr);
    const NamespaceId ns = store->RegisterNamespace(n, {}).value();
    EXPECT_EQ(store->Lookup(ns, std::span<const BlockKey>(keys.data(), 4))->matched, 4u);  // from the disk tier
  }
  u = Usage(d);
  ASSERT_FALSE(u.is_null()) << d.HttpGet("/stats");
  EXPECT_EQ(u["write_tokens"], 4 * kBlockTokens);
  EXPECT_EQ(u["hit_tokens"], 8 * kBlockTokens);
  EXPECT_EQ(u["hit_tokens_by_tier"]["disk"], 4 * kBlockTokens);
  EXPECT_EQ(u["miss_tokens"], 2 * kBlockTokens);
  EXPECT_EQ(u["read_tokens"], 1 * kBlockTokens);
}

}  // namespace
}  // namespace tw

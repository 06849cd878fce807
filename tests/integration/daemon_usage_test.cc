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

// Per request, as an engine or router bills it (RequestUsage): each PutBatch says what it newly
// stored, what was already there and what it skipped as too short; each Lookup its hits by tier
// and its misses; each GetBatch what it served. Over TCP (PUT) and the Unix socket with shared
// memory (RESERVE and COMMIT), then the same lookup after a restart, whose hits come from disk.
TEST(DaemonUsage, EachRequestReportsItsTokens) {
  DaemonProcess d("retention: {min_prefix_tokens: 256}\n");  // 4 blocks of 64 tokens
  ASSERT_TRUE(d.ready()) << d.log();
  std::vector<std::byte> kv(Small().geometry.ObjectBytes(), std::byte{7});
  auto chain = [&](const Namespace& n, const std::vector<BlockKey>& keys, size_t begin, size_t end) {
    std::vector<PutItem> items;
    for (size_t i = begin; i < end; ++i) items.push_back(PutItem{{keys[i], i ? keys[i - 1] : n.Root()}, kv});
    return items;
  };
  constexpr uint64_t T = kBlockTokens;
  for (const bool shm : {false, true}) {
    SCOPED_TRACE(shm ? "unix socket, shared memory" : "tcp");
    ClientOptions o;
    auto store = OpenStore(shm ? d.unix_url() : d.tcp_url(), o);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    Namespace n = Small();
    n.model_id = shm ? "per-request-shm" : "per-request-tcp";
    const std::vector<BlockKey> keys = Keys(n, 10);
    const NamespaceId ns = (*store)->RegisterNamespace(n, {}).value();

    std::vector<uint32_t> short_tokens(3 * T, 99);
    const std::vector<BlockKey> short_keys = n.BlockKeys(short_tokens);
    BatchStatus b = (*store)->PutBatch(ns, chain(n, short_keys, 0, 3));  // 192 tokens < 256
    ASSERT_TRUE(b.all_ok());
    EXPECT_TRUE(b.usage.reported);
    EXPECT_EQ(b.usage.skipped_short_tokens, 3 * T);
    EXPECT_EQ(b.usage.write_tokens + b.usage.present_tokens, 0u);

    b = (*store)->PutBatch(ns, chain(n, keys, 0, 6));
    ASSERT_TRUE(b.all_ok());
    EXPECT_TRUE(b.usage.reported);
    EXPECT_EQ(b.usage.write_tokens, 6 * T);
    EXPECT_EQ(b.usage.present_tokens + b.usage.skipped_short_tokens, 0u);

    b = (*store)->PutBatch(ns, chain(n, keys, 0, 8));  // the same prompt, two blocks longer
    ASSERT_TRUE(b.all_ok());
    EXPECT_EQ(b.usage.present_tokens, 6 * T);
    EXPECT_EQ(b.usage.write_tokens, 2 * T);

    Result<LookupResult> hit = (*store)->Lookup(ns, keys);
    ASSERT_TRUE(hit.ok());
    EXPECT_EQ(hit->usage.hit_tokens_by_tier[static_cast<size_t>(Tier::kDram)], 8 * T);
    EXPECT_EQ(hit->usage.hit_tokens(), 8 * T);
    EXPECT_EQ(hit->usage.miss_tokens, 2 * T);

    std::vector<std::vector<std::byte>> out(3, std::vector<std::byte>(kv.size()));
    std::vector<GetItem> gets = {{keys[0], out[0]}, {keys[7], out[1]}, {keys[9], out[2]}};  // keys[9]: a miss
    b = (*store)->GetBatch(ns, gets);
    ASSERT_TRUE(b.transport.ok());
    EXPECT_TRUE(b.usage.reported);
    EXPECT_EQ(b.usage.read_tokens, 2 * T);
  }

  // After a restart DRAM is cold: the same lookup hits on disk, and says so.
  d.Signal(SIGTERM);
  ASSERT_EQ(d.Wait(), 0) << d.log();
  d.Start();
  ASSERT_TRUE(d.ready()) << d.log();
  auto store = ConnectTcp(d);
  ASSERT_NE(store, nullptr);
  Namespace n = Small();
  n.model_id = "per-request-tcp";
  const NamespaceId ns = store->RegisterNamespace(n, {}).value();
  Result<LookupResult> hit = store->Lookup(ns, Keys(n, 10));
  ASSERT_TRUE(hit.ok());
  EXPECT_EQ(hit->usage.hit_tokens_by_tier[static_cast<size_t>(Tier::kDisk)], 8 * T);
  EXPECT_EQ(hit->usage.miss_tokens, 2 * T);
  // The daemon's own count of skipped blocks, for the operator (stats, /metrics).
  EXPECT_NE(d.HttpGet("/metrics").find("tw_skipped_short_total"), std::string::npos);
}

// A daemon without a min_prefix_tokens setting skips prompts under 1,024 tokens (issue 18's
// default), and an engine's block-by-block Reserve is not judged (as in the embedded store).
TEST(DaemonUsage, ByDefaultPromptsUnder1024TokensAreSkipped) {
  DaemonProcess d("# min_prefix_tokens: the daemon's default\n");
  ASSERT_TRUE(d.ready()) << d.log();
  auto store = OpenStore(d.unix_url(), ClientOptions{});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const Namespace n = Small();
  const NamespaceId ns = (*store)->RegisterNamespace(n, {}).value();
  std::vector<std::byte> kv(n.geometry.ObjectBytes(), std::byte{1});
  const std::vector<BlockKey> keys = Keys(n, 20);  // 1,280 tokens
  std::vector<PutItem> items;
  for (size_t i = 0; i < 15; ++i) items.push_back(PutItem{{keys[i], i ? keys[i - 1] : n.Root()}, kv});  // 960
  BatchStatus b = (*store)->PutBatch(ns, items);
  EXPECT_EQ(b.usage.skipped_short_tokens, 15 * kBlockTokens);
  items.push_back(PutItem{{keys[15], keys[14]}, kv});  // 1,024: stored
  b = (*store)->PutBatch(ns, items);
  EXPECT_EQ(b.usage.write_tokens, 16 * kBlockTokens);
  EXPECT_EQ((*store)->Lookup(ns, keys)->matched, 16u);
  EXPECT_EQ((*store)->Stats()->skipped_short, 15u);

  // Reserved one block at a time: shared memory (RESERVE, COMMIT) and TCP (a PUT at Commit).
  for (const bool shm : {true, false}) {
    SCOPED_TRACE(shm ? "unix socket, shared memory" : "tcp");
    auto s = shm ? std::move(store) : OpenStore(d.tcp_url(), ClientOptions{});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    Namespace m = Small();
    m.model_id = shm ? "block-by-block-shm" : "block-by-block-tcp";
    const NamespaceId ms = (*s)->RegisterNamespace(m, {}).value();
    const std::vector<BlockKey> mk = Keys(m, 2);
    for (size_t i = 0; i < mk.size(); ++i) {
      Result<WriteHandle> w = (*s)->Reserve(ms, {mk[i], i ? mk[i - 1] : m.Root()});
      ASSERT_TRUE(w.ok());
      ASSERT_TRUE(w->Write(0, kv).ok());
      ASSERT_TRUE((*s)->Commit(*w).ok());
    }
    EXPECT_EQ((*s)->Lookup(ms, mk)->matched, 2u);
  }
}

}  // namespace
}  // namespace tw

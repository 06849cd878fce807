// Retention classes through a real daemon (issue 18, item 1): a namespace's fixed and sliding
// deadlines are enforced by `tokenwarehouse serve`, kept across a restart on its data dir, and
// prompts under min_prefix_tokens are skipped and counted. A separate process has no injectable
// clock: deadlines of a few seconds, and every wait is a poll, never a guessed sleep then an assert.
#include <signal.h>

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "daemon_fixture.h"
#include "tw/client.h"

namespace tw {
namespace {

using testing::ConnectTcp;
using testing::DaemonProcess;
using testing::PollUntil;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kBlockTokens = 64;
constexpr uint64_t kTtlMs = 4000;

Namespace Small(const std::string& model) {
  Namespace n;
  n.model_id = model;
  n.geometry = KvGeometry{2, 2, 64, KvDtype::kF16, kBlockTokens};
  return n;
}

std::vector<BlockKey> Keys(const Namespace& n, size_t blocks, uint32_t seed) {
  std::vector<uint32_t> tokens(blocks * kBlockTokens);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<uint32_t>(i * 13 + seed);
  return n.BlockKeys(tokens);
}

Status PutChain(Store& store, const NamespaceId& ns, const Namespace& n, const std::vector<BlockKey>& keys) {
  std::vector<std::byte> kv(n.geometry.ObjectBytes(), std::byte{7});
  std::vector<PutItem> items;
  for (size_t i = 0; i < keys.size(); ++i) items.push_back({{keys[i], i ? keys[i - 1] : n.Root()}, kv});
  BatchStatus b = store.PutBatch(ns, items);
  if (!b.transport.ok()) return b.transport;
  for (const Status& s : b.items) TW_RETURN_IF_ERROR(s);
  return Status::Ok();
}

TEST(DaemonRetention, FixedDeadlinesAndRenewedSlidingOnesSurviveARestart) {
  DaemonProcess d("retention: {class: 1h}\n");  // the cap: namespaces ask for less
  ASSERT_TRUE(d.ready()) << d.log();
  const Namespace fixed_ns = Small("fixed"), sliding_ns = Small("sliding");
  const auto fixed = Keys(fixed_ns, 3, 1), sliding = Keys(sliding_ns, 3, 2);
  const NamespaceOptions fixed_options{.ttl_ms = kTtlMs};
  const NamespaceOptions sliding_options{.ttl_ms = kTtlMs, .ttl_sliding = true};
  const auto t0 = Clock::now();
  Clock::time_point renewed_by;  // the last hit's reply: the daemon renewed before sending it
  {
    auto store = ConnectTcp(d);
    ASSERT_NE(store, nullptr);
    const NamespaceId f = store->RegisterNamespace(fixed_ns, fixed_options).value();
    const NamespaceId s = store->RegisterNamespace(sliding_ns, sliding_options).value();
    ASSERT_TRUE(PutChain(*store, f, fixed_ns, fixed).ok());
    ASSERT_TRUE(PutChain(*store, s, sliding_ns, sliding).ok());
    std::this_thread::sleep_until(t0 + std::chrono::milliseconds(2500));
    ASSERT_EQ(store->Lookup(s, sliding)->matched, 3u);  // a hit: the sliding chain now ends near 6.5 s
    renewed_by = Clock::now();
  }
  d.Signal(SIGTERM);  // drains, seals the disk tier and saves the renewed deadlines
  ASSERT_EQ(d.Wait(), 0) << d.log();
  d.Start();
  ASSERT_TRUE(d.ready()) << d.log();
  auto store = ConnectTcp(d);
  ASSERT_NE(store, nullptr);
  const NamespaceId f = store->RegisterNamespace(fixed_ns, fixed_options).value();
  const NamespaceId s = store->RegisterNamespace(sliding_ns, sliding_options).value();
  // Sliding objects are probed sparingly: every Lookup or Get of one is a hit that renews it.
  std::vector<std::byte> out(fixed_ns.geometry.ObjectBytes());
  auto fixed_gone = [&] { return store->Lookup(f, fixed)->matched == 0; };
  ASSERT_TRUE(PollUntil(fixed_gone, std::chrono::seconds(10)));
  const auto fixed_gone_at = Clock::now() - t0;
  EXPECT_GE(fixed_gone_at, std::chrono::milliseconds(kTtlMs - 200)) << "expired early";
  if (Clock::now() - t0 < std::chrono::milliseconds(6000)) {
    // The renewal made before the restart still holds the sliding chain (its record said 4 s).
    EXPECT_TRUE(store->Get(s, sliding[0], out).ok()) << "the restart lost the renewed deadline";
  }
  // A window after the last hit before the restart, sliding[1] (not hit since) is gone: a deadline
  // is an upper bound, so this wait is exact, not a guess. The fixed chain never came back.
  std::this_thread::sleep_until(renewed_by + std::chrono::milliseconds(kTtlMs + 50));
  EXPECT_TRUE(store->Get(s, sliding[1], out).IsNotFound()) << "served after its sliding deadline";
  EXPECT_EQ(store->Lookup(f, fixed)->matched, 0u);
}

TEST(DaemonRetention, ATenantsClassCapsItsNamespacesAndShortPromptsAreSkipped) {
  DaemonProcess d("retention: {class: 2s fixed, min_prefix_tokens: 256}\n");
  ASSERT_TRUE(d.ready()) << d.log();
  auto store = ConnectTcp(d);
  ASSERT_NE(store, nullptr);
  const Namespace n = Small("capped");
  // Asks for a sliding hour: gets the tenant's 2 s fixed.
  const NamespaceId ns = store->RegisterNamespace(n, {.ttl_ms = 3'600'000, .ttl_sliding = true}).value();
  const auto short_prompt = Keys(n, 3, 3);  // 192 tokens < 256: skipped, OK to the engine
  ASSERT_TRUE(PutChain(*store, ns, n, short_prompt).ok());
  EXPECT_EQ(store->Lookup(ns, short_prompt)->matched, 0u);
  const auto t0 = Clock::now();
  const auto prompt = Keys(n, 4, 4);  // 256 tokens: stored
  ASSERT_TRUE(PutChain(*store, ns, n, prompt).ok());
  ASSERT_EQ(store->Lookup(ns, prompt)->matched, 4u);
  const auto stats = nlohmann::json::parse(d.HttpGet("/stats"));
  EXPECT_EQ(stats["skipped_short"], 3) << stats.dump();
  EXPECT_NE(d.HttpGet("/metrics").find("tw_skipped_short_total 3\n"), std::string::npos);
  EXPECT_EQ(store->Stats()->skipped_short, 3u);
  // Lookups are hits, but the class is fixed: they renew nothing.
  ASSERT_TRUE(PollUntil([&] { return store->Lookup(ns, prompt)->matched == 0; }, std::chrono::seconds(10)));
  EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(2000 + 1500)) << "lived past its tenant's cap";
}

TEST(DaemonRetention, ABadClassStopsTheDaemonWithAClearError) {
  DaemonProcess d("retention: {class: 5 minutes}\n");
  EXPECT_FALSE(d.ready());
  EXPECT_NE(d.log().find("retention.class"), std::string::npos) << d.log();
}

}  // namespace
}  // namespace tw

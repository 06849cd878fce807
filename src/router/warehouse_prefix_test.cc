#include "router/warehouse_prefix.h"

#include <gtest/gtest.h>

#include <chrono>

namespace tw::router {
namespace {

WarehouseOptions Options(std::string url) {
  WarehouseOptions o;
  o.url = std::move(url);
  o.nspace.model_id = "tiny";
  o.nspace.geometry = {2, 2, 64, KvDtype::kF32, 64};
  return o;
}

TEST(WarehousePrefix, AnswersWithTheStoredPrefix) {
  WarehousePrefix w(Options("embedded:"));  // an empty in-process store: a miss, but an answer
  std::vector<uint32_t> tokens(200, 7);
  auto r = w.Lookup(tokens);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->matched, 0u);
  EXPECT_TRUE(w.up());
  EXPECT_EQ(w.block_tokens(), 64u);
  EXPECT_DOUBLE_EQ(w.bytes_per_token(), 2.0 * 2 * 2 * 64 * 4);  // layers x K,V x heads x head dim x f32
}

TEST(WarehousePrefix, AwayAnswersAtOnceUntilTheNextReconnect) {
  WarehousePrefix w(Options("unix:///nonexistent-dir/tw.sock"));
  std::vector<uint32_t> tokens(200, 7);
  EXPECT_EQ(w.Lookup(tokens).status().code(), StatusCode::kUnavailable);
  EXPECT_FALSE(w.up());
  // Within the reconnect interval a lookup does not try again: no wait per request.
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) EXPECT_EQ(w.Lookup(tokens).status().code(), StatusCode::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(100));
}

}  // namespace
}  // namespace tw::router

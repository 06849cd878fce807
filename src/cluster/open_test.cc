#include "tw/open.h"

#include <gtest/gtest.h>

#include "store/store_test_util.h"

namespace tw {
namespace {

OpenOptions SmallEmbedded() {
  OpenOptions o;
  o.client.embedded.dram_capacity_bytes = 8ull << 20;
  o.client.embedded.prefault = false;
  return o;
}

TEST(Open, EmptyAndEmbeddedUrlsOpenAnInProcessStoreThatStoresAndServes) {
  for (const char* url : {"", "embedded:"}) {
    Result<std::unique_ptr<Store>> store = Open(url, SmallEmbedded());
    ASSERT_TRUE(store.ok()) << url << ": " << store.status().ToString();
    const Namespace ns = testing::SmallNamespace();
    NamespaceId id = (*store)->RegisterNamespace(ns, {}).value();
    std::vector<BlockKey> keys = testing::ChainKeys(ns, 3, 7);
    ASSERT_TRUE(testing::PutChain(**store, id, ns, keys).ok());
    LookupResult hit = (*store)->Lookup(id, keys).value();
    EXPECT_EQ(hit.matched, 3u) << url;
    std::vector<std::byte> out(ns.geometry.ObjectBytes());
    ASSERT_TRUE((*store)->Get(id, keys[2], out).ok());
    EXPECT_EQ(out, testing::PayloadFor(keys[2], out.size()));
  }
}

TEST(Open, EachSchemeReachesItsOpenerAndAnswersWithItsCode) {
  EXPECT_EQ(Open("redis://127.0.0.1:6379").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Open("tw://no-port-here").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Open("etcd://").status().code(), StatusCode::kInvalidArgument);

  OpenOptions quick;
  quick.client.connect_timeout_ms = 200;
  quick.client.retries = 0;
  quick.cluster.wait_for_members_ms = 200;
  quick.cluster.etcd_timeout_ms = 200;
  EXPECT_EQ(Open("unix:///nonexistent/tokenwarehouse.sock", quick).status().code(), StatusCode::kUnavailable);
  // Port 1 on loopback: nothing listens, the connection is refused at once.
  EXPECT_EQ(Open("tw://127.0.0.1:1", quick).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(Open("etcd://127.0.0.1:1", quick).status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace tw

// Token accounting: what a lookup, a read and a write add per namespace, and how tenants appear
// in Prometheus.
#include "server/usage_ledger.h"

#include <gtest/gtest.h>

#include <cstring>

#include "server/server_core.h"

namespace tw::server {
namespace {

TEST(NamespaceUsage, CountsTokensOfBlocks) {
  NamespaceUsage u(256);
  u.Wrote(3);
  const Tier tiers[] = {Tier::kDram, Tier::kDram, Tier::kDisk};
  u.Looked(5, tiers);  // 3 matched (2 in DRAM, 1 on disk), 2 past the prefix
  u.Read(2);
  const UsageTotals t = u.Totals();
  EXPECT_EQ(t.write_tokens, 768u);
  EXPECT_EQ(t.hit_tokens, 768u);
  EXPECT_EQ(t.hit_tokens_by_tier[static_cast<size_t>(Tier::kDram)], 512u);
  EXPECT_EQ(t.hit_tokens_by_tier[static_cast<size_t>(Tier::kDisk)], 256u);
  EXPECT_EQ(t.miss_tokens, 512u);
  EXPECT_EQ(t.read_tokens, 512u);
}

TEST(NamespaceUsage, PrometheusHasOneSeriesPerTenantAndTier) {
  NamespaceUsage u(16);
  u.Wrote(1);
  const Tier tiers[] = {Tier::kPeer};
  u.Looked(1, tiers);
  const std::string text = RenderUsagePrometheus({{"al\"ice", u.Totals()}, {"bob", UsageTotals{}}});
  EXPECT_NE(text.find("tw_tenant_write_tokens_total{tenant=\"al\\\"ice\"} 16\n"), std::string::npos) << text;
  EXPECT_NE(text.find("tw_tenant_hit_tokens_total{tenant=\"al\\\"ice\",tier=\"peer\"} 16\n"), std::string::npos);
  EXPECT_NE(text.find("tw_tenant_miss_tokens_total{tenant=\"bob\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE tw_tenant_hit_tokens_total counter"), std::string::npos);
}

// Through the request handlers: a tenant's LOOKUP is charged to its namespace only, a cluster
// peer's to nobody, and registering the namespace again keeps the counts.
TEST(NamespaceUsage, LookupsAreChargedToTheCallersNamespace) {
  ServerConfig c;
  c.dram_capacity_bytes = 64 << 20;
  c.retention.min_prefix_tokens = 0;  // these tests store short chains: keep every one
  c.page_bytes = 1 << 20;
  c.disk_enabled = false;
  c.tenants.push_back({"alice", HashToken("a"), 0, true});
  c.tenants.push_back({"bob", HashToken("b"), 0, true});
  c.tenants.push_back({"node-2", HashToken("peer"), 0, false, /*cluster_peer=*/true});
  ASSERT_TRUE(FinalizeConfig(&c).ok());
  auto core = ServerCore::Create(c).value();
  auto call = [&](ConnectionState& conn, net::Op op, const std::string& meta) {
    net::FrameHeader h;
    h.type = static_cast<uint8_t>(op);
    return core->Handle(conn, h, meta);
  };
  auto login = [&](const std::string& token) {
    ConnectionState conn;
    conn.local_peer = true;
    net::HelloRequest hello;
    hello.token = token;
    net::MetaWriter w;
    hello.Encode(w);
    EXPECT_TRUE(call(conn, net::Op::kHello, w.str()).status.ok());
    return conn;
  };
  Namespace n;
  n.model_id = "m";
  n.geometry = KvGeometry{2, 2, 64, KvDtype::kF16, 16};
  auto reg = [&](ConnectionState& conn) {
    net::RegisterRequest req;
    req.nspace = n.Encode();
    net::MetaWriter w;
    req.Encode(w);
    Reply r = call(conn, net::Op::kRegister, w.str());
    net::MetaReader rd(r.meta);
    EXPECT_TRUE(rd.Stat().ok());
    return rd.Id<NamespaceIdTag>();
  };
  ConnectionState alice = login("a");
  ConnectionState bob = login("b");
  const NamespaceId ns = reg(alice);
  (void)reg(bob);

  std::vector<BlockKey> keys(5);
  for (uint64_t i = 0; i < keys.size(); ++i) std::memcpy(keys[i].bytes, &i, sizeof i), keys[i].bytes[15] = 1;
  std::vector<std::byte> kv(n.geometry.ObjectBytes(), std::byte{1});
  Namespace bound = n;  // as the daemon registered it: under the caller's tenant
  bound.tenant = "alice";
  for (size_t i = 0; i < 3; ++i) ASSERT_TRUE(core->store().Put(ns, {keys[i], i ? keys[i - 1] : bound.Root()}, kv).ok());
  net::KeysRequest lookup;
  lookup.ns = ns;
  lookup.keys = keys;
  net::MetaWriter w;
  lookup.Encode(w);
  ASSERT_TRUE(call(alice, net::Op::kLookup, w.str()).status.ok());
  (void)reg(alice);  // again: the counts survive
  // A cluster peer acting for alice (re-replication checking what it holds) bills nobody.
  ConnectionState peer = login("peer");
  ASSERT_TRUE(call(peer, net::Op::kLookup, w.str()).status.ok());

  auto usage = core->TenantUsage();
  ASSERT_EQ(usage.size(), 2u);
  EXPECT_EQ(usage[0].first, "alice");
  EXPECT_EQ(usage[0].second.hit_tokens, 3u * 16);
  EXPECT_EQ(usage[0].second.hit_tokens_by_tier[static_cast<size_t>(Tier::kDram)], 3u * 16);
  EXPECT_EQ(usage[0].second.miss_tokens, 2u * 16);
  EXPECT_EQ(usage[1].first, "bob");
  EXPECT_EQ(usage[1].second.hit_tokens + usage[1].second.miss_tokens, 0u);
}

}  // namespace
}  // namespace tw::server

// ServerCore without sockets: tenant binding of namespaces and the shared-memory handle rules.
#include <gtest/gtest.h>

#include "server/server_core.h"

namespace tw::server {
namespace {

ServerConfig SmallConfig() {
  ServerConfig c;
  c.dram_capacity_bytes = 64 << 20;
  c.retention.min_prefix_tokens = 0;  // these tests store short chains: keep every one
  c.page_bytes = 1 << 20;
  c.tenants.push_back({"alice", HashToken("a"), 0, true});
  c.tenants.push_back({"bob", HashToken("b"), 0, true});
  EXPECT_TRUE(FinalizeConfig(&c).ok());
  return c;
}

Reply Call(ServerCore& core, ConnectionState& conn, net::Op op, const std::string& meta) {
  net::FrameHeader h;
  h.type = static_cast<uint8_t>(op);
  return core.Handle(conn, h, meta);
}

ConnectionState Login(ServerCore& core, const std::string& token, uint64_t id) {
  ConnectionState conn;
  conn.id = id;
  conn.unix_socket = true;
  conn.local_peer = true;
  net::HelloRequest hello;
  hello.token = token;
  hello.want_shm = true;
  net::MetaWriter w;
  hello.Encode(w);
  Reply r = Call(core, conn, net::Op::kHello, w.str());
  EXPECT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_GE(r.attach_fd, 0);
  return conn;
}

NamespaceId Register(ServerCore& core, ConnectionState& conn, const std::string& tenant = "whatever-the-client-says") {
  Namespace n;
  n.tenant = tenant;
  n.model_id = "m";
  n.geometry = KvGeometry{2, 2, 64, KvDtype::kF16, 16};
  net::RegisterRequest req;
  req.nspace = n.Encode();
  net::MetaWriter w;
  req.Encode(w);
  Reply r = Call(core, conn, net::Op::kRegister, w.str());
  net::MetaReader rd(r.meta);
  EXPECT_TRUE(rd.Stat().ok());
  return rd.Id<NamespaceIdTag>();
}

TEST(ServerCore, RequestsBeforeHelloAreRefused) {
  auto core = ServerCore::Create(SmallConfig()).value();
  ConnectionState conn;
  Reply r = Call(*core, conn, net::Op::kStats, "");
  EXPECT_EQ(r.status.code(), StatusCode::kUnauthenticated);
  EXPECT_TRUE(r.close);
}

TEST(ServerCore, NamespacesAreBoundToTheCallersTenant) {
  auto core = ServerCore::Create(SmallConfig()).value();
  ConnectionState alice = Login(*core, "a", 1);
  ConnectionState bob = Login(*core, "b", 2);
  NamespaceId a_ns = Register(*core, alice);
  NamespaceId b_ns = Register(*core, bob);
  EXPECT_NE(a_ns, b_ns);  // same namespace fields, different tenants: different ids

  net::KeysRequest lookup;
  lookup.ns = a_ns;
  lookup.keys.resize(1);
  net::MetaWriter w;
  lookup.Encode(w);
  EXPECT_TRUE(Call(*core, alice, net::Op::kLookup, w.str()).status.ok());
  Reply probe = Call(*core, bob, net::Op::kLookup, w.str());
  EXPECT_TRUE(probe.status.IsFailedPrecondition());  // the same answer as an unregistered id
}

TEST(ServerCore, AClusterPeerKeepsTheTenantItsNamespaceNames) {
  ServerConfig c = SmallConfig();
  c.tenants.push_back({"nodes", HashToken("p"), 0, true, /*cluster_peer=*/true});
  auto core = ServerCore::Create(c).value();
  ConnectionState alice = Login(*core, "a", 1);
  ConnectionState bob = Login(*core, "b", 2);
  ConnectionState peer = Login(*core, "p", 3);
  const NamespaceId a_ns = Register(*core, alice);
  // The peer copies alice's object: its namespace is alice's, not the peer's own.
  EXPECT_EQ(Register(*core, peer, "alice"), a_ns);
  // An ordinary tenant naming another tenant is still bound to itself.
  EXPECT_NE(Register(*core, bob, "alice"), a_ns);

  net::KeysRequest lookup;
  lookup.ns = a_ns;
  lookup.keys.resize(1);
  net::MetaWriter w;
  lookup.Encode(w);
  EXPECT_TRUE(Call(*core, peer, net::Op::kLookup, w.str()).status.ok());
  EXPECT_TRUE(Call(*core, bob, net::Op::kLookup, w.str()).status.IsFailedPrecondition());
}

TEST(ServerCore, ANamespaceGetsItsTenantsRetentionAtMostAndItsMinimumPrefixAtLeast) {
  ServerConfig c = SmallConfig();
  c.tenants[0].retention = Retention{300'000, false};  // alice: 5m fixed
  c.retention.min_prefix_tokens = 64;                  // everyone: 4 blocks of 16 tokens
  auto core = ServerCore::Create(c).value();
  ConnectionState alice = Login(*core, "a", 1);
  Namespace n;
  n.tenant = "alice";
  n.model_id = "m";
  n.geometry = KvGeometry{2, 2, 64, KvDtype::kF16, 16};
  net::RegisterRequest req;
  req.nspace = n.Encode();
  req.ttl_ms = 3'600'000;  // asks for 1h sliding: more than alice's operator allows
  req.ttl_sliding = true;
  net::MetaWriter w;
  req.Encode(w);
  Reply r = Call(*core, alice, net::Op::kRegister, w.str());
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  net::MetaReader rd(r.meta);
  ASSERT_TRUE(rd.Stat().ok());
  const NamespaceId ns = rd.Id<NamespaceIdTag>();
  // The store has it with the granted options: registering them again agrees, anything else not.
  EXPECT_TRUE(core->store().RegisterNamespace(n, {.ttl_ms = 300'000, .min_prefix_tokens = 64}).ok());
  EXPECT_FALSE(core->store().RegisterNamespace(n, {.ttl_ms = 3'600'000, .ttl_sliding = true, .min_prefix_tokens = 64}).ok());

  // A RESERVE of a 3-block prompt (48 tokens) is answered as if present: nothing to write.
  std::vector<uint32_t> tokens(48, 7);
  std::vector<BlockKey> keys = n.BlockKeys(tokens);
  net::ReserveRequest reserve;
  reserve.ns = ns;
  for (size_t i = 0; i < keys.size(); ++i) reserve.refs.push_back({keys[i], i ? keys[i - 1] : n.Root()});
  net::MetaWriter rw;
  reserve.Encode(rw);
  Reply rr = Call(*core, alice, net::Op::kReserve, rw.str());
  ASSERT_TRUE(rr.status.ok()) << rr.status.ToString();
  EXPECT_EQ(core->store().Stats().value().skipped_short, 3u);
  EXPECT_EQ(alice.open_handles, 0u);
}

TEST(ServerCore, ReservationsOfAClosedConnectionAbort) {
  auto core = ServerCore::Create(SmallConfig()).value();
  ConnectionState alice = Login(*core, "a", 1);
  NamespaceId ns = Register(*core, alice);
  net::ReserveRequest res;
  res.ns = ns;
  Namespace n;
  n.model_id = "m";
  n.tenant = "alice";
  n.geometry = KvGeometry{2, 2, 64, KvDtype::kF16, 16};
  BlockKey key;
  key.bytes[0] = 1;
  res.refs.push_back(BlockRef{key, n.Root()});
  net::MetaWriter w;
  res.Encode(w);
  Reply r = Call(*core, alice, net::Op::kReserve, w.str());
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(alice.open_handles, 1u);
  core->CloseConnection(alice);
  EXPECT_EQ(core->store().Lookup(ns, std::vector<BlockKey>{key})->matched, 0u);
}

TEST(SliceSegments, SplitsRunsAcrossSegments) {
  std::vector<std::byte> mem(100);
  std::vector<std::span<const std::byte>> segs = {std::span<const std::byte>(mem).subspan(0, 30),
                                                  std::span<const std::byte>(mem).subspan(50, 50)};
  std::vector<ByteRun> runs = {{10, 30}, {60, 5}};
  auto out = SliceSegments(segs, runs);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].data(), mem.data() + 10);
  EXPECT_EQ(out[0].size(), 20u);
  EXPECT_EQ(out[1].data(), mem.data() + 50);
  EXPECT_EQ(out[1].size(), 10u);
  EXPECT_EQ(out[2].data(), mem.data() + 80);
  EXPECT_EQ(out[2].size(), 5u);
}

}  // namespace
}  // namespace tw::server

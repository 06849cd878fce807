#include <gtest/gtest.h>

#include "server/auth.h"
#include "server/config.h"

namespace tw::server {
namespace {

TEST(ServerConfig, ParsesEveryKey) {
  Result<ServerConfig> c = ParseServerConfig(R"(
listen: 0.0.0.0:9000
unix_socket: none
admin_listen: ""
data_dir: /var/lib/tw
io_threads: 3
shared_memory: false
log_level: debug
dram: {capacity_bytes: 2GiB, page_bytes: 1MiB, huge_pages: true, eviction: s3fifo}
disk: {enabled: true, directory: /nvme/tw, capacity_bytes: 100GiB, admission: on_evict, sync_interval_ms: 250,
       io_bytes: 4MiB, io_depth: 4, read_threads: 2}
auth:
  allow_anonymous_loopback: false
  anonymous_tenant: anon
  anonymous_shared_memory: false
  tenants:
    - {name: alice, token_sha256: "2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90", quota_bytes: 1GiB, shared_memory: true, admin: true}
limits: {max_connections: 10, max_meta_bytes: 64KiB, max_payload_bytes: 256MiB, max_batch: 100,
         max_handles_per_connection: 5, idle_timeout_ms: 1000, request_timeout_ms: 2000, drain_timeout_ms: 3000, lease_ms: 4000}
)");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->listen, "0.0.0.0:9000");
  EXPECT_EQ(c->UnixSocketPath(), "");
  EXPECT_EQ(c->dram_capacity_bytes, 2ull << 30);
  EXPECT_EQ(c->page_bytes, 1ull << 20);
  EXPECT_EQ(c->eviction, EvictionPolicyKind::kS3Fifo);
  EXPECT_EQ(c->disk_capacity_bytes, 100ull << 30);
  EXPECT_EQ(c->disk_admission, "on_evict");
  EXPECT_EQ(c->disk_sync_interval_ms, 250u);
  EXPECT_EQ(c->disk_io_bytes, 4ull << 20);
  EXPECT_EQ(c->disk_io_depth, 4u);
  EXPECT_EQ(c->disk_read_threads, 2u);
  ASSERT_EQ(c->tenants.size(), 1u);
  EXPECT_EQ(c->tenants[0].quota_bytes, 1ull << 30);
  EXPECT_TRUE(c->tenants[0].admin);
  EXPECT_EQ(c->frame_limits.max_meta_bytes, 64u << 10);
  EXPECT_EQ(c->frame_limits.max_batch, 100u);
  EXPECT_EQ(c->lease_ms, 4000u);
  EXPECT_TRUE(FinalizeConfig(&*c).ok());
}

TEST(ServerConfig, RejectsUnknownKeysAndBadValues) {
  EXPECT_TRUE(ParseServerConfig("listne: 1.2.3.4:5").status().IsInvalidArgument());
  EXPECT_TRUE(ParseServerConfig("dram: {capacity: 1GiB}").status().IsInvalidArgument());
  EXPECT_TRUE(ParseServerConfig("dram: {capacity_bytes: 1 parsec}").status().IsInvalidArgument());
  Result<ServerConfig> c = ParseServerConfig("auth: {tenants: [{name: bob, token_sha256: abc}]}");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(FinalizeConfig(&*c).IsInvalidArgument());
}

TEST(ServerConfig, DefaultsAreTheEmbeddedSetup) {
  Result<ServerConfig> c = ParseServerConfig("");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->listen, "127.0.0.1:7700");
  EXPECT_TRUE(c->allow_anonymous_loopback);
  ASSERT_TRUE(FinalizeConfig(&*c).ok());
  EXPECT_GT(c->dram_capacity_bytes, 0u);
  EXPECT_EQ(c->UnixSocketPath(), "tw-data/tw.sock");
}

TEST(Auth, TokensAreComparedByHashAndAnonymousIsLoopbackOnly) {
  ServerConfig c;
  c.tenants.push_back({"alice", HashToken("s3cret"), 0, false});
  Authenticator auth(c);
  EXPECT_EQ(auth.Authenticate("s3cret", false)->tenant, "alice");
  EXPECT_EQ(auth.Authenticate("wrong", true).status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(auth.Authenticate("", true)->tenant, "default");
  EXPECT_EQ(auth.Authenticate("", false).status().code(), StatusCode::kUnauthenticated);
  c.allow_anonymous_loopback = false;
  Authenticator strict(c);
  EXPECT_EQ(strict.Authenticate("", true).status().code(), StatusCode::kUnauthenticated);
}

TEST(ServerConfig, TlsNeedsCertificateAndKeyTogether) {
  Result<ServerConfig> c = ParseServerConfig("tls:\n  cert_file: /etc/tw/cert.pem\n  key_file: /etc/tw/key.pem\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->tls_enabled());
  EXPECT_TRUE(FinalizeConfig(&*c).ok());
  Result<ServerConfig> half = ParseServerConfig("tls:\n  cert_file: /etc/tw/cert.pem\n");
  ASSERT_TRUE(half.ok());
  EXPECT_EQ(FinalizeConfig(&*half).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(ParseServerConfig("tls:\n  certfile: x\n").ok());  // a typo is an error, not a silent default
}

TEST(ServerConfig, EventsArePublishedOnlyForListedTenants) {
  Result<ServerConfig> c = ParseServerConfig(R"(
events:
  - {tenant: alice, endpoint: "tcp://127.0.0.1:5557", replay_endpoint: "tcp://127.0.0.1:5558", topic: kv,
     buffer_batches: 100, hwm: 1000, max_queue_events: 500}
  - {tenant: bob, endpoint: "ipc:///run/tw/bob.sock"}
)");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->kv_events.size(), 2u);
  EXPECT_EQ(c->kv_events[0].tenant, "alice");
  EXPECT_EQ(c->kv_events[0].replay_endpoint, "tcp://127.0.0.1:5558");
  EXPECT_EQ(c->kv_events[0].topic, "kv");
  EXPECT_EQ(c->kv_events[0].buffer_batches, 100u);
  EXPECT_EQ(c->kv_events[0].hwm, 1000u);
  EXPECT_EQ(c->kv_events[0].max_queue_events, 500u);
  EXPECT_EQ(c->kv_events[1].replay_endpoint, "");  // no replay unless asked
  EXPECT_EQ(c->kv_events[1].buffer_batches, 10'000u);
  EXPECT_TRUE(FinalizeConfig(&*c).ok());
  EXPECT_TRUE(ParseServerConfig("").value().kv_events.empty());  // nothing published by default

  for (const char* bad : {"events:\n  - {endpoint: 'tcp://127.0.0.1:1'}\n",            // whose?
                          "events:\n  - {tenant: a}\n",                                 // where?
                          "events:\n  - {tenant: a, endpoint: x}\n  - {tenant: a, endpoint: y}\n"}) {
    Result<ServerConfig> b = ParseServerConfig(bad);
    ASSERT_TRUE(b.ok()) << bad;
    EXPECT_EQ(FinalizeConfig(&*b).code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(ParseServerConfig("events:\n  - {tenant: a, endpont: x}\n").ok());  // a typo is an error
  EXPECT_FALSE(ParseServerConfig("events: {tenant: a}\n").ok());                  // a list, not a map
}

TEST(ServerConfig, RefusesADramArenaLargerThanTheMachineCanGive) {
  MemoryInfo mem;
  mem.physical_bytes = 24ull << 30;
  mem.available_bytes = 22ull << 30;
  EXPECT_TRUE(CheckDramFits(8ull << 30, mem).ok());
  Status big = CheckDramFits(40ull << 30, mem);
  ASSERT_TRUE(big.IsInvalidArgument());
  EXPECT_NE(big.message().find("24.0 GiB physical"), std::string::npos) << big.ToString();
  EXPECT_NE(big.message().find("at most 22.0 GiB"), std::string::npos) << big.ToString();
  mem.cgroup_limit_bytes = 8ull << 30;  // a container: its limit, less what it uses, is what counts
  mem.cgroup_used_bytes = 2ull << 30;
  Status boxed = CheckDramFits(7ull << 30, mem);
  ASSERT_TRUE(boxed.IsInvalidArgument());
  EXPECT_NE(boxed.message().find("cgroup limit 8.0 GiB"), std::string::npos) << boxed.ToString();
  EXPECT_NE(boxed.message().find("at most 6.0 GiB"), std::string::npos) << boxed.ToString();
  // And on this machine, through the daemon's own path: no machine has a PiB to give.
  Result<ServerConfig> c = ParseServerConfig("dram: {capacity_bytes: 1024TiB}");
  ASSERT_TRUE(c.ok());
  Status s = FinalizeConfig(&*c);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_NE(s.message().find("physical"), std::string::npos) << s.ToString();
  EXPECT_GT(ReadMemoryInfo().physical_bytes, 0u);
}

// A disk tier never claims more than its filesystem holds: the default shrinks to fit (the tier's own
// region files count as room, they are reused), an explicit size too large or a filesystem too small
// for two regions is refused at start, naming what is there.
TEST(ServerConfig, DiskCapacityFitsItsFilesystem) {
  const uint64_t region = 256ull << 20;
  DiskSpace roomy{.free_bytes = 500ull << 30};
  EXPECT_EQ(ResolveDiskCapacity(0, region, "/d", roomy).value(), 64ull << 30);
  EXPECT_EQ(ResolveDiskCapacity(100ull << 30, region, "/d", roomy).value(), 100ull << 30);

  DiskSpace small{.free_bytes = 10ull << 30, .own_region_bytes = 2ull << 30};
  const uint64_t fitted = ResolveDiskCapacity(0, region, "/d", small).value();
  EXPECT_LE(fitted, 12ull << 30);
  EXPECT_GE(fitted, 10ull << 30);
  EXPECT_EQ(fitted % region, 0u);
  Result<uint64_t> big = ResolveDiskCapacity(40ull << 30, region, "/d", small);
  ASSERT_TRUE(big.status().IsInvalidArgument());
  EXPECT_NE(big.status().message().find("10.0 GiB free"), std::string::npos) << big.status().ToString();
  EXPECT_NE(big.status().message().find("at most 12.0 GiB"), std::string::npos) << big.status().ToString();

  DiskSpace tiny{.free_bytes = 100ull << 20};  // a filesystem smaller than one region
  Result<uint64_t> none = ResolveDiskCapacity(0, region, "/small", tiny);
  ASSERT_TRUE(none.status().IsInvalidArgument());
  EXPECT_NE(none.status().message().find("/small"), std::string::npos) << none.status().ToString();
  EXPECT_NE(none.status().message().find("two regions"), std::string::npos) << none.status().ToString();

  // And the measurement itself, on this machine's temporary directory.
  Result<DiskSpace> here = ReadDiskSpace(::testing::TempDir() + "/tw_disk_space");
  ASSERT_TRUE(here.ok()) << here.status().ToString();
  EXPECT_GT(here->free_bytes, 0u);
}

TEST(ServerConfig, EachBadValueIsAClearErrorAtStart) {
  Result<ServerConfig> loud = ParseServerConfig("log_level: loud");
  ASSERT_TRUE(loud.ok());
  Status level = FinalizeConfig(&*loud);  // the flag --log-level lands here too
  EXPECT_TRUE(level.IsInvalidArgument());
  EXPECT_NE(level.message().find("log_level must be"), std::string::npos) << level.ToString();
  Status type = ParseServerConfig("dram: {huge_pages: maybe}").status();
  EXPECT_TRUE(type.IsInvalidArgument());
  EXPECT_NE(type.message().find("huge_pages: expected true or false, got 'maybe'"), std::string::npos) << type.ToString();
  Status num = ParseServerConfig("limits: {max_connections: lots}").status();
  EXPECT_NE(num.message().find("max_connections: expected a non-negative integer"), std::string::npos) << num.ToString();

  Result<ServerConfig> zero = ParseServerConfig("limits: {max_connections: 0}");
  ASSERT_TRUE(zero.ok());
  EXPECT_TRUE(FinalizeConfig(&*zero).IsInvalidArgument());
  Result<ServerConfig> threads = ParseServerConfig("io_threads: 100000");
  ASSERT_TRUE(threads.ok());
  EXPECT_TRUE(FinalizeConfig(&*threads).IsInvalidArgument());
  const std::string h = HashToken("shared");
  Result<ServerConfig> twins = ParseServerConfig("auth: {tenants: [{name: a, token_sha256: " + h +
                                                 "}, {name: b, token_sha256: " + h + "}]}");
  ASSERT_TRUE(twins.ok());
  Status dup = FinalizeConfig(&*twins);
  EXPECT_TRUE(dup.IsInvalidArgument());
  EXPECT_NE(dup.message().find("another tenant's"), std::string::npos) << dup.ToString();
}

TEST(ServerConfig, EconomicsRatesPerModelAndPrice) {
  Result<ServerConfig> c = ParseServerConfig(
      "economics: {prefill_tokens_per_s: 4000, prefill_tokens_per_s_by_model: {llama-3-70b: 900.5}, gpu_hour_price: 2.5, currency: EUR}");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->economics.PrefillRate("llama-3-70b"), 900.5);
  EXPECT_EQ(c->economics.PrefillRate("anything-else"), 4000);
  EXPECT_EQ(c->economics.gpu_hour_price, 2.5);
  EXPECT_EQ(c->economics.currency, "EUR");
  EXPECT_EQ(ParseServerConfig("").value().economics.PrefillRate("m"), 0);  // off by default

  Status bad = ParseServerConfig("economics: {gpu_hour_price: cheap}").status();
  EXPECT_NE(bad.message().find("gpu_hour_price: expected a number"), std::string::npos) << bad.ToString();
  EXPECT_TRUE(ParseServerConfig("economics: {prefill_tokens_per_s: -1}").status().IsInvalidArgument());
  EXPECT_TRUE(ParseServerConfig("economics: {prefill_tokens_per_s_by_model: [1, 2]}").status().IsInvalidArgument());
  EXPECT_TRUE(ParseServerConfig("economics: {price: 1}").status().IsInvalidArgument());
}

TEST(ServerConfig, RetentionPerServerAndPerTenant) {
  Result<ServerConfig> c = ParseServerConfig(R"(
retention: {class: 1h, min_prefix_tokens: 1024}
auth:
  tenants:
    - {name: cheap, token_sha256: "2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90", retention: 5m fixed}
    - {name: archive, token_sha256: "3bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90", retention: persistent, min_prefix_tokens: 0}
)");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->RetentionOf("anyone").retention, (Retention{3'600'000, true}));
  EXPECT_EQ(c->RetentionOf("anyone").min_prefix_tokens, 1024u);
  EXPECT_EQ(c->RetentionOf("cheap").retention, (Retention{300'000, false}));
  EXPECT_EQ(c->RetentionOf("cheap").min_prefix_tokens, 1024u);  // not overridden: the server's
  EXPECT_TRUE(c->RetentionOf("archive").retention.persistent());
  EXPECT_EQ(c->RetentionOf("archive").min_prefix_tokens, 0u);
  // By default persistent, and prompts under 1,024 tokens are not stored (as the issue asks).
  EXPECT_TRUE(ParseServerConfig("").value().RetentionOf("t").retention.persistent());
  EXPECT_EQ(ParseServerConfig("").value().RetentionOf("t").min_prefix_tokens, 1024u);
  EXPECT_EQ(ParseServerConfig("retention: {min_prefix_tokens: 0}").value().RetentionOf("t").min_prefix_tokens, 0u);
}

TEST(ServerConfig, ABadRetentionClassIsAClearError) {
  Status bad = ParseServerConfig("retention: {class: 5 minutes}").status();
  ASSERT_TRUE(bad.IsInvalidArgument());
  EXPECT_NE(bad.message().find("retention.class"), std::string::npos) << bad.ToString();
  EXPECT_NE(bad.message().find("persistent"), std::string::npos) << bad.ToString();  // names the accepted forms
  Status tenant = ParseServerConfig(R"(
auth:
  tenants:
    - {name: t, token_sha256: "2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90", retention: 1h sometimes}
)").status();
  EXPECT_NE(tenant.message().find("auth.tenants[t].retention"), std::string::npos) << tenant.ToString();
  EXPECT_TRUE(ParseServerConfig("retention: {ttl: 5m}").status().IsInvalidArgument());
  EXPECT_TRUE(ParseServerConfig("retention: {min_prefix_tokens: many}").status().IsInvalidArgument());
}

TEST(ParseBytes, Units) {
  EXPECT_EQ(*ParseBytes("123"), 123u);
  EXPECT_EQ(*ParseBytes("4GiB"), 4ull << 30);
  EXPECT_EQ(*ParseBytes("512 mb"), 512ull << 20);
  EXPECT_FALSE(ParseBytes("").ok());
  EXPECT_FALSE(ParseBytes("99999999999999999999999").ok());
}

}  // namespace
}  // namespace tw::server

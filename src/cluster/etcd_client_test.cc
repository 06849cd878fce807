// EtcdClient and Membership against a real etcd started by the test.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "cluster/etcd_client.h"
#include "cluster/membership.h"
#include "cluster/local_etcd.h"

namespace tw::cluster {
namespace {

using cluster::LocalEtcd;

TEST(Base64, RoundTripsEveryLength) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (size_t n = 0; n < 20; ++n) {
    std::string in = all.substr(n * 7 % 200, n), out;
    ASSERT_TRUE(Base64Decode(Base64Encode(in), &out));
    EXPECT_EQ(out, in);
  }
  EXPECT_EQ(Base64Encode("a"), "YQ==");
  std::string out;
  EXPECT_FALSE(Base64Decode("YQ=", &out));
  EXPECT_FALSE(Base64Decode("Y*==", &out));
  EXPECT_EQ(PrefixRangeEnd("/a/"), "/a0");
}

TEST(EtcdUrl, Parses) {
  auto e = ParseEtcdUrl("etcd://10.0.0.1:2379,10.0.0.2:2379");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(*e, (std::vector<std::string>{"10.0.0.1:2379", "10.0.0.2:2379"}));
  EXPECT_FALSE(ParseEtcdUrl("etcd://").ok());
  EXPECT_FALSE(ParseEtcdUrl("etcd://host").ok());
  EXPECT_FALSE(ParseEtcdUrl("etcd://host:port").ok());
}

class EtcdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto e = LocalEtcd::Start();
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    etcd_ = std::move(*e);
    // These tests check what the client does, not how fast etcd is: a fresh etcd's first writes
    // (creating and syncing its log) take over a second on a loaded machine.
    client_ = EtcdClient::Create({{etcd_->endpoint()}, 5000}).value();
  }
  std::unique_ptr<Membership> StartMember(const std::string& id, bool register_self = true) {
    MembershipOptions o;
    o.etcd_endpoints = {etcd_->endpoint()};
    o.prefix = "/tw-test/nodes/";
    o.lease_ttl_s = 2;
    o.resync_ms = 200;
    o.etcd_timeout_ms = 300;
    if (register_self) o.self = Member{id, id + ":7000", 12345};
    auto m = Membership::Start(o);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? std::move(*m) : nullptr;
  }
  static bool WaitFor(const std::function<bool()>& pred, int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return pred();
  }
  std::unique_ptr<LocalEtcd> etcd_;
  std::unique_ptr<EtcdClient> client_;
};

TEST_F(EtcdTest, PutRangeLeaseAndWatch) {
  ASSERT_TRUE(client_->Put("/p/a", "1").ok());
  ASSERT_TRUE(client_->Put("/p/b", std::string("\0\xff", 2)).ok());
  ASSERT_TRUE(client_->Put("/q/c", "3").ok());
  auto r = client_->RangePrefix("/p/");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->kvs.size(), 2u);
  EXPECT_EQ(r->kvs[1].value, std::string("\0\xff", 2));
  auto lease = client_->LeaseGrant(5);
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  ASSERT_TRUE(client_->Put("/p/leased", "x", *lease).ok());
  auto ttl = client_->LeaseKeepAlive(*lease);
  ASSERT_TRUE(ttl.ok()) << ttl.status().ToString();
  EXPECT_EQ(*ttl, 5);
  ASSERT_TRUE(client_->LeaseRevoke(*lease).ok());
  EXPECT_TRUE(client_->LeaseKeepAlive(*lease).status().IsNotFound());
  EXPECT_EQ(client_->RangePrefix("/p/")->kvs.size(), 2u);  // the leased key went with its lease

  std::atomic<bool> stop{false};
  std::atomic<int> events{0};
  std::thread watcher([&] {
    (void)client_->Watch("/p/", r->revision + 1, [&](const std::vector<EtcdEvent>& ev) { events += ev.size(); }, stop);
  });
  // The watch replays from the revision: the leased put and its delete by the revoke.
  EXPECT_TRUE(WaitFor([&] { return events.load() >= 2; }, 3000));
  EXPECT_TRUE(client_->Delete("/p/a").ok());
  EXPECT_TRUE(WaitFor([&] { return events.load() >= 3; }, 3000));
  stop = true;
  client_->CancelWatches();
  watcher.join();
}

TEST_F(EtcdTest, NodesSeeEachOtherAndACrashedNodeLeavesAfterItsLease) {
  auto a = StartMember("a");
  auto b = StartMember("b");
  auto observer = StartMember("client", /*register_self=*/false);
  ASSERT_TRUE(WaitFor([&] { return observer->Current()->members.size() == 2; }, 5000));
  EXPECT_EQ(observer->Current()->members[0].node_id, "a");
  EXPECT_EQ(observer->Current()->members[0].joined_ms, 12345u);
  ASSERT_TRUE(WaitFor([&] { return a->Current()->members.size() == 2; }, 5000));
  // b crashes: no revoke; its key stays until the 2 s lease runs out.
  const auto t0 = std::chrono::steady_clock::now();
  b->Abandon();
  ASSERT_TRUE(WaitFor([&] { return observer->Current()->members.size() == 1; }, 6000));
  const double gone_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GT(gone_s, 0.5);
  EXPECT_LT(gone_s, 5.0);
  // A clean stop revokes at once.
  a.reset();
  EXPECT_TRUE(WaitFor([&] { return observer->Current()->members.empty(); }, 1500));
}

TEST_F(EtcdTest, AnEtcdOutageKeepsTheLastListAndRecovers) {
  auto a = StartMember("a");
  auto b = StartMember("b");
  ASSERT_TRUE(WaitFor([&] { return a->Current()->members.size() == 2 && a->health().etcd_ok; }, 5000));
  etcd_->Kill();
  ASSERT_TRUE(WaitFor([&] { return !a->health().etcd_ok; }, 3000));
  EXPECT_TRUE(a->Current()->stale);
  EXPECT_EQ(a->Current()->members.size(), 2u);  // serving with the last list seen
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // longer than the lease TTL
  EXPECT_EQ(a->Current()->members.size(), 2u);
  EXPECT_GE(a->health().etcd_outages, 1u);
  EXPECT_LT(a->health().etcd_errors, 100u) << "retries must be paced, not a busy loop";
  ASSERT_TRUE(etcd_->Restart().ok());
  ASSERT_TRUE(WaitFor([&] { return a->health().etcd_ok && !a->Current()->stale; }, 8000));
  EXPECT_TRUE(WaitFor([&] { return a->Current()->members.size() == 2; }, 8000));
}

}  // namespace
}  // namespace tw::cluster

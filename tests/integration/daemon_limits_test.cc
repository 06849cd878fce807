// The daemon's connection slots under sockets that connect and say nothing: they must not lock
// every other client out. A connection that has not completed HELLO is closed after
// limits.hello_timeout_ms, one address holds at most limits.max_connections_per_peer TCP slots,
// and refusals are counted on /metrics and visible on /healthz.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

#include "daemon_fixture.h"
#include "tw/client.h"

namespace tw {
namespace {

using testing::DaemonProcess;

int SilentConnect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// True once the daemon closed `fd` (a read returns 0 or an error), waiting at most `ms`.
bool ClosedByPeer(int fd, int ms) {
  timeval tv{ms / 1000, (ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char c;
  return recv(fd, &c, 1, 0) <= 0;
}

bool Works(const std::string& url) {
  ClientOptions o;
  o.io_timeout_ms = 3000;
  Result<std::unique_ptr<Store>> s = OpenStore(url, o);
  if (!s.ok()) return false;
  Namespace n;
  n.model_id = "limits-test";
  n.geometry = KvGeometry{1, 1, 8, KvDtype::kF16, 4};
  return (*s)->RegisterNamespace(n, {}).ok();
}

TEST(DaemonLimits, SilentConnectionsCannotHoldEverySlot) {
  DaemonProcess d("limits: {max_connections: 12, max_connections_per_peer: 8, hello_timeout_ms: 400}\n");
  ASSERT_TRUE(d.ready()) << d.log();
  std::vector<int> silent;
  for (int i = 0; i < 8; ++i) {
    int fd = SilentConnect(d.tcp_port());
    ASSERT_GE(fd, 0);
    silent.push_back(fd);
  }
  // The ninth from the same address is over the per-peer limit: closed at once.
  int ninth = SilentConnect(d.tcp_port());
  ASSERT_GE(ninth, 0);
  EXPECT_TRUE(ClosedByPeer(ninth, 2000)) << "the ninth connection from one address was kept";
  close(ninth);
  // Other clients still get in meanwhile (the Unix socket has no per-peer limit).
  EXPECT_TRUE(Works(d.unix_url()));
  // Without a HELLO the silent ones are closed after hello_timeout_ms, not idle_timeout_ms (300 s).
  for (int fd : silent) {
    EXPECT_TRUE(ClosedByPeer(fd, 5000)) << "a silent connection outlived limits.hello_timeout_ms";
    close(fd);
  }
  EXPECT_TRUE(Works(d.tcp_url()));
  std::string metrics = d.HttpGet("/metrics");
  EXPECT_NE(metrics.find("tw_connections_rejected_per_peer_total 1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("tw_hello_timeouts_total 8"), std::string::npos) << metrics;
  EXPECT_NE(d.log().find("refused a connection from tcp 127.0.0.1"), std::string::npos) << d.log();
}

TEST(DaemonLimits, HealthzSaysDegradedWhileEverySlotIsTaken) {
  DaemonProcess d("limits: {max_connections: 3, hello_timeout_ms: 60000}\n");
  ASSERT_TRUE(d.ready()) << d.log();
  EXPECT_EQ(d.HttpGet("/healthz"), "ok\n");
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) fds.push_back(SilentConnect(d.tcp_port()));
  std::string health;
  for (int i = 0; i < 100; ++i) {  // the daemon counts a connection once it has accepted it
    health = d.HttpGet("/healthz");
    if (health.rfind("degraded", 0) == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(health.rfind("degraded: every connection slot is taken (3 of limits.max_connections)", 0), 0u) << health;
  EXPECT_FALSE(Works(d.unix_url()));  // full means full: refused, and counted
  EXPECT_NE(d.HttpGet("/metrics").find("tw_connections_rejected_total 1"), std::string::npos);
  for (int fd : fds) close(fd);
  for (int i = 0; i < 100 && d.HttpGet("/healthz") != "ok\n"; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(d.HttpGet("/healthz"), "ok\n");
}

}  // namespace
}  // namespace tw

#include "server/kv_event_publisher.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zmq.h>

#include <chrono>
#include <filesystem>
#include <thread>

namespace tw::server {
namespace {

std::vector<std::string> Recv(void* sock, int timeout_ms) {
  zmq_setsockopt(sock, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
  std::vector<std::string> frames;
  for (;;) {
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, sock, 0) < 0) {
      zmq_msg_close(&m);
      return {};
    }
    frames.emplace_back(static_cast<const char*>(zmq_msg_data(&m)), zmq_msg_size(&m));
    const bool more = zmq_msg_more(&m);
    zmq_msg_close(&m);
    if (!more) return frames;
  }
}

uint64_t Seq(const std::string& s) {
  uint64_t v = 0;
  for (char c : s) v = (v << 8) | static_cast<uint8_t>(c);
  return v;
}

KvEvent Stored(uint8_t b) {
  KvEvent e;
  BlockKey k;
  k.bytes[0] = b;
  e.block_hashes.push_back(k);
  e.block_size = 16;
  return e;
}

TEST(KvEventPublisher, NumbersBatchesAndReplaysThem) {
  const std::string dir = std::filesystem::temp_directory_path() / ("tw-kvpub-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  KvEventsEndpoint cfg;
  cfg.tenant = "t";
  cfg.endpoint = "tcp://127.0.0.1:*";
  cfg.replay_endpoint = "ipc://" + dir + "/replay";
  cfg.topic = "kv@t";
  auto pub = KvEventPublisher::Start(cfg);
  ASSERT_TRUE(pub.ok()) << pub.status().ToString();
  EXPECT_NE((*pub)->endpoint().find("tcp://127.0.0.1:"), std::string::npos);
  EXPECT_EQ((*pub)->endpoint().find('*'), std::string::npos);

  void* ctx = zmq_ctx_new();
  void* sub = zmq_socket(ctx, ZMQ_SUB);
  zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "kv@t", 4);
  ASSERT_EQ(zmq_connect(sub, (*pub)->endpoint().c_str()), 0);
  // PUB drops until the subscription has arrived: publish until one gets through.
  std::vector<std::string> first;
  for (int i = 0; i < 200 && first.empty(); ++i) {
    (*pub)->Publish(Stored(0));
    first = Recv(sub, 50);
  }
  ASSERT_EQ(first.size(), 3u);
  EXPECT_EQ(first[0], "kv@t");
  uint64_t last = Seq(first[1]);
  // Drain the probes still in flight, then every further batch numbers on by one.
  for (auto m = Recv(sub, 100); !m.empty(); m = Recv(sub, 100)) last = Seq(m[1]);
  for (uint8_t i = 1; i <= 5; ++i) {
    (*pub)->Publish(Stored(i));
    auto m = Recv(sub, 2000);
    ASSERT_EQ(m.size(), 3u);
    EXPECT_EQ(Seq(m[1]), ++last);
  }

  void* req = zmq_socket(ctx, ZMQ_DEALER);
  ASSERT_EQ(zmq_connect(req, cfg.replay_endpoint.c_str()), 0);
  const std::string start = [&] {
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(((last - 2) >> (56 - 8 * i)) & 0xff);
    return s;
  }();
  // Garbage first (too many frames; a frame too large; a short sequence): refused, and the valid
  // request after it still served.
  for (const char* f : {"a", "b", "c"}) zmq_send(req, f, 1, ZMQ_SNDMORE);
  zmq_send(req, "d", 1, 0);
  const std::string big(4096, 'x');
  zmq_send(req, big.data(), big.size(), 0);
  zmq_send(req, "", 0, ZMQ_SNDMORE);
  zmq_send(req, "1234567", 7, 0);
  zmq_send(req, "", 0, ZMQ_SNDMORE);
  zmq_send(req, start.data(), start.size(), 0);
  std::vector<uint64_t> replayed;
  for (;;) {
    auto m = Recv(req, 5000);  // DEALER: ["", topic, seq, payload]
    ASSERT_EQ(m.size(), 4u);
    if (m[2] == std::string(8, '\xff')) break;
    EXPECT_EQ(m[1], "kv@t");
    replayed.push_back(Seq(m[2]));
  }
  EXPECT_EQ(replayed, (std::vector<uint64_t>{last - 2, last - 1, last}));

  zmq_close(req);
  zmq_close(sub);
  zmq_ctx_term(ctx);
  pub->reset();
  std::filesystem::remove_all(dir);
}

TEST(KvEventPublisher, RefusesAnEndpointInUse) {
  KvEventsEndpoint cfg;
  cfg.tenant = "t";
  cfg.endpoint = "tcp://127.0.0.1:*";
  auto a = KvEventPublisher::Start(cfg);
  ASSERT_TRUE(a.ok());
  cfg.endpoint = (*a)->endpoint();
  auto b = KvEventPublisher::Start(cfg);
  EXPECT_EQ(b.status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace tw::server

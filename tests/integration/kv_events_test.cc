// KV events (vLLM's wire format) from a real daemon: what a router subscribed to `events:` sees.
#include <gtest/gtest.h>
#include <zmq.h>

#include <map>
#include <random>

#define MSGPACK_NO_BOOST 1
#include <msgpack.hpp>

#include "daemon_fixture.h"
#include "server/auth.h"
#include "tw/client.h"

namespace tw {
namespace {

using testing::DaemonProcess;

Namespace SmallNamespace() {
  Namespace n;
  n.model_id = "events-model";
  n.geometry = KvGeometry{2, 2, 64, KvDtype::kF16, 64};  // 64-token blocks, 64 KiB objects
  return n;
}

std::vector<std::byte> Fill(const BlockKey& key, size_t n) {
  std::vector<std::byte> v(n);
  std::mt19937_64 rng(key.Prefix64());
  for (auto& b : v) b = std::byte(rng());
  return v;
}

std::vector<BlockKey> Keys(const Namespace& n, const NamespaceId& id, size_t blocks, uint32_t salt) {
  std::vector<uint32_t> tokens(blocks * n.geometry.block_tokens);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<uint32_t>(i * 31 + salt);
  return ComputeBlockKeys(id, tokens, n.geometry.block_tokens);
}

std::unique_ptr<Store> Open(const std::string& url, const std::string& token = "") {
  ClientOptions o;
  o.token = token;
  o.io_timeout_ms = 10000;
  auto s = OpenStore(url, o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(*s) : nullptr;
}

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

// One decoded event: its type, hashes (hex), medium ("" for nil), parent (hex, "" for nil), block_size.
struct Decoded {
  std::string type, medium, parent;
  std::vector<std::string> hashes;
  uint32_t block_size = 0;
};

std::string Hex(const msgpack::object& o) {
  BlockKey k;
  EXPECT_EQ(o.type, msgpack::type::BIN);
  EXPECT_EQ(o.via.bin.size, 16u);
  std::memcpy(k.bytes, o.via.bin.ptr, std::min<size_t>(16, o.via.bin.size));
  return k.ToHex();
}

std::vector<Decoded> DecodeBatch(const std::string& payload) {
  msgpack::object_handle h = msgpack::unpack(payload.data(), payload.size());
  const msgpack::object& batch = h.get();
  EXPECT_EQ(batch.type, msgpack::type::ARRAY);
  std::vector<Decoded> out;
  const msgpack::object& events = batch.via.array.ptr[1];
  for (uint32_t i = 0; i < events.via.array.size; ++i) {
    Decoded d;
    const msgpack::object_map& m = events.via.array.ptr[i].via.map;
    for (uint32_t j = 0; j < m.size; ++j) {
      const std::string key = m.ptr[j].key.as<std::string>();
      const msgpack::object& v = m.ptr[j].val;
      if (key == "type") d.type = v.as<std::string>();
      if (key == "medium" && !v.is_nil()) d.medium = v.as<std::string>();
      if (key == "parent_block_hash" && !v.is_nil()) d.parent = Hex(v);
      if (key == "block_size") d.block_size = v.as<uint32_t>();
      if (key == "block_hashes") {
        for (uint32_t k = 0; k < v.via.array.size; ++k) d.hashes.push_back(Hex(v.via.array.ptr[k]));
      }
    }
    out.push_back(std::move(d));
  }
  return out;
}

struct Message {
  uint64_t seq;
  std::string payload;
};

class KvEvents : public ::testing::Test {
 protected:
  void SetUp() override {
    ctx_ = zmq_ctx_new();
    dir_ = std::filesystem::temp_directory_path() / ("tw-kvev-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    for (void* s : sockets_) zmq_close(s);
    zmq_ctx_term(ctx_);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void* Socket(int type) {
    void* s = zmq_socket(ctx_, type);
    const int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    sockets_.push_back(s);
    return s;
  }
  // Stores blocks of a throw-away namespace until one event gets through: a SUB socket's
  // subscription reaches the PUB side asynchronously, and PUB drops what nobody has subscribed to.
  // Returns the sequence of the last batch drained.
  uint64_t Warm(Store& store, void* sub) {
    Namespace probe = SmallNamespace();
    probe.model_id = "probe";
    NamespaceId ns = store.RegisterNamespace(probe, {}).value();
    auto keys = Keys(probe, ns, 200, 99);
    std::vector<std::string> got;
    for (size_t i = 0; i < keys.size() && got.empty(); ++i) {
      EXPECT_TRUE(store.Put(ns, {keys[i], i ? keys[i - 1] : probe.Root()}, Fill(keys[i], probe.geometry.ObjectBytes())).ok());
      got = Recv(sub, 50);
    }
    EXPECT_EQ(got.size(), 3u);
    uint64_t last = got.size() == 3 ? Seq(got[1]) : 0;
    for (auto m = Recv(sub, 200); !m.empty(); m = Recv(sub, 200)) last = Seq(m[1]);
    return last;
  }

  void* ctx_ = nullptr;
  std::vector<void*> sockets_;
  std::filesystem::path dir_;
};

TEST_F(KvEvents, PublishesStoresAndRemovesInSequenceAndReplaysThem) {
  const std::string replay_path = "ipc://" + (dir_ / "replay.sock").string();
  const std::string config = "auth:\n  tenants:\n    - {name: bob, token_sha256: " + server::HashToken("bob-token") +
                             "}\nevents:\n  - {tenant: default, endpoint: 'tcp://127.0.0.1:*', replay_endpoint: '" +
                             replay_path + "', topic: kv}\n";
  DaemonProcess d(config);
  ASSERT_TRUE(d.ready()) << d.log();
  const std::string endpoint = d.field("events.default");
  ASSERT_EQ(endpoint.rfind("tcp://127.0.0.1:", 0), 0u) << endpoint;
  EXPECT_EQ(d.field("events_replay.default"), replay_path);

  void* sub = Socket(ZMQ_SUB);
  zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "kv", 2);
  ASSERT_EQ(zmq_connect(sub, endpoint.c_str()), 0);
  auto store = Open(d.tcp_url());
  auto bob = Open(d.tcp_url(), "bob-token");
  ASSERT_TRUE(store && bob);
  uint64_t last = Warm(*store, sub);

  const Namespace n = SmallNamespace();
  NamespaceId ns = store->RegisterNamespace(n, {}).value();
  // Bob (no `events:` entry) stores first: none of his blocks may appear on the default tenant's feed.
  NamespaceId bob_ns = bob->RegisterNamespace(n, {}).value();
  auto bob_keys = Keys(n, bob_ns, 3, 5);
  for (size_t i = 0; i < bob_keys.size(); ++i) {
    ASSERT_TRUE(bob->Put(bob_ns, {bob_keys[i], i ? bob_keys[i - 1] : RootKey(bob_ns)},
                         Fill(bob_keys[i], n.geometry.ObjectBytes())).ok());
  }
  auto keys = Keys(n, ns, 4, 7);
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_TRUE(store->Put(ns, {keys[i], i ? keys[i - 1] : RootKey(ns)}, Fill(keys[i], n.geometry.ObjectBytes())).ok());
  }
  ASSERT_TRUE(store->Remove(ns, keys[3]).ok());

  std::vector<Message> live;
  std::vector<Decoded> events;
  while (events.size() < keys.size() + 1) {
    auto m = Recv(sub, 5000);
    ASSERT_EQ(m.size(), 3u) << "events so far: " << events.size();
    EXPECT_EQ(m[0], "kv");
    EXPECT_EQ(Seq(m[1]), last + 1) << "sequence numbers have no gaps";
    last = Seq(m[1]);
    live.push_back({last, m[2]});
    for (auto& e : DecodeBatch(m[2])) events.push_back(std::move(e));
  }
  ASSERT_EQ(events.size(), keys.size() + 1);
  for (size_t i = 0; i < keys.size(); ++i) {
    EXPECT_EQ(events[i].type, "BlockStored");
    ASSERT_EQ(events[i].hashes.size(), 1u);
    EXPECT_EQ(events[i].hashes[0], keys[i].ToHex());  // the key a router computes from the token ids
    EXPECT_EQ(events[i].parent, i ? keys[i - 1].ToHex() : "");  // nil before the first block, as vLLM
    EXPECT_EQ(events[i].medium, "CPU");
    EXPECT_EQ(events[i].block_size, 64u);
  }
  EXPECT_EQ(events.back().type, "BlockRemoved");
  EXPECT_EQ(events.back().hashes, std::vector<std::string>{keys[3].ToHex()});
  EXPECT_EQ(events.back().medium, "");  // nil: a REMOVE leaves every tier

  const std::string metrics = d.HttpGet("/metrics");
  EXPECT_NE(metrics.find("tw_kv_events_total "), std::string::npos);
  EXPECT_NE(metrics.find("tw_kv_events_dropped_total 0"), std::string::npos);

  // A router that missed these asks the replay socket from the first one on: the same batches,
  // byte for byte, then the end marker.
  // DEALER, not REQ: the reply is many messages, and a REQ socket takes only one.
  void* req = Socket(ZMQ_DEALER);
  ASSERT_EQ(zmq_connect(req, replay_path.c_str()), 0);
  std::string start(8, '\0');
  for (int i = 0; i < 8; ++i) start[i] = static_cast<char>((live.front().seq >> (56 - 8 * i)) & 0xff);
  ASSERT_EQ(zmq_send(req, "", 0, ZMQ_SNDMORE), 0);
  ASSERT_EQ(zmq_send(req, start.data(), start.size(), 0), 8);
  std::vector<Message> replayed;
  for (;;) {
    auto m = Recv(req, 5000);  // ["", topic, seq, payload]
    ASSERT_EQ(m.size(), 4u);
    EXPECT_EQ(m[0], "");
    if (m[2] == std::string(8, '\xff')) break;
    EXPECT_EQ(m[1], "kv");
    replayed.push_back({Seq(m[2]), m[3]});
  }
  ASSERT_EQ(replayed.size(), live.size());
  for (size_t i = 0; i < live.size(); ++i) {
    EXPECT_EQ(replayed[i].seq, live[i].seq);
    EXPECT_EQ(replayed[i].payload, live[i].payload);
  }
}

TEST_F(KvEvents, RefusesEventsForATenantTwice) {
  DaemonProcess d("events:\n  - {tenant: default, endpoint: 'tcp://127.0.0.1:*'}\n  - {tenant: default, endpoint: 'tcp://127.0.0.1:*'}\n");
  EXPECT_FALSE(d.ready());
  EXPECT_NE(d.log().find("listed twice"), std::string::npos) << d.log();
}

}  // namespace
}  // namespace tw

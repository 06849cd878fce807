#include "router/vllm_kv_event.h"

#include <gtest/gtest.h>
#include <zmq.h>

#include <chrono>
#include <thread>

#define MSGPACK_NO_BOOST 1
#include <msgpack.hpp>

#include "router/kv_event_subscriber.h"
#include "server/kv_event_batch.h"

namespace tw::router {
namespace {

using Packer = msgpack::packer<msgpack::sbuffer>;

void Str(Packer& p, std::string_view s) {
  p.pack_str(static_cast<uint32_t>(s.size()));
  p.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}

void Bin(Packer& p, std::string_view s) {
  p.pack_bin(static_cast<uint32_t>(s.size()));
  p.pack_bin_body(s.data(), static_cast<uint32_t>(s.size()));
}

// A KVEventBatch as vLLM 0.32's msgspec writes it: [ts, [events as tagged maps], dp_rank], with the
// fields this router skips (lora, extra_keys, group_idx, ...) and an event type it does not know.
std::string VllmBatch() {
  msgpack::sbuffer buf;
  Packer p(buf);
  p.pack_array(3);
  p.pack_double(12.5);
  p.pack_array(4);
  p.pack_map(10);
  Str(p, "type"); Str(p, "BlockStored");
  Str(p, "block_hashes"); p.pack_array(2); Bin(p, "hash-0"); Bin(p, "hash-1");
  Str(p, "parent_block_hash"); p.pack_nil();
  Str(p, "token_ids"); p.pack_array(4); for (int t : {5, 6, 7, 8}) p.pack_int(t);
  Str(p, "block_size"); p.pack_int(2);
  Str(p, "lora_id"); p.pack_nil();
  Str(p, "medium"); Str(p, "GPU");
  Str(p, "lora_name"); p.pack_nil();
  Str(p, "extra_keys"); p.pack_array(2); p.pack_nil(); p.pack_nil();
  Str(p, "group_idx"); p.pack_int(0);
  p.pack_map(3);
  Str(p, "type"); Str(p, "BlockRemoved");
  Str(p, "block_hashes"); p.pack_array(1); p.pack_uint64(0x0102030405060708ull);  // an int hash
  Str(p, "medium"); Str(p, "GPU");
  p.pack_map(1);
  Str(p, "type"); Str(p, "AllBlocksCleared");
  p.pack_map(2);
  Str(p, "type"); Str(p, "SomethingNewer");
  Str(p, "payload"); p.pack_array(0);
  p.pack_int(0);  // data_parallel_rank
  return std::string(buf.data(), buf.size());
}

TEST(VllmKvEvent, DecodesVllmsLayout) {
  auto batch = DecodeVllmKvEventBatch(VllmBatch());
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  EXPECT_DOUBLE_EQ(batch->ts, 12.5);
  ASSERT_EQ(batch->events.size(), 3u);  // the unknown type is left out
  const VllmKvEvent& s = batch->events[0];
  EXPECT_EQ(s.kind, VllmKvEvent::Kind::kBlockStored);
  EXPECT_EQ(s.block_hashes, (std::vector<std::string>{"hash-0", "hash-1"}));
  EXPECT_FALSE(s.parent_block_hash.has_value());
  EXPECT_EQ(s.token_ids, (std::vector<uint32_t>{5, 6, 7, 8}));
  EXPECT_EQ(s.block_size, 2u);
  EXPECT_EQ(s.medium, "GPU");
  EXPECT_EQ(batch->events[1].kind, VllmKvEvent::Kind::kBlockRemoved);
  EXPECT_EQ(batch->events[1].block_hashes, (std::vector<std::string>{std::string("\x01\x02\x03\x04\x05\x06\x07\x08")}));
  EXPECT_EQ(batch->events[2].kind, VllmKvEvent::Kind::kAllBlocksCleared);
}

TEST(VllmKvEvent, DecodesTheArrayLikeFormOfOlderVllm) {
  msgpack::sbuffer buf;
  Packer p(buf);
  p.pack_array(2);
  p.pack_double(1);
  p.pack_array(2);
  p.pack_array(6);
  Str(p, "BlockStored");
  p.pack_array(1); p.pack_uint64(42);
  p.pack_uint64(41);
  p.pack_array(2); p.pack_int(1); p.pack_int(2);
  p.pack_int(2);
  p.pack_nil();
  p.pack_array(2);
  Str(p, "BlockRemoved");
  p.pack_array(1); p.pack_uint64(42);
  auto batch = DecodeVllmKvEventBatch(std::string_view(buf.data(), buf.size()));
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  ASSERT_EQ(batch->events.size(), 2u);
  EXPECT_TRUE(batch->events[0].parent_block_hash.has_value());
  EXPECT_EQ(batch->events[0].token_ids.size(), 2u);
  EXPECT_FALSE(batch->events[0].medium.has_value());
  EXPECT_EQ(batch->events[1].kind, VllmKvEvent::Kind::kBlockRemoved);
}

TEST(VllmKvEvent, DecodesTheWarehousesOwnEvents) {
  // What `tokenwarehouse serve` publishes (server/kv_event_batch.h): keys as 16-byte bins, no tokens.
  server::KvEvent stored;
  stored.block_hashes = {BlockKey{}, BlockKey{}};
  stored.block_hashes[1].bytes[0] = 1;
  stored.block_size = 256;
  stored.tier = Tier::kDisk;
  server::KvEvent removed;
  removed.kind = server::KvEvent::Kind::kBlockRemoved;
  removed.block_hashes = {stored.block_hashes[0]};
  removed.tier = Tier::kNone;
  auto batch = DecodeVllmKvEventBatch(server::EncodeKvEventBatch(3.0, {stored, removed}));
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  ASSERT_EQ(batch->events.size(), 2u);
  EXPECT_EQ(batch->events[0].block_hashes[1].size(), 16u);
  EXPECT_EQ(batch->events[0].medium, "STORAGE");
  EXPECT_TRUE(batch->events[0].token_ids.empty());
  EXPECT_FALSE(batch->events[1].medium.has_value());  // nil: every tier
  // Keys without tokens cannot enter a GPU index.
  GpuPrefixIndex index;
  for (const auto& e : batch->events) index.Apply(e);
  EXPECT_EQ(index.blocks(), 0u);
}

TEST(VllmKvEvent, RejectsMalformedBatches) {
  EXPECT_TRUE(DecodeVllmKvEventBatch("").status().IsCorruption());
  EXPECT_TRUE(DecodeVllmKvEventBatch("\xc1").status().IsCorruption());
  msgpack::sbuffer buf;
  Packer p(buf);
  p.pack_array(2);
  p.pack_double(1);
  p.pack_array(1);
  p.pack_map(2);
  Str(p, "type"); Str(p, "BlockStored");
  Str(p, "token_ids"); p.pack_array(1); Str(p, "not a token");
  EXPECT_TRUE(DecodeVllmKvEventBatch(std::string_view(buf.data(), buf.size())).status().IsCorruption());
}

TEST(KvEventSubscriber, AppliesPublishedBatchesToTheIndex) {
  void* ctx = zmq_ctx_new();
  void* pub = zmq_socket(ctx, ZMQ_PUB);
  ASSERT_EQ(zmq_bind(pub, "tcp://127.0.0.1:*"), 0);
  char endpoint[256];
  size_t len = sizeof endpoint;
  zmq_getsockopt(pub, ZMQ_LAST_ENDPOINT, endpoint, &len);
  GpuPrefixIndex index;
  auto sub = KvEventSubscriber::Start(endpoint, "kv", &index, "test");
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  // A SUB socket joins late (ZMQ's slow joiner): publish until the index has the blocks.
  const std::vector<uint32_t> tokens = {5, 6, 7, 8};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  uint64_t seq = 0;
  while (index.LongestPrefixTokens(tokens) == 0 && std::chrono::steady_clock::now() < deadline) {
    // Only the BlockStored of the batch: the rest would clear it again.
    msgpack::sbuffer one;
    Packer p(one);
    p.pack_array(2);
    p.pack_double(1);
    p.pack_array(1);
    p.pack_array(5);
    Str(p, "BlockStored");
    p.pack_array(2); Bin(p, "a"); Bin(p, "b");
    p.pack_nil();
    p.pack_array(4); for (int t : {5, 6, 7, 8}) p.pack_int(t);
    p.pack_int(2);
    char seq_be[8];
    for (int i = 0; i < 8; ++i) seq_be[i] = static_cast<char>(seq >> (56 - 8 * i));
    ++seq;
    zmq_send(pub, "kv", 2, ZMQ_SNDMORE);
    zmq_send(pub, seq_be, 8, ZMQ_SNDMORE);
    zmq_send(pub, one.data(), one.size(), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(index.LongestPrefixTokens(tokens), 4u);
  EXPECT_GE((*sub)->batches(), 1u);
  EXPECT_EQ((*sub)->malformed(), 0u);
  sub->reset();
  zmq_close(pub);
  zmq_ctx_term(ctx);
}

}  // namespace
}  // namespace tw::router

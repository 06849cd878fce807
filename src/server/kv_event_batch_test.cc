#include "server/kv_event_batch.h"

#include <gtest/gtest.h>

#define MSGPACK_NO_BOOST 1
#include <msgpack.hpp>

namespace tw::server {
namespace {

BlockKey Key(uint8_t b) {
  BlockKey k;
  for (auto& x : k.bytes) x = b;
  return k;
}

// The fields of a decoded event map, by name.
std::map<std::string, msgpack::object> Fields(const msgpack::object& o) {
  EXPECT_EQ(o.type, msgpack::type::MAP);
  std::map<std::string, msgpack::object> out;
  for (uint32_t i = 0; i < o.via.map.size; ++i) out[o.via.map.ptr[i].key.as<std::string>()] = o.via.map.ptr[i].val;
  return out;
}

// The layout vLLM's msgspec classes produce (checked against msgspec itself by
// python/tests/vllm/test_kv_events.py): an array batch, map events tagged by "type".
TEST(KvEventBatch, EncodesVllmLayout) {
  KvEvent stored;
  stored.block_hashes = {Key(1), Key(2)};
  stored.parent_block_hash = Key(9);
  stored.block_size = 256;
  stored.tier = Tier::kDisk;
  KvEvent removed;
  removed.kind = KvEvent::Kind::kBlockRemoved;
  removed.block_hashes = {Key(3)};
  removed.tier = Tier::kNone;
  KvEvent cleared;
  cleared.kind = KvEvent::Kind::kAllBlocksCleared;
  const std::string bytes = EncodeKvEventBatch(12.5, {stored, removed, cleared});

  msgpack::object_handle h = msgpack::unpack(bytes.data(), bytes.size());
  const msgpack::object& batch = h.get();
  ASSERT_EQ(batch.type, msgpack::type::ARRAY);
  ASSERT_EQ(batch.via.array.size, 3u);  // data_parallel_rank written, nil, as msgspec does
  EXPECT_TRUE(batch.via.array.ptr[2].is_nil());
  EXPECT_DOUBLE_EQ(batch.via.array.ptr[0].as<double>(), 12.5);
  const msgpack::object& events = batch.via.array.ptr[1];
  ASSERT_EQ(events.via.array.size, 3u);

  auto s = Fields(events.via.array.ptr[0]);
  EXPECT_EQ(s.size(), 8u);
  EXPECT_EQ(s["type"].as<std::string>(), "BlockStored");
  ASSERT_EQ(s["block_hashes"].via.array.size, 2u);
  const msgpack::object& h0 = s["block_hashes"].via.array.ptr[0];
  ASSERT_EQ(h0.type, msgpack::type::BIN);
  EXPECT_EQ(std::string(h0.via.bin.ptr, h0.via.bin.size), std::string(16, '\x01'));
  EXPECT_EQ(s["parent_block_hash"].type, msgpack::type::BIN);
  EXPECT_EQ(s["token_ids"].via.array.size, 0u);
  EXPECT_EQ(s["block_size"].as<uint32_t>(), 256u);
  EXPECT_TRUE(s["lora_id"].is_nil());
  EXPECT_TRUE(s["lora_name"].is_nil());
  EXPECT_EQ(s["medium"].as<std::string>(), "STORAGE");

  auto r = Fields(events.via.array.ptr[1]);
  EXPECT_EQ(r.size(), 3u);
  EXPECT_EQ(r["type"].as<std::string>(), "BlockRemoved");
  EXPECT_TRUE(r["medium"].is_nil());

  auto c = Fields(events.via.array.ptr[2]);
  EXPECT_EQ(c.size(), 1u);
  EXPECT_EQ(c["type"].as<std::string>(), "AllBlocksCleared");
}

TEST(KvEventBatch, MediaAreVllmNames) {
  EXPECT_EQ(KvEventMedium(Tier::kDram), "CPU");
  EXPECT_EQ(KvEventMedium(Tier::kDisk), "STORAGE");
  EXPECT_EQ(KvEventMedium(Tier::kPeer), "PEER");
}

}  // namespace
}  // namespace tw::server

#include "server/kv_event_batch.h"

// Boost is only an optional extra of msgpack-cxx (its variant and string_ref adaptors); the packer
// used here needs none of it.
#define MSGPACK_NO_BOOST 1
#include <msgpack.hpp>

namespace tw::server {

std::string_view KvEventMedium(Tier tier) {
  switch (tier) {
    case Tier::kDram: return "CPU";
    case Tier::kDisk: return "STORAGE";
    case Tier::kPeer: return "PEER";
    case Tier::kNone: break;
  }
  return "";
}

namespace {

using Packer = msgpack::packer<msgpack::sbuffer>;

void PackStr(Packer& p, std::string_view s) {
  p.pack_str(static_cast<uint32_t>(s.size()));
  p.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}

void PackKey(Packer& p, const BlockKey& k) {
  p.pack_bin(sizeof k.bytes);
  p.pack_bin_body(reinterpret_cast<const char*>(k.bytes), sizeof k.bytes);
}

void PackMedium(Packer& p, Tier tier) {
  if (tier == Tier::kNone) p.pack_nil();
  else PackStr(p, KvEventMedium(tier));
}

void PackHashes(Packer& p, const std::vector<BlockKey>& keys) {
  p.pack_array(static_cast<uint32_t>(keys.size()));
  for (const BlockKey& k : keys) PackKey(p, k);
}

void PackEvent(Packer& p, const KvEvent& e) {
  switch (e.kind) {
    case KvEvent::Kind::kBlockStored:
      p.pack_map(8);
      PackStr(p, "type");
      PackStr(p, "BlockStored");
      PackStr(p, "block_hashes");
      PackHashes(p, e.block_hashes);
      PackStr(p, "parent_block_hash");
      if (e.parent_block_hash) PackKey(p, *e.parent_block_hash);
      else p.pack_nil();
      PackStr(p, "token_ids");
      p.pack_array(0);
      PackStr(p, "block_size");
      p.pack_uint32(e.block_size);
      PackStr(p, "lora_id");
      p.pack_nil();
      PackStr(p, "medium");
      PackMedium(p, e.tier);
      PackStr(p, "lora_name");
      p.pack_nil();
      return;
    case KvEvent::Kind::kBlockRemoved:
      p.pack_map(3);
      PackStr(p, "type");
      PackStr(p, "BlockRemoved");
      PackStr(p, "block_hashes");
      PackHashes(p, e.block_hashes);
      PackStr(p, "medium");
      PackMedium(p, e.tier);
      return;
    case KvEvent::Kind::kAllBlocksCleared:
      p.pack_map(1);
      PackStr(p, "type");
      PackStr(p, "AllBlocksCleared");
      return;
  }
}

}  // namespace

std::string EncodeKvEventBatch(double ts, const std::vector<KvEvent>& events) {
  msgpack::sbuffer buf;
  Packer p(buf);
  // [ts, events, data_parallel_rank]: msgspec writes every field of an array_like struct, defaults
  // included; the warehouse is no data-parallel rank, so nil (None).
  p.pack_array(3);
  p.pack_double(ts);
  p.pack_array(static_cast<uint32_t>(events.size()));
  for (const KvEvent& e : events) PackEvent(p, e);
  p.pack_nil();
  return std::string(buf.data(), buf.size());
}

}  // namespace tw::server

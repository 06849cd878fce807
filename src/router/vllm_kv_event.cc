#include "router/vllm_kv_event.h"

// Boost is only an optional extra of msgpack-cxx; the object walk used here needs none of it.
#define MSGPACK_NO_BOOST 1
#include <msgpack.hpp>

namespace tw::router {

namespace {

using Obj = msgpack::object;

// Malformed input ends the walk with this; caught once in DecodeVllmKvEventBatch, so no exception
// leaves the file.
struct Malformed {
  const char* what;
};

std::string_view Str(const Obj& o) {
  if (o.type != msgpack::type::STR) throw Malformed{"a string was expected"};
  return {o.via.str.ptr, o.via.str.size};
}

bool IsNil(const Obj& o) { return o.type == msgpack::type::NIL; }

std::string Hash(const Obj& o) {
  if (o.type == msgpack::type::BIN) return std::string(o.via.bin.ptr, o.via.bin.size);
  if (o.type == msgpack::type::STR) return std::string(o.via.str.ptr, o.via.str.size);
  if (o.type == msgpack::type::POSITIVE_INTEGER || o.type == msgpack::type::NEGATIVE_INTEGER) {
    uint64_t v = o.via.u64;
    std::string out(8, '\0');
    for (int i = 7; i >= 0; --i, v >>= 8) out[i] = static_cast<char>(v & 0xff);
    return out;
  }
  throw Malformed{"a block hash is neither bytes nor an int"};
}

uint64_t Uint(const Obj& o) {
  if (o.type != msgpack::type::POSITIVE_INTEGER) throw Malformed{"a non-negative integer was expected"};
  return o.via.u64;
}

std::span<const Obj> Array(const Obj& o) {
  if (o.type != msgpack::type::ARRAY) throw Malformed{"an array was expected"};
  return {o.via.array.ptr, o.via.array.size};
}

std::vector<std::string> Hashes(const Obj& o) {
  std::vector<std::string> out;
  for (const Obj& h : Array(o)) out.push_back(Hash(h));
  return out;
}

std::optional<std::string> OptHash(const Obj& o) { return IsNil(o) ? std::nullopt : std::optional(Hash(o)); }
std::optional<std::string> OptStr(const Obj& o) {
  return IsNil(o) ? std::nullopt : std::optional(std::string(Str(o)));
}

std::vector<uint32_t> Tokens(const Obj& o) {
  std::vector<uint32_t> out;
  for (const Obj& t : Array(o)) {
    uint64_t v = Uint(t);
    if (v > UINT32_MAX) throw Malformed{"a token id exceeds 32 bits"};
    out.push_back(static_cast<uint32_t>(v));
  }
  return out;
}

std::optional<VllmKvEvent::Kind> KindOf(std::string_view type) {
  if (type == "BlockStored") return VllmKvEvent::Kind::kBlockStored;
  if (type == "BlockRemoved") return VllmKvEvent::Kind::kBlockRemoved;
  if (type == "AllBlocksCleared") return VllmKvEvent::Kind::kAllBlocksCleared;
  return std::nullopt;  // a type added after vLLM 0.32: skipped
}

// {"type": ..., field: value, ...}: msgspec's tagged struct; missing fields keep their defaults.
std::optional<VllmKvEvent> FromMap(const Obj& o) {
  std::optional<VllmKvEvent::Kind> kind;
  VllmKvEvent e;
  for (uint32_t i = 0; i < o.via.map.size; ++i) {
    const std::string_view key = Str(o.via.map.ptr[i].key);
    const Obj& v = o.via.map.ptr[i].val;
    if (key == "type") kind = KindOf(Str(v));
    else if (key == "block_hashes") e.block_hashes = Hashes(v);
    else if (key == "parent_block_hash") e.parent_block_hash = OptHash(v);
    else if (key == "token_ids") e.token_ids = Tokens(v);
    else if (key == "block_size") e.block_size = static_cast<uint32_t>(Uint(v));
    else if (key == "medium") e.medium = OptStr(v);
  }
  if (!kind) return std::nullopt;
  e.kind = *kind;
  return e;
}

// ["BlockStored", block_hashes, parent_block_hash, token_ids, block_size, lora_id, medium, ...],
// ["BlockRemoved", block_hashes, medium, ...], ["AllBlocksCleared"]: the array_like form.
std::optional<VllmKvEvent> FromArray(std::span<const Obj> a) {
  if (a.empty()) throw Malformed{"an empty event"};
  std::optional<VllmKvEvent::Kind> kind = KindOf(Str(a[0]));
  if (!kind) return std::nullopt;
  VllmKvEvent e;
  e.kind = *kind;
  if (*kind == VllmKvEvent::Kind::kBlockStored) {
    if (a.size() < 5) throw Malformed{"BlockStored has too few fields"};
    e.block_hashes = Hashes(a[1]);
    e.parent_block_hash = OptHash(a[2]);
    e.token_ids = Tokens(a[3]);
    e.block_size = static_cast<uint32_t>(Uint(a[4]));
    if (a.size() > 6) e.medium = OptStr(a[6]);
  } else if (*kind == VllmKvEvent::Kind::kBlockRemoved) {
    if (a.size() < 2) throw Malformed{"BlockRemoved has too few fields"};
    e.block_hashes = Hashes(a[1]);
    if (a.size() > 2) e.medium = OptStr(a[2]);
  }
  return e;
}

}  // namespace

Result<VllmKvEventBatch> DecodeVllmKvEventBatch(std::string_view payload) {
  try {
    msgpack::object_handle handle = msgpack::unpack(payload.data(), payload.size());
    std::span<const Obj> batch = Array(handle.get());
    if (batch.size() < 2) throw Malformed{"a batch is [ts, events, ...]"};
    VllmKvEventBatch out;
    const Obj& ts = batch[0];
    if (ts.type == msgpack::type::FLOAT64 || ts.type == msgpack::type::FLOAT32) out.ts = ts.via.f64;
    else if (ts.type == msgpack::type::POSITIVE_INTEGER) out.ts = static_cast<double>(ts.via.u64);
    else throw Malformed{"a batch's ts is not a number"};
    for (const Obj& ev : Array(batch[1])) {
      std::optional<VllmKvEvent> e;
      if (ev.type == msgpack::type::MAP) e = FromMap(ev);
      else e = FromArray(Array(ev));
      if (e) out.events.push_back(std::move(*e));
    }
    return out;
  } catch (const Malformed& m) {
    return Status::Corruption(std::string("KV event batch: ") + m.what);
  } catch (const std::exception& ex) {
    return Status::Corruption(std::string("KV event batch is not msgpack: ") + ex.what());
  }
}

}  // namespace tw::router

// The C API over tw::Store. Every entry point converts arguments, calls C++, and turns a Status into a
// tw_status_t plus this thread's error text. No C++ exception crosses into C: the store does not throw,
// and std::bad_alloc from a conversion is caught and reported as TW_RESOURCE_EXHAUSTED.
#include "tw/tw.h"

#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "tw/open.h"
#include "tw/store.h"

struct tw_store {
  std::unique_ptr<tw::Store> impl;
};

struct tw_namespace {
  tw::Namespace nspace;
  tw::NamespaceId id;
  tw::BlockKey root;
};

namespace {

thread_local std::string g_last_error;

tw_status_t Report(const tw::Status& s) {
  if (s.ok()) return TW_OK;
  g_last_error.assign(s.message().data(), s.message().size());
  return static_cast<tw_status_t>(s.code());
}

tw_status_t Invalid(const char* what) { return Report(tw::Status::InvalidArgument(what)); }

// Runs fn, reporting allocation failure instead of letting it unwind into C.
template <typename Fn>
tw_status_t Guard(Fn&& fn) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    return Report(tw::Status::ResourceExhausted("out of memory"));
  } catch (const std::exception& e) {
    return Report(tw::Status::Internal(e.what()));
  }
}

tw::BlockKey ToKey(const tw_block_key_t& k) {
  tw::BlockKey out;
  std::memcpy(out.bytes, k.bytes, 16);
  return out;
}

tw::KvSlice ToSlice(const tw_slice_t* s) {
  if (s == nullptr) return tw::KvSlice::All();
  return tw::KvSlice{s->layer_begin, s->layer_end, s->head_begin, s->head_end};
}

std::string Str(const char* s) { return s ? std::string(s) : std::string(); }

}  // namespace

extern "C" {

const char* tw_status_name(tw_status_t status) {
  static const char* const kNames[] = {"ok",        "not_found",          "invalid_argument", "resource_exhausted",
                                       "unavailable", "deadline_exceeded", "io_error",         "corruption",
                                       "permission_denied", "unauthenticated", "not_supported", "internal",
                                       "failed_precondition"};
  const int i = static_cast<int>(status);
  return (i >= 0 && i < static_cast<int>(sizeof(kNames) / sizeof(kNames[0]))) ? kNames[i] : "unknown";
}

const char* tw_last_error_message(void) { return g_last_error.c_str(); }

const char* tw_version(void) { return "0.1.0"; }

void tw_store_options_init(tw_store_options_t* o) {
  if (o == nullptr) return;
  const tw::EmbeddedStoreOptions d;
  std::memset(o, 0, sizeof(*o));  // url, token, tls_ca_file NULL; io_timeout_ms 0 (the default)
  o->dram_capacity_bytes = d.dram_capacity_bytes;
  o->page_bytes = d.page_bytes;
  o->huge_pages = d.huge_pages ? 1 : 0;
  o->prefault = d.prefault ? 1 : 0;
}

tw_status_t tw_store_open(const tw_store_options_t* o, tw_store_t** out) {
  if (o == nullptr || out == nullptr) return Invalid("tw_store_open: options and out are required");
  *out = nullptr;
  return Guard([&] {
    tw::OpenOptions open;
    tw::ClientOptions& co = open.client;
    co.client_name = "tw-c";
    co.embedded.dram_capacity_bytes = o->dram_capacity_bytes;
    co.embedded.page_bytes = o->page_bytes;
    co.embedded.huge_pages = o->huge_pages != 0;
    co.embedded.prefault = o->prefault != 0;
    co.token = Str(o->token);
    co.tls_ca_file = Str(o->tls_ca_file);
    if (o->io_timeout_ms) co.io_timeout_ms = o->io_timeout_ms;
    auto store = tw::Open(o->url ? o->url : "", open);
    if (!store.ok()) return Report(store.status());
    *out = new tw_store{std::move(store).value()};
    return TW_OK;
  });
}

void tw_store_close(tw_store_t* store) { delete store; }

void tw_namespace_options_init(tw_namespace_options_t* o) {
  if (o == nullptr) return;
  std::memset(o, 0, sizeof(*o));
  o->dtype = TW_DTYPE_BF16;
  o->block_tokens = 256;
  o->key_hash = TW_KEY_HASH_SHA256;
}

tw_status_t tw_store_register_namespace(tw_store_t* store, const tw_namespace_options_t* o, tw_namespace_t** out) {
  if (store == nullptr || o == nullptr || out == nullptr) return Invalid("tw_store_register_namespace: null argument");
  *out = nullptr;
  return Guard([&] {
    tw::Namespace n;
    n.tenant = Str(o->tenant);
    n.model_id = Str(o->model_id);
    n.model_revision = Str(o->model_revision);
    n.adapter_id = Str(o->adapter_id);
    n.cache_salt = Str(o->cache_salt);
    n.geometry.layers = o->layers;
    n.geometry.kv_heads = o->kv_heads;
    n.geometry.head_dim = o->head_dim;
    n.geometry.dtype = static_cast<tw::KvDtype>(o->dtype);
    n.geometry.block_tokens = o->block_tokens;
    if (o->key_hash != TW_KEY_HASH_SHA256 && o->key_hash != TW_KEY_HASH_XXH3) return Invalid("unknown key_hash");
    n.key_hash = static_cast<tw::KeyHash>(o->key_hash);
    tw::NamespaceOptions nopts;
    nopts.ttl_ms = o->ttl_ms;
    nopts.ttl_sliding = o->ttl_sliding != 0;
    nopts.min_prefix_tokens = o->min_prefix_tokens;
    auto id = store->impl->RegisterNamespace(n, nopts);
    if (!id.ok()) return Report(id.status());
    auto* handle = new tw_namespace{std::move(n), id.value(), {}};
    handle->root = handle->nspace.Root();
    *out = handle;
    return TW_OK;
  });
}

void tw_namespace_free(tw_namespace_t* ns) { delete ns; }

uint64_t tw_namespace_object_bytes(const tw_namespace_t* ns) { return ns ? ns->nspace.ObjectBytes() : 0; }

uint64_t tw_namespace_slice_bytes(const tw_namespace_t* ns, const tw_slice_t* slice) {
  return ns ? ns->nspace.geometry.SliceBytes(ToSlice(slice)) : 0;
}

uint32_t tw_namespace_block_tokens(const tw_namespace_t* ns) { return ns ? ns->nspace.geometry.block_tokens : 0; }

void tw_namespace_id(const tw_namespace_t* ns, uint8_t out[16]) {
  if (ns && out) std::memcpy(out, ns->id.bytes, 16);
}

void tw_namespace_root(const tw_namespace_t* ns, tw_block_key_t* out) {
  if (ns && out) std::memcpy(out->bytes, ns->root.bytes, 16);
}

tw_status_t tw_namespace_block_keys(const tw_namespace_t* ns, const uint32_t* tokens, size_t n_tokens,
                                    tw_block_key_t* keys, size_t capacity, size_t* n_keys) {
  if (ns == nullptr || n_keys == nullptr || (tokens == nullptr && n_tokens > 0) || (keys == nullptr && capacity > 0)) {
    return Invalid("tw_namespace_block_keys: null argument");
  }
  const size_t full = n_tokens / ns->nspace.geometry.block_tokens;
  *n_keys = full;
  if (capacity < full) return Invalid("tw_namespace_block_keys: capacity is smaller than the number of full blocks");
  return Guard([&] {
    std::vector<tw::BlockKey> k = ns->nspace.BlockKeys(std::span<const uint32_t>(tokens, n_tokens));
    for (size_t i = 0; i < k.size(); ++i) std::memcpy(keys[i].bytes, k[i].bytes, 16);
    return TW_OK;
  });
}

tw_status_t tw_store_lookup(tw_store_t* store, const tw_namespace_t* ns, const tw_block_key_t* keys, size_t n_keys,
                            size_t* matched, tw_tier_t* tiers) {
  return tw_store_lookup_usage(store, ns, keys, n_keys, matched, tiers, nullptr);
}

namespace {

void ToUsage(const tw::RequestUsage& u, tw_request_usage_t* out) {
  out->reported = u.reported ? 1 : 0;
  out->write_tokens = u.write_tokens;
  out->present_tokens = u.present_tokens;
  out->skipped_short_tokens = u.skipped_short_tokens;
  for (size_t t = 0; t < 4; ++t) out->hit_tokens_by_tier[t] = u.hit_tokens_by_tier[t];
  out->miss_tokens = u.miss_tokens;
  out->read_tokens = u.read_tokens;
}

}  // namespace

tw_status_t tw_store_lookup_usage(tw_store_t* store, const tw_namespace_t* ns, const tw_block_key_t* keys, size_t n_keys,
                                  size_t* matched, tw_tier_t* tiers, tw_request_usage_t* usage) {
  if (store == nullptr || ns == nullptr || matched == nullptr || (keys == nullptr && n_keys > 0)) {
    return Invalid("tw_store_lookup_usage: null argument");
  }
  *matched = 0;
  if (usage) *usage = tw_request_usage_t{};
  return Guard([&] {
    // tw_block_key_t and tw::BlockKey are both 16 plain bytes; convert anyway rather than alias.
    std::vector<tw::BlockKey> k(n_keys);
    for (size_t i = 0; i < n_keys; ++i) k[i] = ToKey(keys[i]);
    auto r = store->impl->Lookup(ns->id, k);
    if (!r.ok()) return Report(r.status());
    *matched = r->matched;
    if (tiers) {
      for (size_t i = 0; i < r->matched; ++i) tiers[i] = static_cast<tw_tier_t>(r->tiers[i]);
    }
    if (usage) ToUsage(r->usage, usage);
    return TW_OK;
  });
}

tw_status_t tw_store_put_batch(tw_store_t* store, const tw_namespace_t* ns, const tw_put_item_t* items, size_t n_items,
                               tw_status_t* item_status, tw_request_usage_t* usage) {
  if (store == nullptr || ns == nullptr || (items == nullptr && n_items > 0)) return Invalid("tw_store_put_batch: null argument");
  for (size_t i = 0; i < n_items; ++i) {
    if (items[i].data == nullptr && items[i].size > 0) return Invalid("tw_store_put_batch: null data");
  }
  if (usage) *usage = tw_request_usage_t{};
  return Guard([&] {
    std::vector<tw::PutItem> batch;
    batch.reserve(n_items);
    for (size_t i = 0; i < n_items; ++i) {
      batch.push_back(tw::PutItem{tw::BlockRef{ToKey(items[i].key), ToKey(items[i].parent)},
                                  std::span<const std::byte>(static_cast<const std::byte*>(items[i].data), items[i].size)});
    }
    tw::BatchStatus b = store->impl->PutBatch(ns->id, batch);
    if (!b.transport.ok()) return Report(b.transport);
    if (usage) ToUsage(b.usage, usage);
    tw_status_t first = TW_OK;
    for (size_t i = 0; i < n_items; ++i) {
      const tw_status_t s = i < b.items.size() ? static_cast<tw_status_t>(b.items[i].code()) : TW_INTERNAL;
      if (item_status) item_status[i] = s;
      if (first == TW_OK && s != TW_OK) first = i < b.items.size() ? Report(b.items[i]) : Report(tw::Status::Internal("missing item status"));
    }
    return first;
  });
}

tw_status_t tw_store_put_from(tw_store_t* store, const tw_namespace_t* ns, const tw_block_key_t* key,
                              const tw_block_key_t* parent, const void* data, size_t size) {
  if (store == nullptr || ns == nullptr || key == nullptr || parent == nullptr || (data == nullptr && size > 0)) {
    return Invalid("tw_store_put_from: null argument");
  }
  return Guard([&] {
    tw::BlockRef ref{ToKey(*key), ToKey(*parent)};
    return Report(store->impl->Put(ns->id, ref, std::span<const std::byte>(static_cast<const std::byte*>(data), size)));
  });
}

tw_status_t tw_store_get_into(tw_store_t* store, const tw_namespace_t* ns, const tw_block_key_t* key,
                              const tw_slice_t* slice, void* out, size_t size) {
  if (store == nullptr || ns == nullptr || key == nullptr || (out == nullptr && size > 0)) {
    return Invalid("tw_store_get_into: null argument");
  }
  return Guard([&] {
    tw::Status s = store->impl->Get(ns->id, ToKey(*key), std::span<std::byte>(static_cast<std::byte*>(out), size),
                                    ToSlice(slice));
    if (s.IsNotFound()) g_last_error = "not found";
    return Report(s);
  });
}

tw_status_t tw_store_pin(tw_store_t* store, const tw_namespace_t* ns, const tw_block_key_t* keys, size_t n_keys,
                         uint64_t lease_ms, tw_lease_id_t* lease) {
  if (store == nullptr || ns == nullptr || lease == nullptr || (keys == nullptr && n_keys > 0)) {
    return Invalid("tw_store_pin: null argument");
  }
  *lease = 0;
  return Guard([&] {
    std::vector<tw::BlockKey> k(n_keys);
    for (size_t i = 0; i < n_keys; ++i) k[i] = ToKey(keys[i]);
    auto r = store->impl->Pin(ns->id, k, lease_ms);
    if (!r.ok()) return Report(r.status());
    *lease = r.value();
    return TW_OK;
  });
}

tw_status_t tw_store_unpin(tw_store_t* store, tw_lease_id_t lease) {
  if (store == nullptr) return Invalid("tw_store_unpin: null store");
  return Guard([&] { return Report(store->impl->Unpin(lease)); });
}

tw_status_t tw_store_remove(tw_store_t* store, const tw_namespace_t* ns, const tw_block_key_t* key) {
  if (store == nullptr || ns == nullptr || key == nullptr) return Invalid("tw_store_remove: null argument");
  return Guard([&] { return Report(store->impl->Remove(ns->id, ToKey(*key))); });
}

tw_status_t tw_store_stats(tw_store_t* store, tw_stats_t* out) {
  if (store == nullptr || out == nullptr) return Invalid("tw_store_stats: null argument");
  return Guard([&] {
    tw::Result<tw::StoreStats> got = store->impl->Stats();
    if (!got.ok()) return Report(got.status());
    const tw::StoreStats& s = *got;
    std::memset(out, 0, sizeof(*out));
    out->lookups = s.lookups;
    out->lookup_keys = s.lookup_keys;
    out->lookup_hits = s.lookup_hits;
    out->gets = s.gets;
    out->get_misses = s.get_misses;
    out->puts = s.puts;
    out->put_duplicates = s.put_duplicates;
    out->put_rejected = s.put_rejected;
    out->pinned_objects = s.pinned_objects;
    out->active_leases = s.active_leases;
    for (const tw::TierStats& t : s.tiers) {
      if (out->n_tiers == TW_MAX_TIERS) break;
      tw_tier_stats_t& o = out->tiers[out->n_tiers++];
      o.tier = static_cast<tw_tier_t>(t.tier);
      o.capacity_bytes = t.capacity_bytes;
      o.used_bytes = t.used_bytes;
      o.objects = t.objects;
      o.hits = t.hits;
      o.admissions = t.admissions;
      o.evictions = t.evictions;
      o.bytes_read = t.bytes_read;
      o.bytes_written = t.bytes_written;
      o.errors = t.errors;
      o.admitting = t.admitting ? 1 : 0;
    }
    return TW_OK;
  });
}

}  // extern "C"

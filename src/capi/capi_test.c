/* The C API exercised from C99: open, register, keys, put, lookup, get (whole and sliced), misses,
 * errors with text, pins, remove, stats, and the daemon URL refused as not supported. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tw/tw.h"

static int failures = 0;

#define EXPECT(cond)                                                        \
  do {                                                                      \
    if (!(cond)) {                                                          \
      fprintf(stderr, "%s:%d: expected %s (last error: %s)\n", __FILE__, \
              __LINE__, #cond, tw_last_error_message());                    \
      ++failures;                                                           \
    }                                                                       \
  } while (0)

#define EXPECT_STATUS(expr, code)                                                       \
  do {                                                                                  \
    tw_status_t s_ = (expr);                                                            \
    if (s_ != (code)) {                                                                 \
      fprintf(stderr, "%s:%d: %s returned %s, expected %s (%s)\n", __FILE__, __LINE__, \
              #expr, tw_status_name(s_), tw_status_name(code), tw_last_error_message()); \
      ++failures;                                                                       \
    }                                                                                   \
  } while (0)

enum { kLayers = 4, kHeads = 2, kDim = 8, kBlockTokens = 16, kBlocks = 3 };

static void FillObject(unsigned char* p, size_t n, unsigned seed) {
  size_t i;
  for (i = 0; i < n; ++i) p[i] = (unsigned char)((i * 131u + seed * 7919u) >> 3);
}

static void TestUnreachableOrBadUrl(void) {
  tw_store_options_t so;
  tw_store_t* store = (tw_store_t*)0x1;
  tw_store_options_init(&so);
  so.url = "tw://127.0.0.1:1"; /* nothing listens on port 1 */
  EXPECT_STATUS(tw_store_open(&so, &store), TW_UNAVAILABLE);
  so.url = "etcd://127.0.0.1:1"; /* a cluster whose etcd is not there */
  EXPECT_STATUS(tw_store_open(&so, &store), TW_UNAVAILABLE);
  EXPECT(store == NULL);
  EXPECT(strlen(tw_last_error_message()) > 0);
  so.url = "not a url";
  EXPECT_STATUS(tw_store_open(&so, &store), TW_INVALID_ARGUMENT);
}

static void TestRoundTrip(void) {
  tw_store_options_t so;
  tw_store_t* store = NULL;
  tw_namespace_options_t no;
  tw_namespace_t* ns = NULL;
  uint32_t tokens[kBlocks * kBlockTokens + 5];
  tw_block_key_t keys[kBlocks];
  tw_block_key_t root;
  tw_tier_t tiers[kBlocks];
  size_t n_keys = 0, matched = 0, i;
  uint64_t object_bytes;
  unsigned char* in;
  unsigned char* out;
  tw_lease_id_t lease = 0;
  tw_stats_t stats;
  tw_slice_t slice;

  tw_store_options_init(&so);
  so.dram_capacity_bytes = 8u << 20;
  so.page_bytes = 4096;
  EXPECT_STATUS(tw_store_open(&so, &store), TW_OK);
  if (store == NULL) return;

  tw_namespace_options_init(&no);
  EXPECT_STATUS(tw_store_register_namespace(store, &no, &ns), TW_INVALID_ARGUMENT); /* no model id */
  no.model_id = "capi-test-model";
  no.layers = kLayers;
  no.kv_heads = kHeads;
  no.head_dim = kDim;
  no.dtype = TW_DTYPE_F16;
  no.block_tokens = kBlockTokens;
  EXPECT_STATUS(tw_store_register_namespace(store, &no, &ns), TW_OK);
  if (ns == NULL) return;
  object_bytes = tw_namespace_object_bytes(ns);
  EXPECT(object_bytes == (uint64_t)kLayers * 2 * kHeads * kBlockTokens * kDim * 2);
  EXPECT(tw_namespace_block_tokens(ns) == kBlockTokens);

  for (i = 0; i < sizeof(tokens) / sizeof(tokens[0]); ++i) tokens[i] = (uint32_t)(1000 + i);
  EXPECT_STATUS(tw_namespace_block_keys(ns, tokens, 2 * kBlockTokens, keys, 1, &n_keys), TW_INVALID_ARGUMENT);
  EXPECT(n_keys == 2);
  EXPECT_STATUS(tw_namespace_block_keys(ns, tokens, sizeof(tokens) / sizeof(tokens[0]), keys, kBlocks, &n_keys),
                TW_OK);
  EXPECT(n_keys == kBlocks); /* the trailing partial block gets no key */
  tw_namespace_root(ns, &root);

  EXPECT_STATUS(tw_store_lookup(store, ns, keys, kBlocks, &matched, tiers), TW_OK);
  EXPECT(matched == 0);

  in = (unsigned char*)malloc(object_bytes);
  out = (unsigned char*)malloc(object_bytes);
  /* Out of chain order: the parent of block 1 is not present yet. */
  FillObject(in, object_bytes, 1);
  EXPECT_STATUS(tw_store_put_from(store, ns, &keys[1], &keys[0], in, object_bytes), TW_INVALID_ARGUMENT);
  EXPECT_STATUS(tw_store_put_from(store, ns, &keys[0], &root, in, object_bytes - 1), TW_INVALID_ARGUMENT);
  for (i = 0; i < 2; ++i) {
    FillObject(in, object_bytes, (unsigned)i);
    EXPECT_STATUS(tw_store_put_from(store, ns, &keys[i], i ? &keys[i - 1] : &root, in, object_bytes), TW_OK);
  }
  EXPECT_STATUS(tw_store_lookup(store, ns, keys, kBlocks, &matched, tiers), TW_OK);
  EXPECT(matched == 2);
  EXPECT(tiers[0] == TW_TIER_DRAM && tiers[1] == TW_TIER_DRAM);

  FillObject(in, object_bytes, 1);
  memset(out, 0xAB, object_bytes);
  EXPECT_STATUS(tw_store_get_into(store, ns, &keys[1], NULL, out, object_bytes), TW_OK);
  EXPECT(memcmp(in, out, object_bytes) == 0);

  /* Layer 1, all heads: one contiguous run of the canonical layout. */
  memset(&slice, 0, sizeof(slice));
  slice.layer_begin = 1;
  slice.layer_end = 2;
  EXPECT(tw_namespace_slice_bytes(ns, &slice) == object_bytes / kLayers);
  EXPECT_STATUS(tw_store_get_into(store, ns, &keys[1], &slice, out, object_bytes / kLayers), TW_OK);
  EXPECT(memcmp(in + object_bytes / kLayers, out, object_bytes / kLayers) == 0);

  EXPECT_STATUS(tw_store_get_into(store, ns, &keys[2], NULL, out, object_bytes), TW_NOT_FOUND);

  EXPECT_STATUS(tw_store_pin(store, ns, keys, 2, 60000, &lease), TW_OK);
  EXPECT(lease != 0);
  EXPECT_STATUS(tw_store_pin(store, ns, keys, 3, 60000, &lease), TW_NOT_FOUND);
  EXPECT_STATUS(tw_store_stats(store, &stats), TW_OK);
  EXPECT(stats.active_leases == 1);
  EXPECT(stats.n_tiers >= 1 && stats.tiers[0].tier == TW_TIER_DRAM && stats.tiers[0].objects == 2 && stats.tiers[0].admitting == 1);
  EXPECT(stats.puts >= 2 && stats.get_misses == 1);

  EXPECT_STATUS(tw_store_remove(store, ns, &keys[1]), TW_OK);
  EXPECT_STATUS(tw_store_remove(store, ns, &keys[1]), TW_NOT_FOUND);
  EXPECT_STATUS(tw_store_lookup(store, ns, keys, kBlocks, &matched, NULL), TW_OK);
  EXPECT(matched == 1);

  free(in);
  free(out);
  tw_namespace_free(ns);
  tw_store_close(store);
}

/* Per-request usage: a put batch says what it newly stored, what was present and what it skipped as
 * short; a lookup its hits by tier and misses. */
static void TestRequestUsage(void) {
  tw_store_options_t so;
  tw_store_t* store = NULL;
  tw_namespace_options_t no;
  tw_namespace_t* ns = NULL;
  uint32_t tokens[4 * kBlockTokens];
  tw_block_key_t keys[4];
  tw_put_item_t items[4];
  tw_status_t item_status[4];
  tw_request_usage_t u;
  size_t n_keys = 0, matched = 0, i, size;
  unsigned char* obj;
  tw_store_options_init(&so);
  so.dram_capacity_bytes = 16u << 20;
  so.page_bytes = 64u << 10;
  so.prefault = 0;
  EXPECT_STATUS(tw_store_open(&so, &store), TW_OK);
  tw_namespace_options_init(&no);
  no.model_id = "c-usage";
  no.layers = kLayers;
  no.kv_heads = kHeads;
  no.head_dim = kDim;
  no.block_tokens = kBlockTokens;
  no.min_prefix_tokens = 2 * kBlockTokens;
  EXPECT_STATUS(tw_store_register_namespace(store, &no, &ns), TW_OK);
  for (i = 0; i < 4 * kBlockTokens; ++i) tokens[i] = (uint32_t)(i * 7 + 3);
  EXPECT_STATUS(tw_namespace_block_keys(ns, tokens, 4 * kBlockTokens, keys, 4, &n_keys), TW_OK);
  size = (size_t)tw_namespace_object_bytes(ns);
  obj = (unsigned char*)malloc(size);
  FillObject(obj, size, 5);
  for (i = 0; i < 4; ++i) {
    items[i].key = keys[i];
    if (i == 0) tw_namespace_root(ns, &items[i].parent);
    else items[i].parent = keys[i - 1];
    items[i].data = obj;
    items[i].size = size;
  }
  EXPECT_STATUS(tw_store_put_batch(store, ns, items, 1, item_status, &u), TW_OK); /* 16 tokens < 32 */
  EXPECT(u.reported == 1 && u.skipped_short_tokens == kBlockTokens && u.write_tokens == 0);
  EXPECT_STATUS(tw_store_put_batch(store, ns, items, 3, item_status, &u), TW_OK);
  EXPECT(u.write_tokens == 3 * kBlockTokens && u.present_tokens == 0 && item_status[2] == TW_OK);
  EXPECT_STATUS(tw_store_put_batch(store, ns, items, 4, NULL, &u), TW_OK);
  EXPECT(u.present_tokens == 3 * kBlockTokens && u.write_tokens == kBlockTokens);
  EXPECT_STATUS(tw_store_lookup_usage(store, ns, keys, 4, &matched, NULL, &u), TW_OK);
  EXPECT(matched == 4 && u.hit_tokens_by_tier[TW_TIER_DRAM] == 4 * kBlockTokens && u.miss_tokens == 0);
  items[0].size = size - 1;
  EXPECT_STATUS(tw_store_put_batch(store, ns, items, 2, item_status, &u), TW_INVALID_ARGUMENT); /* a wrong size */
  EXPECT(item_status[0] == TW_INVALID_ARGUMENT && item_status[1] == TW_OK);
  EXPECT(u.write_tokens == 0 && u.present_tokens == kBlockTokens); /* a failed item counts nowhere */
  free(obj);
  tw_namespace_free(ns);
  tw_store_close(store);
}

int main(void) {
  EXPECT(strcmp(tw_status_name(TW_NOT_FOUND), "not_found") == 0);
  EXPECT(strcmp(tw_status_name((tw_status_t)99), "unknown") == 0);
  EXPECT(strlen(tw_version()) > 0);
  TestUnreachableOrBadUrl();
  TestRoundTrip();
  TestRequestUsage();
  if (failures) {
    fprintf(stderr, "capi_test: %d failure(s)\n", failures);
    return 1;
  }
  printf("capi_test: ok\n");
  return 0;
}

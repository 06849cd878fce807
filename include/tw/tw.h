/* tw.h: the C API of Token Warehouse (C99).
 *
 * A thin, stable surface over the C++ Store interface (tw/store.h) for engines written in C or in
 * languages that bind C (Rust, Go, Zig, llama.cpp's C side). Same words, same semantics:
 *
 *   tw_store_options_t so;  tw_store_options_init(&so);  so.dram_capacity_bytes = 8ull << 30;
 *   tw_store_t* store;      tw_store_open(&so, &store);
 *   tw_namespace_options_t no;  tw_namespace_options_init(&no);  no.model_id = "my-model"; ...
 *   tw_namespace_t* ns;     tw_store_register_namespace(store, &no, &ns);
 *   tw_namespace_block_keys(ns, tokens, n_tokens, keys, cap, &n_keys);
 *   tw_store_lookup(store, ns, keys, n_keys, &matched, NULL);
 *   for (i = 0; i < matched; ++i) tw_store_get_into(store, ns, &keys[i], NULL, buf, size);
 *   ... prefill the suffix, then tw_store_put_from(...) each new full block ...
 *   tw_namespace_free(ns);  tw_store_close(store);
 *
 * Conventions:
 *  - Every fallible function returns tw_status_t; TW_OK is 0. A miss is TW_NOT_FOUND (expected, not
 *    an error to log). On any other code, tw_last_error_message() has the text.
 *  - Handles are typed and opaque. The caller owns what an *_open / *_register call returns and frees
 *    it with the matching *_close / *_free. A namespace handle must not outlive its store.
 *  - Options structs are filled with defaults by tw_*_options_init; set only the fields you need.
 *  - Thread-safety: a tw_store_t may be used from many threads at once, as may a tw_namespace_t.
 *    The last-error text is per thread.
 *  - Blocking: calls block for at most the memory copies or I/O they perform. One bounded wait for
 *    space: a put into a store with a disk tier may wait up to disk_enqueue_wait_ms (5 s by default)
 *    for room in the disk write queue when DRAM must demote to make space; then the demoted object
 *    is dropped, never the put. Calls on a daemon's store wait at most its io_timeout_ms.
 */
#ifndef TW_TW_H_
#define TW_TW_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes: the values of tw::StatusCode. */
typedef enum tw_status {
  TW_OK = 0,
  TW_NOT_FOUND = 1,          /* a miss */
  TW_INVALID_ARGUMENT = 2,   /* the caller passed something wrong; nothing changed */
  TW_RESOURCE_EXHAUSTED = 3, /* full of pinned objects, a quota or a limit */
  TW_UNAVAILABLE = 4,        /* transient; retry */
  TW_DEADLINE_EXCEEDED = 5,  /* a timeout, or a lease that already expired */
  TW_IO_ERROR = 6,
  TW_CORRUPTION = 7,         /* stored bytes failed a check; never served */
  TW_PERMISSION_DENIED = 8,
  TW_UNAUTHENTICATED = 9,
  TW_NOT_SUPPORTED = 10,     /* not in this build or version (e.g. an operation a daemon of an older version lacks) */
  TW_INTERNAL = 11,
  TW_FAILED_PRECONDITION = 12 /* e.g. a namespace this store does not know (never registered, or lost in a restart) */
} tw_status_t;

/* "ok", "not_found", "invalid_argument", ...; never NULL. */
const char* tw_status_name(tw_status_t status);
/* The message of the last failed call on this thread ("" if none). Valid until this thread's next
 * call into the library. */
const char* tw_last_error_message(void);
/* The library version, e.g. "0.1.0". */
const char* tw_version(void);

typedef enum tw_dtype {
  TW_DTYPE_F32 = 1,
  TW_DTYPE_F16 = 2,
  TW_DTYPE_BF16 = 3,
  TW_DTYPE_F8E4M3 = 4,
  TW_DTYPE_I8 = 5
} tw_dtype_t;

typedef enum tw_key_hash {
  TW_KEY_HASH_SHA256 = 1, /* default: collision-resistant */
  TW_KEY_HASH_XXH3 = 2    /* trusted single-tenant fleets only */
} tw_key_hash_t;

typedef enum tw_tier {
  TW_TIER_NONE = 0,
  TW_TIER_DRAM = 1,
  TW_TIER_DISK = 2,
  TW_TIER_PEER = 3
} tw_tier_t;

/* A 128-bit block key (see tw/block_key.h): names a block and its whole prefix. */
typedef struct tw_block_key {
  uint8_t bytes[16];
} tw_block_key_t;

/* A (layer range x KV-head range) of an object; all zeros selects the whole object, and an end of 0
 * means "to the last". */
typedef struct tw_slice {
  uint32_t layer_begin;
  uint32_t layer_end;
  uint32_t head_begin;
  uint32_t head_end;
} tw_slice_t;

typedef uint64_t tw_lease_id_t; /* 0 is never a valid lease */

typedef struct tw_store tw_store_t;
typedef struct tw_namespace tw_namespace_t;

/* ---- store ---- */

typedef struct tw_store_options {
  /* NULL or "" opens an embedded, in-process warehouse. A URL connects to a `tokenwarehouse serve`
   * daemon: "unix:///path" (same host; objects move through shared memory), "tw://host:port" (TCP),
   * "tws://host:port" (TCP with TLS); "etcd://host:port[,host:port]" a cluster of daemons. The
   * remaining embedded options are then ignored. */
  const char* url;
  const char* token;            /* daemon: the tenant's token; NULL or "": anonymous (loopback only) */
  const char* tls_ca_file;      /* tws:// only: PEM certificates to trust; NULL: the system's store */
  uint64_t io_timeout_ms;       /* daemon: bound on any single wait; 0: 30 s */
  /* Embedded store only: */
  uint64_t dram_capacity_bytes; /* default 1 GiB */
  uint64_t page_bytes;          /* arena allocation unit; default 2 MiB */
  int huge_pages;               /* back the arena with reserved 2 MiB huge pages if any; default 0 */
  int prefault;                 /* fault the arena in at open; default 1 */
} tw_store_options_t;

void tw_store_options_init(tw_store_options_t* options);

/* Opens a store into *out. TW_INVALID_ARGUMENT for bad sizes or a malformed URL,
 * TW_RESOURCE_EXHAUSTED if the arena cannot be mapped, TW_UNAVAILABLE if the daemon cannot be
 * reached, TW_UNAUTHENTICATED if it refuses the token (or a tws:// certificate does not verify).
 * Blocks while an embedded arena is pre-faulted. */
tw_status_t tw_store_open(const tw_store_options_t* options, tw_store_t** out);
/* Closes the store and frees its memory. NULL is a no-op. Every namespace handle of it must be freed
 * first (or never used again). */
void tw_store_close(tw_store_t* store);

/* ---- namespaces ---- */

typedef struct tw_namespace_options {
  const char* tenant;         /* default "" */
  const char* model_id;       /* required */
  const char* model_revision; /* default "" */
  const char* adapter_id;     /* LoRA adapter; default "" */
  const char* cache_salt;     /* default "" */
  uint32_t layers;
  uint32_t kv_heads;
  uint32_t head_dim;
  tw_dtype_t dtype;           /* default TW_DTYPE_BF16 */
  uint32_t block_tokens;      /* default 256 */
  tw_key_hash_t key_hash;     /* default TW_KEY_HASH_SHA256 */
  uint64_t ttl_ms;            /* 0 = persistent (kept until evicted); a daemon: the tenant's retention */
  uint8_t ttl_sliding;        /* 1: a hit renews the deadline (retention "sliding"); default false (fixed) */
  uint32_t min_prefix_tokens; /* store requests of shorter chains from the root are skipped; default 0 */
} tw_namespace_options_t;

void tw_namespace_options_init(tw_namespace_options_t* options);

/* Registers (idempotently) a namespace and returns a handle to it. TW_INVALID_ARGUMENT for an
 * invalid namespace, or one already registered with other options. */
tw_status_t tw_store_register_namespace(tw_store_t* store, const tw_namespace_options_t* options,
                                        tw_namespace_t** out);
void tw_namespace_free(tw_namespace_t* ns);

/* Bytes of one object (one block's KV in the canonical layout). */
uint64_t tw_namespace_object_bytes(const tw_namespace_t* ns);
/* Bytes of `slice` of an object (NULL = the whole object); 0 for an invalid slice. */
uint64_t tw_namespace_slice_bytes(const tw_namespace_t* ns, const tw_slice_t* slice);
uint32_t tw_namespace_block_tokens(const tw_namespace_t* ns);
/* The 128-bit namespace id and the root key (the parent of the first block). */
void tw_namespace_id(const tw_namespace_t* ns, uint8_t out[16]);
void tw_namespace_root(const tw_namespace_t* ns, tw_block_key_t* out);

/* The keys of every full block of `tokens` (n_tokens / block_tokens of them), chained from the root.
 * Writes min(that, capacity) keys and sets *n_keys to the full count; TW_INVALID_ARGUMENT (with
 * *n_keys set) if capacity is too small, so a caller may ask with capacity 0 first. */
tw_status_t tw_namespace_block_keys(const tw_namespace_t* ns, const uint32_t* tokens, size_t n_tokens,
                                    tw_block_key_t* keys, size_t capacity, size_t* n_keys);

/* ---- data ---- */

/* The longest run of keys, from the first, present in some tier: *matched of them. If `tiers` is not
 * NULL it receives the tier of each matched key (room for n_keys entries). */
tw_status_t tw_store_lookup(tw_store_t* store, const tw_namespace_t* ns, const tw_block_key_t* keys,
                            size_t n_keys, size_t* matched, tw_tier_t* tiers);

/* Copies `size` bytes (exactly tw_namespace_object_bytes) from `data` into the warehouse under `key`,
 * whose parent is `parent` (the root for the first block). TW_OK if the key was already present;
 * TW_INVALID_ARGUMENT for a wrong size or a parent that is not present; TW_RESOURCE_EXHAUSTED when
 * full of pinned objects or over the tenant's quota. */
tw_status_t tw_store_put_from(tw_store_t* store, const tw_namespace_t* ns, const tw_block_key_t* key,
                              const tw_block_key_t* parent, const void* data, size_t size);

/* Copies `slice` (NULL = all) of the object `key` into `out` (exactly the slice's bytes).
 * TW_NOT_FOUND on a miss. */
tw_status_t tw_store_get_into(tw_store_t* store, const tw_namespace_t* ns, const tw_block_key_t* key,
                              const tw_slice_t* slice, void* out, size_t size);

/* ---- per-request usage (tw/store.h RequestUsage): what one request did, in tokens ---- */

typedef struct tw_request_usage {
  int reported;                  /* 0: the store could not say (a daemon older than this library) */
  uint64_t write_tokens;         /* put: newly stored, a cache write */
  uint64_t present_tokens;       /* put: already held, nothing written */
  uint64_t skipped_short_tokens; /* put: not stored, its chain under min_prefix_tokens */
  uint64_t hit_tokens_by_tier[4]; /* lookup: the matched prefix, indexed by tw_tier_t ([TW_TIER_NONE] is 0) */
  uint64_t miss_tokens;          /* lookup: the keys asked for past the matched prefix */
  uint64_t read_tokens;          /* get: blocks served (single gets: TW_OK results x block_tokens) */
} tw_request_usage_t;

/* As tw_store_lookup, and *usage (if not NULL) receives its hit tokens by tier and miss tokens. */
tw_status_t tw_store_lookup_usage(tw_store_t* store, const tw_namespace_t* ns, const tw_block_key_t* keys,
                                  size_t n_keys, size_t* matched, tw_tier_t* tiers, tw_request_usage_t* usage);

typedef struct tw_put_item {
  tw_block_key_t key;
  tw_block_key_t parent; /* tw_namespace_root for the first block of a chain */
  const void* data;      /* tw_namespace_object_bytes of it */
  size_t size;
} tw_put_item_t;

/* Stores n_items objects as one request, in order (a chain, parents first): the request is the unit
 * of min_prefix_tokens, so pass a prompt's new blocks together. item_status (NULL, or room for n_items)
 * receives each item's code; *usage (if not NULL) what the request newly stored, found present and
 * skipped as short. Returns the call's code if it failed as a whole (TW_UNAVAILABLE, ...), else the
 * first failed item's code, else TW_OK. */
tw_status_t tw_store_put_batch(tw_store_t* store, const tw_namespace_t* ns, const tw_put_item_t* items, size_t n_items,
                               tw_status_t* item_status, tw_request_usage_t* usage);

/* Pins every key for lease_ms (> 0), all or nothing; TW_NOT_FOUND if any is absent. */
tw_status_t tw_store_pin(tw_store_t* store, const tw_namespace_t* ns, const tw_block_key_t* keys,
                         size_t n_keys, uint64_t lease_ms, tw_lease_id_t* lease);
/* Ends a lease early. TW_DEADLINE_EXCEEDED if it already expired or was released. */
tw_status_t tw_store_unpin(tw_store_t* store, tw_lease_id_t lease);

/* Removes the object from every tier. TW_NOT_FOUND if absent. */
tw_status_t tw_store_remove(tw_store_t* store, const tw_namespace_t* ns, const tw_block_key_t* key);

/* ---- stats ---- */

typedef struct tw_tier_stats {
  tw_tier_t tier;
  uint64_t capacity_bytes;
  uint64_t used_bytes;
  uint64_t objects;
  uint64_t hits;
  uint64_t admissions;
  uint64_t evictions;
  uint64_t bytes_read;
  uint64_t bytes_written;
  uint64_t errors;
  int admitting; /* 1 while the tier takes new objects; 0 once a write error (ENOSPC, EIO) stopped it */
} tw_tier_stats_t;

#define TW_MAX_TIERS 4

typedef struct tw_stats {
  uint64_t lookups;
  uint64_t lookup_keys;
  uint64_t lookup_hits;
  uint64_t gets;
  uint64_t get_misses;
  uint64_t puts;
  uint64_t put_duplicates;
  uint64_t put_rejected;
  uint64_t pinned_objects;
  uint64_t active_leases;
  size_t n_tiers;                      /* entries of `tiers` filled */
  tw_tier_stats_t tiers[TW_MAX_TIERS]; /* fastest first */
} tw_stats_t;

tw_status_t tw_store_stats(tw_store_t* store, tw_stats_t* out);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* TW_TW_H_ */

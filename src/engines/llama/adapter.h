// tw::llama::KvAdapter: llama.cpp prefill through the warehouse.
//
// For a request: compute the prompt's block keys, LOOKUP the longest stored prefix, GET its objects,
// convert them into llama.cpp's sequence-state format and load them with
// llama_state_seq_set_data_ext, decode only the rest of the prompt, then read the sequence's state
// back and PUT the full blocks the warehouse did not have. Any prefix length restores from the blocks
// it spans; the tokens of a trailing partial block are always recomputed.
//
// Correctness over speed: every restore is checked (state format, geometry, namespace) and any
// failure falls back to a full recompute, reported in PrefillStats, never a wrong restore.
//
// Thread-safety: one adapter per llama_context, used from one thread at a time (llama.cpp contexts
// are not thread-safe). The Store may be shared with other adapters and threads.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engines/llama/kv_state.h"
#include "llama.h"
#include "tw/codec.h"
#include "tw/namespace.h"
#include "tw/result.h"
#include "tw/status.h"
#include "tw/store.h"

namespace tw::llama {

struct AdapterOptions {
  std::string tenant;
  // Empty: from the GGUF. model_id = general.name (else the model description); model_revision =
  // general.version plus a fingerprint of every metadata value, the tensor bytes' size and the
  // parameter count. Set model_revision explicitly for weights that differ while their metadata
  // does not (fine-tunes saved with the same metadata).
  std::string model_id;
  std::string model_revision;
  std::string adapter_id;  // LoRA adapter applied to the context, if any
  std::string cache_salt;
  uint32_t block_tokens = 256;
  KeyHash key_hash = KeyHash::kSha256;
  NamespaceOptions namespace_options;
  // How the blocks are stored (tw/codec.h): none, or a lossy codec (fp8, int8: 2x the tokens per
  // byte; kivi2: 3.5x) that the adapter encodes on Save and decodes on Restore, on the CPU. Another
  // namespace: blocks stored with one codec are never restored by an adapter with another.
  KvCodec codec = KvCodec::kNone;
  // Prefill decodes at least this many prompt tokens even when more are stored. llama.cpp's CPU
  // matmul takes another path for a one-token batch (a dot product instead of a tiled GEMM) that
  // rounds differently; with two or more, a restore without flash attention gives logits
  // bit-identical to a full prefill. With flash attention llama.cpp's results depend on how the
  // prompt was split into batches whatever the warehouse does (see docs/engines/llama.md).
  uint32_t min_recompute_tokens = 2;
  // An empty sequence the adapter may decode one token into at Open to learn the context's KV state
  // layout (then removes it). The layout can be read from no accessor of the C API.
  llama_seq_id probe_seq = 0;
};

// What one Prefill did. Times in milliseconds.
struct PrefillStats {
  size_t prompt_tokens = 0;
  size_t restored_tokens = 0;   // loaded from the warehouse (whole blocks)
  size_t reused_tokens = 0;     // of those, kept (restored minus the tail decoded again)
  size_t computed_tokens = 0;   // decoded by the model
  size_t stored_blocks = 0;     // new blocks put into the warehouse
  double restore_ms = 0;        // keys + lookup + get + convert + set_data
  double decode_ms = 0;
  double store_ms = 0;          // get_data + convert + put (after the logits are ready)
  double ttft_ms = 0;           // everything before the logits: restore + decode
  Status restore_status;        // not OK: the restore was abandoned and the prefix recomputed
  Status store_status;          // not OK: some blocks were not stored (the response is unaffected)
};

class KvAdapter {
 public:
  // Binds `ctx` (whose model fixes the namespace) to `store` (not owned; outlives the adapter).
  // kNotSupported if the context's KV state is not a format this adapter converts.
  static Result<std::unique_ptr<KvAdapter>> Open(llama_context* ctx, Store* store, const AdapterOptions& options);

  // Makes `seq` hold exactly the KV of `tokens` (whatever it held before is dropped) and leaves the
  // logits of the last token in the context (llama_get_logits_ith(ctx, -1)). Restores the longest
  // stored prefix, decodes the rest (at least min_recompute_tokens), then stores the new
  // full blocks. Errors only when the model itself fails to decode; warehouse trouble shows in the
  // stats and costs a recompute.
  Result<PrefillStats> Prefill(llama_seq_id seq, std::span<const llama_token> tokens);

  // The pieces of Prefill, for engines with their own scheduling.
  // Loads the longest stored prefix of `tokens`, at most max_tokens long, into the (emptied) `seq`;
  // returns how many tokens it restored (a multiple of block_tokens; 0 on a miss).
  Result<size_t> Restore(llama_seq_id seq, std::span<const llama_token> tokens, size_t max_tokens);
  // Stores the full blocks of `tokens` that `seq` holds (positions 0..n-1), from block
  // `first_block` on, in one PutBatch (the store judges it whole against min_prefix_tokens); returns
  // how many blocks were put: present ones count, blocks skipped as too short a prompt do not.
  Result<size_t> Save(llama_seq_id seq, std::span<const llama_token> tokens, size_t first_block);

  const Namespace& nspace() const { return nspace_; }
  const NamespaceId& namespace_id() const { return ns_id_; }
  const StateLayout& layout() const { return layout_; }
  // Stored objects that did not decode (a coded namespace's object failing its header or run table
  // checks): each was a miss from that block on, never restored numbers.
  uint64_t corrupt_objects() const { return corrupt_objects_; }
  std::vector<BlockKey> Keys(std::span<const llama_token> tokens) const;

 private:
  KvAdapter(llama_context* ctx, Store* store) : ctx_(ctx), store_(store) {}

  llama_context* ctx_;
  Store* store_;
  Namespace nspace_;
  NamespaceId ns_id_;
  StateLayout layout_;
  uint32_t min_recompute_tokens_ = 2;
  std::vector<std::byte> blob_;  // reused state buffer
  uint64_t corrupt_objects_ = 0;
};

// The model identity the adapter would derive from `model`'s GGUF metadata.
void ModelIdentity(const llama_model* model, std::string* model_id, std::string* model_revision);

}  // namespace tw::llama

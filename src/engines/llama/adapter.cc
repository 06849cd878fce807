#include "engines/llama/adapter.h"

#include <chrono>
#include <cstdio>
#include <string>

#include "common/hash.h"
#include "engines/llama/runtime.h"

namespace tw::llama {
namespace {

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

std::span<const uint32_t> AsU32(std::span<const llama_token> tokens) {
  // llama_token is int32_t; keys hash token ids as uint32 LE, and the bit patterns are the same.
  static_assert(sizeof(llama_token) == sizeof(uint32_t));
  return {reinterpret_cast<const uint32_t*>(tokens.data()), tokens.size()};
}

Status ReadState(llama_context* ctx, llama_seq_id seq, std::vector<std::byte>* blob) {
  const size_t size = llama_state_seq_get_size_ext(ctx, seq, 0);
  if (size == 0) return Status::Internal("llama_state_seq_get_size_ext failed");
  blob->resize(size);
  const size_t got = llama_state_seq_get_data_ext(ctx, reinterpret_cast<uint8_t*>(blob->data()), size, seq, 0);
  if (got != size) return Status::Internal("llama_state_seq_get_data_ext wrote " + std::to_string(got) + " of " +
                                           std::to_string(size) + " bytes");
  return Status::Ok();
}

void ClearSeq(llama_context* ctx, llama_seq_id seq) { llama_memory_seq_rm(llama_get_memory(ctx), seq, -1, -1); }

}  // namespace

void ModelIdentity(const llama_model* model, std::string* model_id, std::string* model_revision) {
  char buf[4096];
  std::string name, version;
  if (llama_model_meta_val_str(model, "general.name", buf, sizeof(buf)) > 0) name = buf;
  if (llama_model_meta_val_str(model, "general.version", buf, sizeof(buf)) > 0) version = buf;
  if (name.empty() && llama_model_desc(model, buf, sizeof(buf)) > 0) name = buf;
  // Two files with the same name and version but other hyper-parameters, tokenizer or tensor sizes
  // must not share KV, so every metadata value goes into the revision.
  Sha256Trunc128 h;
  const int32_t n = llama_model_meta_count(model);
  for (int32_t i = 0; i < n; ++i) {
    const int32_t kl = llama_model_meta_key_by_index(model, i, buf, sizeof(buf));
    if (kl > 0) h.Update(buf, std::min<size_t>(kl, sizeof(buf) - 1));
    h.Update("=", 1);
    const int32_t vl = llama_model_meta_val_str_by_index(model, i, buf, sizeof(buf));
    if (vl > 0) h.Update(buf, std::min<size_t>(vl, sizeof(buf) - 1));
    h.Update("\n", 1);
  }
  const uint64_t sizes[2] = {llama_model_size(model), llama_model_n_params(model)};
  h.Update(sizes, sizeof(sizes));
  uint8_t digest[16];
  h.Finish(digest);
  std::string hex;
  for (int i = 0; i < 8; ++i) {
    char b[3];
    std::snprintf(b, sizeof(b), "%02x", digest[i]);
    hex += b;
  }
  *model_id = name;
  *model_revision = (version.empty() ? std::string() : version + "+") + "meta-" + hex;
}

Result<std::unique_ptr<KvAdapter>> KvAdapter::Open(llama_context* ctx, Store* store, const AdapterOptions& options) {
  if (ctx == nullptr || store == nullptr) return Status::InvalidArgument("KvAdapter: null context or store");
  const llama_model* model = llama_get_model(ctx);
  std::unique_ptr<KvAdapter> a(new KvAdapter(ctx, store));

  // Learn the state layout from a real one-token state, so the format check runs against what this
  // library build actually writes rather than against what its headers suggest.
  ClearSeq(ctx, options.probe_seq);
  const llama_vocab* vocab = llama_model_get_vocab(model);
  const llama_token probe[1] = {llama_vocab_bos(vocab) >= 0 ? llama_vocab_bos(vocab) : 0};
  TW_RETURN_IF_ERROR(Decode(ctx, options.probe_seq, probe, 0).WithContext("KvAdapter probe"));
  Status s = ReadState(ctx, options.probe_seq, &a->blob_);
  ClearSeq(ctx, options.probe_seq);
  TW_RETURN_IF_ERROR(s.WithContext("KvAdapter probe"));
  TW_ASSIGN_OR_RETURN(ParsedState probe_state, ParseState(a->blob_));
  if (probe_state.cell_count != 1) return Status::NotSupported("KvAdapter: probe state does not hold one cell");
  a->layout_ = probe_state.layout;
  if (a->layout_.n_layer != static_cast<uint32_t>(llama_model_n_layer(model))) {
    return Status::NotSupported("KvAdapter: KV state has " + std::to_string(a->layout_.n_layer) +
                                " layers, the model " + std::to_string(llama_model_n_layer(model)));
  }

  Namespace& ns = a->nspace_;
  ns.tenant = options.tenant;
  ModelIdentity(model, &ns.model_id, &ns.model_revision);
  if (!options.model_id.empty()) ns.model_id = options.model_id;
  if (!options.model_revision.empty()) ns.model_revision = options.model_revision;
  ns.adapter_id = options.adapter_id;
  ns.cache_salt = options.cache_salt;
  ns.key_hash = options.key_hash;
  ns.codec = options.codec;
  TW_ASSIGN_OR_RETURN(ns.geometry,
                      a->layout_.Geometry(static_cast<uint32_t>(llama_model_n_head_kv(model)), options.block_tokens));
  TW_RETURN_IF_ERROR(CheckKvCodec(ns.codec, ns.geometry).WithContext("KvAdapter"));
  TW_RETURN_IF_ERROR(ns.Validate());
  TW_ASSIGN_OR_RETURN(a->ns_id_, store->RegisterNamespace(ns, options.namespace_options));
  a->min_recompute_tokens_ = options.min_recompute_tokens;
  a->blob_.clear();
  return a;
}

std::vector<BlockKey> KvAdapter::Keys(std::span<const llama_token> tokens) const {
  return nspace_.BlockKeys(AsU32(tokens));
}

Result<size_t> KvAdapter::Restore(llama_seq_id seq, std::span<const llama_token> tokens, size_t max_tokens) {
  ClearSeq(ctx_, seq);
  const KvGeometry& g = nspace_.geometry;
  const std::vector<BlockKey> keys = Keys(tokens.first(std::min(max_tokens, tokens.size())));
  if (keys.empty()) return size_t{0};
  TW_ASSIGN_OR_RETURN(LookupResult hit, store_->Lookup(ns_id_, keys));
  if (hit.matched == 0) return size_t{0};

  // A coded namespace's objects are fetched encoded, then decoded into the canonical layout.
  const uint64_t obj = g.ObjectBytes();
  const bool coded = nspace_.codec != KvCodec::kNone;
  const uint64_t stored = nspace_.ObjectBytes();
  std::vector<std::byte> canonical(hit.matched * obj);
  std::vector<std::byte> encoded(coded ? hit.matched * stored : 0);
  std::byte* fetched = coded ? encoded.data() : canonical.data();
  std::vector<GetItem> items(hit.matched);
  for (size_t i = 0; i < hit.matched; ++i) {
    items[i].key = keys[i];
    items[i].out = std::span<std::byte>(fetched + i * stored, stored);
  }
  BatchStatus got = store_->GetBatch(ns_id_, items);
  TW_RETURN_IF_ERROR(got.transport);
  // An object evicted between Lookup and Get shortens the prefix; it never leaves a hole. So does
  // one that does not decode: counted, and never restored.
  size_t usable = 0;
  while (usable < got.items.size() && got.items[usable].ok()) {
    if (coded) {
      const Status d = DecodeKv(nspace_.codec, g, std::span<const std::byte>(fetched + usable * stored, stored),
                                std::span<std::byte>(canonical.data() + usable * obj, obj));
      if (!d.ok()) {
        // Removed, so that the next Save stores the block again instead of finding it present.
        ++corrupt_objects_;
        (void)store_->Remove(ns_id_, keys[usable]);
        break;
      }
    }
    ++usable;
  }
  if (usable == 0) return size_t{0};

  std::vector<std::span<const std::byte>> objects;
  for (size_t i = 0; i < usable; ++i) objects.emplace_back(canonical.data() + i * obj, obj);
  TW_RETURN_IF_ERROR(CanonicalToState(layout_, g, seq, objects, &blob_));
  const size_t n = usable * g.block_tokens;
  const size_t read = llama_state_seq_set_data_ext(ctx_, reinterpret_cast<const uint8_t*>(blob_.data()),
                                                   blob_.size(), seq, 0);
  const llama_pos pos_max = llama_memory_seq_pos_max(llama_get_memory(ctx_), seq);
  if (read != blob_.size() || pos_max != static_cast<llama_pos>(n) - 1) {
    ClearSeq(ctx_, seq);
    // set_data reads 0 bytes when the context has no room for the cells.
    return Status::ResourceExhausted("llama_state_seq_set_data_ext restored " + std::to_string(read) + " of " +
                                     std::to_string(blob_.size()) + " bytes (no free KV cells?)");
  }
  return n;
}

Result<size_t> KvAdapter::Save(llama_seq_id seq, std::span<const llama_token> tokens, size_t first_block) {
  const KvGeometry& g = nspace_.geometry;
  TW_RETURN_IF_ERROR(ReadState(ctx_, seq, &blob_));
  TW_ASSIGN_OR_RETURN(ParsedState state, ParseState(blob_));
  if (state.cell_count == 0) return size_t{0};
  if (!(state.layout == layout_)) {
    return Status::NotSupported("KV state layout changed since Open: " + state.layout.ToString());
  }
  const size_t held = std::min<size_t>(state.cell_count, tokens.size());
  const std::vector<BlockKey> keys = Keys(tokens.first(held));
  if (first_block >= keys.size()) return size_t{0};
  // The new blocks go in one PutBatch: the store (a daemon too) judges a request against the
  // namespace's min_prefix_tokens as a whole, so block-by-block Puts of a long prompt would each
  // look like a one-block prompt and be skipped. The batch holds the new blocks' objects at once,
  // as blob_ already holds the whole sequence's state.
  const size_t n = keys.size() - first_block;
  const bool coded = nspace_.codec != KvCodec::kNone;
  const size_t stride = coded ? nspace_.ObjectBytes() : g.ObjectBytes();
  std::vector<std::byte> objects(n * stride);
  std::vector<std::byte> obj(coded ? g.ObjectBytes() : 0);
  std::vector<PutItem> items(n);
  for (size_t i = 0; i < n; ++i) {
    const size_t b = first_block + i;
    const std::span<std::byte> out(objects.data() + i * stride, stride);
    TW_RETURN_IF_ERROR(BlockToCanonical(state, g, static_cast<uint32_t>(b), coded ? std::span<std::byte>(obj) : out));
    if (coded) TW_RETURN_IF_ERROR(EncodeKv(nspace_.codec, g, obj, out).status());
    items[i].ref = BlockRef{keys[b], b == 0 ? nspace_.Root() : keys[b - 1]};
    items[i].data = out;
  }
  const BatchStatus put = store_->PutBatch(ns_id_, items);
  TW_RETURN_IF_ERROR(put.transport);
  // A refused block breaks the chain (later blocks could never be found): count up to it.
  for (size_t i = 0; i < n; ++i) {
    if (!put.items[i].ok()) return put.items[i].WithContext("block " + std::to_string(first_block + i));
  }
  return n - put.usage.skipped_short_tokens / g.block_tokens;
}

Result<PrefillStats> KvAdapter::Prefill(llama_seq_id seq, std::span<const llama_token> tokens) {
  if (tokens.empty()) return Status::InvalidArgument("Prefill of an empty prompt");
  PrefillStats st;
  st.prompt_tokens = tokens.size();
  const auto t0 = std::chrono::steady_clock::now();

  Result<size_t> restored = Restore(seq, tokens, tokens.size());
  size_t have = 0;
  if (restored.ok()) {
    have = *restored;
  } else {
    st.restore_status = restored.status();
    ClearSeq(ctx_, seq);
  }
  st.restore_ms = MsSince(t0);
  st.restored_tokens = have;
  // The logits of the last prompt token come only from decoding it, and a one-token batch rounds
  // differently (see AdapterOptions): keep the tail of the restore out and decode it again.
  const size_t keep_out = std::min<size_t>(std::max<uint32_t>(min_recompute_tokens_, 1), tokens.size());
  size_t from = std::min(have, tokens.size() - keep_out);
  if (from < have) llama_memory_seq_rm(llama_get_memory(ctx_), seq, static_cast<llama_pos>(from), -1);
  st.reused_tokens = from;
  const auto t1 = std::chrono::steady_clock::now();
  TW_RETURN_IF_ERROR(Decode(ctx_, seq, tokens.subspan(from), static_cast<llama_pos>(from)));
  st.decode_ms = MsSince(t1);
  st.computed_tokens = tokens.size() - from;
  st.ttft_ms = MsSince(t0);

  const auto t2 = std::chrono::steady_clock::now();
  Result<size_t> saved = Save(seq, tokens, have / nspace_.geometry.block_tokens);
  if (saved.ok()) {
    st.stored_blocks = *saved;
  } else {
    st.store_status = saved.status();
  }
  st.store_ms = MsSince(t2);
  return st;
}

}  // namespace tw::llama

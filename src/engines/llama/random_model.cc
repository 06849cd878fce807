#include "engines/llama/random_model.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <vector>

#include "engines/llama/runtime.h"
#include "ggml.h"
#include "gguf.h"

namespace tw::llama {
namespace {

struct GgufFree {
  void operator()(gguf_context* c) const { gguf_free(c); }
};
struct GgmlFree {
  void operator()(ggml_context* c) const { ggml_free(c); }
};
struct FileClose {
  void operator()(FILE* f) const { std::fclose(f); }
};

// splitmix64: fast, seedable, and good enough for weights whose only job is to be arbitrary.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t Next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [-a, a).
  float Uniform(float a) { return a * (static_cast<float>(Next() >> 40) * (2.0f / 16777216.0f) - 1.0f); }

 private:
  uint64_t s_;
};

uint64_t NameHash(const char* s) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a: per-tensor seeds independent of write order
  for (; *s; ++s) h = (h ^ static_cast<uint8_t>(*s)) * 1099511628211ull;
  return h;
}

}  // namespace

RandomModelSpec RandomModelSpec::Tiny() {
  RandomModelSpec s;
  s.name = "tw-random-llama-tiny";
  return s;
}

RandomModelSpec RandomModelSpec::TinyLlama() {
  RandomModelSpec s;
  s.name = "tw-random-tinyllama-1.1b";
  s.n_embd = 2048;
  s.n_layer = 22;
  s.n_head = 32;
  s.n_head_kv = 4;
  s.n_ff = 5632;
  return s;
}

std::string RandomModelSpec::FileName() const {
  return name + "-" + std::to_string(n_layer) + "L" + std::to_string(n_embd) + "E" + std::to_string(n_head) + "H" +
         std::to_string(n_head_kv) + "KV" + std::to_string(n_ff) + "F-s" + std::to_string(seed) + ".gguf";
}

Status WriteRandomModel(const RandomModelSpec& spec, const std::string& vocab_path, const std::string& path) {
  if (spec.n_head == 0 || spec.n_head_kv == 0 || spec.n_embd % spec.n_head != 0 || spec.n_head % spec.n_head_kv != 0) {
    return Status::InvalidArgument("random model: heads must divide the width and KV heads the heads");
  }
  gguf_init_params vp = {/*no_alloc=*/true, /*ctx=*/nullptr};
  std::unique_ptr<gguf_context, GgufFree> vocab(gguf_init_from_file(vocab_path.c_str(), vp));
  if (!vocab) return Status::NotFound("random model: cannot read the vocabulary GGUF " + vocab_path);
  const int64_t tok_key = gguf_find_key(vocab.get(), "tokenizer.ggml.tokens");
  if (tok_key < 0) return Status::InvalidArgument("random model: " + vocab_path + " has no tokenizer");
  const uint32_t n_vocab = static_cast<uint32_t>(gguf_get_arr_n(vocab.get(), tok_key));

  std::unique_ptr<gguf_context, GgufFree> g(gguf_init_empty());
  gguf_set_kv(g.get(), vocab.get());  // tokenizer.*, then our hyper-parameters override anything else
  const uint32_t head_dim = spec.n_embd / spec.n_head;
  gguf_set_val_str(g.get(), "general.architecture", "llama");
  gguf_set_val_str(g.get(), "general.name", spec.name.c_str());
  gguf_set_val_str(g.get(), "general.version", ("random-seed-" + std::to_string(spec.seed)).c_str());
  gguf_set_val_u32(g.get(), "general.file_type", 1);  // mostly f16
  gguf_set_val_u32(g.get(), "llama.context_length", spec.n_ctx_train);
  gguf_set_val_u32(g.get(), "llama.embedding_length", spec.n_embd);
  gguf_set_val_u32(g.get(), "llama.block_count", spec.n_layer);
  gguf_set_val_u32(g.get(), "llama.feed_forward_length", spec.n_ff);
  gguf_set_val_u32(g.get(), "llama.attention.head_count", spec.n_head);
  gguf_set_val_u32(g.get(), "llama.attention.head_count_kv", spec.n_head_kv);
  gguf_set_val_u32(g.get(), "llama.rope.dimension_count", head_dim);
  gguf_set_val_f32(g.get(), "llama.rope.freq_base", 10000.0f);
  gguf_set_val_f32(g.get(), "llama.attention.layer_norm_rms_epsilon", 1e-5f);
  gguf_set_val_u32(g.get(), "llama.vocab_size", n_vocab);

  // Tensor descriptors only (no_alloc): data is generated and streamed tensor by tensor below.
  const size_t n_tensors = 3 + 9 * size_t{spec.n_layer};
  ggml_init_params ip = {/*mem_size=*/ggml_tensor_overhead() * (n_tensors + 8), /*mem_buffer=*/nullptr,
                         /*no_alloc=*/true};
  std::unique_ptr<ggml_context, GgmlFree> tctx(ggml_init(ip));
  if (!tctx) return Status::ResourceExhausted("random model: ggml_init failed");
  const int64_t kv = int64_t{spec.n_head_kv} * head_dim;
  auto add = [&](const std::string& name, ggml_type type, int64_t ne0, int64_t ne1) {
    ggml_tensor* t = ne1 == 0 ? ggml_new_tensor_1d(tctx.get(), type, ne0)
                              : ggml_new_tensor_2d(tctx.get(), type, ne0, ne1);
    ggml_set_name(t, name.c_str());
    gguf_add_tensor(g.get(), t);
  };
  add("token_embd.weight", GGML_TYPE_F16, spec.n_embd, n_vocab);
  add("output_norm.weight", GGML_TYPE_F32, spec.n_embd, 0);
  add("output.weight", GGML_TYPE_F16, spec.n_embd, n_vocab);
  for (uint32_t l = 0; l < spec.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", GGML_TYPE_F32, spec.n_embd, 0);
    add(p + "attn_q.weight", GGML_TYPE_F16, spec.n_embd, spec.n_embd);
    add(p + "attn_k.weight", GGML_TYPE_F16, spec.n_embd, kv);
    add(p + "attn_v.weight", GGML_TYPE_F16, spec.n_embd, kv);
    add(p + "attn_output.weight", GGML_TYPE_F16, spec.n_embd, spec.n_embd);
    add(p + "ffn_norm.weight", GGML_TYPE_F32, spec.n_embd, 0);
    add(p + "ffn_gate.weight", GGML_TYPE_F16, spec.n_embd, spec.n_ff);
    add(p + "ffn_up.weight", GGML_TYPE_F16, spec.n_embd, spec.n_ff);
    add(p + "ffn_down.weight", GGML_TYPE_F16, spec.n_ff, spec.n_embd);
  }

  std::unique_ptr<FILE, FileClose> f(std::fopen(path.c_str(), "wb"));
  if (!f) return Status::IOError("random model: cannot create " + path);
  std::vector<uint8_t> meta(gguf_get_meta_size(g.get()));
  gguf_get_meta_data(g.get(), meta.data());
  if (std::fwrite(meta.data(), 1, meta.size(), f.get()) != meta.size()) return Status::IOError("random model: write failed");

  uint64_t written = meta.size();
  std::vector<float> f32;
  std::vector<ggml_fp16_t> f16;
  std::vector<uint8_t> zeros(256, 0);
  for (int64_t i = 0; i < gguf_get_n_tensors(g.get()); ++i) {
    const char* name = gguf_get_tensor_name(g.get(), i);
    const uint64_t at = meta.size() + gguf_get_tensor_offset(g.get(), i);
    if (at < written || at - written > zeros.size()) return Status::Internal("random model: unexpected tensor offset");
    std::fwrite(zeros.data(), 1, at - written, f.get());
    written = at;
    const ggml_type type = gguf_get_tensor_type(g.get(), i);
    const uint64_t n = gguf_get_tensor_size(g.get(), i) / ggml_type_size(type);
    const bool is_norm = type == GGML_TYPE_F32;
    // Norm weights near 1 and matrices of small uniform weights keep activations finite and logits
    // spread out, so that two different KV states give visibly different logits.
    Rng rng(spec.seed * 0x100000001b3ull ^ NameHash(name));
    const uint64_t chunk = 1 << 20;
    for (uint64_t done = 0; done < n; done += chunk) {
      const uint64_t m = std::min(chunk, n - done);
      f32.resize(m);
      for (uint64_t j = 0; j < m; ++j) f32[j] = is_norm ? 1.0f + rng.Uniform(0.1f) : rng.Uniform(0.05f);
      size_t bytes;
      const void* src;
      if (is_norm) {
        src = f32.data();
        bytes = m * sizeof(float);
      } else {
        f16.resize(m);
        ggml_fp32_to_fp16_row(f32.data(), f16.data(), static_cast<int64_t>(m));
        src = f16.data();
        bytes = m * sizeof(ggml_fp16_t);
      }
      if (std::fwrite(src, 1, bytes, f.get()) != bytes) return Status::IOError("random model: write failed");
      written += bytes;
    }
  }
  if (std::fflush(f.get()) != 0) return Status::IOError("random model: flush failed");
  return Status::Ok();
}

std::string CacheDir() {
  if (const char* d = std::getenv("TW_CACHE_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/tokenwarehouse";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "/tmp") + "/.cache/tokenwarehouse";
}

Result<std::string> CachedRandomModel(const RandomModelSpec& spec) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(CacheDir()) / "models";
  const fs::path path = dir / spec.FileName();
  std::error_code ec;
  if (fs::exists(path, ec)) return path.string();
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError("cannot create " + dir.string() + ": " + ec.message());
  TW_ASSIGN_OR_RETURN(std::string vocab, VocabPath());
  const fs::path tmp = dir / (spec.FileName() + ".tmp." + std::to_string(::getpid()));
  std::fprintf(stderr, "generating random-weight model %s ...\n", path.c_str());
  Status s = WriteRandomModel(spec, vocab, tmp.string());
  if (!s.ok()) {
    fs::remove(tmp, ec);
    return s;
  }
  fs::rename(tmp, path, ec);
  if (ec) return Status::IOError("cannot rename into " + path.string() + ": " + ec.message());
  return path.string();
}

}  // namespace tw::llama

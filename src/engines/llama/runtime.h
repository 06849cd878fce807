// Thin, Status-returning helpers over llama.cpp's C API: backend loading, models, contexts,
// tokenizing and batched decoding. Shared by the adapter's tests, the demo and the benchmark.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "llama.h"
#include "tw/result.h"
#include "tw/status.h"

namespace tw::llama {

// Where the prebuilt libraries and the vocab GGUF are: $TW_LLAMA_DIR (lib/, models/), else the
// directory scripts/fetch-llama.sh filled when this was built.
std::string LibDir();
Result<std::string> VocabPath();

// Loads llama.cpp's CPU backends from LibDir() once per process and quiets its logging. The
// prebuilt backends are separate libraries chosen by CPU features at run time; ggml's default
// search looks beside the executable, where they are not. kUnavailable if no backend loads.
Status InitBackends();

struct ModelFree {
  void operator()(llama_model* m) const { llama_model_free(m); }
};
struct ContextFree {
  void operator()(llama_context* c) const { llama_free(c); }
};
using ModelPtr = std::unique_ptr<llama_model, ModelFree>;
using ContextPtr = std::unique_ptr<llama_context, ContextFree>;

Result<ModelPtr> LoadModel(const std::string& path);

struct ContextOptions {
  uint32_t n_ctx = 4096;
  uint32_t n_batch = 512;
  uint32_t n_seq_max = 1;
  int32_t n_threads = 2;
  // Flash attention changes where llama.cpp keeps V (row-major with it, transposed without); the
  // adapter handles both, and tests run both.
  bool flash_attn = true;
};
// A context with kv_unified (several sequences must share one cell pool for restores to find room)
// and f16 KV.
Result<ContextPtr> NewContext(llama_model* model, const ContextOptions& options);

// Tokenizes `text` (adding BOS). kInvalidArgument if it cannot.
Result<std::vector<llama_token>> Tokenize(const llama_model* model, const std::string& text);

// Decodes `tokens` at positions pos0.. into `seq` in batches of the context's n_batch, asking for
// logits of the last token only. kInternal if llama_decode fails.
Status Decode(llama_context* ctx, llama_seq_id seq, std::span<const llama_token> tokens, llama_pos pos0);

// The logits of the last decoded token (n_vocab floats), copied.
std::vector<float> LastLogits(llama_context* ctx);

}  // namespace tw::llama

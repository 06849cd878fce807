#include "engines/llama/runtime.h"

#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "ggml-backend.h"

namespace tw::llama {
namespace {

// llama.cpp logs every load and context creation at info level; the warehouse's tools print their
// own summaries, so only llama.cpp's warnings and errors get through.
void QuietLog(ggml_log_level level, const char* text, void*) {
  if (level == GGML_LOG_LEVEL_ERROR || level == GGML_LOG_LEVEL_WARN) std::fputs(text, stderr);
}

std::string LlamaDir() {
  if (const char* d = std::getenv("TW_LLAMA_DIR"); d && *d) return d;
#ifdef TW_LLAMA_DIR_DEFAULT
  return TW_LLAMA_DIR_DEFAULT;
#else
  return "third_party/llama";
#endif
}

}  // namespace

std::string LibDir() { return LlamaDir() + "/lib"; }

Result<std::string> VocabPath() {
  std::string p = LlamaDir() + "/models/ggml-vocab-llama-spm.gguf";
  std::error_code ec;
  if (!std::filesystem::exists(p, ec)) {
    return Status::NotFound("no llama vocabulary at " + p + "; run scripts/fetch-llama.sh");
  }
  return p;
}

Status InitBackends() {
  static std::once_flag once;
  static Status status;
  std::call_once(once, [] {
    llama_log_set(QuietLog, nullptr);
    ggml_backend_load_all_from_path(LibDir().c_str());
    llama_backend_init();
    if (ggml_backend_dev_count() == 0) {
      status = Status::Unavailable("no ggml backend could be loaded from " + LibDir());
    }
  });
  return status;
}

Result<ModelPtr> LoadModel(const std::string& path) {
  TW_RETURN_IF_ERROR(InitBackends());
  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  ModelPtr m(llama_model_load_from_file(path.c_str(), mp));
  if (!m) return Status::InvalidArgument("llama.cpp could not load the model " + path);
  return m;
}

Result<ContextPtr> NewContext(llama_model* model, const ContextOptions& o) {
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = o.n_ctx;
  cp.n_batch = o.n_batch;
  cp.n_ubatch = o.n_batch;
  cp.n_seq_max = o.n_seq_max;
  cp.n_threads = o.n_threads;
  cp.n_threads_batch = o.n_threads;
  cp.kv_unified = true;
  cp.flash_attn_type = o.flash_attn ? LLAMA_FLASH_ATTN_TYPE_ENABLED : LLAMA_FLASH_ATTN_TYPE_DISABLED;
  cp.type_k = GGML_TYPE_F16;
  cp.type_v = GGML_TYPE_F16;
  cp.no_perf = true;
  ContextPtr c(llama_init_from_model(model, cp));
  if (!c) return Status::InvalidArgument("llama.cpp could not create a context");
  return c;
}

Result<std::vector<llama_token>> Tokenize(const llama_model* model, const std::string& text) {
  const llama_vocab* vocab = llama_model_get_vocab(model);
  std::vector<llama_token> out(text.size() + 8);
  int32_t n = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), out.data(),
                             static_cast<int32_t>(out.size()), /*add_special=*/true, /*parse_special=*/false);
  if (n < 0) {
    out.resize(static_cast<size_t>(-n));
    n = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), out.data(),
                       static_cast<int32_t>(out.size()), true, false);
  }
  if (n < 0) return Status::InvalidArgument("llama_tokenize failed");
  out.resize(static_cast<size_t>(n));
  return out;
}

Status Decode(llama_context* ctx, llama_seq_id seq, std::span<const llama_token> tokens, llama_pos pos0) {
  const size_t step = llama_n_batch(ctx);
  llama_batch batch = llama_batch_init(static_cast<int32_t>(step), 0, 1);
  Status status;
  for (size_t at = 0; at < tokens.size() && status.ok(); at += step) {
    const size_t n = std::min(step, tokens.size() - at);
    batch.n_tokens = static_cast<int32_t>(n);
    for (size_t i = 0; i < n; ++i) {
      batch.token[i] = tokens[at + i];
      batch.pos[i] = pos0 + static_cast<llama_pos>(at + i);
      batch.n_seq_id[i] = 1;
      batch.seq_id[i][0] = seq;
      batch.logits[i] = at + i + 1 == tokens.size();
    }
    const int32_t rc = llama_decode(ctx, batch);
    if (rc != 0) status = Status::Internal("llama_decode returned " + std::to_string(rc));
  }
  llama_batch_free(batch);
  return status;
}

std::vector<float> LastLogits(llama_context* ctx) {
  const llama_vocab* vocab = llama_model_get_vocab(llama_get_model(ctx));
  const float* l = llama_get_logits_ith(ctx, -1);
  const int32_t n = llama_vocab_n_tokens(vocab);
  return l ? std::vector<float>(l, l + n) : std::vector<float>();
}

}  // namespace tw::llama

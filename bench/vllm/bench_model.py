"""A random-weight Llama for the long-document QA benchmark, written locally (no hub access here).

python/tests/vllm/tiny_model.py writes a 2-layer model whose 4096-token prefill costs so little that a
KV load barely shows against it. This one has the geometry of a small real model (4 layers, 8 KV heads
x 128, 32 KiB of fp32 KV per token, a quarter of a Llama-3-8B's bf16 128 KiB), so a prefill of a
document is seconds on a 2-core CPU while loading its KV is tens of milliseconds: the ratio the
benchmark is about. Same approach as the test model: seeded random weights scaled so attention is
sharp (a wrong KV changes the output), and a byte-level tokenizer, one token per byte, no BOS.
Cached on disk under a digest of the parameters, so runs reuse it.
"""

import hashlib
import json
import os
import sys

# name -> (hidden, layers, heads, kv_heads, head_dim, ffn); vocab is the tokenizer's 259 ids, padded.
SHAPES = {
    "small": (1024, 4, 8, 8, 128, 2048),  # the default: a 4096-token prefill takes ~5 s on 2 cores
    "medium": (1024, 8, 8, 8, 128, 2048),  # twice the layers: twice the prefill and the KV
    "tiny": (256, 2, 4, 2, 64, 512),  # the test model's geometry, for a quick run
}
VOCAB = 512
MAX_POSITIONS = 16384


def geometry(shape):
    hidden, layers, heads, kv_heads, head_dim, ffn = SHAPES[shape]
    return dict(hidden=hidden, layers=layers, heads=heads, kv_heads=kv_heads, head_dim=head_dim, ffn=ffn)


def kv_bytes_per_token(shape, dtype_bytes=4):
    g = geometry(shape)
    return g["layers"] * 2 * g["kv_heads"] * g["head_dim"] * dtype_bytes


def _dir(shape):
    params = f"bench-llama-{shape}-{SHAPES[shape]}-{VOCAB}-{MAX_POSITIONS}-seed0-v1"
    cache = os.environ.get("TW_MODEL_CACHE") or os.path.expanduser("~/.cache/tokenwarehouse/models")
    return os.path.join(cache, "bench-llama-" + hashlib.sha256(params.encode()).hexdigest()[:12])


def _write_tokenizer(path):
    # The tests' byte-level tokenizer: ids 3..258 are the 256 bytes, so a document of L ASCII
    # characters is exactly L tokens and the benchmark controls its length to the token.
    tests = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python", "tests", "vllm")
    sys.path.insert(0, tests)
    from tiny_model import write_tokenizer

    write_tokenizer(path, model_max_length=MAX_POSITIONS)


def write(shape="small"):
    """Writes the model if it is not there yet; returns its directory."""
    import torch
    from safetensors.torch import save_file

    path = _dir(shape)
    if os.path.exists(os.path.join(path, ".complete")):
        return path
    os.makedirs(path, exist_ok=True)
    g = geometry(shape)
    h, q_dim, kv_dim, ffn = g["hidden"], g["heads"] * g["head_dim"], g["kv_heads"] * g["head_dim"], g["ffn"]
    cfg = dict(architectures=["LlamaForCausalLM"], model_type="llama", hidden_size=h, intermediate_size=ffn,
               num_hidden_layers=g["layers"], num_attention_heads=g["heads"], num_key_value_heads=g["kv_heads"],
               head_dim=g["head_dim"], vocab_size=VOCAB, max_position_embeddings=MAX_POSITIONS, rms_norm_eps=1e-5,
               rope_theta=10000.0, torch_dtype="float32", tie_word_embeddings=False, bos_token_id=1,
               eos_token_id=2, hidden_act="silu")
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(cfg, f)
    gen = torch.Generator().manual_seed(0)

    def rand(rows, cols, gain):
        # Scaled by 1/sqrt(fan-in) so activations keep their size through the layers; gain > 1 on
        # Q and K makes attention sharp, so each output depends on particular cached tokens.
        return (torch.randn(rows, cols, generator=gen) * (gain / cols ** 0.5)).contiguous()

    w = {"model.embed_tokens.weight": torch.randn(VOCAB, h, generator=gen), "model.norm.weight": torch.ones(h),
         "lm_head.weight": rand(VOCAB, h, 1.3)}
    for i in range(g["layers"]):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = torch.ones(h)
        w[p + "post_attention_layernorm.weight"] = torch.ones(h)
        w[p + "self_attn.q_proj.weight"] = rand(q_dim, h, 3.2)
        w[p + "self_attn.k_proj.weight"] = rand(kv_dim, h, 3.2)
        w[p + "self_attn.v_proj.weight"] = rand(kv_dim, h, 1.0)
        w[p + "self_attn.o_proj.weight"] = rand(h, q_dim, 1.0)
        w[p + "mlp.gate_proj.weight"] = rand(ffn, h, 1.0)
        w[p + "mlp.up_proj.weight"] = rand(ffn, h, 1.0)
        w[p + "mlp.down_proj.weight"] = rand(h, ffn, 1.0)
    save_file(w, os.path.join(path, "model.safetensors"), metadata={"format": "pt"})
    _write_tokenizer(path)
    open(os.path.join(path, ".complete"), "w").close()
    return path


if __name__ == "__main__":
    import sys

    print(write(sys.argv[1] if len(sys.argv) > 1 else "small"))

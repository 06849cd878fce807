"""tokenwarehouse.hf with a tiny random Llama: a warehouse hit gives the recompute's logits.
Needs transformers and a GPU (the device machine); skipped elsewhere."""
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
import tokenwarehouse as tw  # noqa: E402
import tokenwarehouse.gpu as twg  # noqa: E402
from tokenwarehouse.hf import Warehouse  # noqa: E402

pytestmark = pytest.mark.skipif(not (twg.available()[0] and torch.cuda.is_available()), reason="no GPU")


@pytest.mark.parametrize("reserve_kv", [True, False])
def test_hit_matches_recompute(reserve_kv):
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(hidden_size=256, intermediate_size=512, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, vocab_size=1000)
    model = transformers.LlamaForCausalLM(cfg).to("cuda", torch.bfloat16).eval()
    wh = Warehouse(tw.open(dram_capacity_bytes=64 << 20), model, model_id="tiny", block_tokens=32,
                   reserve_kv=reserve_kv)
    ids = torch.randint(0, 1000, (1, 32 * 4 + 5), device="cuda")
    first = wh.prefill(ids)
    assert first.cached_tokens == 0
    assert first.store_job.wait() == 4
    second = wh.prefill(ids)
    assert second.cached_tokens == 128
    diff = (first.logits.float() - second.logits.float()).abs().max().item()
    assert diff < 0.1 * first.logits.float().abs().max().item() + 1e-2
    if reserve_kv:  # the suffix went in place, after the loaded prefix, in buffers sized for the prompt
        layer = second.cache.layers[0]
        assert layer.keys.shape[-2] == ids.shape[1] and layer.keys.data_ptr() == layer._kbuf.data_ptr()
    out = wh.generate(ids, max_new_tokens=4, do_sample=False)
    ref = model.generate(ids, max_new_tokens=4, do_sample=False)
    assert out.shape == ref.shape
    assert torch.equal(out[:, :ids.shape[1]], ids)


@pytest.mark.parametrize("codec", ["fp8", "int8"])
def test_a_coded_hit_is_close_to_the_exact_one(codec):
    """A namespace stored fp8 or int8: the GPU encodes on store, decodes inside the load; the hit's
    logits stay close to the bf16 hit's and the objects are the codec's size."""
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(hidden_size=256, intermediate_size=512, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, vocab_size=1000)
    model = transformers.LlamaForCausalLM(cfg).to("cuda", torch.bfloat16).eval()
    store = tw.open(dram_capacity_bytes=64 << 20)
    exact = Warehouse(store, model, model_id="tiny", block_tokens=32)
    coded = Warehouse(store, model, model_id="tiny", block_tokens=32, codec=codec, register=False)
    assert coded.ns.codec == codec and coded.ns.object_bytes < exact.ns.object_bytes
    ids = torch.randint(0, 1000, (1, 32 * 4 + 5), device="cuda")
    assert exact.prefill(ids).store_job.wait() == 4
    assert coded.prefill(ids).store_job.wait() == 4
    a, b = exact.prefill(ids), coded.prefill(ids)
    assert a.cached_tokens == b.cached_tokens == 128
    scale = a.logits.float().abs().max().item()
    assert (a.logits.float() - b.logits.float()).abs().max().item() < 0.05 * scale


def _block_bytes(cache, b, block_tokens):
    """Block b of an HF cache in the canonical layout ([layer][K, V][head][token][dim]), as uint8."""
    if hasattr(cache, "layers"):
        kv = [(layer.keys, layer.values) for layer in cache.layers]
    else:
        kv = list(zip(cache.key_cache, cache.value_cache))
    s = slice(b * block_tokens, (b + 1) * block_tokens)
    block = torch.stack([torch.stack([k[0, :, s], v[0, :, s]]) for k, v in kv]).contiguous().cpu()
    return block.view(torch.uint8).numpy().reshape(-1)


def test_kivi2_on_the_gpu_is_the_cpu_codec():
    """kivi2 (64-token blocks: 32 tokens quantized to 2 bits, a window of 32 kept): the objects the
    GPU stored are the CPU's encoding of the KV the model computed, byte for byte, and a hit loads
    the CPU's decoding of them, bit for bit."""
    import numpy as np

    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(hidden_size=256, intermediate_size=512, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, vocab_size=1000)
    model = transformers.LlamaForCausalLM(cfg).to("cuda", torch.bfloat16).eval()
    store = tw.open(dram_capacity_bytes=64 << 20)
    wh = Warehouse(store, model, model_id="tiny", block_tokens=64, codec="kivi2")
    ns = wh.ns
    assert ns.codec == "kivi2"
    ids = torch.randint(0, 1000, (1, 64 * 2 + 5), device="cuda")
    first = wh.prefill(ids)
    assert first.cached_tokens == 0
    assert first.store_job.wait() == 2
    keys = wh.keys(ids)
    canonical_bytes = ns.layers * 2 * ns.kv_heads * ns.block_tokens * ns.head_dim * 2
    for b in range(2):
        want = np.empty(ns.object_bytes, dtype=np.uint8)
        ns.encode(_block_bytes(first.cache, b, 64), want)
        assert np.array_equal(store.get(ns, keys[b]), want), f"block {b}: the GPU's encoding is not the CPU's"
    second = wh.prefill(ids)
    assert second.cached_tokens == 128
    for b in range(2):
        want = np.empty(canonical_bytes, dtype=np.uint8)
        ns.decode(store.get(ns, keys[b]), want)
        assert np.array_equal(_block_bytes(second.cache, b, 64), want), f"block {b}: the GPU's decoding is not the CPU's"

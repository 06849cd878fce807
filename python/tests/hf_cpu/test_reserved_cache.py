"""tokenwarehouse.hf's reserved KV layers on the CPU, with the transformers of the engine
environment (scripts/install-engines.sh): a cache whose prefix sits in preallocated buffers gives the
logits of HF's own DynamicCache, writes the suffix in place, and grows like a DynamicCache once full.
The GPU path that fills those buffers from the warehouse is tested on the device (test_hf.py)."""
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
from transformers import DynamicCache  # noqa: E402

from tokenwarehouse.hf import _cache_tensors, _fill_cache  # noqa: E402

PREFIX, PROMPT, ROOM = 64, 100, 103


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(hidden_size=128, intermediate_size=256, num_hidden_layers=3,
                                   num_attention_heads=4, num_key_value_heads=2, vocab_size=500)
    cfg._attn_implementation = "sdpa"
    return transformers.LlamaForCausalLM(cfg).eval()


def _kv(cache, layers):
    return _cache_tensors(cache, layers)


def test_reserved_layers_match_dynamic_cache_and_grow_past_their_room(model):
    layers = model.config.num_hidden_layers
    ids = torch.randint(0, 500, (1, PROMPT))
    with torch.no_grad():
        prefix = model(ids[:, :PREFIX], use_cache=True).past_key_values
        ks, vs = _kv(prefix, layers)
        heads, dim = ks[0].shape[1], ks[0].shape[3]
        kbufs = [torch.full((1, heads, ROOM, dim), float("nan")) for _ in range(layers)]
        vbufs = [torch.full((1, heads, ROOM, dim), float("nan")) for _ in range(layers)]
        for kb, vb, k, v in zip(kbufs, vbufs, ks, vs):
            kb[:, :, :PREFIX].copy_(k)
            vb[:, :, :PREFIX].copy_(v)
        reserved = DynamicCache()
        _fill_cache(reserved, kbufs, vbufs, PREFIX)
        assert reserved.get_seq_length() == PREFIX

        plain = model(ids[:, :PREFIX], use_cache=True).past_key_values  # HF's own path, same prefix
        pos = torch.arange(PREFIX, PROMPT)
        a = model(ids[:, PREFIX:], past_key_values=reserved, use_cache=True, cache_position=pos).logits
        b = model(ids[:, PREFIX:], past_key_values=plain, use_cache=True, cache_position=pos).logits
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-5), (a - b).abs().max()
        # The suffix went into the buffers in place: the cache's tensors are views of them.
        assert reserved.get_seq_length() == PROMPT
        for i in range(layers):
            assert reserved.layers[i].keys.data_ptr() == kbufs[i].data_ptr()
            assert torch.equal(kbufs[i][:, :, :PROMPT], reserved.layers[i].keys)
        got_k, _ = _cache_tensors(reserved, layers)
        assert all(g is kb for g, kb in zip(got_k, kbufs))  # the store reads the buffers

        # Decode: three tokens fit the room, the fourth and fifth grow by concatenation.
        tok = a[:, -1:].argmax(-1)
        for step in range(5):
            p = torch.tensor([PROMPT + step])
            la = model(tok, past_key_values=reserved, use_cache=True, cache_position=p).logits
            lb = model(tok, past_key_values=plain, use_cache=True, cache_position=p).logits
            assert torch.allclose(la, lb, atol=1e-5, rtol=1e-5), (step, (la - lb).abs().max())
            tok = la[:, -1:].argmax(-1)
        assert reserved.get_seq_length() == PROMPT + 5
        assert reserved.layers[0].keys.data_ptr() != kbufs[0].data_ptr()  # grown out of its buffer
        assert not any(torch.isnan(t).any() for t in _cache_tensors(reserved, layers)[0])


def test_exact_room_stays_in_place_and_contiguous(model):
    layers = model.config.num_hidden_layers
    ids = torch.randint(0, 500, (1, PROMPT))
    with torch.no_grad():
        ks, vs = _kv(model(ids[:, :PREFIX], use_cache=True).past_key_values, layers)
        kbufs = [torch.cat([k, torch.zeros_like(k[:, :, :PROMPT - PREFIX])], dim=-2) for k in ks]
        vbufs = [torch.cat([v, torch.zeros_like(v[:, :, :PROMPT - PREFIX])], dim=-2) for v in vs]
        cache = DynamicCache()
        _fill_cache(cache, kbufs, vbufs, PREFIX)
        model(ids[:, PREFIX:], past_key_values=cache, use_cache=True, cache_position=torch.arange(PREFIX, PROMPT))
        assert all(cache.layers[i].keys.is_contiguous() for i in range(layers))
        assert cache.layers[0].keys.data_ptr() == kbufs[0].data_ptr()

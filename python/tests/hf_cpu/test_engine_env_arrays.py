"""The extension under the engines' environment (NumPy 2, torch 2.13), which the system Python's tests
(NumPy 1.24) do not reach: arrays the extension makes, and the CPU codec over torch tensors.

pybind11 2.10 (Debian 12) derives default strides from a dtype field NumPy 2 moved: `Store.get`
without `out=` once returned a stride-0 array there, every element reading the object's first byte.
"""

import numpy as np
import torch

import tokenwarehouse as tw


def _store_and_ns(**fields):
    store = tw.open(dram_capacity_bytes=64 << 20)
    ns = store.register_namespace(model_id="arrays", layers=2, kv_heads=2, head_dim=64, dtype="f32",
                                  block_tokens=64, **fields)
    return store, ns


def test_get_without_out_returns_the_stored_bytes():
    store, ns = _store_and_ns()
    key = ns.block_keys(list(range(64)))[0]
    data = (np.arange(ns.object_bytes) % 251).astype(np.uint8)
    store.put(ns, key, None, data)
    got = store.get(ns, key)
    assert got.strides == (1,) and got.shape == (ns.object_bytes,)
    assert np.array_equal(got, data)


def test_cpu_codec_round_trips_torch_tensors():
    store, ns = _store_and_ns(codec="int8")
    assert ns.codec == "int8" and ns.object_bytes < 2 * 2 * 2 * 64 * 64 * 4 // 3
    kv = torch.randn(2, 2, 2, 64, 64, generator=torch.Generator().manual_seed(0))
    enc = np.empty(ns.object_bytes, dtype=np.uint8)
    ns.encode(kv, enc)
    key = ns.block_keys(list(range(64)))[0]
    store.put(ns, key, None, enc)
    out = torch.empty_like(kv)
    ns.decode(store.get(ns, key), out)
    err = (out - kv).abs().max().item()
    assert 0 < err < 0.05 * kv.abs().max().item(), err  # int8: close, not exact
    enc[:16] = 0  # the header: a corrupt encoding is refused, never decoded into numbers
    try:
        ns.decode(enc, out)
    except tw.CorruptionError:
        pass
    else:
        raise AssertionError("a corrupt encoding decoded")

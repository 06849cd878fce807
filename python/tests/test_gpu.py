"""The GPU copy path from PyTorch: HF and paged layouts, stores back from GPU, layer waits.
Skipped where no CUDA device (or no CUDA build of torch) is usable."""
import numpy as np
import pytest

import tokenwarehouse as tw
import tokenwarehouse.gpu as twg

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not (twg.available()[0] and torch.cuda.is_available()), reason="no GPU")


@pytest.fixture
def setup():
    store = tw.open(dram_capacity_bytes=64 << 20, page_bytes=64 << 10)
    ns = store.register_namespace(model_id="gpu-pytest", layers=3, kv_heads=2, head_dim=64, dtype="bf16",
                                  block_tokens=32)
    twg.register_arena(store)
    tokens = np.arange(5 * 32, dtype=np.uint32)
    keys = ns.block_keys(tokens)
    # The canonical layout, [block][layer][K,V][head][token][dim], built from known HF tensors.
    n = len(tokens)
    ks = [torch.randn(1, 2, n, 64, dtype=torch.bfloat16) for _ in range(3)]
    vs = [torch.randn(1, 2, n, 64, dtype=torch.bfloat16) for _ in range(3)]
    parent = None
    for b, key in enumerate(keys):
        sl = slice(b * 32, (b + 1) * 32)
        obj = torch.stack([torch.stack([k[0, :, sl], v[0, :, sl]]) for k, v in zip(ks, vs)]).contiguous()
        store.put(ns, key, parent, obj)
        parent = key
    return store, ns, keys, ks, vs


@pytest.mark.parametrize("mode", ["zero_copy", "staged"])
def test_load_hf_layer_by_layer(setup, mode):
    store, ns, keys, ks, vs = setup
    mover = twg.Mover(store, ns, mode=mode, staging_bytes=1 << 20)
    n = 5 * 32 - 7
    dk = [torch.full((1, 2, n, 64), float("nan"), dtype=torch.bfloat16, device="cuda") for _ in range(3)]
    dv = [torch.full((1, 2, n, 64), float("nan"), dtype=torch.bfloat16, device="cuda") for _ in range(3)]
    load = mover.load_hf(keys, n, dk, dv)
    for layer in range(3):
        load.wait_layer(layer)
        assert torch.equal(dk[layer].cpu(), ks[layer][:, :, :n]) and torch.equal(dv[layer].cpu(), vs[layer][:, :, :n])
    load.synchronize()
    assert load.load_ms() > 0


def test_store_hf_round_trips(setup):
    store, ns, keys, ks, vs = setup
    ns2 = store.register_namespace(model_id="gpu-pytest-2", layers=3, kv_heads=2, head_dim=64, dtype="bf16",
                                   block_tokens=32)
    keys2 = ns2.block_keys(np.arange(5 * 32, dtype=np.uint32) + 1)
    mover = twg.Mover(store, ns2)
    dk = [k.cuda() for k in ks]
    dv = [v.cuda() for v in vs]
    job = mover.store_hf(keys2, None, 0, dk, dv)
    assert job.wait() == 5
    for a, b in zip(keys, keys2):
        assert np.array_equal(store.get(ns, a), store.get(ns2, b))


def test_load_paged(setup):
    store, ns, keys, ks, vs = setup
    mover = twg.Mover(store, ns)
    page_tokens, pool = 16, 12
    table = [(p * 7 + 3) % pool for p in range(10)]
    kc = [torch.zeros(pool, page_tokens, 2, 64, dtype=torch.bfloat16, device="cuda") for _ in range(3)]
    vc = [torch.zeros(pool, page_tokens, 2, 64, dtype=torch.bfloat16, device="cuda") for _ in range(3)]
    load = mover.load_paged(keys, 160, kc, vc, table, page_tokens)
    load.synchronize()
    for layer in range(3):
        got = kc[layer].cpu()[table].reshape(160, 2, 64).permute(1, 0, 2)
        assert torch.equal(got, ks[layer][0])


def test_miss_is_none(setup):
    store, ns, keys, ks, vs = setup
    mover = twg.Mover(store, ns)
    other = ns.block_keys(np.arange(32, dtype=np.uint32) + 999)
    dk = [torch.empty(1, 2, 32, 64, dtype=torch.bfloat16, device="cuda") for _ in range(3)]
    assert mover.load_hf(other, 32, dk, dk) is None

"""The Python package on CPU: zero-copy buffers (NumPy, PyTorch via DLPack), misses as None, one
exception hierarchy, async gets, pins, zero-copy reads and writes."""
import numpy as np
import pytest

import tokenwarehouse as tw


def blocks(ns, n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, ns.object_bytes, dtype=np.uint8) for _ in range(n)]


def put_chain(store, ns, keys, objs):
    parent = None
    for k, o in zip(keys, objs):
        store.put(ns, k, parent, o)
        parent = k


def test_open_unreachable_or_bad_url():
    with pytest.raises(tw.UnavailableError) as e:
        tw.open("tw://127.0.0.1:1")  # nothing listens on port 1
    assert isinstance(e.value, tw.TokenWarehouseError)
    with pytest.raises(tw.UnavailableError):
        tw.open("etcd://127.0.0.1:1")  # a cluster whose etcd is not there
    with pytest.raises(tw.InvalidArgumentError):
        tw.open("no url")


def test_keys_are_the_same_from_list_numpy_and_torch(ns):
    torch = pytest.importorskip("torch")
    tokens = list(range(100, 111))
    a = ns.block_keys(tokens)
    assert len(a) == 2 and all(isinstance(k, bytes) and len(k) == 16 for k in a)
    assert ns.block_keys(np.array(tokens, dtype=np.int64)) == a
    assert ns.block_keys(np.array(tokens, dtype=np.uint32)) == a
    assert ns.block_keys(torch.tensor(tokens).numpy()) == a
    assert ns.block_keys(tokens[:8]) == a  # the partial third block has no key


def test_put_batch_reports_what_it_stored_and_skipped(store):
    """The embedded store's per-request usage: a chain under min_prefix_tokens is skipped (and says
    so), a longer one stored, its repeat present."""
    ns = store.register_namespace(model_id="pytest-usage", layers=2, kv_heads=2, head_dim=8, dtype="f16",
                                  block_tokens=4, min_prefix_tokens=12)
    keys = ns.block_keys(range(16))
    objs = blocks(ns, 4)
    u = store.put_batch(ns, keys[:2], None, objs[:2])  # 8 tokens < 12
    assert u == {"reported": True, "write_tokens": 0, "present_tokens": 0, "skipped_short_tokens": 8,
                 "hit_tokens": {"dram": 0, "disk": 0, "peer": 0}, "miss_tokens": 0, "read_tokens": 0}
    assert store.put_batch(ns, keys[:3], None, objs[:3])["write_tokens"] == 12
    u = store.put_batch(ns, keys, None, objs)
    assert (u["present_tokens"], u["write_tokens"]) == (12, 4)
    matched, tiers, u = store.lookup_usage(ns, keys)
    assert matched == 4 and u["hit_tokens"]["dram"] == 16 and u["miss_tokens"] == 0


def test_put_lookup_get_round_trip(store, ns):
    keys = ns.block_keys(range(12))
    objs = blocks(ns, 3)
    assert store.lookup(ns, keys) == (0, [])
    put_chain(store, ns, keys[:2], objs[:2])
    assert store.lookup(ns, keys) == (2, ["dram", "dram"])
    got = store.get(ns, keys[1])
    assert got.dtype == np.uint8 and np.array_equal(got, objs[1])
    assert store.get(ns, keys[2]) is None  # a miss is None, not an exception


def test_get_into_numpy_is_zero_copy(store, ns):
    keys = ns.block_keys(range(4))
    obj = blocks(ns, 1)[0]
    put_chain(store, ns, keys, [obj])
    out = np.zeros(ns.object_bytes // 2, dtype=np.float16)
    assert store.get(ns, keys[0], out=out) is out
    assert np.array_equal(out.view(np.uint8), obj)
    # One layer: the canonical layout makes it one contiguous run.
    half = np.zeros(ns.object_bytes // 2, dtype=np.uint8)
    store.get(ns, keys[0], out=half, layers=(1, 2))
    assert np.array_equal(half, obj[ns.object_bytes // 2:])
    assert ns.slice_bytes(layers=(1, 2)) == ns.object_bytes // 2


def test_torch_tensors_through_dlpack(store, ns):
    torch = pytest.importorskip("torch")
    keys = ns.block_keys(range(8))
    src = torch.randn(ns.object_bytes // 2).to(torch.float16)
    store.put(ns, keys[0], None, src)
    dst = torch.zeros_like(src)
    assert store.get(ns, keys[0], out=dst) is dst
    assert torch.equal(src, dst)
    bf = torch.zeros(ns.object_bytes // 2, dtype=torch.bfloat16)
    store.get(ns, keys[0], out=bf)
    assert torch.equal(bf.view(torch.float16), src)
    with pytest.raises(TypeError):
        store.get(ns, keys[0], out=torch.zeros(4, ns.object_bytes // 8, dtype=torch.float16).t())  # not contiguous


def test_errors_form_one_hierarchy(store, ns):
    keys = ns.block_keys(range(8))
    with pytest.raises(tw.InvalidArgumentError):
        store.put(ns, keys[0], None, np.zeros(3, dtype=np.uint8))  # wrong size
    with pytest.raises(tw.InvalidArgumentError) as e:
        store.put(ns, keys[1], keys[0], blocks(ns, 1)[0])  # parent not present
    assert isinstance(e.value, ValueError) and "parent" in str(e.value)
    with pytest.raises(ValueError):
        store.register_namespace(model_id="", layers=1, kv_heads=1, head_dim=8)
    with pytest.raises(tw.InvalidArgumentError):
        store.register_namespace(model_id="m", layers=1, kv_heads=1, head_dim=8, dtype="f13")
    with pytest.raises(TypeError):
        store.get(ns, "not bytes")
    for cls in (tw.NotFoundError, tw.ResourceExhaustedError, tw.UnavailableError, tw.CorruptionError):
        assert issubclass(cls, tw.TokenWarehouseError)


def test_get_async_reports_hits_and_misses(store, ns):
    keys = ns.block_keys(range(12))
    objs = blocks(ns, 2, seed=3)
    put_chain(store, ns, keys[:2], objs)
    outs = [np.empty(ns.object_bytes, dtype=np.uint8) for _ in keys]
    fut = store.get_async(ns, keys, outs)
    assert fut.wait() == [True, True, False]
    assert fut.done()
    assert np.array_equal(outs[0], objs[0]) and np.array_equal(outs[1], objs[1])


def test_pin_unpin_and_stats(store, ns):
    keys = ns.block_keys(range(8))
    put_chain(store, ns, keys[:1], blocks(ns, 1))
    assert store.pin(ns, keys, lease_ms=60000) is None  # all or nothing
    lease = store.pin(ns, keys[:1], lease_ms=60000)
    assert isinstance(lease, int) and lease > 0
    s = store.stats()
    assert s["active_leases"] == 1 and s["tiers"][0]["tier"] == "dram" and s["tiers"][0]["objects"] == 1
    assert s["tiers"][0]["admitting"] is True
    store.unpin(lease)
    with pytest.raises(tw.DeadlineExceededError):
        store.unpin(lease)


def test_zero_copy_read_and_write_views(store, ns):
    keys = ns.block_keys(range(8))
    obj = blocks(ns, 1, seed=5)[0]
    w = store.reserve(ns, keys[0], None)
    assert not w.present
    pos = 0
    for seg in w.segments():
        n = len(seg)
        seg[:] = obj[pos:pos + n].tobytes()
        pos += n
    assert store.lookup(ns, keys)[0] == 0  # not visible before commit
    w.commit()
    assert store.lookup(ns, keys)[0] == 1
    with store.acquire(ns, keys[0], lease_ms=1000) as r:
        assert r.nbytes == ns.object_bytes
        assert b"".join(bytes(s) for s in r.segments()) == obj.tobytes()
    assert store.acquire(ns, keys[1]) is None
    w2 = store.reserve(ns, keys[1], keys[0])
    w2.write(0, obj)
    w2.abort()
    assert store.lookup(ns, keys)[0] == 1  # aborted: never visible
    assert store.remove(ns, keys[0]) is True
    assert store.remove(ns, keys[0]) is False


def test_gpu_entry_points_raise_unavailable_without_a_gpu(store, ns):
    import tokenwarehouse.gpu as twg

    ok, why = twg.available()
    if ok:
        pytest.skip("a GPU is present; see test_gpu.py")
    assert why
    with pytest.raises(tw.UnavailableError):
        twg.Mover(store, ns)
    with pytest.raises(tw.UnavailableError):
        twg.register_arena(store)

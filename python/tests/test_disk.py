"""The disk tier through the Python package: write-through and on-evict admission, flush_disk, and a
store reopened on the same directory (DRAM cold) that finds and reads back every object from disk."""
import gc

import numpy as np
import pytest

import tokenwarehouse as tw

DISK = dict(disk_capacity_bytes=8 << 20, disk_region_bytes=1 << 20)


def make_ns(store):
    return store.register_namespace(model_id="pytest-disk", layers=2, kv_heads=2, head_dim=8, dtype="f16",
                                    block_tokens=4)


def chain(store, ns, n, seed=0):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 50000, n * 4, dtype=np.uint32)
    keys = ns.block_keys(tokens)
    objs = [rng.integers(0, 256, ns.object_bytes, dtype=np.uint8) for _ in range(n)]
    parent = None
    for k, o in zip(keys, objs):
        store.put(ns, k, parent, o)
        parent = k
    return keys, objs


def disk_stats(store):
    return next(t for t in store.stats()["tiers"] if t["tier"] == "disk")


def test_write_through_survives_a_reopen(tmp_path):
    store = tw.open(dram_capacity_bytes=16 << 20, page_bytes=4096, disk_dir=str(tmp_path), disk_admission="write_through",
                    **DISK)
    ns = make_ns(store)
    keys, objs = chain(store, ns, 8)
    assert store.lookup(ns, keys) == (8, ["dram"] * 8)  # the fastest tier holding each
    store.flush_disk()
    assert disk_stats(store)["objects"] == 8
    with pytest.raises(tw.UnavailableError):  # one store per directory and owner
        tw.open(dram_capacity_bytes=1 << 20, page_bytes=4096, disk_dir=str(tmp_path), **DISK)
    del store, ns
    gc.collect()  # the directory's lock goes with the store

    again = tw.open(dram_capacity_bytes=16 << 20, page_bytes=4096, disk_dir=str(tmp_path), **DISK)
    ns = make_ns(again)
    assert again.lookup(ns, keys) == (8, ["disk"] * 8)  # DRAM is cold: everything is on disk
    for k, o in zip(keys, objs):
        np.testing.assert_array_equal(again.get(ns, k), o)
    assert again.lookup(ns, keys) == (8, ["dram"] * 8)  # the reads promoted them
    assert disk_stats(again)["hits"] >= 8


def test_on_evict_demotes_what_dram_cannot_hold(tmp_path):
    # 16 objects of 256 bytes in a 16 KiB arena of 4 KiB pages (one object a page): at most 4 stay in DRAM.
    store = tw.open(dram_capacity_bytes=4 * 4096, page_bytes=4096, disk_dir=str(tmp_path), **DISK)
    ns = make_ns(store)
    keys, objs = chain(store, ns, 16)
    store.flush_disk()
    matched, tiers = store.lookup(ns, keys)
    assert matched == 16 and "disk" in tiers
    for k, o in zip(keys, objs):  # each read promotes, evicting (and so demoting) another
        np.testing.assert_array_equal(store.get(ns, k), o)
    del store, ns
    gc.collect()
    again = tw.open(dram_capacity_bytes=4 * 4096, page_bytes=4096, disk_dir=str(tmp_path), **DISK)
    ns = make_ns(again)
    matched, tiers = again.lookup(ns, keys)
    # on_evict loses what was only in DRAM at close: the disk holds every object DRAM ever evicted.
    assert matched >= 1 and set(tiers) == {"disk"}
    for k, o in zip(keys[:matched], objs[:matched]):
        np.testing.assert_array_equal(again.get(ns, k), o)


def test_acquire_promotes_from_disk(tmp_path):
    store = tw.open(dram_capacity_bytes=16 << 20, page_bytes=4096, disk_dir=str(tmp_path), disk_admission="write_through",
                    **DISK)
    ns = make_ns(store)
    keys, objs = chain(store, ns, 2)
    store.flush_disk()
    del store, ns
    gc.collect()
    again = tw.open(dram_capacity_bytes=16 << 20, page_bytes=4096, disk_dir=str(tmp_path), **DISK)
    ns = make_ns(again)
    with again.acquire(ns, keys[1]) as r:  # the zero-copy read the GPU path uses
        got = b"".join(bytes(s) for s in r.segments())
    assert got == objs[1].tobytes()


def test_disk_options_are_checked(tmp_path):
    with pytest.raises(tw.InvalidArgumentError):
        tw.open(dram_capacity_bytes=1 << 20, disk_dir=str(tmp_path), disk_admission="sometimes")
    with pytest.raises(TypeError):  # one name per option, as in C++ (the short aliases are gone)
        tw.open(dram_bytes=1 << 20)
    store = tw.open(dram_capacity_bytes=1 << 20, page_bytes=4096)  # no disk tier: flush_disk is a no-op
    store.flush_disk()
    assert all(t["tier"] != "disk" for t in store.stats()["tiers"])

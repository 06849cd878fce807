"""The scheduler side's pin against a real store whose DRAM cannot hold the whole matched prefix:
the longest prefix that fits is loaded, not nothing (found by bench/vllm: a 64 MiB daemon DRAM turned
every 128 MiB disk hit into a full recompute)."""

import types

import numpy as np

import tokenwarehouse as tw
from tokenwarehouse.vllm.scheduler import SchedulerSide


def test_a_prefix_larger_than_dram_pins_the_part_that_fits(tmp_path):
    geometry = dict(model_id="pin-test", layers=2, kv_heads=2, head_dim=64, dtype="f32", block_tokens=64)
    disk = dict(disk_dir=str(tmp_path), disk_admission="write_through", page_bytes=64 << 10, prefault=False)
    first = tw.open(dram_capacity_bytes=8 << 20, **disk)  # 64 objects of 128 KiB
    ns = first.register_namespace(**geometry)
    keys = ns.block_keys(list(range(64 * 16)))
    parent = None
    for k in keys:
        first.put(ns, k, parent, np.full(ns.object_bytes, 7, np.uint8))
        parent = k
    first.flush_disk()
    del first
    small = tw.open(dram_capacity_bytes=1 << 20, **disk)  # 8 objects: the 16-block prefix is on disk only
    ns = small.register_namespace(**geometry)
    assert small.lookup(ns, keys) == (16, ["disk"] * 16)
    try:  # the whole prefix cannot be pinned at once: pinning only it would make this a miss
        whole = small.pin(ns, keys, 10000)
    except tw.ResourceExhaustedError:
        whole = None
    assert whole is None
    side = SchedulerSide(types.SimpleNamespace(block_tokens=64, lease_ms=10000), link=None, stats=None)
    matched, lease = side._pin_prefix(small, ns, keys, 16)
    assert 0 < matched < 16 and lease
    small.unpin(lease)

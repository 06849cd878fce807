#!/usr/bin/env python3
"""Host time of acquiring a prefix's objects through a daemon over the Unix socket, the first step of
a GPU hit's load (tokenwarehouse.gpu.Mover): a pin of the prefix, then one acquire per block (each a
round trip; the load path until 2026-12-08), against one acquire_batch (one ACQUIRE request). Small
objects, so the figure is the round trips, not the bytes. Median of 15.

    PYTHONPATH=build/python python3 bench/daemon/acquire_batch.py build/tools/tokenwarehouse/tokenwarehouse
"""
import os, statistics, subprocess, sys, tempfile, time, pathlib
import numpy as np
import tokenwarehouse as tw
binary = sys.argv[1]
d = tempfile.mkdtemp()
ready = pathlib.Path(d) / "ready"
proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--admin", "none", "--unix", d + "/tw.sock",
                         "--data-dir", d, "--dram", "1GiB", "--ready-file", str(ready), "--log-level", "warn",
                         "--min-prefix-tokens", "0"], stdout=subprocess.DEVNULL)
while not ready.exists(): time.sleep(0.02)
s = tw.open("unix://" + d + "/tw.sock")
# Small objects (the per-block cost is the round trip, not the bytes): 1 layer x 1 head x 64 dims.
ns = s.register_namespace(model_id="acq", layers=1, kv_heads=1, head_dim=64, dtype="bf16", block_tokens=16)
for n in (111, 512):
    keys = ns.block_keys(range(16 * n + 1000 * n, 16 * n + 1000 * n + 16 * n))
    obj = np.zeros(ns.object_bytes, dtype=np.uint8)
    parent = None
    for k in keys:
        s.put(ns, k, parent, obj); parent = k
    one, batch = [], []
    for _ in range(15):
        t = time.perf_counter(); lease = s.pin(ns, keys, 60000); hs = [s.acquire(ns, k, 60000) for k in keys]; s.unpin(lease); one.append(time.perf_counter() - t); del hs
        t = time.perf_counter(); hs = s.acquire_batch(ns, keys, 60000); batch.append(time.perf_counter() - t); del hs
    print(f"{n} blocks: pin + acquire each + unpin {statistics.median(one)*1e3:.2f} ms, acquire_batch {statistics.median(batch)*1e3:.2f} ms "
          f"({statistics.median(one)/statistics.median(batch):.1f}x)")
proc.terminate(); proc.wait()

"""The Python package against a real `tokenwarehouse serve` daemon: the same calls as an embedded
store, over the Unix socket (shared memory) and over TCP, with objects written by one client read
back by another."""
import os
import pathlib
import subprocess
import time

import numpy as np
import pytest

import tokenwarehouse as tw


@pytest.fixture
def daemon(tmp_path):
    binary = os.environ.get("TW_BINARY")
    assert binary and pathlib.Path(binary).exists(), "TW_BINARY must name the built tokenwarehouse (ctest sets it)"
    ready = tmp_path / "ready"
    proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--admin", "none", "--unix",
                             str(tmp_path / "tw.sock"), "--data-dir", str(tmp_path), "--dram", "64MiB",
                             "--ready-file", str(ready), "--log-level", "warn"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "the daemon did not start"
        time.sleep(0.02)
    fields = dict(line.split("=", 1) for line in ready.read_text().splitlines() if "=" in line)
    yield {"tcp": "tw://" + fields["tcp"], "unix": "unix://" + fields["unix"]}
    proc.terminate()
    assert proc.wait(timeout=30) == 0


def register(store):
    # 2 layers x 2 KV heads x 64 dims, f16, 16-token blocks: 16 KiB objects.
    return store.register_namespace(model_id="py-remote", layers=2, kv_heads=2, head_dim=64, dtype="f16",
                                    block_tokens=16)


def test_same_calls_over_unix_and_tcp(daemon):
    writer = tw.open(daemon["unix"])
    reader = tw.open(daemon["tcp"], io_timeout_ms=10000)
    assert writer.arena is None  # a daemon's store: no local arena to hand out
    ns_w, ns_r = register(writer), register(reader)
    keys = ns_w.block_keys(range(16 * 3))
    assert ns_r.block_keys(range(16 * 3)) == keys
    rng = np.random.default_rng(7)
    objs = [rng.integers(0, 256, ns_w.object_bytes, dtype=np.uint8) for _ in keys]
    parent = None
    for k, o in zip(keys, objs):
        writer.put(ns_w, k, parent, o)
        parent = k
    assert reader.lookup(ns_r, keys) == (3, ["dram"] * 3)
    for k, o in zip(keys, objs):
        assert np.array_equal(reader.get(ns_r, k), o)
    assert reader.get(ns_r, ns_r.block_keys(range(1000, 1016))[0]) is None  # a miss is None
    assert writer.remove(ns_w, keys[2])
    assert reader.lookup(ns_r, keys) == (2, ["dram"] * 2)


def test_wrong_token_is_refused(daemon):
    with pytest.raises(tw.UnauthenticatedError):
        tw.open(daemon["tcp"], token="no-such-tenant")

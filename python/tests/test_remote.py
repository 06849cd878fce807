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
                             "--ready-file", str(ready), "--log-level", "warn",
                             "--min-prefix-tokens", "0"],
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
    # acquire_batch: zero-copy handles for many keys, None for a miss, over both transports.
    missing = ns_w.block_keys(range(2000, 2016))[0]
    for store, ns in ((writer, ns_w), (reader, ns_r)):
        hs = store.acquire_batch(ns, [keys[0], missing, keys[2]], lease_ms=1000)
        assert hs[1] is None
        for h, o in ((hs[0], objs[0]), (hs[2], objs[2])):
            with h:
                assert b"".join(bytes(seg) for seg in h.segments()) == o.tobytes()
    assert writer.remove(ns_w, keys[2])
    assert reader.lookup(ns_r, keys) == (2, ["dram"] * 2)


def test_each_request_reports_its_usage(daemon):
    """Per-request accounting, over both transports: a put_batch says what it newly stored and what
    was already there, a lookup its hits by tier and its misses."""
    for url in (daemon["unix"], daemon["tcp"]):
        store = tw.open(url)
        ns = store.register_namespace(model_id="py-usage-" + url[:3], layers=2, kv_heads=2, head_dim=64, dtype="f16",
                                      block_tokens=16)
        keys = ns.block_keys(range(16 * 4))
        objs = [np.full(ns.object_bytes, i, dtype=np.uint8) for i in range(4)]
        u = store.put_batch(ns, keys[:3], None, objs[:3])
        assert u["reported"] and u["write_tokens"] == 48 and u["present_tokens"] == 0, u
        u = store.put_batch(ns, keys, None, objs)
        assert (u["write_tokens"], u["present_tokens"], u["skipped_short_tokens"]) == (16, 48, 0), u
        matched, tiers, u = store.lookup_usage(ns, keys + ns.block_keys(range(100, 132))[1:])
        assert matched == 4 and u["hit_tokens"]["dram"] == 64 and u["miss_tokens"] == 16, u


def test_wrong_token_is_refused(daemon):
    with pytest.raises(tw.UnauthenticatedError):
        tw.open(daemon["tcp"], token="no-such-tenant")


def test_a_codec_namespace_stores_encoded_objects_whole(daemon):
    """A namespace with a codec stores objects of the codec's size, is another namespace than the
    same model without one, and serves its objects whole (a slice of an encoded object is refused)."""
    for url in (daemon["unix"], daemon["tcp"]):
        store = tw.open(url, io_timeout_ms=10000)
        plain = register(store)
        fp8 = store.register_namespace(model_id="py-remote", layers=2, kv_heads=2, head_dim=64, dtype="f16",
                                       block_tokens=16, codec="fp8")
        assert fp8.codec == "fp8" and plain.codec == "none"
        # 2 x 2 x 2 runs of 16 x 64 codes, each with its f32 scales (4 K runs of 64, one per channel;
        # 4 V runs of 16, one per token), after a 16-byte header and a table of 9 offsets.
        assert fp8.object_bytes == 16 + 8 * 9 + 4 * (64 * 4 + 16 * 4) + 8 * 16 * 64
        keys = fp8.block_keys(range(16 * 2))
        assert keys != plain.block_keys(range(16 * 2))
        with pytest.raises(tw.InvalidArgumentError):
            store.put(fp8, keys[0], None, np.zeros(plain.object_bytes, dtype=np.uint8))
        obj = np.random.default_rng(3).integers(0, 256, fp8.object_bytes, dtype=np.uint8)
        store.put(fp8, keys[0], None, obj)
        assert np.array_equal(store.get(fp8, keys[0]), obj)
        assert store.lookup(plain, plain.block_keys(range(16 * 2)))[0] == 0
        with pytest.raises(tw.NotSupportedError):
            store.get(fp8, keys[0], layers=(0, 1))
        with pytest.raises(tw.InvalidArgumentError):
            store.register_namespace(model_id="py-remote", layers=2, kv_heads=2, head_dim=64, codec="zip")
        with pytest.raises(tw.NotSupportedError):
            store.register_namespace(model_id="py-remote", layers=2, kv_heads=2, head_dim=64, codec="lossless")

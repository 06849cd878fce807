"""The GPU copy path through a `tokenwarehouse serve` daemon over unix:// (its arena mapped here and
registered with CUDA). On every machine: the errors of stores that cannot be registered (no shared
memory, daemon gone, no GPU). With a GPU: stores from and loads into CUDA tensors through the daemon,
re-registration after a daemon restart, and a load that outlives its lease reported as a miss."""
import os
import pathlib
import subprocess
import time

import numpy as np
import pytest

import tokenwarehouse as tw
import tokenwarehouse.gpu as twg
from tokenwarehouse.errors import DeadlineExceededError, NotSupportedError, UnavailableError


class Daemon:
    def __init__(self, tmp_path):
        self.binary = os.environ.get("TW_BINARY")
        assert self.binary and pathlib.Path(self.binary).exists(), "TW_BINARY must name the built tokenwarehouse"
        self.dir = tmp_path
        self.proc = None
        self.start()

    def start(self):
        ready = self.dir / "ready"
        ready.unlink(missing_ok=True)
        self.proc = subprocess.Popen([self.binary, "serve", "--listen", "127.0.0.1:0", "--admin", "none", "--unix",
                                      str(self.dir / "tw.sock"), "--data-dir", str(self.dir), "--dram", "64MiB",
                                      "--ready-file", str(ready), "--log-level", "warn",
                             "--min-prefix-tokens", "0"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert self.proc.poll() is None, self.proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the daemon did not start"
            time.sleep(0.02)
        fields = dict(line.split("=", 1) for line in ready.read_text().splitlines() if "=" in line)
        self.tcp, self.unix = "tw://" + fields["tcp"], "unix://" + fields["unix"]

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            assert self.proc.wait(timeout=30) == 0
        self.proc = None


@pytest.fixture
def daemon(tmp_path):
    d = Daemon(tmp_path)
    yield d
    d.stop()


def register(store):
    # 3 layers x 2 KV heads x 64 dims, bf16, 32-token blocks: 24 KiB objects.
    return store.register_namespace(model_id="gpu-daemon", layers=3, kv_heads=2, head_dim=64, dtype="bf16",
                                    block_tokens=32)


def test_register_arena_without_shared_memory_is_not_supported(daemon):
    store = tw.open(daemon.tcp, io_timeout_ms=10000)
    with pytest.raises(NotSupportedError, match="shared memory"):
        twg.register_arena(store)


def test_register_arena_daemon_gone_is_unavailable(daemon):
    store = tw.open(daemon.unix, io_timeout_ms=2000)
    register(store)
    daemon.stop()
    with pytest.raises(UnavailableError, match="daemon is gone"):
        twg.register_arena(store)


@pytest.mark.skipif(twg.available()[0], reason="a GPU is usable here")
def test_register_arena_without_gpu_is_unavailable(daemon):
    store = tw.open(daemon.unix)
    with pytest.raises(UnavailableError) as e:
        twg.register_arena(store)
    assert "daemon" not in str(e.value)  # the store was fine: the GPU is what is missing
    with pytest.raises(UnavailableError):
        twg.Mover(store, register(store))


def _gpu():
    try:
        import torch
    except ImportError:
        return None
    return torch if twg.available()[0] and torch.cuda.is_available() else None


torch = _gpu()
needs_gpu = pytest.mark.skipif(torch is None, reason="no GPU")


def _tensors(n, seed):
    g = torch.Generator().manual_seed(seed)
    ks = [torch.randn(1, 2, n, 64, dtype=torch.bfloat16, generator=g).cuda() for _ in range(3)]
    vs = [torch.randn(1, 2, n, 64, dtype=torch.bfloat16, generator=g).cuda() for _ in range(3)]
    return ks, vs


def _round_trip(store, ns, keys, n, seed):
    """Stores n tokens of KV from CUDA tensors through the daemon, loads them into fresh ones, compares."""
    mover = twg.Mover(store, ns)
    ks, vs = _tensors(n, seed)
    assert mover.store_hf(keys, None, 0, ks, vs).wait() == len(keys)
    assert store.lookup(ns, keys)[0] == len(keys)
    dk = [torch.full_like(k, float("nan")) for k in ks]
    dv = [torch.full_like(v, float("nan")) for v in vs]
    load = mover.load_hf(keys, n, dk, dv)
    assert load is not None
    load.synchronize()
    assert all(torch.equal(a, b) for a, b in zip(dk + dv, ks + vs))
    return mover


@needs_gpu
def test_store_and_load_through_daemon(daemon):
    store = tw.open(daemon.unix)
    ns = register(store)
    keys = ns.block_keys(np.arange(5 * 32, dtype=np.uint32))
    _round_trip(store, ns, keys, 5 * 32, seed=1)
    # A second client (its own mapping, registered on its first GPU use) reads what the first stored.
    other = tw.open(daemon.unix)
    ns2 = register(other)
    dk = [torch.empty(1, 2, 5 * 32, 64, dtype=torch.bfloat16, device="cuda") for _ in range(3)]
    dv = [torch.empty_like(t) for t in dk]
    load = twg.Mover(other, ns2).load_hf(keys, 5 * 32, dk, dv)
    load.synchronize()
    ks, vs = _tensors(5 * 32, seed=1)
    assert all(torch.equal(a, b) for a, b in zip(dk + dv, ks + vs))


@needs_gpu
def test_daemon_restart_remaps_and_reregisters(daemon):
    store = tw.open(daemon.unix)
    ns = register(store)
    keys = ns.block_keys(np.arange(4 * 32, dtype=np.uint32))
    _round_trip(store, ns, keys, 4 * 32, seed=2)
    daemon.stop()
    daemon.start()  # a new arena, mapped and registered again on the next GPU use
    # The objects survive on the daemon's disk tier (write-through): loading them promotes them into
    # the new arena, which this client must map and register before the GPU reads it.
    if store.lookup(ns, keys)[0] == len(keys):
        dk = [torch.empty(1, 2, 4 * 32, 64, dtype=torch.bfloat16, device="cuda") for _ in range(3)]
        dv = [torch.empty_like(t) for t in dk]
        load = twg.Mover(store, ns).load_hf(keys, 4 * 32, dk, dv)
        load.synchronize()
        ks, vs = _tensors(4 * 32, seed=2)
        assert all(torch.equal(a, b) for a, b in zip(dk + dv, ks + vs))
    # Stores from the GPU write into the new arena's reserved pages.
    _round_trip(store, ns, ns.block_keys(np.arange(4 * 32, dtype=np.uint32) + 7), 4 * 32, seed=3)


@needs_gpu
def test_load_outliving_its_lease_is_a_miss(daemon):
    store = tw.open(daemon.unix)
    ns = register(store)
    keys = ns.block_keys(np.arange(2 * 32, dtype=np.uint32))
    mover = _round_trip(store, ns, keys, 2 * 32, seed=4)
    dk = [torch.empty(1, 2, 2 * 32, 64, dtype=torch.bfloat16, device="cuda") for _ in range(3)]
    dv = [torch.empty_like(t) for t in dk]
    load = mover.load_hf(keys, 2 * 32, dk, dv, lease_ms=1)
    time.sleep(0.05)  # the lease has ended before synchronize() could confirm the copies ran under it
    with pytest.raises(DeadlineExceededError, match="miss"):
        load.synchronize()

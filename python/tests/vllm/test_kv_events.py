"""The daemon's KV events decoded by vLLM's own classes: a router that consumes vLLM's ZMQ events
(KVEventBatch over [topic, seq, payload], a ROUTER socket for replay) consumes the warehouse's
unchanged, and the hashes it gets are the block keys it computes from token ids.

Runs in the engines environment (scripts/install-engines.sh): vLLM, msgspec and pyzmq come from
there, the tokenwarehouse package from the build (PYTHONPATH), the daemon from TW_BINARY."""
import os
import pathlib
import subprocess
import time

import msgspec
import numpy as np
import pytest
import zmq
from vllm.distributed.kv_events import (MEDIUM_CPU, AllBlocksCleared, BlockRemoved, BlockStored,
                                        KVEventBatch, ZmqEventPublisher)

import tokenwarehouse as tw

BLOCK_TOKENS = 16


@pytest.fixture
def daemon(tmp_path):
    binary = os.environ.get("TW_BINARY")
    assert binary and pathlib.Path(binary).exists(), "TW_BINARY must name the built tokenwarehouse (ctest sets it)"
    ready = tmp_path / "ready"
    replay = f"ipc://{tmp_path}/replay.sock"
    proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--admin", "none", "--unix",
                             str(tmp_path / "tw.sock"), "--data-dir", str(tmp_path), "--dram", "64MiB",
                             "--ready-file", str(ready), "--log-level", "warn",
                             "--min-prefix-tokens", "0",
                             "--events-endpoint", "tcp://127.0.0.1:*", "--events-replay-endpoint", replay,
                             "--events-topic", "kv"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "the daemon did not start"
        time.sleep(0.02)
    fields = dict(line.split("=", 1) for line in ready.read_text().splitlines() if "=" in line)
    yield {"tcp": "tw://" + fields["tcp"], "events": fields["events.default"], "replay": fields["events_replay.default"]}
    proc.terminate()
    assert proc.wait(timeout=30) == 0


def register(store, model_id):
    return store.register_namespace(model_id=model_id, layers=2, kv_heads=2, head_dim=64, dtype="f16",
                                    block_tokens=BLOCK_TOKENS)


def put_chain(store, ns, tokens):
    keys = ns.block_keys(tokens)
    parent = None
    for k in keys:
        store.put(ns, k, parent, np.full(ns.object_bytes, 7, dtype=np.uint8))
        parent = k
    return keys


def recv(sub, timeout_ms):
    if not sub.poll(timeout_ms):
        return None
    return sub.recv_multipart()


def test_vllm_decodes_the_daemons_events(daemon):
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"kv")
    sub.connect(daemon["events"])
    store = tw.open(daemon["tcp"], io_timeout_ms=10000)
    decoder = msgspec.msgpack.Decoder(KVEventBatch)

    # The subscription reaches the daemon asynchronously: store probe blocks until one is heard.
    probe = register(store, "probe")
    first = None
    for i in range(200):
        put_chain(store, probe, list(range(i * BLOCK_TOKENS, (i + 1) * BLOCK_TOKENS)))
        first = recv(sub, 50)
        if first:
            break
    assert first is not None, "no event reached the subscriber"
    last = int.from_bytes(first[1], "big")
    while (m := recv(sub, 200)) is not None:
        last = int.from_bytes(m[1], "big")

    ns = register(store, "events-model")
    tokens = [(i * 37 + 11) % 32000 for i in range(BLOCK_TOKENS * 5)]
    keys = put_chain(store, ns, tokens)
    # What a router computes on its own from the token ids (docs/protocol.md, "KV events"): the same keys.
    router_view = register(tw.open(dram_capacity_bytes=16 << 20, page_bytes=4096), "events-model")
    assert router_view.block_keys(tokens) == keys
    assert store.remove(ns, keys[-1])

    live, events = [], []
    while len(events) < len(keys) + 1:
        topic, seq, payload = recv(sub, 5000)
        assert topic == b"kv"
        seq = int.from_bytes(seq, "big")
        assert seq == last + 1, "sequence numbers have no gaps"
        last = seq
        live.append((seq, payload))
        batch = decoder.decode(payload)  # vLLM's own classes: raises on any layout mismatch
        assert isinstance(batch, KVEventBatch)
        assert msgspec.msgpack.encode(batch) == payload, "byte for byte what vLLM's publisher would send"
        assert batch.ts > 0
        events.extend(batch.events)

    stored, removed = events[:len(keys)], events[len(keys)]
    for i, ev in enumerate(stored):
        assert isinstance(ev, BlockStored)
        assert ev.block_hashes == [keys[i]]
        assert ev.parent_block_hash == (keys[i - 1] if i else None), i  # the first block has none
        assert ev.medium == MEDIUM_CPU
        assert ev.block_size == BLOCK_TOKENS
        assert ev.token_ids == []  # the daemon is given keys, never tokens
        assert ev.lora_id is None and ev.lora_name is None
    assert isinstance(removed, BlockRemoved)
    assert removed.block_hashes == [keys[-1]]
    assert removed.medium is None

    # Replay, as a vLLM-style consumer asks for it: a DEALER to the ROUTER socket (the reply is many
    # messages; a REQ socket would take only the first), an 8-byte big-endian start; the same
    # batches back, then vLLM's end marker.
    req = ctx.socket(zmq.DEALER)
    req.connect(daemon["replay"])
    req.send_multipart([b"", live[0][0].to_bytes(8, "big")])
    replayed = []
    while True:
        assert req.poll(5000)
        empty, topic, seq, payload = req.recv_multipart()
        assert empty == b""
        if seq == ZmqEventPublisher.END_SEQ:
            break
        replayed.append((int.from_bytes(seq, "big"), payload))
    assert replayed == live
    ctx.destroy(linger=0)


def test_batches_round_trip_through_vllms_encoder():
    """Our encoding equals msgspec's own for the same events: nothing vLLM would write differently."""
    batch = KVEventBatch(ts=1.5, events=[
        BlockStored(block_hashes=[b"\x01" * 16], parent_block_hash=None, token_ids=[], block_size=16,
                    lora_id=None, medium="STORAGE", lora_name=None),
        BlockRemoved(block_hashes=[b"\x02" * 16], medium=None),
        AllBlocksCleared()])
    encoded = msgspec.msgpack.encode(batch)
    assert msgspec.msgpack.decode(encoded) == [1.5, [
        {"type": "BlockStored", "block_hashes": [b"\x01" * 16], "parent_block_hash": None, "token_ids": [],
         "block_size": 16, "lora_id": None, "medium": "STORAGE", "lora_name": None},
        {"type": "BlockRemoved", "block_hashes": [b"\x02" * 16], "medium": None},
        {"type": "AllBlocksCleared"}], None]

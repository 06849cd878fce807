"""The connector's counters, in vLLM's KVConnectorStats form (logged by vLLM as "KV Transfer metrics").

The worker side counts loads and stores; the scheduler side counts lookups. vLLM collects the
worker's stats each step, aggregates them and logs their reduction at its stats interval.
"""

import threading

from vllm.distributed.kv_transfer.kv_connector.v1.metrics import KVConnectorStats

_COUNTERS = ("lookups", "lookup_s", "load_tokens", "load_bytes", "load_s", "load_failures",
             "store_blocks", "store_bytes", "store_s", "store_failures")


class TokenWarehouseStats(KVConnectorStats):
    def __post_init__(self):
        if not self.data:
            self.reset()

    def reset(self):
        self.data = {k: 0 for k in _COUNTERS}

    def aggregate(self, other):
        for k in _COUNTERS:
            self.data[k] = self.data.get(k, 0) + other.data.get(k, 0)
        return self

    def reduce(self):
        d = self.data
        gb = 1e9
        return {
            "tw_lookups": d["lookups"],
            "tw_load_tokens": d["load_tokens"],
            "tw_load_GBps": round(d["load_bytes"] / gb / d["load_s"], 3) if d["load_s"] else 0,
            "tw_load_failures": d["load_failures"],
            "tw_store_blocks": d["store_blocks"],
            "tw_store_GBps": round(d["store_bytes"] / gb / d["store_s"], 3) if d["store_s"] else 0,
            "tw_store_failures": d["store_failures"],
        }

    def is_empty(self):
        return not any(self.data.get(k, 0) for k in _COUNTERS)


class Counters:
    """Thread-safe counters behind TokenWarehouseStats; take() hands over and resets them."""

    def __init__(self):
        self._lock = threading.Lock()
        self._d = {k: 0 for k in _COUNTERS}
        self.totals = {k: 0 for k in _COUNTERS}  # since start, for tests and logs

    def _add(self, **kv):
        with self._lock:
            for k, v in kv.items():
                self._d[k] += v
                self.totals[k] += v

    def lookup(self, seconds):
        self._add(lookups=1, lookup_s=seconds)

    def loaded(self, tokens, nbytes, seconds):
        self._add(load_tokens=tokens, load_bytes=nbytes, load_s=seconds)

    def load_failed(self):
        self._add(load_failures=1)

    def stored(self, blocks, nbytes, seconds):
        self._add(store_blocks=blocks, store_bytes=nbytes, store_s=seconds)

    def store_failed(self, blocks=1):
        self._add(store_failures=blocks)

    def take(self):
        with self._lock:
            if not any(self._d.values()):
                return None
            d, self._d = self._d, {k: 0 for k in _COUNTERS}
        return TokenWarehouseStats(data=d)

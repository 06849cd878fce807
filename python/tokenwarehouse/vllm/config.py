"""The connector's settings: kv_connector_extra_config, the environment, and vLLM's own config.

    --kv-transfer-config '{"kv_connector": "TokenWarehouseConnector",
                           "kv_connector_module_path": "tokenwarehouse.vllm",
                           "kv_role": "kv_both",
                           "kv_connector_extra_config": {"url": "unix:///run/tw/tw.sock"}}'

Keys of kv_connector_extra_config (all optional):
  url            the warehouse: "unix:///path/tw.sock" (same node, shared memory: the default, from
                 $TW_URL or unix://tw-data/tw.sock), "tw://host:port", "tws://host:port", or
                 "embedded:" (a store inside the process: only when scheduler and worker share one)
  token          the tenant's token; prefer $TW_TOKEN (a token in a command line shows in `ps`)
  block_tokens   tokens per stored block (default 256; a multiple of vLLM's --block-size)
  model_id       the model's name in the namespace (default: the served model name); engines that
                 load the same weights from different paths set it to share KV
  model_revision the weights' revision (default: vLLM's --revision)
  lease_ms       how long a matched prefix is pinned while its load is pending (default 60000)
  io_timeout_ms  the longest a warehouse call may take before the request recomputes (default 2000)
  key_hash       "sha256" (default) or "xxh3" (trusted single-tenant fleets)
  ttl_ms         the namespace's retention (default 0: the warehouse's default)
  retention      the same as a class instead: "5m", "1h fixed", "24h", "persistent" (overrides ttl_ms;
                 a daemon grants at most its tenant's class)
  min_prefix_tokens  prompts shorter than this are not stored, judged by the connector (the warehouse
                 sees one block at a time); counted as skipped_short_tokens (default 0: store every
                 prompt; 1024 is what prompt-caching products cache from)
  codec          how blocks are stored: "none" (default), "fp8", "int8" (half the bytes) or "kivi2"
                 (0.29 of them); encoded and decoded on the CPU by the worker; another namespace, so
                 engines with different codecs never share blocks (tw/codec.h)
  load_failure_policy  "recompute" (default: a failed load is a miss) or "fail" (vLLM's default)
  dram_capacity_bytes  the embedded store's DRAM (embedded: only; default 1 GiB)
"""

import os

from ..errors import InvalidArgumentError, NotSupportedError
from .layout import KV_DTYPE, check_block_tokens

DEFAULT_URL = "unix://tw-data/tw.sock"


class ConnectorConfig:
    def __init__(self, vllm_config):
        kvt = vllm_config.kv_transfer_config
        extra = dict(kvt.kv_connector_extra_config or {})
        known = {"url", "token", "block_tokens", "model_id", "model_revision", "lease_ms", "io_timeout_ms",
                 "key_hash", "ttl_ms", "retention", "min_prefix_tokens", "load_failure_policy", "dram_capacity_bytes",
                 "codec"}
        unknown = sorted(set(extra) - known)
        if unknown:
            raise InvalidArgumentError(f"unknown kv_connector_extra_config keys {unknown}; known: {sorted(known)}")
        self.url = str(extra.get("url") or os.environ.get("TW_URL") or DEFAULT_URL)
        self.token = str(extra.get("token") or os.environ.get("TW_TOKEN") or "")
        self.lease_ms = int(extra.get("lease_ms", 60000))
        self.io_timeout_ms = int(extra.get("io_timeout_ms", 2000))
        self.load_failure_policy = str(extra.get("load_failure_policy", "recompute"))
        if self.load_failure_policy not in ("recompute", "fail"):
            raise InvalidArgumentError("load_failure_policy is 'recompute' or 'fail'")
        self.open_options = {}
        if self.url.startswith("embedded:"):
            self.open_options["dram_capacity_bytes"] = int(extra.get("dram_capacity_bytes", 1 << 30))

        model = vllm_config.model_config
        cache = vllm_config.cache_config
        par = vllm_config.parallel_config
        if par.world_size != 1:
            # Each rank holds a slice of the heads; one object per block needs every head. Until ranks
            # store and load their head slice of a shared object, refuse rather than store partial KV.
            raise NotSupportedError(
                f"TokenWarehouseConnector supports one worker per engine today (tensor x pipeline "
                f"parallel = {par.world_size})")
        self.page_tokens = int(cache.block_size)
        self.block_tokens = int(extra.get("block_tokens", 256))
        check_block_tokens(self.block_tokens, self.page_tokens)
        dtype = model.dtype if cache.cache_dtype in (None, "auto") else None
        if dtype not in KV_DTYPE:
            raise NotSupportedError(f"KV cache dtype {cache.cache_dtype} / model dtype {model.dtype} "
                                    f"(supported: {sorted(str(d) for d in KV_DTYPE)})")
        self.torch_dtype = dtype
        self.layers = model.get_num_layers_by_block_type(par, "attention")
        self.kv_heads = model.get_num_kv_heads(par)
        self.head_dim = model.get_head_size()
        served = model.served_model_name
        if isinstance(served, (list, tuple)):
            served = served[0]
        self.namespace_fields = dict(
            model_id=str(extra.get("model_id") or served or model.model),
            model_revision=str(extra.get("model_revision") or model.revision or ""),
            layers=self.layers, kv_heads=self.kv_heads, head_dim=self.head_dim, dtype=KV_DTYPE[dtype],
            block_tokens=self.block_tokens, key_hash=str(extra.get("key_hash", "sha256")),
            ttl_ms=int(extra.get("ttl_ms", 0)), retention=str(extra.get("retention", "")),
            # The connector judges prompts itself (scheduler.py); 1 tells the warehouse to store
            # every block it is sent (a daemon of the last release judged each one-block RESERVE).
            min_prefix_tokens=1, codec=str(extra.get("codec", "none")))
        self.min_prefix_tokens = int(extra.get("min_prefix_tokens", 0))

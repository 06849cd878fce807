"""Token Warehouse for vLLM: a KV connector (vLLM's KV connector v1 API, pinned to vLLM 0.32.0).

    vllm serve <model> --kv-transfer-config '{"kv_connector": "TokenWarehouseConnector",
        "kv_connector_module_path": "tokenwarehouse.vllm", "kv_role": "kv_both",
        "kv_connector_extra_config": {"url": "unix:///run/tw/tw.sock"}}'

Before a prefill, vLLM asks the warehouse for the longest prefix of the prompt already stored and
loads it into its pages; every full block it computes is stored behind the forward pass. Settings:
tokenwarehouse.vllm.config; the whole story: docs/engines/vllm.md.
"""

from .connector import TokenWarehouseConnector

__all__ = ["TokenWarehouseConnector"]

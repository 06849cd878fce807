"""What the scheduler side tells the workers each step (pickled between processes: plain data only)."""

from dataclasses import dataclass, field

from vllm.distributed.kv_transfer.kv_connector.v1.base import KVConnectorMetadata


@dataclass
class LoadSpec:
    """Load tokens [first_token, end_token) of a request from the objects of `keys` (block i of the
    prompt is keys[i]) into the request's pages. `lease` pins the objects until the worker holds them."""
    req_id: str
    ns: tuple  # (adapter_id, cache_salt)
    keys: list  # bytes, one per block from block 0
    first_token: int
    end_token: int
    block_ids: list  # vLLM pages of the request, from page 0
    lease: int  # 0 when none


@dataclass
class StoreSpec:
    """Store blocks first_block .. first_block + len(keys) of a request from its pages."""
    req_id: str
    ns: tuple
    keys: list  # bytes, one per block stored
    parent: bytes | None  # key of block first_block - 1, None for block 0
    first_block: int
    block_ids: list  # vLLM pages of the request, from page 0


@dataclass
class TokenWarehouseMetadata(KVConnectorMetadata):
    loads: list = field(default_factory=list)
    stores: list = field(default_factory=list)

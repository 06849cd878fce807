"""Token Warehouse: a persistent, shared, tiered KV-cache warehouse for LLM inference.

    import tokenwarehouse as tw
    store = tw.open(dram_capacity_bytes=8 << 30)              # embedded, in this process
    ns = store.register_namespace(model_id="meta-llama/Llama-3.1-8B", layers=32, kv_heads=8,
                                  head_dim=128, dtype="bf16")
    keys = ns.block_keys(token_ids)                            # one 16-byte key per full block
    matched, tiers = store.lookup(ns, keys)                    # longest cached prefix
    kv = store.get(ns, keys[0])                                # uint8 array, or None on a miss
    store.get(ns, keys[0], out=tensor)                         # zero-copy into numpy / torch (CPU)
    store.put(ns, keys[1], keys[0], kv_bytes)                  # parent None for the first block

Misses are None; every failure raises a subclass of tw.TokenWarehouseError. GPU loads and stores
are in tokenwarehouse.gpu, the HF transformers integration in tokenwarehouse.hf.
"""

from . import _native
from .errors import (
    BY_CODE as _BY_CODE,
    CorruptionError,
    DeadlineExceededError,
    InternalError,
    InvalidArgumentError,
    IOError_,
    NotFoundError,
    NotSupportedError,
    FailedPreconditionError,
    PermissionDeniedError,
    ResourceExhaustedError,
    TokenWarehouseError,
    UnauthenticatedError,
    UnavailableError,
)

_native._set_error_classes(_BY_CODE)

Store = _native.Store
Namespace = _native.Namespace
ReadHandle = _native.ReadHandle
WriteHandle = _native.WriteHandle
GetFuture = _native.GetFuture
__version__ = _native.__version__


def open(url: str = "", **options) -> Store:  # noqa: A001 - the natural name, as in io.open
    """Opens a store.

    url: "" for an embedded store in this process; for a `tokenwarehouse serve` daemon,
    "unix:///path" (same host: objects move through shared memory), "tw://host:port" (TCP) or
    "tws://host:port" (TCP with TLS); "etcd://host:port[,host:port]" for a cluster of daemons (the
    cluster named "default"). Daemon options: token (the tenant's token; "" is anonymous,
    loopback only), tls_ca_file (tws://: PEM certificates to trust; "" uses the system's store),
    io_timeout_ms. Embedded options are ignored for a daemon.

    Embedded options: dram_capacity_bytes, page_bytes, huge_pages, prefault; and
    the disk tier, on when disk_dir is given: disk_dir, disk_capacity_bytes,
    disk_region_bytes, disk_admission ('on_evict', the default: objects go to disk when DRAM evicts
    them; 'write_through': every put is queued for disk too, so a restart finds it), disk_write_queue_bytes,
    disk_enqueue_wait_ms, disk_io_bytes, disk_io_depth, disk_read_threads, disk_owner, disk_shared.
    Reopening a store on the same disk_dir finds what an earlier one wrote (call store.flush_disk() before closing it).
    """
    return Store(url, **options)


__all__ = [
    "open", "Store", "Namespace", "ReadHandle", "WriteHandle", "GetFuture", "TokenWarehouseError",
    "NotFoundError", "InvalidArgumentError", "ResourceExhaustedError", "UnavailableError",
    "DeadlineExceededError", "IOError_", "CorruptionError", "PermissionDeniedError",
    "UnauthenticatedError", "NotSupportedError", "InternalError", "FailedPreconditionError",
]

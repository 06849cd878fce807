"""The GPU copy path for PyTorch CUDA tensors.

    import tokenwarehouse as tw, tokenwarehouse.gpu as twg
    twg.register_arena(store)                 # once: pins the DRAM arena (seconds for tens of GB)
    mover = twg.Mover(store, ns, device=0)
    load = mover.load_hf(keys, n_tokens, k_layers, v_layers)   # returns at once; None on a miss
    load.wait_layer(i)                        # the current stream waits for layer i only
    load.synchronize()                        # all layers in place; leases released
    job = mover.store_hf(keys, parent, first_block, k_layers, v_layers)  # background, off the hot path
    job.wait()

HF layout: per layer a K and a V tensor [1, kv_heads, seq, head_dim] (or [kv_heads, seq, head_dim]),
contiguous, on the mover's device, of the namespace's dtype. Paged (vLLM) layout: per layer K and V
[num_pages, page_tokens, kv_heads, head_dim] plus a page table. Without a GPU or a CUDA build every
entry point raises UnavailableError; available() says which.
"""

from . import _native
from .errors import InvalidArgumentError, UnavailableError

_DTYPE_BYTES = {"f32": 4, "f16": 2, "bf16": 2, "f8e4m3": 1, "i8": 1}


def available():
    """(ok, reason): whether this build and machine can use a CUDA GPU."""
    ok, why = _native.gpu_available()
    return bool(ok), why


def register_arena(store):
    """Pins the store's DRAM arena for DMA and kernel access. Idempotent.

    An embedded store's arena, or a unix:// daemon's arena as this process maps it (a Mover on such a
    store also registers it on first use, and again after the daemon restarted). NotSupportedError for
    a store without shared memory (tw://, tws://); UnavailableError if the daemon is gone or no GPU is
    usable. A load that outlived its lease raises DeadlineExceededError from synchronize(): a miss."""
    _native.register_arena(store)


def h2d_bandwidth(nbytes=1 << 30, repeats=5, device=0):
    """Median pinned host-to-device bandwidth in GB/s: the floor loads are quoted against."""
    return _native.measure_h2d_bandwidth(nbytes, repeats, device)


def _current_stream():
    import torch

    return torch.cuda.current_stream().cuda_stream


def _pointers(ns, tensors, what):
    ptrs = []
    for t in tensors:
        if not t.is_cuda:
            raise InvalidArgumentError(f"{what}: expected CUDA tensors")
        if not t.is_contiguous():
            raise InvalidArgumentError(f"{what}: expected contiguous tensors")
        if t.element_size() != _DTYPE_BYTES[ns.dtype]:
            raise InvalidArgumentError(f"{what}: element size {t.element_size()} does not match {ns.dtype}")
        ptrs.append(t.data_ptr())
    if len(ptrs) != ns.layers:
        raise InvalidArgumentError(f"{what}: expected {ns.layers} layers, got {len(ptrs)}")
    return ptrs


def _hf_capacity(ns, tensors):
    shape = tuple(tensors[0].shape)
    if len(shape) == 4 and shape[0] == 1:
        shape = shape[1:]
    if len(shape) != 3 or shape[0] != ns.kv_heads or shape[2] != ns.head_dim:
        raise InvalidArgumentError(
            f"HF KV tensors are [1, {ns.kv_heads}, seq, {ns.head_dim}]; got {tuple(tensors[0].shape)}")
    return shape[1]


class Load:
    """A load in flight. Keep it until synchronize(): it holds the leases on the objects."""

    def __init__(self, native):
        self._native = native

    def wait_layer(self, layer, stream=None):
        """Makes `stream` (default: torch's current stream) wait on the GPU for `layer`."""
        self._native.wait_layer(layer, _current_stream() if stream is None else stream)

    def layer_ready(self, layer):
        return self._native.layer_ready(layer)

    def synchronize(self):
        self._native.synchronize()

    def load_ms(self):
        """GPU milliseconds from the first copy to the last layer."""
        return self._native.load_ms()


class Mover:
    """Loads and stores one namespace's KV between the warehouse and CUDA tensors. For a namespace
    with a codec (ns.codec 'fp8', 'int8' or 'kivi2'), loads decode and stores encode on the GPU, bit
    for bit as the CPU codec does; other codecs (and geometries the GPU cannot code) raise
    NotSupportedError."""

    def __init__(self, store, ns, device=0, mode="zero_copy", staging_bytes=1 << 30):
        self.store = store
        self.ns = ns
        self._native = _native.GpuMover(store, ns, device, mode, staging_bytes)

    def load_hf(self, keys, tokens, k, v, lease_ms=60000):
        """Queues a load of the first `tokens` tokens of `keys`' blocks into HF tensors; None on a miss."""
        cap = _hf_capacity(self.ns, k)
        native = self._native.load(list(keys), tokens, "hf", _pointers(self.ns, k, "k"), _pointers(self.ns, v, "v"),
                                   seq_capacity=cap, lease_ms=lease_ms)
        return None if native is None else Load(native)

    def load_paged(self, keys, tokens, k, v, page_table, page_tokens, lease_ms=60000):
        """Queues a load into vLLM-style paged caches (per layer [pages, page_tokens, kv_heads, head_dim])."""
        native = self._native.load(list(keys), tokens, "paged", _pointers(self.ns, k, "k"), _pointers(self.ns, v, "v"),
                                   page_tokens=page_tokens, page_table=[int(p) for p in page_table], lease_ms=lease_ms)
        return None if native is None else Load(native)

    def store_hf(self, keys, parent, first_block, k, v, stream=None):
        """Stores blocks first_block, first_block+1, ... (keys in chain order, `parent` the key before
        the first, None for the root) from HF tensors, after the work queued so far on `stream`.
        Runs in the background; returns a job whose wait() gives the number of blocks written."""
        cap = _hf_capacity(self.ns, k)
        return self._native.store(list(keys), parent, first_block, "hf", _pointers(self.ns, k, "k"),
                                  _pointers(self.ns, v, "v"), seq_capacity=cap,
                                  stream=_current_stream() if stream is None else stream, keepalive=(k, v))

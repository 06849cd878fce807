"""HF transformers integration: prefix caching through the warehouse, layer by layer.

    import tokenwarehouse as tw
    from tokenwarehouse.hf import Warehouse
    wh = Warehouse(tw.open(dram_capacity_bytes=32 << 30), model)   # registers the namespace, pins the arena
    out = wh.generate(input_ids, max_new_tokens=32)                   # drop-in for model.generate
    # or, for the first token only:
    r = wh.prefill(input_ids)          # r.logits (last position), r.cache (a DynamicCache), r.cached_tokens

A prefill computes the block keys of the prompt, looks up the longest cached prefix, starts loading it
into the model's KV cache on the warehouse's own CUDA stream, and runs the model on the suffix only;
each decoder layer waits (on the GPU, not the host) for its own layer of KV, so loading layer L+1
overlaps computing layer L. The new full blocks are stored behind the response, on a background
thread. At least one token is always computed, so a full hit still yields logits.

With codec="fp8", "int8" or "kivi2" the namespace stores its objects encoded (half the bytes of bf16
in every tier; kivi2 0.29 of them at 256-token blocks): a store encodes on the GPU, and a hit's load
moves the encoded bytes over PCIe and decodes them inside the layer-by-layer load. The numbers change
(within the codec's error), so a coded namespace never shares objects with an uncoded one.

With reserve_kv (the default), a hit's KV tensors are allocated once with room for the whole prompt
(and generate's new tokens): the load fills the prefix, and each layer writes the suffix's K and V in
place after it, where HF's DynamicCache would concatenate (a new allocation per layer per forward).
Fewer allocations during the forward also means fewer chances for the caching allocator to free
and synchronise the device, which would stall the compute behind the whole load.
"""

import functools
import inspect
from dataclasses import dataclass
from typing import Any, Optional

from . import gpu as _gpu
from .errors import CorruptionError, DeadlineExceededError

_TORCH_DTYPES = {"torch.bfloat16": "bf16", "torch.float16": "f16", "torch.float32": "f32"}


@dataclass
class PrefillResult:
    logits: Any                 # [batch, logits_to_keep, vocab]
    cache: Any                  # the model's KV cache (DynamicCache), holding every prompt token
    cached_tokens: int          # tokens loaded from the warehouse instead of computed
    store_job: Optional[Any]    # background store of the new full blocks (wait() -> blocks written)
    load_ms: float = 0.0        # GPU time of the KV load (first copy to last layer), 0 without a hit


def _decoder_layers(model):
    n = model.config.num_hidden_layers
    inner = getattr(model, "model", None)
    if inner is not None and len(getattr(inner, "layers", [])) == n:
        return list(inner.layers)
    import torch

    for m in model.modules():
        if isinstance(m, torch.nn.ModuleList) and len(m) == n:
            return list(m)
    raise ValueError("cannot find the model's decoder layers")


_reserved_layer_class = None


def _reserved_layer(kbuf, vbuf, length):
    """A DynamicLayer over preallocated [batch, heads, capacity, dim] buffers holding `length` tokens:
    update() writes new tokens in place after them while they fit, and grows by concatenation (as
    DynamicLayer does) once they do not, or once something replaced the views (crop, beam reorder)."""
    global _reserved_layer_class
    if _reserved_layer_class is None:
        from transformers.cache_utils import DynamicLayer

        class ReservedLayer(DynamicLayer):
            def __init__(self, kbuf, vbuf, length):
                super().__init__()
                self.dtype, self.device = kbuf.dtype, kbuf.device
                self.is_initialized = True
                self._kbuf, self._vbuf = kbuf, vbuf
                self.keys, self.values = kbuf[:, :, :length], vbuf[:, :, :length]

            def _in_place(self, n):
                if self._kbuf is None:
                    return False
                k = self.keys
                return (k.data_ptr() == self._kbuf.data_ptr() and k.stride() == self._kbuf.stride()
                        and k.shape[-2] + n <= self._kbuf.shape[-2])

            def update(self, key_states, value_states, *args, **kwargs):
                n = key_states.shape[-2]
                if not self._in_place(n):
                    self._kbuf = self._vbuf = None  # a plain DynamicLayer from now on
                    return super().update(key_states, value_states, *args, **kwargs)
                start = self.keys.shape[-2]
                self._kbuf[:, :, start:start + n].copy_(key_states)
                self._vbuf[:, :, start:start + n].copy_(value_states)
                self.keys, self.values = self._kbuf[:, :, :start + n], self._vbuf[:, :, :start + n]
                return self.keys, self.values

        _reserved_layer_class = ReservedLayer
    return _reserved_layer_class(kbuf, vbuf, length)


def _fill_cache(cache, ks, vs, length):
    """Installs per-layer K/V tensors holding `length` tokens in a DynamicCache without copying them
    (old and new cache APIs). Tensors with room for more tokens become reserved layers (new API)."""
    for i, (k, v) in enumerate(zip(ks, vs)):
        cache.update(k[:, :, :0], v[:, :, :0], i)  # creates layer i in whichever API this version has
        if hasattr(cache, "layers"):
            if k.shape[-2] > length:
                cache.layers[i] = _reserved_layer(k, v, length)
            else:
                cache.layers[i].keys, cache.layers[i].values = k, v
        else:
            cache.key_cache[i], cache.value_cache[i] = k[:, :, :length], v[:, :, :length]


def _cache_tensors(cache, n_layers):
    """Per-layer K and V tensors of a cache, each contiguous (the mover's HF layout): a reserved
    layer's whole buffer, whose first tokens are the cache's."""
    if hasattr(cache, "layers"):
        layers = cache.layers[:n_layers]
        ks = [getattr(la, "_kbuf", None) if getattr(la, "_kbuf", None) is not None else la.keys for la in layers]
        vs = [getattr(la, "_vbuf", None) if getattr(la, "_vbuf", None) is not None else la.values for la in layers]
        return ks, vs
    return list(cache.key_cache[:n_layers]), list(cache.value_cache[:n_layers])


class Warehouse:
    """Connects one HF causal LM to a store: one namespace, one GPU mover."""

    def __init__(self, store, model, *, model_id=None, model_revision="", tenant="", adapter_id="",
                 cache_salt="", block_tokens=256, mode="zero_copy", register=True, reserve_kv=True, codec="none"):
        cfg = model.config
        dtype = _TORCH_DTYPES.get(str(model.dtype))
        if dtype is None:
            raise ValueError(f"unsupported KV dtype {model.dtype}")
        head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        self.model = model
        self.store = store
        self.ns = store.register_namespace(
            model_id=model_id or getattr(cfg, "_name_or_path", "") or cfg.model_type,
            model_revision=model_revision, tenant=tenant, adapter_id=adapter_id, cache_salt=cache_salt,
            layers=cfg.num_hidden_layers, kv_heads=cfg.num_key_value_heads, head_dim=head_dim,
            dtype=dtype, block_tokens=block_tokens, codec=codec)
        self.device = next(model.parameters()).device
        self.reserve_kv = reserve_kv
        self.corrupt_loads = 0  # hits refused because an encoded object's header did not check out
        if register:
            _gpu.register_arena(store)
        self.mover = _gpu.Mover(store, self.ns, device=self.device.index or 0, mode=mode)
        self._layers = _decoder_layers(model)
        params = inspect.signature(model.forward).parameters
        self._keep_arg = "logits_to_keep" if "logits_to_keep" in params else (
            "num_logits_to_keep" if "num_logits_to_keep" in params else None)

    def keys(self, input_ids):
        import numpy as np

        tokens = input_ids[0].detach().to("cpu").numpy().astype(np.uint32, copy=False)
        return self.ns.block_keys(tokens)

    def _start_load(self, input_ids, keys, want_hit=True, extra_tokens=0):
        """Looks up and starts loading the cached prefix. Returns (cache, cached_tokens, matched, load, hooks).
        With reserve_kv the KV tensors have room for the prompt and `extra_tokens` more."""
        import torch
        from transformers import DynamicCache

        n = input_ids.shape[1]
        bt = self.ns.block_tokens
        matched, _ = self.store.lookup(self.ns, keys)
        cached = min(matched * bt, n - 1) if want_hit else 0
        matched = matched if want_hit else 0
        cache = DynamicCache()
        load, hooks = None, []
        if cached > 0:
            dt = next(self.model.parameters()).dtype
            room = n + extra_tokens if self.reserve_kv else cached
            shape = (1, self.ns.kv_heads, room, self.ns.head_dim)
            ks = [torch.empty(shape, dtype=dt, device=self.device) for _ in range(self.ns.layers)]
            vs = [torch.empty(shape, dtype=dt, device=self.device) for _ in range(self.ns.layers)]
            try:
                load = self.mover.load_hf(keys[:(cached + bt - 1) // bt], cached, ks, vs)
            except CorruptionError:  # an encoded object that does not check out: a miss, never its numbers
                self.corrupt_loads += 1
                load = None
            if load is None:  # evicted between lookup and load: a miss
                cached, matched = 0, 0
            else:
                _fill_cache(cache, ks, vs, cached)
                for i, layer in enumerate(self._layers):
                    hooks.append(layer.register_forward_pre_hook(functools.partial(_wait_hook, load, i)))
        return cache, cached, matched, load, hooks

    def _store_new(self, cache, keys, matched, n_prompt_blocks):
        if n_prompt_blocks <= matched:
            return None
        ks, vs = _cache_tensors(cache, self.ns.layers)
        parent = keys[matched - 1] if matched else None
        return self.mover.store_hf(keys[matched:n_prompt_blocks], parent, matched, ks, vs)

    def prefill(self, input_ids, *, store_new=True, logits_to_keep=1, _load=True):
        """Runs the model over the prompt, reusing the warehouse's longest cached prefix. A load that
        outlived its lease (its KV may be torn) is a miss: the whole prompt is computed again."""
        import torch

        if input_ids.shape[0] != 1:
            raise ValueError("prefill takes one sequence (batch 1)")
        keys = self.keys(input_ids)
        n = input_ids.shape[1]
        cache, cached, matched, load, hooks = self._start_load(input_ids, keys, _load)
        kwargs = {}
        if self._keep_arg:
            kwargs[self._keep_arg] = logits_to_keep
        try:
            with torch.no_grad():
                out = self.model(input_ids[:, cached:].to(self.device), past_key_values=cache, use_cache=True,
                                 cache_position=torch.arange(cached, n, device=self.device), **kwargs)
        finally:
            for h in hooks:
                h.remove()
        load_ms = 0.0
        if load is not None:
            try:
                load.synchronize()
            except DeadlineExceededError:
                return self.prefill(input_ids, store_new=store_new, logits_to_keep=logits_to_keep, _load=False)
            load_ms = load.load_ms()
        job = self._store_new(out.past_key_values, keys, matched, len(keys)) if store_new else None
        return PrefillResult(out.logits, out.past_key_values, cached, job, load_ms)

    def generate(self, input_ids, *, store_new=True, **generate_kwargs):
        """model.generate with the prompt's cached prefix loaded from the warehouse; stores the prompt's
        new full blocks afterwards. Batch 1."""
        if input_ids.shape[0] != 1:
            raise ValueError("generate takes one sequence (batch 1)")
        keys = self.keys(input_ids)
        extra = int(generate_kwargs.get("max_new_tokens") or 0)
        cache, cached, matched, load, hooks = self._start_load(input_ids, keys, extra_tokens=extra)
        try:
            out = self.model.generate(input_ids.to(self.device), past_key_values=cache, **generate_kwargs)
        finally:
            for h in hooks:
                h.remove()
        if load is not None:
            load.synchronize()
        if store_new:
            job = self._store_new(cache, keys, matched, len(keys))
            if job is not None:
                job.wait()
        return out


def _wait_hook(load, layer, module, args):
    load.wait_layer(layer)

"""The worker side of the connector: copies between vLLM's pages and the warehouse's objects.

Loads run in start_load_kv, before the forward pass that reads them: every layer of every object is
one indexed copy from the warehouse's memory (the daemon's shared arena for unix://, so no byte
crosses the socket) into vLLM's pages. On the CPU, copies and attention share the same cores, so
a layer-by-layer overlap would buy nothing. An object that cannot be read (evicted after its
lease ran out, the daemon gone, a checksum that failed) makes every page from its first token on a
load error: vLLM recomputes those tokens.

Stores run on one background thread, after the forward pass that computed their KV (queued in
wait_for_save). Each block is reserved in the warehouse, filled from the pages, and committed; a
block already present is skipped. vLLM frees a finished request's pages only after get_finished
reports its stores done, and handle_preemptions drains the queue before preempted pages are reused.
A failed store is dropped and counted: the warehouse is a cache.
"""

import logging
import queue
import threading
import time

import numpy
import torch

import tokenwarehouse as tw

from . import layout

log = logging.getLogger("vllm.tokenwarehouse")  # under vLLM's logging setup


class WorkerSide:
    def __init__(self, cfg, link, stats):
        self.cfg = cfg
        self.link = link
        self.stats = stats
        self.T = cfg.block_tokens
        self.N = cfg.page_tokens
        self.obj = layout.ObjectShape(cfg.layers, cfg.kv_heads, cfg.head_dim, cfg.block_tokens, cfg.torch_dtype)
        self.paged = None  # layout.PagedLayout, once vLLM registers its KV tensors
        self.load_errors = set()
        self._jobs = queue.Queue()
        self._lock = threading.Lock()
        self._pending = {}  # req_id -> store jobs queued and not done; guarded by _lock
        self._had_store = set()  # requests with stores queued at some point; guarded by _lock
        self._awaiting = set()  # finished requests whose pages wait for their stores; guarded by _lock
        self._idle = threading.Condition(self._lock)
        self._thread = threading.Thread(target=self._run, name="tw-store", daemon=True)
        self._thread.start()

    def register_kv_caches(self, kv_caches):
        # vLLM names layers "model.layers.<i>.self_attn.attn"; dicts keep registration order, which is
        # layer order, but sort by the index to be sure the object's layer i is the model's layer i.
        def index(name):
            nums = [int(p) for p in name.split(".") if p.isdigit()]
            return nums[0] if nums else 0

        names = sorted(kv_caches, key=index)
        if len(names) != self.cfg.layers:
            raise tw.NotSupportedError(f"vLLM registered {len(names)} KV layers, the model has {self.cfg.layers} "
                                       "attention layers (hybrid models are not supported)")
        first = kv_caches[names[0]]
        if first.device.type != "cpu":
            raise tw.NotSupportedError(f"KV on {first.device}: the vLLM connector copies CPU KV today")
        from vllm import _custom_ops as ops
        from vllm.v1.attention.backends.cpu_attn import _get_attn_isa

        isa = _get_attn_isa(first.dtype, self.N, self.cfg.head_dim, "auto")

        def write_kernel(key, value, k_cache, v_cache, slots):
            ops.cpu_attn_reshape_and_cache(key, value, k_cache, v_cache, slots, isa)

        m = layout.probe_cpu_layout(write_kernel, self.cfg.kv_heads, self.cfg.head_dim, self.N, first.dtype)
        self.paged = layout.PagedLayout([kv_caches[n] for n in names], self.cfg.kv_heads, self.cfg.head_dim, self.N, m)
        log.info("tokenwarehouse: %d layers of %s pages %s (CPU kernel '%s', layout probed), %d-token blocks of "
                 "%d bytes, warehouse %s", len(names), first.dtype, tuple(first.shape), isa, self.T, self.obj.nbytes,
                 self.cfg.url)

    # -- loads -----------------------------------------------------------------------------------

    def load(self, specs):
        for spec in specs:
            t0 = time.monotonic()
            loaded = self._load_one(spec)
            if loaded < spec.end_token:
                first_bad_page = max(loaded, spec.first_token) // self.N
                last_page = (spec.end_token - 1) // self.N
                self.load_errors.update(spec.block_ids[first_bad_page: last_page + 1])
                self.stats.load_failed()
            n = max(0, loaded - spec.first_token)
            self.stats.loaded(n, n * self.obj.nbytes // self.T, time.monotonic() - t0)

    def _load_one(self, spec):
        """Loads what it can of one request; returns the token up to which its pages are filled."""
        store, ns = self.link.namespace(*spec.ns)
        if ns is None:
            return spec.first_token
        done = spec.first_token
        view = None
        try:
            coded = ns.codec != "none"
            for b in range(spec.first_token // self.T, (spec.end_token + self.T - 1) // self.T):
                t0 = max(spec.first_token, b * self.T) - b * self.T
                t1 = min(spec.end_token, (b + 1) * self.T) - b * self.T
                if coded:  # the encoded object, decoded on the CPU (a bad encoding: a miss from here on)
                    src = self._decoded(store, ns, spec.keys[b])
                    if src is None:
                        break
                else:
                    view = store.acquire(ns, spec.keys[b], self.cfg.lease_ms)
                    if view is None:  # gone since the lookup: a miss from here on
                        break
                    src = self.obj.over(view.segments())
                    if src is None:  # a head's run straddles two arena pages: copy the object whole first
                        src = self.obj.empty()
                        store.get(ns, spec.keys[b], out=src)
                self.paged.scatter(src, spec.block_ids, b * self.T, t0, t1)
                if view is not None:
                    view.release()
                    view = None
                done = b * self.T + t1
        except tw.TokenWarehouseError as e:
            self.link.failed(store, e)
        except Exception:  # noqa: BLE001 - a bug here must cost a recompute, never the engine
            log.exception("tokenwarehouse: load of request %s failed; its tokens are recomputed", spec.req_id)
        finally:
            if view is not None:
                view.release()
            if spec.lease:
                try:
                    store.unpin(spec.lease)
                except tw.TokenWarehouseError:
                    pass  # it expired or the daemon restarted: nothing is held either way
        return done

    def _decoded(self, store, ns, key):
        """One object of a coded namespace, decoded into the canonical layout; None on a miss."""
        encoded = store.get(ns, key)
        if encoded is None:
            return None
        out = self.obj.empty()
        try:
            ns.decode(encoded, out)
        except tw.CorruptionError:
            self.stats.corrupt_object()
            log.warning("tokenwarehouse: a stored %s object does not decode; removed, a miss", ns.codec)
            try:
                store.remove(ns, key)  # so that the next store of this block writes it again
            except tw.TokenWarehouseError:
                pass
            return None
        return out

    # -- stores ----------------------------------------------------------------------------------

    def queue_stores(self, specs):
        with self._lock:
            for spec in specs:
                self._pending[spec.req_id] = self._pending.get(spec.req_id, 0) + 1
                self._had_store.add(spec.req_id)
        for spec in specs:
            self._jobs.put(spec)

    def _run(self):
        while True:
            spec = self._jobs.get()
            if spec is None:
                return
            try:
                self._store_one(spec)
            except Exception:  # noqa: BLE001 - a store must never take the worker down
                log.exception("tokenwarehouse: store of request %s failed", spec.req_id)
                self.stats.store_failed()
            finally:
                with self._lock:
                    self._pending[spec.req_id] -= 1
                    if self._pending[spec.req_id] == 0:
                        del self._pending[spec.req_id]
                    self._idle.notify_all()

    def _store_one(self, spec):
        store, ns = self.link.namespace(*spec.ns)
        if ns is None:
            self.stats.store_failed(len(spec.keys))
            return
        t0 = time.monotonic()
        parent = spec.parent
        written = present = 0
        for i, key in enumerate(spec.keys):
            block = spec.first_block + i
            try:
                w = store.reserve(ns, key, parent)
                if w.present:
                    w.abort()
                    present += 1
                else:
                    try:
                        self._fill(w, ns, spec.block_ids, block)
                    except BaseException:
                        w.abort()  # never a half-written object: the reservation is dropped
                        raise
                    w.commit()
                    written += 1
            except tw.TokenWarehouseError as e:  # full of pinned objects, a quota, or the daemon gone
                self.link.failed(store, e)
                self.stats.store_failed(len(spec.keys) - i)
                return
            parent = key
        self.stats.stored(written, written * self.obj.nbytes, time.monotonic() - t0, present_blocks=present,
                          block_tokens=self.T)
        # Per request: cache-write tokens (billable) and tokens the warehouse already held.
        log.debug("tokenwarehouse: request %s stored blocks %d..%d: %d tokens written (cache write), %d already present",
                  spec.req_id, spec.first_block, spec.first_block + len(spec.keys), written * self.T, present * self.T)

    def _fill(self, w, ns, block_ids, block):
        """Writes one block's KV into the reservation `w`: straight into the reserved memory where the
        canonical layout can be viewed over it, else through a buffer; encoded on the CPU first for a
        coded namespace."""
        if ns.codec == "none":
            dst = self.obj.over(w.segments())
            if dst is not None:
                self.paged.gather(dst, block_ids, block * self.T)
                return
        buf = self.obj.empty()  # coded, or a head's run straddles two reserved pages
        self.paged.gather(buf, block_ids, block * self.T)
        if ns.codec == "none":
            w.write(0, buf.view(-1).view(torch.uint8).numpy())
        else:
            enc = numpy.empty(ns.object_bytes, dtype=numpy.uint8)
            ns.encode(buf, enc)
            w.write(0, enc)

    def drain(self):
        """Waits until every queued store ran (before vLLM reuses preempted pages)."""
        with self._lock:
            while self._pending:
                self._idle.wait()

    def finished(self, finished_req_ids):
        """The finished requests whose stores are all done (their pages may be freed now). These are
        exactly the requests the scheduler side kept pages for: those that had any store."""
        with self._lock:
            for r in finished_req_ids:
                if r in self._had_store:
                    self._had_store.discard(r)
                    self._awaiting.add(r)
            done = {r for r in self._awaiting if r not in self._pending}
            self._awaiting -= done
        return done

    def shutdown(self):
        self.drain()
        self._jobs.put(None)
        self._thread.join(timeout=10)

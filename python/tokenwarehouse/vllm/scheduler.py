"""The scheduler side of the connector: which prefix to load, which blocks to store.

Per request it keeps the chain of block keys of the tokens seen so far (our own chained keys, so KV is
shared by every engine of the namespace and survives restarts), the pages vLLM gave it, and how many
of its blocks are stored. A lookup pins the matched prefix for lease_ms, so it cannot be evicted
between the lookup and the worker's load; the worker ends the lease once it holds the objects, and
the lease expires by itself if the load never happens. The last prompt token is always recomputed:
vLLM needs one token to compute to produce the first output.

Only whole blocks are stored and loaded. Requests without token ids (prompt embeddings) or with
multimodal inputs (the token ids do not name the image) neither load nor store.
"""

import logging
import time

import tokenwarehouse as tw

from .metadata import LoadSpec, StoreSpec, TokenWarehouseMetadata

log = logging.getLogger("vllm.tokenwarehouse")  # under vLLM's logging setup


def _ns_of(request):
    lora = getattr(request, "lora_request", None)
    adapter = "" if lora is None else f"{lora.lora_name}#{lora.lora_int_id}"
    return (adapter, getattr(request, "cache_salt", None) or "")


class _Req:
    __slots__ = ("request", "ns", "keys", "cacheable", "load", "load_pending", "block_ids", "stored", "had_store",
                 "tiers", "short")

    def __init__(self, request):
        self.request = request
        self.ns = _ns_of(request)
        self.keys = []  # key of block i, for the blocks hashed so far
        self.cacheable = request.prompt_token_ids is not None and not getattr(request, "mm_features", None)
        self.load = None  # (lease, matched_blocks, first_token, end_token) of the last lookup
        self.load_pending = False
        self.block_ids = []
        self.stored = 0  # blocks known to be in the warehouse (matched or scheduled to store)
        self.had_store = False
        self.tiers = []
        self.short = None  # the prompt is under min_prefix_tokens: not stored (decided at its first store)


class SchedulerSide:
    def __init__(self, cfg, link, stats):
        self.cfg = cfg
        self.link = link
        self.stats = stats
        self.T = cfg.block_tokens
        self.reqs = {}

    # -- keys ------------------------------------------------------------------------------------

    def _keys(self, st, ns, n_blocks):
        """Keys of blocks 0 .. n_blocks of the request, extending the cached chain as needed."""
        if len(st.keys) < n_blocks:
            tokens = st.request.all_token_ids
            have = len(st.keys)
            parent = st.keys[-1] if have else None  # only the new blocks are hashed
            st.keys.extend(ns.block_keys(tokens[have * self.T: n_blocks * self.T], parent=parent))
        return st.keys[:n_blocks]

    def _state(self, request):
        st = self.reqs.get(request.request_id)
        if st is None or st.request is not request:
            st = _Req(request)
            self.reqs[request.request_id] = st
        return st

    def _release(self, st):
        if st.load is not None and st.load[0]:
            store = self.link.store()
            if store is not None:
                try:
                    store.unpin(st.load[0])
                except tw.TokenWarehouseError:
                    pass  # expired or the daemon restarted: either way it holds nothing
        st.load = None
        st.load_pending = False

    # -- vLLM's scheduler calls --------------------------------------------------------------------

    def get_num_new_matched_tokens(self, request, num_computed_tokens):
        st = self._state(request)
        self._release(st)  # called again for a request that waited: look up afresh
        if not st.cacheable:
            return 0, False
        prompt_len = len(request.prompt_token_ids)
        n_blocks = prompt_len // self.T
        if min(n_blocks * self.T, prompt_len - 1) <= num_computed_tokens:
            return 0, False
        store, ns = self.link.namespace(*st.ns)
        if ns is None:
            return 0, False
        t0 = time.monotonic()
        try:
            keys = self._keys(st, ns, n_blocks)
            found, tiers = store.lookup(ns, keys)
            matched, lease = self._pin_prefix(store, ns, keys, found)
        except tw.TokenWarehouseError as e:
            self.link.failed(store, e)
            return 0, False
        self.stats.lookup(time.monotonic() - t0)
        # Per request, what a router or a bill needs: the tokens the warehouse held, by tier, and
        # the tokens it did not (to prefill). The stats add them up for vLLM's KV-transfer metrics.
        hit_by_tier = {}
        for t in tiers[:found]:
            hit_by_tier[t] = hit_by_tier.get(t, 0) + self.T
        miss = (n_blocks - found) * self.T
        self.stats.looked_up(hit_by_tier, miss)
        log.debug("tokenwarehouse: request %s lookup: %d of %d prompt tokens hit %s, %d missed",
                  request.request_id, found * self.T, n_blocks * self.T, hit_by_tier, miss)
        st.stored = max(st.stored, found)  # stored, even where not pinnable now: never rewritten
        end = min(matched * self.T, prompt_len - 1)
        if end <= num_computed_tokens:
            if lease:
                st.load = (lease, matched, 0, 0)
                self._release(st)
            return 0, False
        st.load = (lease, matched, num_computed_tokens, end)
        st.tiers = list(tiers[:matched])  # as looked up: a promoted disk hit still counts as disk
        return end - num_computed_tokens, False

    def _pin_prefix(self, store, ns, keys, matched):
        """(blocks pinned, lease) for the longest prefix of keys[:matched] the warehouse can pin.

        A pin holds every object in DRAM (promoting disk hits), all or nothing. A prefix larger than
        what DRAM can hold at once, or one whose tail was evicted since the lookup, is not a miss:
        a shorter prefix is tried (halving), so a 128 MiB prefix still loads its first half from a
        64 MiB tier instead of recomputing everything."""
        while matched:
            try:
                lease = store.pin(ns, keys[:matched], self.cfg.lease_ms)
            except tw.ResourceExhaustedError:
                lease = None  # DRAM cannot hold them all pinned at once
            if lease is not None:
                return matched, lease
            matched //= 2
        return 0, 0

    def hit_sources(self, request, num_external_tokens):
        """{tier name: tokens} of the external hit, for vLLM's per-source counters."""
        st = self.reqs.get(request.request_id)
        if st is None or st.load is None or num_external_tokens == 0:
            return {}
        _, _, first, end = st.load
        out = {}
        for b, tier in enumerate(st.tiers):
            lo, hi = max(first, b * self.T), min(end, (b + 1) * self.T)
            if hi > lo:
                out[tier] = out.get(tier, 0) + hi - lo
        return out

    def update_state_after_alloc(self, request, blocks, num_external_tokens):
        st = self._state(request)
        if num_external_tokens == 0:
            self._release(st)
            return
        if st.load is None:
            return
        lease, matched, first, end = st.load
        st.load = (lease, matched, end - num_external_tokens, end)
        st.load_pending = True
        st.block_ids = list(blocks.get_block_ids()[0])

    def build_connector_meta(self, out):
        meta = TokenWarehouseMetadata()
        scheduled = []
        for new in out.scheduled_new_reqs:
            st = self.reqs.get(new.req_id)
            if st is None:
                continue
            st.block_ids = list(new.block_ids[0])
            scheduled.append((st, new.num_computed_tokens))
        cached = out.scheduled_cached_reqs
        for i, rid in enumerate(cached.req_ids):
            st = self.reqs.get(rid)
            if st is None:
                continue
            new_ids = cached.new_block_ids[i]
            if rid in cached.resumed_req_ids:
                st.block_ids = list(new_ids[0]) if new_ids is not None else st.block_ids
            elif new_ids is not None:
                st.block_ids.extend(new_ids[0])
            scheduled.append((st, cached.num_computed_tokens[i]))

        for st, computed in scheduled:
            rid = st.request.request_id
            if st.load_pending:
                lease, matched, first, end = st.load
                meta.loads.append(LoadSpec(rid, st.ns, list(st.keys[:matched]), first, end, list(st.block_ids), lease))
                st.load = (0, matched, first, end)  # the worker ends the lease
                st.load_pending = False
            if not st.cacheable or self._short(st):
                continue
            # Blocks whose every token has KV once this step ran; tokens not yet sampled (speculative
            # ones) are never part of a stored block.
            done = min(computed + out.num_scheduled_tokens.get(rid, 0), len(st.request.all_token_ids))
            full = done // self.T
            if full <= st.stored:
                continue
            store, ns = self.link.namespace(*st.ns)
            if ns is None:
                continue
            try:
                keys = self._keys(st, ns, full)
            except tw.TokenWarehouseError as e:
                self.link.failed(store, e)
                continue
            first = st.stored
            meta.stores.append(StoreSpec(rid, st.ns, list(keys[first:full]), keys[first - 1] if first else None,
                                         first, list(st.block_ids)))
            st.stored = full
            st.had_store = True
        for rid in out.finished_req_ids:
            st = self.reqs.pop(rid, None)
            if st is not None:
                self._release(st)
        return meta

    def _short(self, st):
        """Whether the request's prompt is under min_prefix_tokens, so none of it is stored. Judged
        here, by the prompt: the warehouse sees the blocks one reservation at a time and cannot."""
        if st.short is None:
            n = len(st.request.prompt_token_ids)
            st.short = 0 < n < self.cfg.min_prefix_tokens
            if st.short:
                skipped = n // self.T * self.T
                self.stats.skipped_short(skipped)
                log.debug("tokenwarehouse: request %s not stored: its %d-token prompt is under min_prefix_tokens %d",
                          st.request.request_id, n, self.cfg.min_prefix_tokens)
        return st.short

    def request_finished(self, request, block_ids):
        """(True, None) when the worker may still be storing the request's pages: vLLM then frees them
        only after the worker reports the request in finished_sending."""
        st = self.reqs.get(request.request_id)
        if st is None:
            return False, None
        if st.load_pending:
            self._release(st)
        return st.had_store, None

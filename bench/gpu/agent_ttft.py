#!/usr/bin/env python3
"""A multi-turn agent session through one `tokenwarehouse serve` daemon: each turn's time to first
token against recompute and against the engine's best case, the prefix KV still in GPU memory.

Model: Qwen2.5-14B shape (48 layers, 40 query heads, 8 KV heads of 128, hidden 5120, MLP 13824,
vocabulary 152064), random bf16 weights from a fixed seed, HF transformers with sdpa, batch 1.
Session: a first turn of --first tokens, then --turns - 1 turns that each append --turn-tokens
tokens to the previous prompt (an agent's tool output and next instruction). Per turn:

  recompute   the whole prompt prefilled (what an engine without any prefix cache pays)
  resident    HF's own cache path: the previous turn's DynamicCache kept in GPU memory, only the new
              tokens computed (the engine's best case: nothing evicted, nothing loaded)
  warehouse   tokenwarehouse.hf.Warehouse.prefill through unix://: lookup and leases over the socket,
              the previous turns' blocks loaded layer by layer from the daemon's shared arena while
              the suffix computes; it then stores the turn's new full blocks behind the response
              (timed apart: store_s; the next turn starts after it, as an agent's next turn comes
              after the answer). Run twice: reserve_kv=False (HF's DynamicCache: a torch.cat per
              layer per forward) and reserve_kv=True (the KV tensors preallocated for the prompt,
              the suffix written in place), alternating which goes first; both hit the previous
              turns' blocks (the second run stores the turn's new ones).

Every time is host wall-clock to the first token's argmax on the host. Each turn also records the
CUDA caching allocator's device allocations, frees and allocation retries (torch.cuda.memory_stats)
of each warehouse hit, and with --profile-turn one turn of each path runs again under torch.profiler:
the CUDA runtime calls that can synchronize the device, and when the load stream and the compute
stream were busy (profile_<path>.json traces under --trace-dir).

    python3 bench/gpu/agent_ttft.py --binary build-dev/tools/tokenwarehouse/tokenwarehouse --out OUT

Writes agent_ttft.json and agent_ttft.md under --out and prints the table last.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

GB = 1e9
MODEL_ID = "bench/qwen2.5-14b-shape"
ALLOC_KEYS = ("num_device_alloc", "num_device_free", "num_alloc_retries", "num_sync_all_streams")


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')}]", *a, flush=True)


def build_model(layers):
    import torch
    import transformers

    cfg = transformers.Qwen2Config(
        vocab_size=152064, hidden_size=5120, intermediate_size=13824, num_hidden_layers=layers,
        num_attention_heads=40, num_key_value_heads=8, max_position_embeddings=131072, rope_theta=1e6,
        rms_norm_eps=1e-6, tie_word_embeddings=False)
    cfg._attn_implementation = "sdpa"
    torch.manual_seed(0)
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device("cuda"):
            model = transformers.Qwen2ForCausalLM(cfg)
    finally:
        torch.set_default_dtype(old)
    return model.to(torch.bfloat16).eval()


class GcClock:
    """Python's garbage collections, timed (gc.callbacks): a collection of the HF objects a turn leaves
    behind could stall the host that launches the kernels."""

    def __init__(self):
        import gc

        self.ms, self.count, self._t0 = 0.0, 0, 0.0
        gc.callbacks.append(self._on)

    def _on(self, phase, info):
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.ms += (time.perf_counter() - self._t0) * 1e3
            self.count += 1

    def snapshot(self):
        return self.ms, self.count


GC = GcClock()


def alloc_stats():
    import torch

    s = torch.cuda.memory_stats()
    return {k: s.get(k, 0) for k in ALLOC_KEYS}


def diff_stats(a, b):
    return {k: b[k] - a[k] for k in ALLOC_KEYS}


def recompute(model, ids):
    import torch

    t0 = time.perf_counter()
    with torch.no_grad():
        out = model(ids.to("cuda"), use_cache=True, logits_to_keep=1)
    tok = out.logits[0, -1].argmax().item()
    return time.perf_counter() - t0, out, tok


def resident_turn(model, cache, ids, start):
    """The new tokens only, over the previous turn's cache (which grows in place)."""
    import torch

    n = ids.shape[1]
    t0 = time.perf_counter()
    with torch.no_grad():
        out = model(ids[:, start:].to("cuda"), past_key_values=cache, use_cache=True,
                    cache_position=torch.arange(start, n, device="cuda"), logits_to_keep=1)
    tok = out.logits[0, -1].argmax().item()
    return time.perf_counter() - t0, out, tok


def warehouse_turn(wh, ids, store_new):
    import torch

    torch.cuda.synchronize()
    before = alloc_stats()
    gc_ms, gc_n = GC.snapshot()
    t0 = time.perf_counter()
    r = wh.prefill(ids, store_new=store_new)
    tok = r.logits[0, -1].argmax().item()
    ttft = time.perf_counter() - t0
    stats = diff_stats(before, alloc_stats())
    stats.update(gc_ms=round(GC.ms - gc_ms, 2), gc_collections=GC.count - gc_n)
    store_s = 0.0
    if r.store_job is not None:
        t1 = time.perf_counter()
        r.store_job.wait()
        store_s = time.perf_counter() - t1
    return dict(ttft_s=ttft, cached_tokens=r.cached_tokens, load_gpu_ms=r.load_ms, store_s=store_s,
                token=tok, alloc=stats), r.logits[0, -1].float().cpu()


def profile(fn, path, load_kernel="LayerCopyKernel"):
    """Runs fn() under torch.profiler; returns (a summary of what could stall the compute stream, fn's
    value). The summary names the compute stream's idle gaps and what the host was doing in each."""
    import torch
    from torch.profiler import ProfilerActivity, profile as tprofile

    torch.cuda.synchronize()
    with tprofile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        value = fn()
        torch.cuda.synchronize()
    prof.export_chrome_trace(path)
    with open(path) as f:
        events = json.load(f).get("traceEvents", [])
    runtime, kernels = {}, {}
    for e in events:
        if e.get("ph") != "X":
            continue
        name, cat = e.get("name", ""), e.get("cat", "")
        if cat in ("cuda_runtime", "cuda_driver") and any(w in name for w in (
                "Malloc", "Free", "Synchronize", "HostRegister", "MemcpyAsync", "EventSynchronize")):
            r = runtime.setdefault(name, [0, 0.0])
            r[0] += 1
            r[1] += e.get("dur", 0) / 1e3
        if cat == "kernel" or cat == "gpu_memcpy":
            tid = e.get("tid")
            k = kernels.setdefault(tid, dict(n=0, busy_ms=0.0, first=float("inf"), last=0.0, load=0))
            k["n"] += 1
            k["busy_ms"] += e.get("dur", 0) / 1e3
            k["first"] = min(k["first"], e["ts"])
            k["last"] = max(k["last"], e["ts"] + e.get("dur", 0))
            k["load"] += int(load_kernel in name)
    t0 = min((k["first"] for k in kernels.values()), default=0)
    streams = []
    for tid, k in sorted(kernels.items(), key=lambda kv: -kv[1]["busy_ms"]):
        streams.append(dict(stream=str(tid), kernels=k["n"], load_kernels=k["load"], busy_ms=round(k["busy_ms"], 2),
                            first_ms=round((k["first"] - t0) / 1e3, 2), last_ms=round((k["last"] - t0) / 1e3, 2)))
    return dict(runtime={n: dict(calls=c, ms=round(ms, 2)) for n, (c, ms) in sorted(runtime.items())},
                streams=streams[:4], gaps=_compute_gaps(events, load_kernel),
                trace=os.path.basename(path)), value


def _compute_gaps(events, load_kernel, min_gap_us=300, top=6):
    """The compute stream's (the busiest stream without load kernels) idle time between its first and
    last kernel, and its largest gaps, each with the host operations running when it began."""
    by_stream = {}
    for e in events:
        if e.get("ph") == "X" and e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset"):
            by_stream.setdefault(e.get("tid"), []).append(e)
    compute = [k for k in by_stream.values() if not any(load_kernel in e.get("name", "") for e in k)]
    if not compute:
        return {}
    ks = sorted(max(compute, key=lambda k: sum(e.get("dur", 0) for e in k)), key=lambda e: e["ts"])
    host = [e for e in events if e.get("ph") == "X" and e.get("cat") in ("cpu_op", "python_function", "cuda_runtime",
                                                                        "cuda_driver", "user_annotation")]
    gaps, end = [], ks[0]["ts"] + ks[0].get("dur", 0)
    for e in ks[1:]:
        if e["ts"] - end >= min_gap_us:
            gaps.append((e["ts"] - end, end, e.get("name", "")[:60]))
        end = max(end, e["ts"] + e.get("dur", 0))
    idle = sum(g[0] for g in gaps)
    out = []
    for dur, start, next_kernel in sorted(gaps, reverse=True)[:top]:
        running = sorted((h for h in host if h["ts"] <= start < h["ts"] + h.get("dur", 0)), key=lambda h: h.get("dur", 0))
        out.append(dict(ms=round(dur / 1e3, 2), at_ms=round((start - ks[0]["ts"]) / 1e3, 2), next_kernel=next_kernel,
                        host=[f"{h['name'][:50]} ({h.get('dur', 0) / 1e3:.1f} ms)" for h in running[:4]]))
    return dict(span_ms=round((end - ks[0]["ts"]) / 1e3, 2), idle_ms_in_gaps_over_0_3ms=round(idle / 1e3, 2),
                n_gaps=len(gaps), largest=out)


def session(args):
    import torch
    import tokenwarehouse as tw
    from tokenwarehouse.hf import Warehouse

    t0 = time.perf_counter()
    store = tw.open(args.url, io_timeout_ms=60000)
    model = build_model(args.layers)
    wh = {False: Warehouse(store, model, model_id=MODEL_ID, block_tokens=256, reserve_kv=False, mode=args.mode),
          True: Warehouse(store, model, model_id=MODEL_ID, block_tokens=256, reserve_kv=True, mode=args.mode,
                          register=False)}
    log(f"model and warehouse ready in {time.perf_counter() - t0:.1f} s "
        f"({sum(p.numel() for p in model.parameters()) / 1e9:.1f} B parameters)")
    kv_per_token = wh[False].ns.object_bytes // 256

    # Warm-up: torch/HF kernels, the warehouse path once (store + hit of a short unrelated prompt).
    g = torch.Generator().manual_seed(1)
    w_ids = torch.randint(0, 152064, (1, 2065), generator=g)
    recompute(model, w_ids)
    r = wh[False].prefill(w_ids)
    r.store_job.wait()
    warehouse_turn(wh[False], w_ids, False)
    warehouse_turn(wh[True], w_ids, False)
    del r

    g = torch.Generator().manual_seed(2)
    total = args.first + (args.turns - 1) * args.turn_tokens
    tokens = torch.randint(0, 152064, (1, total), generator=g)
    turns = []
    resident_cache = None
    prev = 0
    for t in range(1, args.turns + 1):
        n = args.first + (t - 1) * args.turn_tokens
        ids = tokens[:, :n]
        torch.cuda.synchronize()
        t_re, out, tok_re = recompute(model, ids)
        ref = out.logits[0, -1].float().cpu()
        row = dict(turn=t, tokens=n, kv_gb=n * kv_per_token / GB, recompute_s=t_re)
        if t == 1:
            resident_cache = out.past_key_values  # the engine keeps it; the warehouse gets it stored
            keys = wh[False].keys(ids)
            pkv = resident_cache
            ks = [pkv.layers[j].keys for j in range(args.layers)]
            vs = [pkv.layers[j].values for j in range(args.layers)]
            t1 = time.perf_counter()
            stored = wh[False].mover.store_hf(keys, None, 0, ks, vs).wait()
            row.update(store_s=time.perf_counter() - t1, stored_blocks=stored)
            log(f"turn 1: {n} tokens, recompute {t_re:.3f} s; stored {stored} blocks in {row['store_s']:.2f} s")
            del out
            turns.append(row)
            prev = n
            continue
        del out
        t_res, out_res, tok_res = resident_turn(model, resident_cache, ids, prev)
        res_logits = out_res.logits[0, -1].float().cpu()
        del out_res
        # The stored path first on odd turns, the reserved one first on even turns. Both hit the same
        # prefix, the previous turns' blocks: the turn's new blocks are stored by the second run, after
        # both lookups. (Until 2026-12-08 the reserve_kv=False run stored them whichever ran first, so
        # on odd turns the reserved run found this turn's blocks too and computed 2,000 tokens fewer:
        # its "fast when second" was a bigger hit, not a faster path.)
        order = [False, True] if t % 2 else [True, False]
        for i, reserve in enumerate(order):
            store_new = i == len(order) - 1
            if t == args.profile_turn and i == 0:  # the run right after the resident turn, itself profiled
                name = ("reserved" if reserve else "warehouse") + "_first_in_turn"
                p, (h, logits) = profile(lambda: warehouse_turn(wh[reserve], ids, store_new=store_new),
                                         os.path.join(args.trace_dir, f"profile_{name}.json"))
                row.setdefault("profile", {})[name] = p
                log(f"turn {t} profile, {name} (in the session, ttft {h['ttft_s']:.3f} s under the profiler): "
                    f"streams {p['streams']}; gaps {p['gaps']}")
            else:
                h, logits = warehouse_turn(wh[reserve], ids, store_new=store_new)
            if store_new and args.settle_s > 0:
                time.sleep(args.settle_s)  # let the daemon finish with the new blocks (its disk writes)
            h.update(max_logit_diff=(logits - ref).abs().max().item(), argmax_match=int(h["token"] == tok_re))
            row["reserved" if reserve else "warehouse"] = h
        row.update(resident_s=t_res, resident_max_logit_diff=(res_logits - ref).abs().max().item(),
                   resident_argmax_match=int(tok_res == tok_re))
        w, rv = row["warehouse"], row["reserved"]
        assert w["cached_tokens"] == rv["cached_tokens"], (w["cached_tokens"], rv["cached_tokens"])
        log(f"turn {t}: {n} tokens (hit {w['cached_tokens']}): recompute {t_re:.3f} s, resident {t_res:.3f} s, "
            f"warehouse {w['ttft_s']:.3f} s ({w['ttft_s'] / t_res:.2f}x resident; load {w['load_gpu_ms']:.0f} ms GPU; "
            f"allocs {w['alloc']}), reserved {rv['ttft_s']:.3f} s ({rv['ttft_s'] / t_res:.2f}x; allocs {rv['alloc']}); "
            f"store {max(w['store_s'], rv['store_s']):.2f} s; max |logit diff| vs recompute: warehouse {w['max_logit_diff']:.4f}, "
            f"reserved {rv['max_logit_diff']:.4f}, resident {row['resident_max_logit_diff']:.4f}")
        if t == args.profile_turn:
            row.setdefault("profile", {})
            n_prev = prev

            def res_again():
                c = _copy_cache(resident_cache, n_prev)
                resident_turn(model, c, ids, n_prev)

            # Again, apart: resident, then reserve_kv right after it (the slow order in the session),
            # then the other hit and reserve_kv after that (the fast order).
            for name, fn in (("resident", res_again),
                             ("reserved_after_resident", lambda: warehouse_turn(wh[True], ids, False)),
                             ("warehouse", lambda: warehouse_turn(wh[False], ids, False)),
                             ("reserved_after_warehouse", lambda: warehouse_turn(wh[True], ids, False))):
                p, v = profile(fn, os.path.join(args.trace_dir, f"profile_{name}.json"))
                row["profile"][name] = p
                ttft = f"ttft {v[0]['ttft_s']:.3f} s; " if v else ""
                log(f"turn {t} profile, {name}: {ttft}runtime {p['runtime']}; streams {p['streams']}; gaps {p['gaps']}")
        turns.append(row)
        prev = n
    return dict(turns=turns, kv_bytes_per_token=kv_per_token)


def _copy_cache(cache, n):
    """A DynamicCache holding the first n tokens of `cache` (for a profiled resident turn that must
    not grow the session's own cache)."""
    from transformers import DynamicCache

    c = DynamicCache()
    for i, layer in enumerate(cache.layers):
        c.update(layer.keys[:, :, :n].clone(), layer.values[:, :, :n].clone(), i)
    return c


def orchestrate(args):
    work = tempfile.mkdtemp(prefix="tw_agent_ttft_")
    ready, sock = os.path.join(work, "ready"), os.path.join(work, "tw.sock")
    total = args.first + (args.turns - 1) * args.turn_tokens
    kv_bytes = total * args.layers * 2 * 8 * 128 * 2
    dram = (int(kv_bytes * 1.3) >> 30) + 2
    cmd = [args.binary, "serve", "--listen", "127.0.0.1:0", "--admin", "none", "--unix", sock, "--data-dir", work,
           "--dram", f"{dram}GiB", "--ready-file", ready, "--log-level", "warn"]
    log("daemon: " + " ".join(cmd))
    daemon = subprocess.Popen(cmd)
    t0 = time.perf_counter()
    try:
        while not os.path.exists(ready):
            if daemon.poll() is not None:
                raise SystemExit(f"the daemon exited with {daemon.returncode}")
            if time.perf_counter() - t0 > 300:
                raise SystemExit("the daemon did not start in 300 s")
            time.sleep(0.05)
        args.url = "unix://" + sock
        out = session(args)
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
    import torch

    out.update(first=args.first, turn_tokens=args.turn_tokens, layers=args.layers, mode=args.mode, settle_s=args.settle_s,
               gpu=torch.cuda.get_device_name(0), commit=os.environ.get("TW_COMMIT", "unknown"),
               date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "agent_ttft.json"), "w") as f:
        json.dump(out, f, indent=1)
    md = [f"# Agent session through one daemon, Qwen2.5-14B shape ({out['gpu']}, {out['date']}, commit {out['commit']})",
          "", "| turn | tokens | hit | recompute s | resident s | warehouse s | x resident | reserve_kv s | x resident "
          "| x faster than recompute (reserve_kv) | load GPU ms | store s |",
          "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in out["turns"]:
        if r["turn"] == 1:
            md.append(f"| 1 | {r['tokens']} | 0 | {r['recompute_s']:.3f} | | | | | | | | {r['store_s']:.2f} |")
            continue
        w, v = r["warehouse"], r["reserved"]
        md.append(f"| {r['turn']} | {r['tokens']} | {w['cached_tokens']} | {r['recompute_s']:.3f} | {r['resident_s']:.3f} "
                  f"| {w['ttft_s']:.3f} | {w['ttft_s'] / r['resident_s']:.2f} | {v['ttft_s']:.3f} "
                  f"| {v['ttft_s'] / r['resident_s']:.2f} | {r['recompute_s'] / v['ttft_s']:.1f} "
                  f"| {w['load_gpu_ms']:.0f} | {max(w['store_s'], v['store_s']):.2f} |")
    later = [r for r in out["turns"] if r["turn"] >= 3]
    if later:
        md += ["", "From turn 3 on (median): warehouse "
               f"{statistics.median(r['warehouse']['ttft_s'] / r['resident_s'] for r in later):.2f}x resident, "
               f"reserve_kv {statistics.median(r['reserved']['ttft_s'] / r['resident_s'] for r in later):.2f}x resident."]
    with open(os.path.join(args.out, "agent_ttft.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default="build-dev/tools/tokenwarehouse/tokenwarehouse")
    ap.add_argument("--first", type=int, default=24576, help="tokens of the first turn")
    ap.add_argument("--turn-tokens", type=int, default=2000, help="tokens each later turn appends")
    ap.add_argument("--turns", type=int, default=8)
    ap.add_argument("--layers", type=int, default=48)
    ap.add_argument("--mode", default="zero_copy", choices=["zero_copy", "staged"])
    ap.add_argument("--profile-turn", type=int, default=4, help="the turn profiled again per path (0: none)")
    ap.add_argument("--settle-s", type=float, default=0.0,
                    help="sleep after each turn's store (tells whether the next hit waits on the new blocks)")
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--trace-dir", default=tempfile.gettempdir(), help="where the profiler traces go (large)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.trace_dir, exist_ok=True)
    orchestrate(args)


if __name__ == "__main__":
    main()

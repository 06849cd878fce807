#!/usr/bin/env python3
"""Time to first token through one `tokenwarehouse serve` daemon shared by separate processes.

One daemon (DRAM tier, its arena shared over a Unix socket) and three fresh Python processes, each
with the same Llama-3-8B-shaped model (random bf16 weights from a fixed seed, as ttft.py builds it):

  A  prefills the prompt (the recompute TTFT), stores its KV from the GPU into the daemon (reserved
     arena pages written by the GPU, committed over the socket) and exits.
  B  a fresh process: opens unix://, registers the daemon's arena mapping with CUDA, measures the
     pinned host-to-device floor, then hits the prompt --hits times (lookup and leases over the socket,
     KV straight from the shared arena into GPU memory, the last token computed).
  C  a fresh process like B, but it runs one model forward over a short prompt first (no warehouse):
     its first hit against B's tells what of a process's first-hit cost is torch/HF and what is ours.
  D  (with --roles) like C, and it also stores and hits a short prompt through the warehouse first, so
     the mover's kernels, its buffers and the hooks have run once before the long hit.
  R  (with --roles, after A) the daemon is stopped and started again on the same data directory (its
     DRAM cold, the prompt's blocks only on its disk tier, written through by A's stores); then a
     fresh process warmed like D (an engine that has served before the daemon restarted; R warmed like
     C spent 1.07 s of its first hit in the forward phase on the H100 at eeb5487, 0.35 s in its later
     hits, and the promotion is over before that phase starts) hits the prompt: the first hit promotes every block from disk into the
     arena (one batched read in the daemon) and loads it to the GPU; later hits come from DRAM. Its
     floor is the KV bytes over the O_DIRECT read bandwidth of the daemon's own region files,
     measured after the restart (ttft.py's raw_read_bandwidth: the best of 1 and 4 readers of 32 MiB).

Each hit is timed in phases (host clock): keys, lookup (a round trip), start (KV tensors allocated,
leases acquired, the load queued), forward (the suffix's kernels queued, layers waiting for their KV
on the GPU), token (the argmax on the host: the GPU done). The hit's logits are compared with A's.

    python3 bench/gpu/daemon_ttft.py --binary build-dev/tools/tokenwarehouse/tokenwarehouse --out OUT

Writes daemon_ttft.json and daemon_ttft.md under --out and prints the table last.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # ttft.py's model and recompute

GB = 1e9
MODEL_ID = "bench/llama-3-8b-shape"


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')}]", *a, flush=True)


def prompt(n):
    import torch

    torch.manual_seed(n)  # the same prompt as ttft.py's
    return torch.randint(0, 128256, (1, n))


def open_side(args):
    """Store, model and Warehouse of one client process, with the setup's timings."""
    import tokenwarehouse as tw
    from tokenwarehouse.hf import Warehouse
    import ttft

    t = {}
    t0 = time.perf_counter()
    store = tw.open(args.url, io_timeout_ms=60000)
    t["open_s"] = time.perf_counter() - t0  # includes mapping (MAP_POPULATE) the daemon's arena
    t0 = time.perf_counter()
    model = ttft.build_model(args.layers, args.tokens)
    t["model_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    wh = Warehouse(store, model, model_id=MODEL_ID, block_tokens=256)  # registers the arena mapping
    t["register_s"] = time.perf_counter() - t0
    return store, model, wh, t


def phased_hit(wh, ids):
    """One hit as Warehouse.prefill runs it, timed in phases. Returns (phases, cached, logits, load_ms)."""
    import torch

    n = ids.shape[1]
    p = {}
    t0 = time.perf_counter()
    keys = wh.keys(ids)
    t1 = time.perf_counter()
    wh.store.lookup(wh.ns, keys)  # _start_load looks up again; this one is timed alone
    t2 = time.perf_counter()
    cache, cached, matched, load, hooks = wh._start_load(ids, keys)
    t3 = time.perf_counter()
    kwargs = {wh._keep_arg: 1} if wh._keep_arg else {}
    try:
        with torch.no_grad():
            out = wh.model(ids[:, cached:].to(wh.device), past_key_values=cache, use_cache=True,
                           cache_position=torch.arange(cached, n, device=wh.device), **kwargs)
        t4 = time.perf_counter()
        tok = out.logits[0, -1].argmax().item()
        t5 = time.perf_counter()
    finally:
        for h in hooks:
            h.remove()
    assert load is not None, "a miss where a hit was expected"
    load.synchronize()
    p.update(keys_s=t1 - t0, lookup_s=t2 - t1, start_s=t3 - t2, forward_s=t4 - t3, token_s=t5 - t4,
             total_s=(t5 - t0) - (t2 - t1))  # the duplicate lookup is not part of the hit
    return p, cached, out.logits[0, -1].float().cpu(), load.load_ms(), tok


def role_writer(args):
    import torch
    import ttft

    store, model, wh, t = open_side(args)
    ids = prompt(args.tokens)
    ttft.recompute(model, torch.randint(0, 128256, (1, 2065)))  # warm-up: the recompute is A's reference
    torch.cuda.synchronize()
    t_re, out, tok = ttft.recompute(model, ids)
    keys = wh.keys(ids)
    pkv = out.past_key_values
    ks = [pkv.layers[j].keys if hasattr(pkv, "layers") else pkv.key_cache[j] for j in range(wh.ns.layers)]
    vs = [pkv.layers[j].values if hasattr(pkv, "layers") else pkv.value_cache[j] for j in range(wh.ns.layers)]
    t0 = time.perf_counter()
    stored = wh.mover.store_hf(keys, None, 0, ks, vs).wait()
    t_store = time.perf_counter() - t0
    torch.save(out.logits[0, -1].float().cpu(), os.path.join(args.work, "ref_logits.pt"))
    kv = args.tokens * wh.ns.object_bytes // 256
    r = dict(t, recompute_s=t_re, store_s=t_store, stored_blocks=stored, store_gbps=kv / t_store / GB, token=tok)
    log(f"A: recompute TTFT {t_re:.3f} s; stored {stored} blocks ({kv / GB:.1f} GB) from the GPU into the daemon "
        f"in {t_store:.2f} s ({r['store_gbps']:.1f} GB/s); open {t['open_s']:.1f} s, model {t['model_s']:.1f} s, "
        f"arena registration {t['register_s']:.1f} s")
    return r


def role_reader(args, warm, warm_warehouse=False, restarted=False):
    import torch
    import tokenwarehouse.gpu as twg
    import ttft

    t_start = time.perf_counter()
    store, model, wh, t = open_side(args)
    h2d = twg.h2d_bandwidth(1 << 30, repeats=5)
    ids = prompt(args.tokens)
    if warm:  # torch/HF warm-up only: one forward over a short prompt, no warehouse
        t0 = time.perf_counter()
        ttft.recompute(model, torch.randint(0, 128256, (1, 2065)))
        t["model_warmup_s"] = time.perf_counter() - t0
    if warm_warehouse:  # and the warehouse path once: a short prompt stored from the GPU, then hit
        t0 = time.perf_counter()
        w_ids = torch.randint(0, 128256, (1, 2048 + 17))
        r = wh.prefill(w_ids)
        r.store_job.wait()
        phased_hit(wh, w_ids)
        t["warehouse_warmup_s"] = time.perf_counter() - t0
    ref = torch.load(os.path.join(args.work, "ref_logits.pt"))
    if restarted:  # every block should be on the daemon's disk only
        _, tiers = wh.store.lookup(wh.ns, wh.keys(ids))
        t["tiers_before"] = sorted(set(tiers))
    hits = []
    for i in range(args.hits):
        torch.cuda.synchronize()
        p, cached, logits, load_ms, tok = phased_hit(wh, ids)
        p.update(cached_tokens=cached, load_gpu_ms=load_ms, max_logit_diff=(logits - ref).abs().max().item(),
                 argmax_match=int(tok == int(ref.argmax())))
        hits.append(p)
    kv = args.tokens * wh.ns.object_bytes // 256  # as ttft.py quotes its floor
    floor = kv / (h2d * GB)
    name = "R" if restarted else ("D" if warm_warehouse else ("C" if warm else "B"))
    for i, p in enumerate(hits):
        log(f"{name}: hit {i + 1}: TTFT {p['total_s']:.3f} s = {p['total_s'] / floor:.2f}x floor {floor:.3f} s "
            f"(keys {p['keys_s'] * 1e3:.0f} ms, lookup {p['lookup_s'] * 1e3:.1f} ms, start {p['start_s'] * 1e3:.0f} ms, "
            f"forward queued {p['forward_s'] * 1e3:.0f} ms, token {p['token_s'] * 1e3:.0f} ms; load {p['load_gpu_ms']:.0f} ms GPU); "
            f"max |logit diff| vs A {p['max_logit_diff']:.4f}, argmax {'matches' if p['argmax_match'] else 'DIFFERS'}")
    later = [p["total_s"] for p in hits[1:]] or [hits[0]["total_s"]]
    r = dict(t, h2d_pinned_gbps=h2d, floor_s=floor, kv_gb=kv / GB, hits=hits, first_hit_s=hits[0]["total_s"],
             later_hit_s=statistics.median(later), process_s=time.perf_counter() - t_start)
    log(f"{name}: pinned H2D {h2d:.1f} GB/s; open {t['open_s']:.1f} s, model {t['model_s']:.1f} s, "
        f"arena registration {t['register_s']:.1f} s; first hit {r['first_hit_s']:.3f} s, later {r['later_hit_s']:.3f} s")
    return r


def start_daemon(args, work, dram):
    ready = os.path.join(work, "ready")
    if os.path.exists(ready):
        os.remove(ready)
    sock = os.path.join(work, "tw.sock")
    log(f"daemon: {args.binary} serve --dram {dram}GiB --unix {sock}")
    t0 = time.perf_counter()
    config = ["-c", args.daemon_config] if args.daemon_config else []
    daemon = subprocess.Popen([args.binary, "serve", *config, "--listen", "127.0.0.1:0", "--admin", "none", "--unix", sock,
                               "--data-dir", work, "--dram", f"{dram}GiB", "--ready-file", ready, "--log-level", "warn"])
    while not os.path.exists(ready):
        if daemon.poll() is not None:
            raise SystemExit(f"the daemon exited with {daemon.returncode}")
        if time.perf_counter() - t0 > 300:
            daemon.kill()
            raise SystemExit("the daemon did not start in 300 s")
        time.sleep(0.05)
    log(f"daemon ready in {time.perf_counter() - t0:.1f} s")
    return daemon, sock


def disk_floor(work, kv_bytes):
    """O_DIRECT read bandwidth (GB/s) of the daemon's region files, as ttft.py measures its own."""
    import ttft

    d = os.path.join(work, "disk")
    paths = sorted((os.path.join(r, f) for r, _, fs in os.walk(d) for f in fs), key=lambda p: (os.path.getmtime(p), p))
    paths = [p for p in paths if os.path.getsize(p) >= (1 << 20)]
    return ttft.raw_read_bandwidth(paths, kv_bytes)


def orchestrate(args):
    work = tempfile.mkdtemp(prefix="tw_daemon_ttft_")
    kv_bytes = args.tokens * args.layers * 2 * 8 * 128 * 2
    dram = (int(kv_bytes * 1.1) >> 30) + 2
    daemon, sock = start_daemon(args, work, dram)
    try:
        out = {"tokens": args.tokens, "layers": args.layers, "daemon_dram_gib": dram,
               "commit": os.environ.get("TW_COMMIT", "unknown"),
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
        common = [sys.executable, os.path.abspath(__file__), "--url", "unix://" + sock, "--work", work,
                  "--tokens", str(args.tokens), "--layers", str(args.layers), "--hits", str(args.hits)]
        for role in args.roles.split(","):
            if role == "R":  # a daemon restart: DRAM cold, the blocks on its disk
                t0 = time.perf_counter()
                daemon.terminate()
                daemon.wait(timeout=300)
                log(f"daemon stopped in {time.perf_counter() - t0:.1f} s")
                daemon, _ = start_daemon(args, work, dram)
                out["restart_disk_read_gbps"] = disk_floor(work, kv_bytes)
            t0 = time.perf_counter()
            subprocess.run(common + ["--role", role], check=True)
            log(f"process {role} done in {time.perf_counter() - t0:.1f} s")
            with open(os.path.join(work, f"{role}.json")) as f:
                out[role] = json.load(f)
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "daemon_ttft.json"), "w") as f:
        json.dump(out, f, indent=1)
    a = out["A"]
    readers = [r for r in ("B", "C", "D", "R") if r in out]
    what = {"B": "a fresh process", "C": "after a model warm-up", "D": "after a model and warehouse warm-up",
            "R": "after a daemon restart, from its disk"}
    rows = [("recompute (A)", a["recompute_s"], None)]
    for r in readers:
        rows += [(f"{r}: first hit, {what[r]}", out[r]["first_hit_s"], out[r]["floor_s"]),
                 (f"{r}: later hits (median)", out[r]["later_hit_s"], out[r]["floor_s"])]
    f0 = out[readers[0]]
    md = [f"# TTFT through one daemon, {args.tokens} tokens, Llama-3-8B shape ({out['date']}, commit {out['commit']})", "",
          f"Pinned H2D floor (measured in {readers[0]}): {f0['h2d_pinned_gbps']:.1f} GB/s, {f0['kv_gb']:.1f} GB -> "
          f"{f0['floor_s']:.3f} s", "",
          "| run | TTFT s | x floor | x faster than recompute |", "| --- | --- | --- | --- |"]
    for name, s, fl in rows:
        md.append(f"| {name} | {s:.3f} | {'' if fl is None else f'{s / fl:.2f}'} | {a['recompute_s'] / s:.1f} |")
    md += ["", "| phase of a hit (ms) | " + " | ".join(f"{r} first | {r} later" for r in readers) + " |",
           "| --- |" + " --- | --- |" * len(readers)]
    for ph in ("keys_s", "lookup_s", "start_s", "forward_s", "token_s", "total_s"):
        vals = []
        for r in readers:
            h = out[r]["hits"]
            vals += [h[0][ph], statistics.median([x[ph] for x in h[1:]] or [h[0][ph]])]
        md.append(f"| {ph[:-2]} | " + " | ".join(f"{v * 1e3:.1f}" for v in vals) + " |")
    if "R" in out:
        r = out["R"]
        floor = r["kv_gb"] / out["restart_disk_read_gbps"]
        md += ["", f"After the daemon restart, the lookup found the blocks in {r.get('tiers_before')}; the first hit "
               f"(promotion from disk + GPU load) took {r['first_hit_s']:.3f} s against a disk floor of {floor:.3f} s "
               f"({r['kv_gb']:.1f} GB at {out['restart_disk_read_gbps']:.2f} GB/s O_DIRECT): "
               f"{r['first_hit_s'] / floor:.2f}x the floor, {a['recompute_s'] / r['first_hit_s']:.1f}x faster than recompute."]
    md += ["", f"A stored {a['stored_blocks']} blocks from the GPU in {a['store_s']:.2f} s ({a['store_gbps']:.1f} GB/s). "
           "Setup per process: open (maps the arena) " + " / ".join(f"{r} {out[r]['open_s']:.1f}" for r in ["A"] + readers)
           + " s; arena registration (cudaHostRegister of the mapping) "
           + " / ".join(f"{r} {out[r]['register_s']:.1f}" for r in ["A"] + readers) + " s."]
    with open(os.path.join(args.out, "daemon_ttft.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default="build-dev/tools/tokenwarehouse/tokenwarehouse")
    ap.add_argument("--tokens", type=int, default=131072)
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--hits", type=int, default=4)
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--roles", default="A,B,C", help="the processes to run, in order (A first; D: see above)")
    ap.add_argument("--daemon-config", default="", help="a YAML config for the daemon (e.g. disk: {enabled: false})")
    ap.add_argument("--role", default="orchestrate", choices=["orchestrate", "A", "B", "C", "D", "R"])
    ap.add_argument("--url", default="")
    ap.add_argument("--work", default="")
    args = ap.parse_args()
    if args.role == "orchestrate":
        orchestrate(args)
        return
    r = role_writer(args) if args.role == "A" else role_reader(args, warm=args.role in "CDR",
                                                              warm_warehouse=args.role in "DR", restarted=args.role == "R")
    with open(os.path.join(args.work, f"{args.role}.json"), "w") as f:
        json.dump(r, f, indent=1)


if __name__ == "__main__":
    main()

"""Long-document QA through `vllm serve` on the CPU: how much of a document's prefill each KV cache saves.

The shape of vLLM's and LMCache's long-document QA benchmarks: N documents of L tokens; a warm-up
round sends each document once with a short question, then a query round sends the same documents
with different questions. The query round's time to first token (TTFT, streamed over the OpenAI HTTP
API) is what a KV cache buys: a hit loads the document's KV instead of prefilling it.

Every configuration runs in this one process's run, on this machine, each as its own `vllm serve`
started and stopped here (one at a time: on two cores a second engine would steal the first's time):

  no_reuse     vLLM, --no-enable-prefix-caching, no connector: every request prefills its document
  vllm_prefix  vLLM's own prefix cache, sized to hold every document (the engine-memory best case)
  offload_cpu  vLLM's OffloadingConnector, CPU tier; vLLM's own cache holds 2 documents, so the
               query round's hits must come from the offload tier
  offload_fs   the same with the OffloadingConnector's filesystem tier (TieringOffloadingSpec, "fs")
  lmcache      LMCache 0.5.6 (its multi-process server, L1 in a shared-memory segment), vLLM restarted
               between rounds
  tw_dram      Token Warehouse through the daemon (unix socket, shared memory); vLLM restarted
               between rounds, so every hit is a DRAM hit in the daemon
  tw_disk      the same objects after the daemon is restarted with a 256 MiB DRAM tier (two of the
               eight documents): disk hits
  tw_embedded  Token Warehouse in vLLM's process (url "embedded:"), scheduler and worker in one
               process; vLLM cannot be restarted (the store dies with it), its prefix cache is off

A configuration that cannot run here is a row that says why (from its log), not a number.
The ceiling every TTFT is quoted against: the copy floor, the document's KV bytes over memcpy
bandwidth measured in this process.

    source scripts/engine-env.sh && .venv-engines/bin/python bench/vllm/long_doc_qa.py
    .venv-engines/bin/python bench/vllm/long_doc_qa.py --report bench/results/vllm_2026-12-04.jsonl
"""

import argparse
import json
import os
import pathlib
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench_model  # noqa: E402
from procs import Daemon, Engine, LMCacheServer, StartFailed  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROWS = ("no_reuse", "vllm_prefix", "offload_cpu", "offload_fs", "lmcache", "tw_dram", "tw_disk", "tw_embedded")
CACHE_ROWS = ROWS[1:]  # rows whose query round is served from a cache
GIB = 1 << 30


# -- workload ----------------------------------------------------------------------------------------

_WORDS = ("the", "of", "warehouse", "cache", "token", "block", "engine", "prefill", "request", "layer", "head",
          "memory", "disk", "tier", "copy", "load", "store", "key", "value", "attention", "model", "query")


def document(i, n_tokens):
    """Document i: n_tokens ASCII characters (one token each with the byte-level tokenizer), so the
    document is a whole number of blocks and a hit covers it exactly."""
    r = random.Random(1000 + i)
    out, size = [f"Document {i}."], len(f"Document {i}.")
    while size < n_tokens:
        w = " " + r.choice(_WORDS)
        out.append(w)
        size += len(w)
    return "".join(out)[:n_tokens]


def question(round_name, i):
    return f"\nQuestion ({round_name}) about document {i}: what does its part {7 * i % 5} say?\nAnswer:"


def prime_prompt():
    """A short unrelated request each fresh engine serves first: vLLM's first request pays one-time
    costs (allocations, kernel selection) that are no part of any cache's TTFT."""
    return "Warm-up request, unrelated to any document. " * 8


# -- requests ----------------------------------------------------------------------------------------

def stream_completion(base_url, prompt, max_tokens, timeout_s=600):
    """One greedy streamed completion: TTFT is the time to the first streamed chunk with a token."""
    body = json.dumps({"model": "bench", "prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
                       "ignore_eos": True, "logprobs": 1, "stream": True,
                       "stream_options": {"include_usage": True}}).encode()
    req = urllib.request.Request(f"{base_url}/v1/completions", body, {"Content-Type": "application/json"})
    t0 = time.perf_counter()
    ttft, tokens, logprobs, text, usage = None, [], [], "", {}
    with urllib.request.urlopen(req, timeout=timeout_s) as resp:
        for raw in resp:
            line = raw.strip()
            if not line.startswith(b"data: ") or line == b"data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            for choice in chunk.get("choices") or []:
                if ttft is None:
                    ttft = time.perf_counter() - t0
                text += choice.get("text") or ""
                lp = choice.get("logprobs") or {}
                tokens += lp.get("tokens") or []
                logprobs += lp.get("token_logprobs") or []
            usage = chunk.get("usage") or usage
    return {"ttft_s": ttft, "total_s": time.perf_counter() - t0, "text": text, "tokens": tokens,
            "logprobs": logprobs, "prompt_tokens": usage.get("prompt_tokens"),
            "cached_tokens": (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0}


def run_round(engine, name, prompts, max_tokens):
    """Sends the prompts one after another (one in flight: TTFT is the request's own latency, not
    queueing behind others on two cores); returns the per-request results and the round's time."""
    t0 = time.perf_counter()
    results = []
    for i, p in enumerate(prompts):
        r = stream_completion(engine.url, p, max_tokens)
        results.append(r)
        print(f"    {name} doc {i}: TTFT {r['ttft_s']:.3f} s, cached {r['cached_tokens']}/{r['prompt_tokens']}",
              flush=True)
    return {"round_s": time.perf_counter() - t0, "requests": results}


# -- ceilings and the machine ------------------------------------------------------------------------

def memcpy_bandwidth(nbytes=512 << 20, reps=7):
    """Bytes/s of one large memcpy (numpy copyto), best of reps: the ceiling of any DRAM load."""
    import numpy as np

    src = np.full(nbytes, 7, dtype=np.uint8)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # faults the pages in
    best = min(_timed(lambda: np.copyto(dst, src)) for _ in range(reps))
    return nbytes / best


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def machine():
    model = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    cpu = next((ln.split(":", 1)[1].strip() for ln in model.splitlines() if ln.startswith("Model name")), "?")
    mem_kib = int(next(ln.split()[1] for ln in open("/proc/meminfo") if ln.startswith("MemTotal")))
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_gib": round(mem_kib / (1 << 20), 1)}


def git_state():
    def git(*a):
        return subprocess.run(["git", "-C", str(ROOT), *a], capture_output=True, text=True).stdout

    # Tracked files changed since the commit: the build the run used may include them.
    return {"commit": git("rev-parse", "--short", "HEAD").strip(),
            "dirty_files": [ln[3:] for ln in git("status", "--porcelain", "--untracked-files=no").splitlines()]}


# -- the configurations --------------------------------------------------------------------------------

class Bench:
    """The run's shared state: arguments, model, prompts, paths of the snapshot of the built project."""

    def __init__(self, args, workdir):
        self.args = args
        self.work = workdir
        self.model = bench_model.write(args.shape)
        geom = bench_model.geometry(args.shape)
        self.geom = geom
        self.doc_kv_bytes = args.doc_tokens * bench_model.kv_bytes_per_token(args.shape)
        self.docs = [document(i, args.doc_tokens) for i in range(args.docs)]
        self.warm_prompts = [d + question("warm-up", i) for i, d in enumerate(self.docs)]
        self.query_prompts = [d + question("query", i) for i, d in enumerate(self.docs)]
        self.engines_python = str(ROOT / ".venv-engines" / "bin" / "python")
        self.lmcache_venv = ROOT / ".venv-lmcache"
        # KV that holds every document with room for questions, answers and the priming request.
        self.all_docs_gib = max(1, -(-int(1.3 * args.docs * self.doc_kv_bytes) // GIB))
        self.tw_binary, self.tw_python = self._snapshot_build()
        sys.path.insert(0, self.tw_python)  # this process's own client (lookups of tiers) is the snapshot's too

    def _snapshot_build(self):
        """Copies the daemon binary and the Python package out of build/: another engineer may rebuild
        it during the run, and every row must use the same build."""
        snap = self.work / "build-snapshot"
        (snap / "python").mkdir(parents=True)
        binary = snap / "tokenwarehouse"
        shutil.copy2(self.args.tw_build / "tools" / "tokenwarehouse" / "tokenwarehouse", binary)
        shutil.copytree(self.args.tw_build / "python" / "tokenwarehouse", snap / "python" / "tokenwarehouse")
        return str(binary), str(snap / "python")

    def engine(self, name, kv_gib, args, env=None, python=None):
        env = dict(env or {})
        env["PYTHONPATH"] = self.tw_python + os.pathsep + os.environ.get("PYTHONPATH", "")
        return Engine(name, self.work, python or self.engines_python, self.model, kv_gib, args, env,
                      page_tokens=self.args.page_tokens, max_model_len=self.args.doc_tokens + 512)

    def tw_config(self, url, **extra):
        return json.dumps({"kv_connector": "TokenWarehouseConnector", "kv_connector_module_path": "tokenwarehouse.vllm",
                           "kv_role": "kv_both",
                           "kv_connector_extra_config": {"url": url, "block_tokens": self.args.block_tokens, **extra}})

    def fresh(self, engine):
        """Starts an engine and serves the priming request; returns the start time in seconds."""
        started = engine.start()
        stream_completion(engine.url, prime_prompt(), 4)
        return started

    def rounds(self, row, make_engine, restart_between=False, before_query=None):
        """Warm-up then query round. restart_between: a new vLLM serves the query round, so nothing
        vLLM holds in its own memory can serve it. before_query(row) runs right before the query round."""
        eng = make_engine("warm")
        try:
            row["start_s"] = [self.fresh(eng)]
            row["warmup"] = run_round(eng, "warm-up", self.warm_prompts, self.args.max_tokens)
            if restart_between:
                eng.stop()
                eng = make_engine("query")
                row["start_s"].append(self.fresh(eng))
            if before_query:
                before_query(row)
            row["query"] = run_round(eng, "query", self.query_prompts, self.args.max_tokens)
        finally:
            eng.stop()
        return row

    # Each row_* fills and returns the row's record; StartFailed makes it a 'not possible' row.

    def row_no_reuse(self, row):
        row["guard"] = "no prefix caching, no connector: nothing to reuse"
        return self.rounds(row, lambda n: self.engine(f"no_reuse-{n}", 1, ["--no-enable-prefix-caching"]))

    def row_vllm_prefix(self, row):
        row["guard"] = f"vLLM's own cache ({self.all_docs_gib} GiB) holds every document: served from engine memory"
        return self.rounds(row, lambda n: self.engine(f"vllm_prefix-{n}", self.all_docs_gib,
                                                      ["--enable-prefix-caching"]))

    def _small_gpu_cache_args(self):
        # vLLM's own cache: room for 2 documents. The rounds cycle over all documents in order, so
        # with LRU every document was evicted by the others before its query comes.
        pages = 2 * -(-(self.args.doc_tokens + 512) // self.args.page_tokens)
        return ["--enable-prefix-caching", "--num-gpu-blocks-override", str(pages)]

    def _offload(self, row, name, extra):
        row["guard"] = "vLLM's own cache holds 2 of the documents (--num-gpu-blocks-override), sent in cycle"
        cfg = json.dumps({"kv_connector": "OffloadingConnector", "kv_role": "kv_both",
                          "kv_connector_extra_config": {"cpu_bytes_to_use": self.all_docs_gib * GIB,
                                                        "block_size": self.args.block_tokens, **extra}})
        return self.rounds(row, lambda n: self.engine(f"{name}-{n}", 1, self._small_gpu_cache_args()
                                                      + ["--kv-transfer-config", cfg]))

    def row_offload_cpu(self, row):
        return self._offload(row, "offload_cpu", {})

    def row_offload_fs(self, row):
        fs = self.work / "offload-fs"
        fs.mkdir(exist_ok=True)
        return self._offload(row, "offload_fs", {"spec_name": "TieringOffloadingSpec",
                                                 "secondary_tiers": [{"type": "fs", "root_dir": str(fs)}]})

    def row_lmcache(self, row):
        install = ROOT / "bench" / "vllm" / "install-lmcache.sh"
        done = subprocess.run(["bash", str(install)], capture_output=True, text=True)
        if done.returncode != 0:
            raise StartFailed(f"install-lmcache.sh failed: {(done.stderr or done.stdout).strip()[-300:]}")
        server = LMCacheServer(self.work, str(self.lmcache_venv / "bin" / "lmcache"), self.args.block_tokens,
                               self.all_docs_gib)
        server.start()
        row["guard"] = "vLLM restarted between rounds, prefix caching off: hits come from LMCache's server"
        cfg = json.dumps({"kv_connector": "LMCacheMPConnector", "kv_role": "kv_both",
                          "kv_connector_extra_config": {"lmcache.mp.host": "tcp://127.0.0.1",
                                                        "lmcache.mp.port": server.port}})
        try:
            return self.rounds(row, lambda n: self.engine(f"lmcache-{n}", 1, ["--no-enable-prefix-caching",
                                                                               "--kv-transfer-config", cfg],
                                                          python=str(self.lmcache_venv / "bin" / "python")),
                               restart_between=True)
        finally:
            server.stop()
            # What LMCache's worker says it used: "SHM" (shared L1) or "pickle" (KV in ZMQ messages).
            log = self.work / "vllm-lmcache-query.log"
            text = log.read_text(errors="replace") if log.exists() else ""
            found = re.findall(r"context registered \(instance_id=\d+, mode=(\w+)\)", text)
            row["lmcache_transfer"] = found[-1] if found else "unknown"

    # Token Warehouse: tw_dram and tw_disk share one daemon data directory; tw_disk's warm-up round is
    # tw_dram's (the same documents stored once), its query round follows a daemon restart.

    def _tw_engine(self, name, url):
        return self.engine(name, 1, ["--no-enable-prefix-caching", "--kv-transfer-config", self.tw_config(url)])

    def row_tw_dram(self, row):
        self.daemon = Daemon(self.work, self.tw_binary)
        self.daemon.start(dram=f"{self.all_docs_gib + 1}GiB")
        row["guard"] = "vLLM restarted between rounds, prefix caching off: hits come from the daemon"
        row["daemon_dram"] = self.daemon.dram
        try:
            return self.rounds(row, lambda n: self._tw_engine(f"tw_dram-{n}", self.daemon.url), restart_between=True,
                               before_query=self._tiers)
        finally:
            self._tier_hits(row)
            self.daemon.stop()

    def row_tw_disk(self, row):
        if getattr(self, "daemon", None) is None:
            raise StartFailed("needs tw_dram's warm-up round (run it in the same run)")
        self.daemon.start(dram=self.args.disk_row_dram)
        row["guard"] = (f"daemon restarted on tw_dram's data with --dram {self.args.disk_row_dram}, vLLM restarted, "
                        "prefix caching off: hits come from the daemon's disk tier")
        row["daemon_dram"] = self.daemon.dram
        eng = self._tw_engine("tw_disk-query", self.daemon.url)
        try:
            row["start_s"] = [self.fresh(eng)]
            self._tiers(row)
            row["query"] = run_round(eng, "query", self.query_prompts, self.args.max_tokens)
        finally:
            eng.stop()
            self._tier_hits(row)
            self.daemon.stop()
        return row

    def row_tw_embedded(self, row):
        row["guard"] = ("prefix caching off; vLLM not restarted (the store lives in its process): nothing but the "
                        "embedded store can serve a document between requests")
        cfg = self.tw_config("embedded:", dram_capacity_bytes=(self.all_docs_gib + 1) * GIB)
        # One process for scheduler and worker: the in-process engine core and the uni executor.
        env = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
        return self.rounds(row, lambda n: self.engine(f"tw_embedded-{n}", 1, [
            "--no-enable-prefix-caching", "--distributed-executor-backend", "uni", "--kv-transfer-config", cfg], env))

    def _tiers(self, row):
        """Where the daemon holds each document's blocks right before the query round, and its
        counters then (the query round's hits per tier are the difference, in _tier_hits)."""
        import tokenwarehouse as tw
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(f"{self.model}/tokenizer.json")
        g = self.geom
        store = tw.open(self.daemon.url)
        ns = store.register_namespace(model_id="bench", layers=g["layers"], kv_heads=g["kv_heads"],
                                      head_dim=g["head_dim"], dtype="f32", block_tokens=self.args.block_tokens)
        counts = {}
        for d in self.docs:
            matched, tiers = store.lookup(ns, ns.block_keys(tok.encode(d).ids))
            for t in list(tiers[:matched]) + ["missing"] * (len(d) // self.args.block_tokens - matched):
                counts[t] = counts.get(t, 0) + 1
        row["tiers_before_query"] = counts
        row["daemon_stats_before_query"] = self.daemon.stats()
        print(f"    blocks by tier before the query round: {counts}", flush=True)

    def _tier_hits(self, row):
        """The daemon's hits per tier during the query round (its /stats counters)."""
        before, after = row.get("daemon_stats_before_query"), self.daemon.stats()
        row["daemon_stats_after"] = after
        if not before or "tiers" not in before or "tiers" not in after:
            return
        b = {t["tier"]: t["hits"] for t in before["tiers"]}
        row["query_tier_hits"] = {t["tier"]: t["hits"] - b.get(t["tier"], 0) for t in after["tiers"]}
        print(f"    daemon hits by tier in the query round: {row['query_tier_hits']}", flush=True)


def run_row(bench, name):
    print(f"== {name}", flush=True)
    row = {"name": name, "load_avg_before": os.getloadavg()[0]}
    t0 = time.perf_counter()
    try:
        getattr(bench, f"row_{name}")(row)
        row["status"] = "ok"
    except StartFailed as e:
        row["status"] = "not possible"
        row["reason"] = str(e)
        print(f"    not possible: {e}", flush=True)
    row["wall_s"] = time.perf_counter() - t0
    row["load_avg_after"] = os.getloadavg()[0]
    return row


# -- summary ---------------------------------------------------------------------------------------

def median_ttft(row):
    return statistics.median(r["ttft_s"] for r in row["query"]["requests"])


def outputs_check(rows):
    """Whether the query-round outputs (greedy) are identical, token for token and log-probability for
    log-probability, across the rows whose documents came from a cache; and how they compare with a
    recompute (no_reuse), which sums in another order and may differ in the last bits."""
    ran = [r for r in rows if r.get("status") == "ok" and "query" in r]
    # A cache row whose requests all recomputed (a miss is never an error) is no evidence about
    # loaded KV: it is compared like a recompute.
    cached = [r for r in ran if r["name"] in CACHE_ROWS and all(q["cached_tokens"] for q in r["query"]["requests"])]
    out = {"reference": cached[0]["name"] if cached else None, "rows": {}}
    if not cached:
        return out
    ref = cached[0]["query"]["requests"]
    for r in ran:
        reqs = r["query"]["requests"]
        same_tokens = all(a["tokens"] == b["tokens"] for a, b in zip(reqs, ref))
        same_bits = same_tokens and all(a["logprobs"] == b["logprobs"] for a, b in zip(reqs, ref))
        dlp = max((abs(x - y) for a, b in zip(reqs, ref) for x, y in zip(a["logprobs"], b["logprobs"])
                   if x is not None and y is not None), default=0.0)
        out["rows"][r["name"]] = {"tokens_identical": same_tokens, "bit_identical": same_bits, "max_abs_dlogprob": dlp}
    out["cache_rows_identical"] = all(out["rows"][r["name"]]["bit_identical"] for r in cached)
    return out


def row_label(row):
    # tw_disk's result depends on the daemon's DRAM after the restart (see --disk-row-dram).
    return f"{row['name']} (--dram {row['daemon_dram']})" if row["name"] == "tw_disk" and "daemon_dram" in row else row["name"]


def summarize(record):
    """Table rows (dicts) of one run's record."""
    rows = record["rows"]
    base = next((r for r in rows if r["name"] == "no_reuse" and r["status"] == "ok"), None)
    base_ttft = median_ttft(base) if base else None
    floor_s = record["copy_floor"]["floor_s"]
    checks = record["outputs"]["rows"]
    table = []
    for r in rows:
        if r["status"] != "ok" or "query" not in r:
            table.append({"name": row_label(r), "status": r["status"], "reason": r.get("reason", "")})
            continue
        ttft = median_ttft(r)
        c = checks.get(r["name"], {})
        table.append({
            "name": row_label(r), "status": "ok", "ttft_s": ttft, "query_round_s": r["query"]["round_s"],
            "warmup_round_s": r["warmup"]["round_s"] if "warmup" in r else None,
            "cached": statistics.median(q["cached_tokens"] for q in r["query"]["requests"]),
            "vs_no_reuse": ttft / base_ttft if base_ttft else None, "vs_floor": ttft / floor_s,
            "same": c.get("bit_identical"), "same_tokens": c.get("tokens_identical"),
            "dlogprob": c.get("max_abs_dlogprob")})
    return table


def format_table(table, prompt_tokens):
    head = ("| configuration | query TTFT median (s) | query round (s) | warm-up round (s) | cached tokens (median) "
            "| TTFT / no reuse | TTFT / copy floor | query outputs = cache reference |")
    lines = [head, "|" + "---|" * 8]
    for t in table:
        if t["status"] != "ok":
            lines.append(f"| {t['name']} | {t['status']}: {t['reason']} | | | | | | |")
            continue
        warm = f"{t['warmup_round_s']:.1f}" if t["warmup_round_s"] is not None else "(tw_dram's)"
        same = {True: "identical", False: "DIFFERENT", None: "-"}[t["same"]]
        if t["same"] is False and t["same_tokens"]:
            same = f"same tokens, logprobs within {t['dlogprob']:.1e}"
        if t["cached"] == 0 and t["name"].split(" ")[0] in CACHE_ROWS:
            same = "no hits: every request recomputed"
        ratio = f"{t['vs_no_reuse']:.3f}" if t["vs_no_reuse"] is not None else "-"
        lines.append(f"| {t['name']} | {t['ttft_s']:.3f} | {t['query_round_s']:.1f} | {warm} | "
                     f"{t['cached']:.0f}/{prompt_tokens} | {ratio} | {t['vs_floor']:.1f} | {same} |")
    return "\n".join(lines)


def _prompt_tokens(record):
    ran = [r for r in record["rows"] if "query" in r]
    return ran[0]["query"]["requests"][0]["prompt_tokens"] if ran else "?"


def print_summary(record):
    fl = record["copy_floor"]
    print(f"\ncopy floor: a document's KV is {fl['doc_kv_bytes'] / (1 << 20):.0f} MiB; memcpy "
          f"{fl['memcpy_GBps']:.1f} GB/s -> {fl['floor_s'] * 1e3:.1f} ms")
    print(format_table(summarize(record), _prompt_tokens(record)))
    o = record["outputs"]
    if o["reference"]:
        print(f"query-round outputs identical (tokens and log-probabilities) across cache rows "
              f"(reference {o['reference']}): {'yes' if o['cache_rows_identical'] else 'NO'}")
        nr = o["rows"].get("no_reuse")
        if nr:
            print(f"  against a recompute (no_reuse): tokens {'identical' if nr['tokens_identical'] else 'DIFFERENT'}, "
                  f"max |d logprob| {nr['max_abs_dlogprob']:.2e}")


def report(jsonl):
    """Median over the runs in a JSONL file, per configuration: the table the record quotes."""
    records = [json.loads(ln) for ln in open(jsonl) if ln.strip()]
    per = {}
    for rec in records:
        for t in summarize(rec):
            per.setdefault(t["name"], []).append(t)
    print(f"{len(records)} runs: {', '.join(r['run_id'] for r in records)}")
    floors = [r["copy_floor"]["floor_s"] for r in records]
    print(f"copy floor median {statistics.median(floors) * 1e3:.1f} ms "
          f"(memcpy {statistics.median(r['copy_floor']['memcpy_GBps'] for r in records):.1f} GB/s)")
    merged = []
    for name in sorted(per, key=lambda n: (ROWS.index(n.split(" ")[0]), n)):
        ts = per[name]
        ok = [t for t in ts if t["status"] == "ok"]
        if not ok:
            merged.append(ts[-1])
            continue
        m = {"name": name, "status": "ok", "same": all(t["same"] for t in ok) if ok[0]["same"] is not None else None,
             "same_tokens": all(t["same_tokens"] for t in ok) if ok[0]["same_tokens"] is not None else None,
             "dlogprob": max(t["dlogprob"] or 0 for t in ok)}
        for k in ("ttft_s", "query_round_s", "cached", "vs_floor"):
            m[k] = statistics.median(t[k] for t in ok)
        warm = [t["warmup_round_s"] for t in ok if t["warmup_round_s"] is not None]
        m["warmup_round_s"] = statistics.median(warm) if warm else None
        vs = [t["vs_no_reuse"] for t in ok if t["vs_no_reuse"] is not None]
        m["vs_no_reuse"] = statistics.median(vs) if vs else None
        merged.append(m)
    print(format_table(merged, _prompt_tokens(records[0])))
    # The spread: on a shared 2-core machine one run's TTFT can be twice another's.
    print("\n| configuration | " + " | ".join(f"run {r['run_id']}" for r in records) + " | load average (1 min) |")
    print("|" + "---|" * (len(records) + 2))
    for name in sorted(per, key=lambda n: (ROWS.index(n.split(" ")[0]), n)):
        by_run = {rec["run_id"]: next((t for t in summarize(rec) if t["name"] == name), None) for rec in records}
        cells = [f"{t['ttft_s']:.3f} s" if t and t["status"] == "ok" else "-" for t in by_run.values()]
        loads = [f"{r['load_avg_before']:.1f}" for rec in records for r in rec["rows"] if row_label(r) == name]
        print(f"| {name} | " + " | ".join(cells) + f" | {', '.join(loads)} |")


# -- main --------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=8, help="documents (N)")
    ap.add_argument("--doc-tokens", type=int, default=4096, help="tokens per document (L), a multiple of --block-tokens")
    ap.add_argument("--shape", default="small", choices=sorted(bench_model.SHAPES), help="random model (bench_model.py)")
    ap.add_argument("--max-tokens", type=int, default=16, help="tokens generated per request")
    ap.add_argument("--block-tokens", type=int, default=256, help="Token Warehouse / LMCache / offload block")
    ap.add_argument("--page-tokens", type=int, default=32, help="vLLM --block-size (a multiple of 32 on the CPU)")
    ap.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated subset of {','.join(ROWS)}")
    # A document's prefix is pinned in the daemon's DRAM while it loads, so the DRAM after the restart
    # must hold one document (128 MiB with the defaults); 256 MiB holds two of the eight, and the
    # query round's hits come from disk anyway (the daemon starts with an empty DRAM tier).
    ap.add_argument("--disk-row-dram", default="256MiB", help="the daemon's DRAM after its restart (tw_disk)")
    ap.add_argument("--tw-build", type=pathlib.Path, default=ROOT / "build")
    ap.add_argument("--jsonl", type=pathlib.Path, default=ROOT / "bench" / "results" / "vllm_2026-12-04.jsonl")
    ap.add_argument("--workdir", type=pathlib.Path, default=None, help="logs and data (default: a temp dir, kept)")
    ap.add_argument("--report", type=pathlib.Path, help="print the median table of a JSONL file and exit")
    args = ap.parse_args()
    if args.report:
        return report(args.report)
    if args.doc_tokens % args.block_tokens:
        ap.error("--doc-tokens must be a multiple of --block-tokens (a hit covers whole blocks)")
    rows = [r for r in args.rows.split(",") if r]
    unknown = set(rows) - set(ROWS)
    if unknown:
        ap.error(f"unknown rows {sorted(unknown)}")
    if "LD_PRELOAD" not in os.environ:
        ap.error("source scripts/engine-env.sh first (vLLM's CPU backend needs its LD_PRELOAD)")

    run_id = time.strftime("%Y%m%d-%H%M%S")
    work = args.workdir or pathlib.Path(tempfile.mkdtemp(prefix=f"long-doc-qa-{run_id}-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"long-document QA: {args.docs} documents x {args.doc_tokens} tokens, model '{args.shape}', "
          f"logs in {work}", flush=True)
    t0 = time.perf_counter()
    bench = Bench(args, work)
    bw = memcpy_bandwidth()
    record = {"run_id": run_id, "date": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine(), **git_state(),
              "command": " ".join([os.path.relpath(sys.executable, ROOT), *sys.argv]), "workdir": str(work),
              "args": {k: str(v) for k, v in vars(args).items()}, "model": {"shape": args.shape, **bench.geom},
              "copy_floor": {"doc_kv_bytes": bench.doc_kv_bytes, "memcpy_GBps": bw / 1e9,
                             "floor_s": bench.doc_kv_bytes / bw}}
    record["rows"] = [run_row(bench, name) for name in rows]
    record["outputs"] = outputs_check(record["rows"])
    record["total_s"] = time.perf_counter() - t0
    args.jsonl.parent.mkdir(parents=True, exist_ok=True)
    with open(args.jsonl, "a") as f:
        f.write(json.dumps(record) + "\n")
    print_summary(record)
    print(f"\n{record['total_s']:.0f} s in all; record appended to {args.jsonl}")


if __name__ == "__main__":
    main()

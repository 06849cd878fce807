#!/usr/bin/env python3
"""Synthetic request traces in Mooncake's format, to test eviction policies off the one public trace.

Each line: {"timestamp": ms, "input_length": tokens, "output_length": tokens, "hash_ids": [block ids]},
one id per 512-token block; equal leading ids are a shared prefix. As in Mooncake's traces, the last
block of a prompt is partial: the next turn of the same chain does not reuse it (it gets a new id).

Workloads (deterministic for a seed; sizes similar to the conversation trace, ~10k requests):
  agentic   tool-using agents: a few long shared system prompts, sessions of many quick steps
            (tool calls) with occasional long human pauses, and branches (parallel or retried calls
            forking from the same prefix).
  docqa     document QA: Zipf-popular documents (alpha 0.9) under a shared instruction block, a
            private question per request, sometimes a follow-up turn.
  uniform   reuse without structure: each request picks one of N prefixes uniformly at random and
            adds a private block; no class of chain is more likely to return than another.
  noreuse   every block is new: no policy can hit (a check that none does harm or breaks).

Usage: gen_traces.py WORKLOAD OUT.jsonl [--seed N] [--requests N]
"""
import argparse
import heapq
import json
import math
import random


class Ids:
    def __init__(self):
        self.next = 0

    def new(self, n=1):
        ids = list(range(self.next, self.next + n))
        self.next += n
        return ids


def emit(out, t_s, blocks, rng):
    partial = rng.randint(1, 511)
    out.append((int(t_s * 1000), (len(blocks) - 1) * 512 + partial, rng.randint(16, 800), blocks))


def agentic(rng, n_requests):
    ids = Ids()
    prompts = [ids.new(max(4, int(rng.lognormvariate(math.log(16), 0.6)))) for _ in range(8)]
    weights = [1 / (k + 1) for k in range(len(prompts))]
    events = []  # (time, seq, chain blocks without partial tail, remaining steps)
    seq = 0
    t = 0.0
    out = []
    while len(out) < n_requests:
        t += rng.expovariate(1.2)  # sessions per second
        sysp = rng.choices(prompts, weights)[0]
        heapq.heappush(events, (t, seq, list(sysp) + ids.new(rng.randint(1, 3)), 1 + int(rng.expovariate(1 / 6))))
        seq += 1
        while events and events[0][0] <= t and len(out) < n_requests:
            te, _, chain, steps = heapq.heappop(events)
            emit(out, te, chain + ids.new(1), rng)
            if steps <= 1:
                continue
            branches = 2 if rng.random() < 0.2 else 1  # parallel tool calls / retries fork here
            for _ in range(branches):
                gap = rng.expovariate(1 / 120) if rng.random() < 0.15 else rng.expovariate(1 / 6)
                heapq.heappush(events, (te + gap, seq, chain + ids.new(rng.randint(1, 4)), steps - 1))
                seq += 1
    return out


def docqa(rng, n_requests):
    ids = Ids()
    root = ids.new(1)
    docs = [ids.new(max(2, min(64, int(rng.lognormvariate(math.log(12), 0.8))))) for _ in range(3000)]
    zipf = [1 / (k + 1) ** 0.9 for k in range(len(docs))]
    events = []
    seq = 0
    t = 0.0
    out = []
    while len(out) < n_requests:
        t += rng.expovariate(3.0)
        doc = rng.choices(docs, zipf)[0]
        heapq.heappush(events, (t, seq, root + doc + ids.new(rng.randint(0, 1))))
        seq += 1
        while events and events[0][0] <= t and len(out) < n_requests:
            te, _, chain = heapq.heappop(events)
            emit(out, te, chain + ids.new(1), rng)
            if rng.random() < 0.3:  # a follow-up question on the same document and answer
                heapq.heappush(events, (te + rng.expovariate(1 / 60), seq, chain + ids.new(rng.randint(1, 2))))
                seq += 1
    return out


def uniform(rng, n_requests):
    ids = Ids()
    prefixes = [ids.new(rng.randint(4, 40)) for _ in range(3000)]
    out = []
    t = 0.0
    for _ in range(n_requests):
        t += rng.expovariate(3.0)
        emit(out, t, rng.choice(prefixes) + ids.new(1), rng)
    return out


def noreuse(rng, n_requests):
    ids = Ids()
    out = []
    t = 0.0
    for _ in range(n_requests):
        t += rng.expovariate(3.0)
        emit(out, t, ids.new(rng.randint(2, 40)), rng)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workload", choices=["agentic", "docqa", "uniform", "noreuse"])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--requests", type=int, default=10000)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    reqs = globals()[a.workload](rng, a.requests)
    reqs.sort(key=lambda r: r[0])
    blocks = set()
    with open(a.out, "w") as f:
        for ts, inp, outp, h in reqs:
            blocks.update(h)
            f.write(json.dumps({"timestamp": ts, "input_length": inp, "output_length": outp, "hash_ids": h}) + "\n")
    accesses = sum(len(r[3]) for r in reqs)
    print(f"{a.workload}: {len(reqs)} requests, {accesses} block accesses, {len(blocks)} unique blocks -> {a.out}")


if __name__ == "__main__":
    main()

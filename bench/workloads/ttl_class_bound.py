#!/usr/bin/env python3
"""How far can a class-based online policy get? An upper-bound estimate for the eviction research.

Model: every block access starts a lifetime; the block is kept T_c ticks (block accesses), where c is
its class at that access, and hits at its next use if that comes within T_c. Given the trace's *true*
reuse-gap distribution per class (an oracle no online policy has), the per-class T_c maximising hits
under the capacity (time-averaged occupancy <= capacity) is found by a Lagrangian sweep. This bounds
per-class TTL policies with perfect per-class statistics (prefix dependence is ignored: all blocks of
a request share a class, so a chain is kept or dropped together). Classes from features an online
policy can observe: none; tail (last block of a request); turn (turns the chain has seen) x tail;
turn x log2 length x tail; and x log2 gap since the previous turn.
The Lagrangian only reaches points on each class's convex hull, so the estimate is slightly low:
for one class it gives 0.18 at 5% where LRU measures 0.195.

Usage: ttl_class_bound.py [TRACE.jsonl]  (default: the shared conversation trace)
       ttl_class_bound.py --continuation [TRACE.jsonl]

--continuation asks the question under the bound directly: Belady's edge is knowing which requests
will be continued (a later request extends their prefix). For each set of features an online
policy could see, it prints the share of requests continued per class and the AUC of "the class's
continued share" as a predictor (0.5: no better than a coin; 1.0: perfect). The class shares are
taken from the whole trace (an oracle), so the AUC is an upper bound for that feature set.
"""
import json
import sys


def load(path):
    reqs = [json.loads(line) for line in open(path)]
    reqs.sort(key=lambda r: r["timestamp"])
    return reqs


from collections import defaultdict
import math, sys
ARGS=[a for a in sys.argv[1:] if not a.startswith('--')]
import os
DEFAULT_TRACE=os.path.join(os.path.dirname(os.path.abspath(__file__)), '../../../shared/traces/conversation_trace.jsonl')
R=load(ARGS[0] if ARGS else DEFAULT_TRACE)
pos=[];p=0
for r in R: pos.append(p); p+=len(r['hash_ids'])
TOT=p
last={}; prev=[None]*len(R)
for j,r in enumerate(R):
    h=r['hash_ids']; best=None
    for k in range(1,len(h)):
        if h[k] in last: best=last[h[k]]
        else: break
    if best is not None: prev[j]=best
    for b in h: last[b]=j
turn=[0]*len(R)
for j in range(len(R)): turn[j]=turn[prev[j]]+1 if prev[j] is not None else 1
seq=[(b,i,k) for i,r in enumerate(R) for k,b in enumerate(r['hash_ids'])]
nu=[None]*len(seq); seen={}
for k in range(len(seq)-1,-1,-1):
    nu[k]=seen.get(seq[k][0]); seen[seq[k][0]]=k
def classify(i,k,mode):
    L=len(R[i]['hash_ids']); tail = k==L-1
    if k==0: return 'root'
    if mode=='none': return 0
    if mode=='tail': return tail
    if mode=='turn': return (min(turn[i],6),tail)
    if mode=='turn+len': return (min(turn[i],6), min(int(math.log2(L)),7),tail)
    if mode=='turn+len+gap':
        g = (pos[i]-pos[prev[i]]) if prev[i] is not None else -1
        return (min(turn[i],6), min(int(math.log2(L)),7), -1 if g<0 else min(int(math.log2(g+1)),20),tail)
grid=[int(1.2**k) for k in range(0,100)]+[10**12]
def solve(mode, C):
    cls=defaultdict(list)
    for k,(b,i,kk) in enumerate(seq):
        w= nu[k]-k if nu[k] is not None else None
        cls[classify(i,kk,mode)].append(w)
    tabs={}
    for c,v in cls.items():
        ws=sorted(x for x in v if x is not None); nn=len(v)-len(ws)
        rows=[]; j=0; s=0
        for T in grid:
            while j<len(ws) and ws[j]<=T: s+=ws[j]; j+=1
            rows.append((T, j, s + (len(ws)-j)*T + nn*T))
        tabs[c]=rows
    budget=C*TOT
    lo,hi=0.0,10.0
    for _ in range(60):
        lam=(lo+hi)/2; cost=0; gain=0; Ts={}
        for c,rows in tabs.items():
            best=max(rows,key=lambda r:r[1]-lam*r[2]); cost+=best[2]; gain+=best[1]; Ts[c]=best[0]
        if cost>budget: lo=lam
        else: hi=lam; G=gain; TT=Ts
    return G/TOT, TT
U=len({b for r in R for b in r['hash_ids']})


def continuation_report():
    """Per feature set: how well do the classes separate continued from abandoned requests?"""
    continued = [False] * len(R)
    for j in range(len(R)):
        if prev[j] is not None:
            continued[prev[j]] = True
    def log2_bucket(x):
        return -1 if x < 0 else min(int(math.log2(x + 1)), 20)
    def gap_s(j):  # seconds since the turn this request continues; -1 for a first turn
        return -1 if prev[j] is None else (R[j]['timestamp'] - R[prev[j]]['timestamp']) / 1000
    t_end = R[-1]['timestamp'] + 1
    features = {
        'turn': lambda j: min(turn[j], 6),
        'log2 input blocks': lambda j: log2_bucket(len(R[j]['hash_ids'])),
        'turn x log2 input blocks': lambda j: (min(turn[j], 6), log2_bucket(len(R[j]['hash_ids']))),
        'turn x log2 input x log2 gap': lambda j: (min(turn[j], 6), log2_bucket(len(R[j]['hash_ids'])), log2_bucket(gap_s(j))),
        '... x arrival decile': lambda j: (min(turn[j], 6), log2_bucket(len(R[j]['hash_ids'])), log2_bucket(gap_s(j)),
                                           10 * R[j]['timestamp'] // t_end),
        'log2 output tokens (not seen by a store)': lambda j: log2_bucket(R[j]['output_length']),
    }
    total = sum(continued)
    print(f'{len(R)} requests, {total} continued ({total / len(R):.3f}); '
          f'first turns: {sum(1 for j in range(len(R)) if turn[j] == 1)}, continued '
          f'{sum(1 for j in range(len(R)) if turn[j] == 1 and continued[j]) / max(1, sum(1 for j in range(len(R)) if turn[j] == 1)):.3f}')
    for name, f in features.items():
        n = defaultdict(int); c = defaultdict(int)
        for j in range(len(R)):
            k = f(j); n[k] += 1; c[k] += continued[j]
        # AUC of the class rate as a score (ties count half): P(score(continued) > score(abandoned)).
        rate = {k: c[k] / n[k] for k in n}
        order = sorted(n, key=lambda k: rate[k])
        below_neg = 0; auc = 0.0; neg_total = len(R) - total
        for k in order:
            pos_k, neg_k = c[k], n[k] - c[k]
            auc += pos_k * (below_neg + 0.5 * neg_k)
            below_neg += neg_k
        auc /= max(1, total * neg_total)
        big = [k for k in order if n[k] >= 100]
        spread = f'{rate[big[0]]:.2f}-{rate[big[-1]]:.2f}' if big else 'n/a'
        print(f'  {name:42s} classes {len(n):5d}  AUC {auc:.3f}  continued share in classes of >=100 requests: {spread}')


if __name__=='__main__' and '--continuation' in sys.argv:
    continuation_report()
elif __name__=='__main__':
  for mode in ['none','tail','turn','turn+len','turn+len+gap']:
    print(mode, [round(solve(mode,int(U*f))[0],4) for f in (0.05,0.1,0.2)],flush=True)

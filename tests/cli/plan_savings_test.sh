#!/usr/bin/env bash
# `tokenwarehouse plan` prices each capacity like the daemon prices its hits (economics:
# GPU-seconds = hit tokens / prefill rate, money = GPU-hours x price), from flags or from a daemon
# config, and plots money saved vs capacity. Usage: plan_savings_test.sh TOKENWAREHOUSE_BINARY
set -euo pipefail
bin=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
bash "$(dirname "$0")/plan_trace.sh" > "$dir/trace.jsonl"

"$bin" plan --trace "$dir/trace.jsonl" --json --prefill-tokens-per-s 4000 --gpu-hour-price 2.5 --currency EUR \
  --plot-savings "$dir/savings.svg" > "$dir/flags.json"
cat > "$dir/serve.yaml" <<'YAML'
economics: {prefill_tokens_per_s: 4000, gpu_hour_price: 2.5, currency: EUR}
YAML
"$bin" plan --trace "$dir/trace.jsonl" --json --config "$dir/serve.yaml" > "$dir/config.json"
python3 - "$dir/flags.json" "$dir/config.json" <<'PY'
import json, sys
flags, config = (json.load(open(p)) for p in sys.argv[1:3])
e = flags["economics"]
assert e["currency"] == "EUR" and e["gpu_hour_price"] == 2.5 and e["prefill_tokens_per_s"] == 4000, e
points = e["savings"]
assert len(points) >= 5, points
for p in points:
    assert abs(p["gpu_seconds_saved"] - p["hit_tokens"] / 4000) < 1e-3, p
    assert abs(p["money_saved"] - p["gpu_seconds_saved"] / 3600 * 2.5) < 1e-3, p
# (Not monotonic in capacity for every policy on a trace this small; the whole trace saves the most.)
assert points[-1]["money_saved"] == max(p["money_saved"] for p in points), points
assert points[-1]["money_saved"] > 0, points[-1]
assert config["economics"] == e, (config["economics"], e)
print(f"ok: {len(points)} capacities priced; at 100%: {points[-1]['hit_tokens']} hit tokens, "
      f"{points[-1]['money_saved']:.4f} EUR saved; --config agrees with the flags")
PY
grep -q "<polyline" "$dir/savings.svg" || { echo "no curve in the savings plot"; exit 1; }
grep -q "EUR saved" "$dir/savings.svg" || { echo "the savings plot's axis should say EUR saved"; exit 1; }
"$bin" plan --trace "$dir/trace.jsonl" --gpu-hour-price 2.5 > "$dir/table.txt"
grep -q "GPU-hours saved" "$dir/table.txt" || { echo "no savings table:"; cat "$dir/table.txt"; exit 1; }
if "$bin" plan --trace "$dir/trace.jsonl" --gpu-hour-price -1 > "$dir/out" 2>&1; then
  echo "a negative price should be refused"; exit 1
fi
echo "ok: savings table, plot and refusal"

#!/usr/bin/env bash
# Prints the small Mooncake-format trace the `tokenwarehouse plan` tests replay: 300 requests over
# 40 conversations that share growing prefixes (512-token blocks).
set -euo pipefail
for i in $(seq 0 299); do
  conv=$((i % 40)) turn=$((i / 40))
  ids=$(seq -s, $((conv * 100)) $((conv * 100 + turn + 1)))
  echo "{\"timestamp\": $((i * 100)), \"input_length\": $(((turn + 2) * 512)), \"output_length\": 64, \"hash_ids\": [$ids]}"
done

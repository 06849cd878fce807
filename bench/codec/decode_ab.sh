#!/usr/bin/env bash
# A/B of the CPU decode of fp8/int8 objects between two commits' codec sources, on this machine, under
# the same load: one driver (decode_ab_driver.cc: one 4 MiB object, 4L x 8H x 128D bf16, 256 tokens,
# median of 41 decodes) linked against each commit's src/codec and src/common, run alternately.
#
#   bash bench/codec/decode_ab.sh [OLD_REV] [NEW_REV] [ROUNDS]    # default: a2615dc~1 a2615dc 3
#
# As recorded in bench/results/codec_2026-12-07.md ("Later (a2615dc)"). Needs the Debian packages of
# scripts/install-deps.sh (g++, libssl-dev, libxxhash-dev, libzstd-dev).
set -euo pipefail
cd "$(dirname "$0")/../.."
OLD=${1:-a2615dc~1}
NEW=${2:-a2615dc}
ROUNDS=${3:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for side in old new; do
  rev=$([ $side = old ] && echo "$OLD" || echo "$NEW")
  mkdir -p "$work/$side"
  git archive "$rev" src include | tar -x -C "$work/$side"
  srcs=$(cd "$work/$side" && ls src/codec/codec.cc src/codec/object_bytes.cc src/codec/run_codecs.cc \
           src/codec/dequant8.cc src/common/status.cc src/common/hash.cc src/common/block_key.cc \
           src/common/geometry.cc 2>/dev/null | sed "s|^|$work/$side/|" || true)
  g++ -O3 -DNDEBUG -std=c++20 -I"$work/$side/include" -I"$work/$side/src" bench/codec/decode_ab_driver.cc $srcs \
    -lcrypto -lxxhash -lzstd -o "$work/$side.bin"
done
for r in $(seq "$ROUNDS"); do
  echo "round $r: old ($OLD)"; "$work/old.bin"
  echo "round $r: new ($NEW)"; "$work/new.bin"
done

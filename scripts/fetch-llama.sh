#!/usr/bin/env bash
# Fetches llama.cpp for the `tw_llama` adapter: headers and prebuilt shared libraries, from two
# pinned npm packages (Debian has no llama.cpp). Nothing from them is committed.
#
#   node-llama-cpp@3.22.1              llama/gitRelease.bundle: the llama.cpp v0.5.0 tree (headers,
#                                      gguf-py, vocab-only GGUFs under models/)
#   @node-llama-cpp/linux-x64@3.22.1   bins/linux-x64/*.so: libllama, libggml, CPU-variant backends
#
# Result (default third_party/llama/, or $TW_LLAMA_DIR):
#   include/   llama.h, ggml*.h, gguf.h
#   lib/       the shared libraries (backends are loaded at run time from here)
#   models/    ggml-vocab-llama-spm.gguf (a real 32k tokenizer for the generated models)
#   src/       llama.cpp's sources, for reading only (the KV state format lives in src/llama-kv-cache.cpp)
#   VERSION    the pinned versions; its presence means "done"
#
# Idempotent: returns at once when VERSION matches. Needs npm, git, tar.
set -euo pipefail

PKG_VERSION=3.22.1
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${TW_LLAMA_DIR:-$ROOT/third_party/llama}"
STAMP="node-llama-cpp@$PKG_VERSION @node-llama-cpp/linux-x64@$PKG_VERSION"

if [ -f "$DEST/VERSION" ] && [ "$(cat "$DEST/VERSION")" = "$STAMP" ]; then
  exit 0
fi

for tool in npm git tar; do
  command -v "$tool" >/dev/null 2>&1 || { echo "fetch-llama: $tool is required (scripts/install-deps.sh)" >&2; exit 1; }
done

# Work in a scratch dir next to DEST, then move into place, so an interrupted run never leaves a
# half-filled DEST that the stamp check would trust.
mkdir -p "$(dirname "$DEST")"
WORK="$(mktemp -d "$(dirname "$DEST")/.fetch-llama.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

echo "fetch-llama: npm pack node-llama-cpp@$PKG_VERSION @node-llama-cpp/linux-x64@$PKG_VERSION"
(cd "$WORK" && npm pack --silent "node-llama-cpp@$PKG_VERSION" "@node-llama-cpp/linux-x64@$PKG_VERSION" >/dev/null)

mkdir -p "$WORK/main" "$WORK/bins" "$WORK/out/include" "$WORK/out/lib" "$WORK/out/models"
tar -xzf "$WORK/node-llama-cpp-$PKG_VERSION.tgz" -C "$WORK/main" package/llama/gitRelease.bundle
tar -xzf "$WORK/node-llama-cpp-linux-x64-$PKG_VERSION.tgz" -C "$WORK/bins"

git clone --quiet --bare "$WORK/main/package/llama/gitRelease.bundle" "$WORK/llama.git"
git -C "$WORK/llama.git" archive --format=tar HEAD include ggml/include src models/ggml-vocab-llama-spm.gguf \
  | tar -xf - -C "$WORK/out"
mv "$WORK/out/include" "$WORK/out/include.llama"
mkdir -p "$WORK/out/include"
cp "$WORK/out/include.llama/"*.h "$WORK/out/ggml/include/"*.h "$WORK/out/include/"
rm -rf "$WORK/out/include.llama" "$WORK/out/ggml"

# The prebuilt package keeps versioned sonames (libllama.so -> libllama.v0.5.0.so style links or
# plain files); copy everything as is, links preserved.
libdir="$(find "$WORK/bins" -name 'libllama*.so*' -printf '%h\n' | head -n 1)"
[ -n "$libdir" ] || { echo "fetch-llama: no libllama in @node-llama-cpp/linux-x64@$PKG_VERSION" >&2; exit 1; }
cp -a "$libdir"/*.so* "$WORK/out/lib/"
git -C "$WORK/llama.git" describe --tags --always HEAD > "$WORK/out/LLAMA_CPP_COMMIT" 2>/dev/null || true
echo "$STAMP" > "$WORK/out/VERSION"

rm -rf "$DEST"
mv "$WORK/out" "$DEST"
echo "fetch-llama: llama.cpp $(cat "$DEST/LLAMA_CPP_COMMIT" 2>/dev/null) in $DEST"

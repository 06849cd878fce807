#!/usr/bin/env bash
# Copies the Debian development files the build needs (headers, static libraries, CMake configs, and
# the two shared libraries spdlog needs at run time) into .devdeps, for a GPU machine whose image
# lacks them and cannot install packages. Plus Python 3.12 headers in case that image has none.
set -euo pipefail
cd "$(dirname "$0")/../.."
rm -rf .devdeps && mkdir -p .devdeps
for p in libspdlog-dev libspdlog1.10 libfmt-dev libfmt9 libssl-dev libxxhash-dev libcli11-dev libgtest-dev pybind11-dev liburing-dev; do
  dpkg -L "$p" | while read -r f; do
    [ -f "$f" ] || [ -L "$f" ] || continue
    case "$f" in /usr/share/doc/*|/usr/share/man/*|/usr/share/lintian/*) continue ;; esac
    mkdir -p ".devdeps$(dirname "$f")" && cp -a "$f" ".devdeps$f"
  done
done
# Static OpenSSL and xxhash: the GPU machine has neither library.
rm -f .devdeps/usr/lib/x86_64-linux-gnu/{libcrypto,libssl,libxxhash}.so
# Static liburing (the disk tier's io_uring), found through its pkg-config file made relocatable.
rm -f .devdeps/usr/lib/x86_64-linux-gnu/liburing.so
# (alone in .devdeps/pkgconfig, so the other .pc files copied here do not shadow the machine's own).
mkdir -p .devdeps/pkgconfig
sed -e 's|^prefix=.*|prefix=${pcfiledir}/../usr|' -e 's|^libdir=.*|libdir=${prefix}/lib/x86_64-linux-gnu|' \
  -e 's|^includedir=.*|includedir=${prefix}/include|' /usr/lib/x86_64-linux-gnu/pkgconfig/liburing.pc > .devdeps/pkgconfig/liburing.pc
PY312=$(ls -d /root/.pyenv/versions/3.12*/include 2>/dev/null | head -1 || true)
if [ -n "$PY312" ]; then mkdir -p .devdeps/python3.12 && cp -a "$PY312" .devdeps/python3.12/; fi
du -sh .devdeps

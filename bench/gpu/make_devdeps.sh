#!/usr/bin/env bash
# Copies the Debian development files the build needs (headers, static libraries, CMake configs, and
# the shared libraries some of them need at run time) into .devdeps, for a GPU machine whose image
# lacks them and cannot install packages. Plus Python 3.12 headers in case that image has none.
#
# Every find_package / pkg_check_modules of the CMake files is covered by a `# cmake NAME: PACKAGE`
# line below (or `# cmake NAME: machine` where the GPU machine's image or the build itself provides it);
# ctest devdeps_coverage (bench/gpu/devdeps_coverage_test.sh) checks that and that each PACKAGE is copied.
# `# cmake NAME: optional` marks a package the build does without (the feature is off where it is
# missing): libzmq, for KV events, whose shared library pulls in a dozen others the machine lacks.
# cmake CUDAToolkit: machine
# cmake Threads: machine
# cmake PkgConfig: machine
# cmake Python: machine
# cmake Llama: machine
# cmake OpenSSL: libssl-dev
# cmake libxxhash: libxxhash-dev
# cmake spdlog: libspdlog-dev
# cmake CLI11: libcli11-dev
# cmake GTest: libgtest-dev
# cmake pybind11: pybind11-dev
# cmake liburing: liburing-dev
# cmake yaml-cpp: libyaml-cpp-dev
# cmake cpp-httplib: libcpp-httplib-dev
# cmake libzstd: libzstd-dev
# cmake libzmq: optional
set -euo pipefail
cd "$(dirname "$0")/../.."
# Headers found through no CMake call: nlohmann-json3-dev and libasio-dev (header-only, under the
# carried /usr/include), libbrotli-dev and zlib1g-dev (httplib.h includes them). Runtime libraries:
# spdlog's and fmt's, yaml-cpp's, cpp-httplib's and the brotli it links, zstd's (Debian's libzstd.a is
# not position-independent, and the Python extension is a shared object).
PACKAGES=(libspdlog-dev libspdlog1.10 libfmt-dev libfmt9 libssl-dev libxxhash-dev libcli11-dev libgtest-dev
  pybind11-dev liburing-dev libyaml-cpp-dev libyaml-cpp0.7 libcpp-httplib-dev libcpp-httplib0.11
  libbrotli-dev libbrotli1 zlib1g-dev nlohmann-json3-dev libasio-dev libzstd-dev libzstd1)
rm -rf .devdeps && mkdir -p .devdeps
for p in "${PACKAGES[@]}"; do
  dpkg -L "$p" | while read -r f; do
    [ -f "$f" ] || [ -L "$f" ] || continue
    case "$f" in /usr/share/doc/*|/usr/share/man/*|/usr/share/lintian/*) continue ;; esac
    mkdir -p ".devdeps$(dirname "$f")" && cp -a "$f" ".devdeps$f"
  done
done
# Static OpenSSL and xxhash: the GPU machine has neither library.
rm -f .devdeps/usr/lib/x86_64-linux-gnu/{libcrypto,libssl,libxxhash}.so
# Static liburing (the disk tier's io_uring), found through its pkg-config file made relocatable; zstd
# (the lossless KV codec) through its own, linked shared.
rm -f .devdeps/usr/lib/x86_64-linux-gnu/liburing.so
# The .pc files, made relocatable, alone in .devdeps/pkgconfig (so the other .pc files copied here do
# not shadow the machine's own). cpp-httplib's drops its Requires.private (openssl, zlib, brotli): it
# is linked shared, so only its own -l is needed, and the machine has no .pc files for those.
mkdir -p .devdeps/pkgconfig
for pc in liburing cpp-httplib libzstd; do
  sed -e 's|^prefix=.*|prefix=${pcfiledir}/../usr|' -e 's|^libdir=.*|libdir=${prefix}/lib/x86_64-linux-gnu|' \
    -e 's|^includedir=.*|includedir=${prefix}/include|' -e '/^Requires.private:/d' \
    "/usr/lib/x86_64-linux-gnu/pkgconfig/$pc.pc" > ".devdeps/pkgconfig/$pc.pc"
done
PY312=$(ls -d /root/.pyenv/versions/3.12*/include 2>/dev/null | head -1 || true)
if [ -n "$PY312" ]; then mkdir -p .devdeps/python3.12 && cp -a "$PY312" .devdeps/python3.12/; fi
du -sh .devdeps

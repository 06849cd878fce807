#!/usr/bin/env bash
# The whole GPU session in one device call: build the extension and the GPU tests with the machine's
# own compilers (against Debian headers and static libraries carried in .devdeps, made by
# bench/gpu/make_devdeps.sh), run the GPU tests (skipped with TESTS=0), then the TTFT benchmarks:
# through one daemon shared by separate processes (daemon_ttft.py, arguments in DAEMON_TTFT_ARGS;
# skipped with DAEMON_TTFT=0), a multi-turn agent session through one daemon (agent_ttft.py,
# arguments in AGENT_ARGS; skipped with AGENT_TTFT=0), coded KV hits (codec_ttft.py, arguments in
# CODEC_ARGS; skipped with CODEC_TTFT=0), and embedded (ttft.py, arguments in TTFT_ARGS; skipped with
# TTFT=0). DISK_MIX=1 first measures the disk tier's read mixes (disk_mix.py) and runs daemon_ttft.py
# with the best. Output lands in $OUT.
#
#   run(command="TW_COMMIT=<sha> bash bench/gpu/run_on_device.sh", carry=[".devdeps"])
#
# The device tool sends the checkout its session started in. From another worktree, export this tree
# into an ignored folder of that checkout and run from there, e.g. (as recorded on 2026-11-27):
#   git archive HEAD | tar -x -C <session checkout>/build-capi-carry/src; cp -a .devdeps <same>/
#   run(command="cd build-capi-carry/src && TW_COMMIT=<sha> bash bench/gpu/run_on_device.sh",
#       carry=["build-capi-carry"])
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/tw_out}
mkdir -p "$OUT"
exec > >(tee "$OUT/device_log.txt") 2>&1
PY=${PY:-$(command -v python3)}
# BUILD_DIR outside the carried tree (e.g. /tmp/tw-build) survives between calls on a warm machine,
# so a second call of the same session skips the build.
BD=${BUILD_DIR:-build-dev}
DEV=$PWD/.devdeps
ARCH_LIB=$DEV/usr/lib/x86_64-linux-gnu
export PKG_CONFIG_PATH=$DEV/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}  # liburing (static), cpp-httplib
# The carried shared libraries (spdlog, fmt, yaml-cpp, cpp-httplib and its brotli), for the linker's
# search of their own dependencies and at run time.
export LD_LIBRARY_PATH=$ARCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PYTHONUNBUFFERED=1

echo "== machine ($(date -u +%FT%TZ), commit ${TW_COMMIT:-unknown})"
nvidia-smi --query-gpu=name,memory.total,driver_version,pcie.link.gen.current,pcie.link.width.current --format=csv
free -g | head -2; nproc; df -h /tmp | tail -1
$PY -V; $PY -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
nvcc --version | tail -1; g++ --version | head -1; cmake --version | head -1

echo "== build"
PYB_DIR=$($PY -c "import pybind11; print(pybind11.get_cmake_dir())" 2>/dev/null || true)
[ -n "$PYB_DIR" ] || PYB_DIR=$DEV/usr/lib/cmake/pybind11
PYINC=$($PY -c "import sysconfig; print(sysconfig.get_paths()['include'])")
PY_EXTRA=()
[ -f "$PYINC/Python.h" ] || PY_EXTRA=(-DPython_INCLUDE_DIR=$DEV/python3.12/include/python3.12)
echo "pybind11: $PYB_DIR; Python.h: ${PY_EXTRA[*]:-$PYINC}"
t0=$(date +%s)
cmake -S . -B "$BD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_POLICY_VERSION_MINIMUM=3.5 \
  -DCMAKE_PREFIX_PATH=$DEV/usr \
  -DTW_XXHASH_INCLUDE_DIR=$DEV/usr/include -DTW_XXHASH_LIBRARY=$ARCH_LIB/libxxhash.a \
  -DOPENSSL_ROOT_DIR=$DEV/usr -DOPENSSL_USE_STATIC_LIBS=ON -DOPENSSL_INCLUDE_DIR=$DEV/usr/include \
  -DOPENSSL_CRYPTO_LIBRARY=$ARCH_LIB/libcrypto.a -DOPENSSL_SSL_LIBRARY=$ARCH_LIB/libssl.a \
  -Dyaml-cpp_DIR=$ARCH_LIB/cmake/yaml-cpp -Dspdlog_DIR=$ARCH_LIB/cmake/spdlog -Dfmt_DIR=$ARCH_LIB/cmake/fmt -DGTest_DIR=$ARCH_LIB/cmake/GTest \
  -DCLI11_DIR=$DEV/usr/share/cmake/CLI11 -Dpybind11_DIR=$PYB_DIR -DPython_EXECUTABLE=$PY "${PY_EXTRA[@]}" \
  -DCMAKE_CUDA_ARCHITECTURES=90 > "$OUT/cmake.log" 2>&1 || { tail -40 "$OUT/cmake.log"; exit 1; }
grep "tokenwarehouse:" "$OUT/cmake.log"
ninja -C "$BD" -j "$(nproc)" _native gpu_test capi_test tokenwarehouse > "$OUT/build.log" 2>&1 || { grep -B2 -A12 "error" "$OUT/build.log" | head -80; exit 1; }
echo "built in $(( $(date +%s) - t0 )) s"
[[ $BD = /* ]] || BD=$PWD/$BD
export PYTHONPATH=$BD/python
export TW_BINARY=$BD/tools/tokenwarehouse/tokenwarehouse  # the daemon, for tests and daemon_ttft.py

if [ "${TESTS:-1}" != 0 ]; then
  echo "== GPU tests (ctest label gpu, C API, pytest)"
  # Whole outputs under $OUT/tests; the log keeps the summaries.
  mkdir -p "$OUT/tests"
  (cd "$BD" && ctest -L "gpu|capi" --output-on-failure > "$OUT/tests/ctest.txt" 2>&1; tail -6 "$OUT/tests/ctest.txt")
  "$BD"/src/gpu/gpu_test > "$OUT/tests/gpu_test.txt" 2>&1
  grep -E "^\[ *(OK|FAILED|SKIPPED|PASSED) " "$OUT/tests/gpu_test.txt" | head -60
  "$BD"/src/capi/capi_test
  if $PY -c "import pytest" 2>/dev/null; then
    # hf_cpu: the reserved KV layers on the CPU, with this machine's transformers.
    $PY -m pytest -q -p no:cacheprovider --ignore=python/tests/vllm python/tests > "$OUT/tests/pytest.txt" 2>&1
    tail -8 "$OUT/tests/pytest.txt"
    $PY -m pytest -v -p no:cacheprovider python/tests/test_gpu_daemon.py python/tests/test_hf.py 2>&1 \
      | grep -E "PASSED|FAILED|SKIPPED|ERROR|Error"
  else
    echo "pytest is not installed here: python tests not run on the GPU"
  fi
fi

if [ "${AGENT_TTFT:-1}" != 0 ]; then
  echo "== multi-turn agent session through one daemon (agent_ttft.py)"
  $PY bench/gpu/agent_ttft.py --binary "$TW_BINARY" --out "$OUT" ${AGENT_ARGS:-}
fi
if [ "${CODEC_TTFT:-1}" != 0 ]; then
  echo "== coded KV hits: fp8 and int8 decoded inside the load (codec_ttft.py)"
  $PY bench/gpu/codec_ttft.py --out "$OUT" ${CODEC_ARGS:-}
fi
DAEMON_CONFIG=()
if [ "${DISK_MIX:-0}" != 0 ]; then
  echo "== the disk tier's read mixes against raw O_DIRECT (disk_mix.py); the best one configures daemon_ttft.py"
  $PY bench/gpu/disk_mix.py --binary "$TW_BINARY" --out "$OUT" ${DISK_MIX_ARGS:-} && DAEMON_CONFIG=(--daemon-config "$OUT/disk_mix.yaml")
fi
if [ "${DAEMON_TTFT:-1}" != 0 ]; then
  echo "== TTFT through one daemon, separate processes (daemon_ttft.py)"
  $PY bench/gpu/daemon_ttft.py --binary "$TW_BINARY" --out "$OUT" "${DAEMON_CONFIG[@]}" ${DAEMON_TTFT_ARGS:-}
fi
if [ "${TTFT:-1}" != 0 ]; then
  echo "== TTFT benchmark, embedded store (ttft.py)"
  $PY bench/gpu/ttft.py --out "$OUT" ${TTFT_ARGS:-}
fi

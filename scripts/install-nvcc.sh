#!/usr/bin/env bash
# Installs a pinned CUDA compiler from PyPI into a project-local virtual environment (.venv-cuda;
# never the system Python), so that every `make build` compiles the GPU code (src/gpu, the Python
# binding's GPU half) even on machines without CUDA, and a CUDA compile error fails CI rather than
# the next run on a GPU machine. Nothing compiled with it runs here: without a GPU its tests skip.
# Idempotent: returns at once when the environment is complete. Prints nvcc's path.
#
#   scripts/install-nvcc.sh        # make sure .venv-cuda is complete; print its nvcc
#
# The PyPI wheels lay the toolkit out as nvidia/cu13/{bin,include,lib,nvvm}; nvcc links against
# lib64 and CMake's FindCUDAToolkit looks for an unversioned libcudart.so, so two links are added.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${TW_CUDA_VENV:-$PWD/.venv-cuda}
PINS=(nvidia-cuda-nvcc==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-runtime==13.0.96
      nvidia-cuda-cccl==13.0.85)
STAMP=$VENV/.tw-cuda-complete
PIN_SET="${PINS[*]}"
TOOLKIT() { echo "$VENV/lib/python$("$VENV/bin/python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')/site-packages/nvidia/cu13"; }

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$PIN_SET" ]; then
  echo "$(TOOLKIT)/bin/nvcc"
  exit 0
fi
echo "install-nvcc: installing ${PINS[*]} into $VENV" >&2
rm -rf "$VENV"
python3 -m venv "$VENV" >&2
timeout 900 "$VENV/bin/python" -m pip install -q --no-deps --disable-pip-version-check "${PINS[@]}" >&2
T=$(TOOLKIT)
ln -sfn lib "$T/lib64"
ln -sfn libcudart.so.13 "$T/lib/libcudart.so"
# The compiler must work before the environment is called complete.
probe=$(mktemp -d)
printf '#include <cuda_bf16.h>\n__global__ void k(float* x) { x[0] = __bfloat162float(__float2bfloat16(x[1])); }\n' > "$probe/p.cu"
"$T/bin/nvcc" -arch=sm_90 -c "$probe/p.cu" -o "$probe/p.o" >&2
rm -rf "$probe"
echo "$PIN_SET" > "$STAMP"
echo "$T/bin/nvcc"

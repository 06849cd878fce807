# Sourced, not run: the environment a CPU vLLM from scripts/install-engines.sh needs.
#   source scripts/engine-env.sh && "$TW_ENGINES_VENV/bin/python" -m vllm.entrypoints.openai.api_server ...
# tcmalloc and Intel OpenMP are preloaded as vLLM's CPU backend expects; gloo binds to loopback
# (it can stall for minutes resolving the host name otherwise); Hugging Face stays offline.
_tw_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export TW_ENGINES_VENV="${TW_ENGINES_VENV:-$_tw_root/.venv-engines}"
_tw_tcmalloc=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
_tw_iomp="$TW_ENGINES_VENV/lib/libiomp5.so"
export LD_PRELOAD="$_tw_tcmalloc:$_tw_iomp${LD_PRELOAD:+:$LD_PRELOAD}"
export VLLM_HOST_IP="${VLLM_HOST_IP:-127.0.0.1}"
export GLOO_SOCKET_IFNAME="${GLOO_SOCKET_IFNAME:-lo}"
export HF_HUB_OFFLINE=1
export VLLM_NO_USAGE_STATS=1
export DO_NOT_TRACK=1
unset _tw_root _tw_tcmalloc _tw_iomp

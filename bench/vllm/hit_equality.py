"""What a hit's output must equal, measured on this machine's CPU: a recompute, or vLLM's own
prefix-cache hit? Starts a daemon and three `vllm serve` engines on the tests' tiny model (no
connector; vLLM's prefix cache on; the Token Warehouse connector) and, for a few prompts, compares
log-probabilities bit for bit: recompute vs vLLM's own cache hit, and our hit vs vLLM's own hit.

    scripts/install-engines.sh && make build
    source scripts/engine-env.sh
    PYTHONPATH=build/python TW_BINARY=build/tools/tokenwarehouse/tokenwarehouse \\
        .venv-engines/bin/python bench/vllm/hit_equality.py [--prompts 4]

About 3 minutes on 2 cores. python/tests/vllm/test_vllm_connector.py asserts what this finds.
"""

import argparse
import pathlib
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "python" / "tests" / "vllm"))

from harness import Daemon, Engine, connector_config  # noqa: E402
from tiny_model import write as write_model  # noqa: E402

BLOCK = 64


def max_diff(a, b):
    return max(abs(x - y) for x, y in zip(a.logprobs, b.logprobs))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prompts", type=int, default=4)
    args = ap.parse_args()
    import torch

    isa = "AVX-512" if torch.cpu._is_avx512_supported() else "AVX2"
    work = pathlib.Path(tempfile.mkdtemp(prefix="tw-hit-equality-"))
    model = write_model()
    daemon = Daemon(work)
    daemon.start()
    engines = [Engine("recompute", work, model).start(), Engine("vllm-cache", work, model, prefix_caching=True).start(),
               Engine("warehouse", work, model, connector_config(daemon.url, BLOCK)).start()]
    try:
        for e in engines:
            e.wait_ready()
        recompute, cache, ours = engines
        print(f"vLLM kernels: {isa}")
        print("| prompt | tokens | cached (vLLM / ours) | recompute == vLLM hit | max diff | our hit == vLLM hit | max diff |")
        print("|---:|---:|---|---|---:|---|---:|")
        for seed in range(1, args.prompts + 1):
            p = " ".join(f"w{(seed * 7919 + i * 104729) % 997}" for i in range(80))
            full = recompute.complete(p)
            cache.complete(p)
            theirs = cache.complete(p)
            ours.complete(p)
            mine = ours.complete(p)
            print(f"| {seed} | {full.prompt_tokens} | {theirs.cached_tokens} / {mine.cached_tokens} | "
                  f"{full.logprobs == theirs.logprobs} | {max_diff(full, theirs):.3g} | "
                  f"{mine.logprobs == theirs.logprobs} | {max_diff(mine, theirs):.3g} |", flush=True)
    finally:
        for e in engines:
            e.stop()
        daemon.stop()


if __name__ == "__main__":
    main()

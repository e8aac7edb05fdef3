"""A persistent, content-addressed cache of model calls, so no finished call is ever paid twice.

The key is a SHA-256 over the namespace (stage and policy-pack hash), the engine identity and
the request payload (messages, sampling, constraints). Settings that cannot change an output
(concurrency, retries, timeouts, API keys) are not part of it. Each completion is committed
to SQLite (WAL) the moment it arrives, so a crash, Ctrl-C or ``kill -9`` loses at most the
calls still in flight. Calls that failed in transport (after retries) are not stored: a rerun
tries them again.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from star1.engines.base import ChatRequest, Completion, Engine, OnResult


def call_key(namespace: str, identity: str, request: ChatRequest) -> str:
    payload = {"namespace": namespace, "engine": identity, "request": request.cache_payload()}
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class CallCache:
    """SQLite-backed map from call key to completion. Safe to share between threads."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
        self._db.execute("CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, namespace TEXT, "
                         "completion TEXT NOT NULL, created REAL NOT NULL)")
        self._db.commit()

    def get(self, key: str) -> Completion | None:
        with self._lock:
            row = self._db.execute("SELECT completion FROM calls WHERE key = ?", (key,)).fetchone()
        return Completion.from_json(row[0]) if row else None

    def contains(self, key: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM calls WHERE key = ?", (key,)).fetchone() is not None

    def put(self, key: str, namespace: str, completion: Completion) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?)",
                             (key, namespace, completion.to_json(), time.time()))
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


@dataclass
class CallStats:
    requested: int = 0
    cached: int = 0
    new: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)

    def add(self, other: "CallStats") -> None:
        for name in ("requested", "cached", "new", "failed", "prompt_tokens", "completion_tokens",
                     "seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for k, v in other.errors.items():
            self.errors[k] = self.errors.get(k, 0) + v


class CachedEngine:
    """Wraps an engine: answers from the cache where it can, stores every new success at once.

    ``namespace`` separates stages (and policy packs) that might send identical requests.
    ``progress`` is an optional callable ``(done, total)`` called after each completion.
    """

    def __init__(self, engine: Engine, cache: CallCache, namespace: str):
        self.engine = engine
        self.cache = cache
        self.namespace = namespace
        self.name = engine.name
        self.identity = engine.identity
        self.native_reasoning = engine.native_reasoning
        self.scores_choices = engine.scores_choices
        self.stats = CallStats()

    def keys(self, requests: Sequence[ChatRequest]) -> list[str]:
        return [call_key(self.namespace, self.identity, r) for r in requests]

    def count_uncached(self, requests: Sequence[ChatRequest]) -> int:
        return sum(not self.cache.contains(k) for k in self.keys(requests))

    def generate(self, requests: Sequence[ChatRequest], on_result: OnResult | None = None,
                 progress=None) -> list[Completion]:
        started = time.perf_counter()
        keys = self.keys(requests)
        results: list[Completion | None] = [None] * len(requests)
        todo: list[int] = []
        done = 0
        for i, key in enumerate(keys):
            hit = self.cache.get(key)
            if hit is None:
                todo.append(i)
                continue
            results[i] = hit
            self.stats.cached += 1
            done += 1
            if on_result:
                on_result(i, hit)
        if progress:
            progress(done, len(requests))

        def store(j: int, completion: Completion) -> None:
            nonlocal done
            i = todo[j]
            results[i] = completion
            if completion.finish_reason != "error":
                # A finished call is stored even when truncated ("length"): it was paid for,
                # and the same request would be truncated again.
                self.cache.put(keys[i], self.namespace, completion)
                self.stats.new += 1
            if not completion.ok:
                self.stats.failed += 1
                reason = (completion.error or "error").split(":")[0][:60]
                self.stats.errors[reason] = self.stats.errors.get(reason, 0) + 1
            self.stats.prompt_tokens += completion.prompt_tokens
            self.stats.completion_tokens += completion.completion_tokens
            done += 1
            if on_result:
                on_result(i, completion)
            if progress:
                progress(done, len(requests))

        if todo:
            self.engine.generate([requests[i] for i in todo], on_result=store)
        self.stats.requested += len(requests)
        self.stats.seconds += time.perf_counter() - started
        missing = [i for i, r in enumerate(results) if r is None]
        for i in missing:  # an engine that skipped a request is a bug, but never a lost sample
            results[i] = Completion(text="", finish_reason="error", error="engine returned no result")
        return results  # type: ignore[return-value]

    def close(self) -> None:
        self.engine.close()

"""A persistent, content-addressed cache of model calls, so no finished call is ever paid twice.

The key is a SHA-256 over the namespace (stage and policy-pack hash), the engine identity, the
request payload (messages, sampling, constraints) and — only where it is not the default — the
*variant* the engine served the call with (structured output stepped down, prefill through
/v1/completions). Settings that cannot change an output (concurrency, retries, timeouts, API
keys, ``length_is_failure``) are not part of it: keys of calls made with default settings are
the same as before these fields existed, so paid caches stay valid. ``length_is_failure`` is
applied when a cut-off completion is read, so flipping it re-reads paid calls.

Each completion is committed to SQLite (WAL) the moment it arrives, so a crash, Ctrl-C or
``kill -9`` loses at most the calls still in flight. Calls that failed in transport (after
retries) are not stored: a rerun tries them again. A row that does not read back as a valid
completion counts as absent (asked again, overwritten), and a cache file that is not an intact
SQLite database is moved aside (``<name>.corrupt-<time>``) and started afresh.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sqlite3
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from star1.engines.base import ChatRequest, Completion, Engine, OnResult, apply_length_policy
from star1.errors import SetupError
from star1.redact import redact

log = logging.getLogger(__name__)

_CORRUPT = {"SQLITE_CORRUPT", "SQLITE_NOTADB"}


class CacheUnusable(SetupError):
    """The cache file cannot be opened or repaired; the message names it and says what to do."""


def call_key(namespace: str, identity: str, request: ChatRequest, variant: str = "", attempt: int = 0) -> str:
    """``attempt``: the how-manieth time the identical request is asked (a retry that must not
    change the request, as the STAR-1 reference re-asks); 0, the first, keeps the key it had
    before attempts existed."""
    payload = {"namespace": namespace, "engine": identity, "request": request.cache_payload()}
    if variant:
        payload["variant"] = variant
    if attempt:
        payload["attempt"] = attempt
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8", errors="surrogatepass")).hexdigest()


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    name = getattr(exc, "sqlite_errorname", None)  # Python >= 3.11
    if name:
        return name in _CORRUPT
    text = str(exc)
    return "malformed" in text or "not a database" in text


def _truncated(path: Path) -> bool:
    """The header promises more pages than the file holds (a cache cut short by a full disk or
    a partial copy). Read from the 100-byte header, so it costs nothing even for a 400 MB cache,
    where ``PRAGMA quick_check`` took 1.1 s warm and 17 s cold."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(100)
        size = path.stat().st_size
    except OSError:
        return False
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
        return False  # empty (new) or not SQLite at all: the open itself says so
    page_size = struct.unpack(">H", header[16:18])[0]
    page_size = 65536 if page_size == 1 else page_size
    pages = struct.unpack(">I", header[28:32])[0]
    valid = header[24:28] == header[92:96]  # the page count is meaningful only then
    return valid and pages * page_size > size


class CallCache:
    """SQLite-backed map from call key to completion. Safe to share between threads."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = self._open()

    def _connect(self) -> sqlite3.Connection:
        if _truncated(self.path):
            raise sqlite3.DatabaseError("database disk image is malformed (file shorter than its header says)")
        db = sqlite3.connect(self.path, check_same_thread=False, timeout=60)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
            db.execute("CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, namespace TEXT, "
                       "completion TEXT NOT NULL, created REAL NOT NULL)")
            db.commit()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _open(self) -> sqlite3.Connection:
        try:
            return self._connect()
        except sqlite3.DatabaseError as exc:
            if not _is_corruption(exc):
                raise CacheUnusable(f"call cache {self.path}: {exc}. Check that the folder is writable and "
                                    "that no other program holds the file; or pass another --cache") from None
            self._quarantine(exc)
            return self._connect()

    def _quarantine(self, exc: Exception) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        try:
            os.replace(self.path, target)
            for suffix in ("-wal", "-shm"):
                side = self.path.with_name(self.path.name + suffix)
                if side.exists():
                    os.replace(side, target.with_name(target.name + suffix))
        except OSError as move_error:
            raise CacheUnusable(
                f"call cache {self.path} is corrupt ({exc}) and could not be moved aside ({move_error}). "
                f"Delete or move it yourself (it is only a cache: its calls will be made again)") from None
        log.warning("call cache %s is corrupt (%s): moved it to %s and started a new cache; its calls "
                    "will be made again", self.path, exc, target)

    def _recover(self, exc: sqlite3.DatabaseError) -> None:
        """A corruption found mid-run: move the file aside and go on with a fresh cache."""
        if not _is_corruption(exc):
            raise CacheUnusable(f"call cache {self.path}: {exc}") from None
        self._db.close()
        self._quarantine(exc)
        self._db = self._connect()

    def get(self, key: str) -> Completion | None:
        with self._lock:
            try:
                row = self._db.execute("SELECT completion FROM calls WHERE key = ?", (key,)).fetchone()
            except sqlite3.DatabaseError as exc:
                self._recover(exc)
                return None
        if not row:
            return None
        try:
            return Completion.from_json(row[0])
        except ValueError as exc:
            log.warning("call cache %s: the row for key %s… is not a valid completion (%s); asking again",
                        self.path, key[:12], exc)
            return None

    def contains(self, key: str) -> bool:
        with self._lock:
            try:
                return self._db.execute("SELECT 1 FROM calls WHERE key = ?", (key,)).fetchone() is not None
            except sqlite3.DatabaseError as exc:
                self._recover(exc)
                return False

    def put(self, key: str, namespace: str, completion: Completion) -> None:
        row = (key, namespace, redacted(completion).to_json(), time.time())
        with self._lock:
            try:
                self._db.execute("INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?)", row)
                self._db.commit()
            except sqlite3.DatabaseError as exc:
                self._recover(exc)
                self._db.execute("INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?)", row)
                self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> CallCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def redacted(completion: Completion) -> Completion:
    """``completion`` with every registered key removed from its texts: the cache is a sink like
    any file, and a server may echo a key in a 200 reply (in the answer, in the reasoning, or
    split over two streamed chunks, which are joined before this)."""
    from dataclasses import replace

    texts = {"text": completion.text, "reasoning": completion.reasoning, "error": completion.error}
    clean = {name: redact(value) if value else value for name, value in texts.items()}
    return completion if clean == texts else replace(completion, **clean)


def error_category(error: str) -> str:
    """A failure reason's kind, for counts: "HTTP 401", "connection refused", "length"."""
    text = re.sub(r"^gave up after \d+ attempts: ", "", error)
    return re.split(r":| from | \(", text, maxsplit=1)[0].strip()[:60]


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

    def add(self, other: CallStats) -> None:
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
        self.scores_choices = engine.scores_choices
        self.stats = CallStats()

    @property
    def native_reasoning(self) -> bool:
        """Asked of the engine when a stage needs it (a served model is probed for it then)."""
        return self.engine.native_reasoning

    @property
    def identity(self) -> str:
        # Read each time: a remote engine's identity is settled by its start-up check (prepare).
        return self.engine.identity

    def sampling_report(self, sampling) -> dict | None:
        """The wrapped engine's account of what the server was asked for and honours (remote
        engines); None for engines that run the model themselves and so honour every field."""
        return self.engine.sampling_report(sampling)

    def _variants(self, request: ChatRequest) -> list[str]:
        """The variants a cached answer to ``request`` may be stored under, the one a new call
        would be served with first (engines without variants: just the default "")."""
        return self.engine.cache_variants(request)

    def keys(self, requests: Sequence[ChatRequest], variants: Sequence[str] | None = None,
             attempt: int = 0) -> list[str]:
        identity = self.identity
        variants = variants if variants is not None else [self._variants(r)[0] for r in requests]
        return [call_key(self.namespace, identity, r, v, attempt) for r, v in zip(requests, variants)]

    def _lookup(self, request: ChatRequest, variants: Sequence[str], attempt: int = 0) -> Completion | None:
        identity = self.identity
        for variant in variants:
            hit = self.cache.get(call_key(self.namespace, identity, request, variant, attempt))
            if hit is not None:
                return hit
        return None

    def count_uncached(self, requests: Sequence[ChatRequest]) -> int:
        identity = self.identity
        return sum(not any(self.cache.contains(call_key(self.namespace, identity, r, v)) for v in self._variants(r))
                   for r in requests)

    def generate(self, requests: Sequence[ChatRequest], on_result: OnResult | None = None,
                 progress=None, attempt: int = 0) -> list[Completion]:
        """``attempt`` > 0: the requests were asked before and the answers did not do; they are
        looked up and stored apart from the first answers (see :func:`call_key`)."""
        started = time.perf_counter()
        if requests:
            self.engine.prepare(requests)  # settles identity and variants before any key is computed
        candidates = [self._variants(r) for r in requests]
        variants = [c[0] for c in candidates]
        keys = self.keys(requests, variants, attempt)
        length_is_failure = self.engine.length_is_failure
        results: list[Completion | None] = [None] * len(requests)
        todo: list[int] = []
        done = 0
        for i, key in enumerate(keys):
            hit = self.cache.get(key)
            if hit is None and len(candidates[i]) > 1:
                hit = self._lookup(requests[i], candidates[i][1:], attempt)
            if hit is None:
                todo.append(i)
                continue
            apply_length_policy(hit, requests[i].sampling.max_tokens, length_is_failure)
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
            completion = redacted(completion)  # what a rerun reads back from the cache
            results[i] = completion
            if completion.finish_reason != "error":
                # A finished call is stored even when truncated ("length"): it was paid for,
                # and the same request would be truncated again. Its key names the variant it
                # was really served with (a server may have stepped structured output down).
                key = keys[i] if completion.variant == variants[i] else call_key(
                    self.namespace, self.identity, requests[i], completion.variant, attempt)
                self.cache.put(key, self.namespace, completion)
                self.stats.new += 1
            if not completion.ok:
                self.stats.failed += 1
                reason = error_category(completion.error or "error")
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

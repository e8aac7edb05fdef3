"""Failure reasons that say what the server said and what to do about it.

Every reason built from a server's reply carries its status, the first :data:`BODY_CHARS`
characters of its body (redacted: a 401 body may echo the API key) and a hint where one helps:
a 404 may mean a base URL without ``/v1``, a 401/403 names the environment variable the key
came from, a body about the context length names the context window. Transport failures are
told apart: nothing listening (connection refused), a dropped connection, and the request's
own deadline.
"""

from __future__ import annotations

import asyncio
import email.utils
import re
import time

from star1.redact import redact

BODY_CHARS = 300
_CONTEXT = re.compile(r"context (length|window|size)|maximum context|too many tokens|exceed\w* (the )?"
                      r"(context|max|maximum)|prompt is too long|n_ctx", re.IGNORECASE)
_FORMAT = re.compile(r"response_format|response format|json_schema|json_object|structured output|"
                     r"guided_json", re.IGNORECASE)
# What a server says when it does not take a field's value: llama-cpp-python's pydantic error
# ("Input should be 'text' or 'json_object'"), "not supported", "unknown", "must be one of".
_UNSUPPORTED = re.compile(r"input should be|not supported|unsupported|does not support|doesn't support|"
                          r"must be one of|not one of|extra (inputs|fields) (are )?not permitted|"
                          r"unknown|unrecognized|not (allowed|permitted|accepted|recognized|available)",
                          re.IGNORECASE)


def body_excerpt(body: bytes | str) -> str:
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    text = " ".join(redact(text).split())
    return text[:BODY_CHARS] + ("…" if len(text) > BODY_CHARS else "")


def rejects_structured_output(status: int, body: str) -> bool:
    """The server refused the response format: a 4xx about it (vLLM/OpenAI answer 400), or a
    5xx that says the format is not taken (llama-cpp-python answers 500 with
    "response_format.type: Input should be 'text' or 'json_object'"). A 5xx that merely
    mentions the schema is a transient failure, retried like any other; overload statuses
    (408/409/425/429, 502-504) never count: their bodies are not about the request."""
    if status in (408, 409, 425, 429, 502, 503, 504) or status < 400 or not _FORMAT.search(body):
        return False
    return status < 500 or bool(_UNSUPPORTED.search(body))


def http_reason(status: int, body: str, url: str, base_url: str, key_env: str | None,
                context_window: int | None) -> str:
    reason = f"HTTP {status} from {url}"
    if body:
        reason += f": {body}"
    hints = []
    if status == 404:
        if "model" in body.lower():
            hints.append("is the model name one the server serves (GET /v1/models)?")
        if not base_url.rstrip("/").endswith("/v1"):
            hints.append(f"does the base URL end in /v1? (it is {base_url})")
    if status in (401, 403):
        hints.append(f"the key comes from the environment variable {key_env}; check it is set and valid"
                     if key_env else "the server wants an API key: set api_key_env")
    if _CONTEXT.search(body):
        window = f" ({context_window} tokens)" if context_window else ""
        hints.append(f"the prompt plus max_tokens do not fit the model's context window{window}: "
                     "lower max_tokens, shorten the prompt or raise the server's context size")
    return reason + "".join(f" — {h}" for h in hints)


def _causes(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def transport_reason(exc: BaseException, url: str) -> str:
    """Name what went wrong on the wire. The aiohttp transport maps every connection error,
    a refused connection included, to ``ConnectTimeout``; the original error is its cause."""
    names = [type(e).__name__ for e in _causes(exc)]
    if any(isinstance(e, ConnectionRefusedError) for e in _causes(exc)) or "ClientConnectorError" in names:
        return (f"connection refused: nothing is listening at {url} — is the server running, "
                "and are the host and port right?")
    if any(n in names for n in ("ServerDisconnectedError", "RemoteProtocolError", "ClientPayloadError",
                                "ConnectionResetError", "ReadError", "IncompleteReadError")):
        return f"the server at {url} closed the connection before the reply was complete"
    if any(isinstance(e, (TimeoutError, asyncio.TimeoutError)) for e in _causes(exc)) or \
            any("Timeout" in n for n in names):
        return f"no reply from {url} in time (a read timed out)"
    return f"{names[0]} talking to {url}: {redact(str(exc))[:BODY_CHARS]}"


def deadline_reason(timeout: float) -> str:
    return (f"no complete reply within timeout={timeout:g}s (the whole request, including the time "
            "it queued on the server behind other requests; raise timeout, or lower concurrency "
            "for a server with few slots)")


def retry_after_seconds(headers) -> float | None:
    """Seconds to wait from ``retry-after-ms`` / ``retry-after`` (seconds or an HTTP date)."""
    if headers is None:
        return None
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None

"""The HTTP side of the openai engine: one client per endpoint, one exchange with a bounded body,
and running the engine's coroutines from plain or notebook code."""

from __future__ import annotations

import asyncio
import json
import threading

from star1.engines.openai_reply import MAX_BODY_BYTES, MalformedReply

try:  # openai >= 2 ships httpx2; older releases use httpx (the same API)
    import httpx2 as httpx
except ImportError:  # pragma: no cover - depends on the installed openai
    import httpx

try:  # the aiohttp transport lets a few of its own errors through unmapped
    from aiohttp import ClientError as _AiohttpError
except ImportError:  # pragma: no cover
    _AiohttpError = OSError
TRANSPORT_ERRORS = (httpx.HTTPError, OSError, _AiohttpError)


class Endpoint:
    def __init__(self, url: str, key: str | None, key_env: str):
        self.url, self.key, self.key_env = url.rstrip("/"), key, key_env


def http_client(endpoint: Endpoint, timeout: float):
    """The openai package's aiohttp transport where installed (``openai[aiohttp]``): it halved
    client CPU per request in benchmarks/engine_throughput.py; else plain httpx."""
    headers = {"user-agent": "star1"}
    if endpoint.key:
        headers["authorization"] = f"Bearer {endpoint.key}"
    options = dict(headers=headers, timeout=httpx.Timeout(timeout), follow_redirects=True)
    try:
        from openai import DefaultAioHttpClient

        return DefaultAioHttpClient(**options)
    except (ImportError, RuntimeError):
        return httpx.AsyncClient(**options)


def run(factory):
    """Run ``factory()``'s coroutine to completion, from plain code or from inside a running
    event loop (a notebook), where it gets a thread of its own. Deciding first, outside any
    ``except`` block, keeps an error inside the run from surfacing chained to a misleading
    "RuntimeError: no running event loop"."""
    try:
        asyncio.get_running_loop()
        running = True
    except RuntimeError:
        running = False
    if not running:
        return asyncio.run(factory())
    box: dict = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(factory())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread below
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


async def exchange(client, method: str, url: str, body: dict | None):
    """One HTTP exchange; the reply body is read up to :data:`MAX_BODY_BYTES`."""
    content = json.dumps(body).encode() if body is not None else None  # ASCII: any text is sendable
    headers = {"content-type": "application/json"} if body is not None else {}
    async with client.stream(method, url, content=content, headers=headers) as response:
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise MalformedReply(f"malformed response: body larger than {MAX_BODY_BYTES} bytes")
            chunks.append(chunk)
        return response.status_code, response.headers, b"".join(chunks)

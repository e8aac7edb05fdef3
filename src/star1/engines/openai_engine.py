"""Any OpenAI-compatible chat server (OpenAI, DeepSeek, vLLM, SGLang) through the official async client.

- Requests are balanced round-robin over the configured base URLs (each with its key), at most
  ``concurrency`` in flight; a retried request moves on to the next URL.
- 429, 5xx, 408/409, timeouts, dropped connections and malformed bodies are retried with
  exponential backoff and full jitter; a server's ``Retry-After`` is honoured. Other 4xx fail at
  once. A request that still fails comes back with ``error`` set — it never raises.
- ``finish_reason == "length"`` marks the completion failed (configurable), without a retry:
  the same request would be cut again.
- Reasoning arrives as ``reasoning_content`` (DeepSeek, vLLM), ``reasoning`` (newer vLLM) or
  inline ``<think>…</think>``; all three are normalised into ``Completion.reasoning``.
- Keys are read from environment variables at start and are never logged or stored.
"""

from __future__ import annotations

import asyncio
import email.utils
import itertools
import json
import logging
import os
import random
import threading
import time
from typing import Sequence

from star1.engines.base import ChatRequest, Completion, OnResult
from star1.engines.config import EngineConfig
from star1.engines.identity import engine_identity
from star1.engines.local import guess_native_reasoning
from star1.engines.reasoning import split_reasoning
from star1.errors import ConfigError

log = logging.getLogger(__name__)

RETRYABLE_STATUS = {408, 409, 425, 429}


class _Retry(Exception):
    def __init__(self, reason: str, delay: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.delay = delay


class _Fail(Exception):
    pass


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
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def _http_client_option() -> dict:
    """The client's aiohttp transport where installed (``openai[aiohttp]``): the openai
    documentation's choice for high concurrency; it halves our client CPU per request."""
    try:
        from openai import DefaultAioHttpClient

        return {"http_client": DefaultAioHttpClient()}
    except (ImportError, RuntimeError):
        return {}


class OpenAIEngine:
    def __init__(self, config: EngineConfig):
        if not config.model or not config.base_urls:
            raise ConfigError("the openai engine needs a model and at least one base URL")
        keys = []
        for var in config.api_key_env:
            value = os.environ.get(var)
            if not value:
                # Local vLLM / SGLang servers usually need no key; remote APIs will answer 401.
                log.warning("environment variable %s is not set; sending requests without a key", var)
            keys.append(value or "EMPTY")
        if len(keys) == 1:
            keys = keys * len(config.base_urls)
        if len(keys) != len(config.base_urls):
            raise ConfigError(f"{len(config.api_key_env)} api_key_env entries for "
                              f"{len(config.base_urls)} base URLs: give one, or one per URL")
        self.config = config
        self._endpoints = list(zip(config.base_urls, keys))
        self.name = config.engine_string()
        self.identity = engine_identity(config)
        self.native_reasoning = guess_native_reasoning(config)
        self._structured = config.structured_output
        self.scores_choices = False

    # -- Engine protocol ---------------------------------------------------------------------

    def generate(self, requests: Sequence[ChatRequest],
                 on_result: OnResult | None = None) -> list[Completion]:
        if not requests:
            return []
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._generate_all(requests, on_result))
        # Called from inside an event loop (a notebook): run ours in a thread.
        box: list = []
        thread = threading.Thread(target=lambda: box.append(
            asyncio.run(self._generate_all(requests, on_result))))
        thread.start()
        thread.join()
        return box[0]

    def close(self) -> None:
        pass

    # -- internals ---------------------------------------------------------------------------

    async def _generate_all(self, requests: Sequence[ChatRequest],
                            on_result: OnResult | None) -> list[Completion]:
        from openai import AsyncOpenAI

        # The client's own connection pool is far larger than any sane concurrency; the
        # semaphore below is what limits requests in flight. Retries are ours, not the client's.
        clients = [AsyncOpenAI(base_url=url, api_key=key, max_retries=0, timeout=self.config.timeout,
                               **_http_client_option())
                   for url, key in self._endpoints]
        rotation = itertools.cycle(range(len(clients)))
        gate = asyncio.Semaphore(self.config.concurrency)
        results: list[Completion | None] = [None] * len(requests)

        async def one(i: int) -> None:
            async with gate:
                completion = await self._call_with_retries(clients, rotation, requests[i])
            results[i] = completion
            if on_result:
                on_result(i, completion)

        try:
            await asyncio.gather(*(one(i) for i in range(len(requests))))
        finally:
            for client in clients:
                await client.close()
        return results  # type: ignore[return-value]

    async def _call_with_retries(self, clients, rotation, request: ChatRequest) -> Completion:
        last = "no attempt made"
        for attempt in range(self.config.max_retries + 1):
            client = clients[next(rotation)]
            try:
                return await self._call_once(client, request)
            except _Retry as retry:
                last = retry.reason
                if attempt == self.config.max_retries:
                    break
                backoff = min(self.config.backoff_max, self.config.backoff_base * 2 ** attempt)
                delay = random.uniform(0, backoff)  # full jitter
                if retry.delay is not None:
                    delay = max(delay, retry.delay)
                log.info("retrying in %.2fs after: %s", delay, retry.reason)
                await asyncio.sleep(delay)
            except _Fail as fail:
                return Completion(text="", finish_reason="error", error=str(fail))
        return Completion(text="", finish_reason="error",
                          error=f"gave up after {self.config.max_retries + 1} attempts: {last}")

    def _arguments(self, request: ChatRequest) -> dict:
        sampling = request.sampling
        messages = list(request.messages)
        extra: dict = {}
        if request.prefill:
            # vLLM and SGLang continue a final assistant message with these flags.
            messages.append({"role": "assistant", "content": request.prefill})
            extra.update(continue_final_message=True, add_generation_prompt=False)
        args: dict = {"model": self.config.model, "messages": messages,
                      sampling.max_tokens_field: sampling.max_tokens}
        # None: not sent, so the server's default applies (see SamplingParams).
        if sampling.temperature is not None:
            args["temperature"] = sampling.temperature
        if sampling.top_p is not None:
            args["top_p"] = sampling.top_p
        if sampling.stop:
            args["stop"] = list(sampling.stop)
        if sampling.seed is not None:
            args["seed"] = sampling.seed
        if sampling.repetition_penalty:
            extra["repetition_penalty"] = sampling.repetition_penalty
        if request.json_schema is not None and self._structured != "none":
            if self._structured == "json_schema":
                args["response_format"] = {"type": "json_schema", "json_schema": {
                    "name": "answer", "schema": request.json_schema, "strict": True}}
            else:
                args["response_format"] = {"type": "json_object"}
        args.update(extra)  # server-specific fields go into the same JSON body
        return args

    async def _call_once(self, client, request: ChatRequest) -> Completion:
        import openai

        args = self._arguments(request)
        try:
            # The client's generic POST (documented for endpoints it has no typed method for)
            # sends the same request as ``chat.completions.create`` but skips the typed-params
            # transform and response-model construction: ~3.5 ms of CPU per request, which
            # decides throughput at high concurrency.
            response = await client.post("/chat/completions", body=args, cast_to=dict)
        except openai.APIStatusError as exc:
            status = exc.status_code
            if status in RETRYABLE_STATUS or status >= 500:
                raise _Retry(f"HTTP {status}", retry_after_seconds(exc.response.headers)) from None
            if status == 400 and "response_format" in args and "response_format" in str(exc.message):
                log.warning("server rejected structured output; continuing without it")
                self._structured = "none"
                raise _Retry("structured output unsupported", 0.0) from None
            raise _Fail(f"HTTP {status}: {exc.message}"[:500]) from None
        except (openai.APITimeoutError, openai.APIConnectionError) as exc:
            raise _Retry(type(exc).__name__) from None
        except (openai.APIResponseValidationError, json.JSONDecodeError, ValueError) as exc:
            raise _Retry(f"malformed response: {type(exc).__name__}") from None
        return self._to_completion(request, response)

    def _to_completion(self, request: ChatRequest, response) -> Completion:
        try:
            choice = response["choices"][0]
            message = choice["message"]
            content = message.get("content") or ""
        except (TypeError, KeyError, IndexError, AttributeError):
            raise _Retry("malformed response: no choices") from None
        if not isinstance(content, str):
            raise _Retry("malformed response: content is not text")
        reasoning = message.get("reasoning_content") or message.get("reasoning")
        if request.prefill:
            text = content
        elif reasoning:
            text = split_reasoning(content)[1] if "</think>" in content else content.strip()
        else:
            reasoning, text = split_reasoning(content)
        usage = response.get("usage") or {}
        finish_reason = choice.get("finish_reason") or "stop"
        error = None
        if finish_reason == "length" and self.config.length_is_failure:
            error = f"length: output reached max_tokens={request.sampling.max_tokens}"
        return Completion(text=text, reasoning=reasoning, finish_reason=finish_reason,
                          prompt_tokens=usage.get("prompt_tokens") or 0,
                          completion_tokens=usage.get("completion_tokens") or 0,
                          error=error)

"""Any OpenAI-compatible server (OpenAI, DeepSeek, vLLM, SGLang, llama.cpp, Ollama) over HTTP.

- Requests are balanced round-robin over the configured base URLs (each with its key), at most
  ``concurrency`` in flight; a retried request moves on to the next URL.
- ``timeout`` is one deadline for the whole request, from sending it to the last byte of the
  reply, queueing on the server included (a per-read timeout never fires on a server that drips
  one byte a second). At the deadline the connection is closed, which lets a server notice.
- 429, 5xx, 408/409/425, timeouts, dropped connections and malformed replies are retried with
  exponential backoff and full jitter. A ``Retry-After`` is honoured up to ``retry_after_max``;
  a server asking for longer fails the request at once (with one base URL) or is skipped for
  the next URL: waiting an hour inside a run helps nobody. Other 4xx fail at once. A request
  that still fails comes back with ``error`` set (status, the server's explanation, a hint) —
  nothing that happens while reading one reply escapes :meth:`OpenAIEngine.generate`.
- A server that rejects the structured-output mode (a 4xx about it, or a 5xx saying it is not
  taken; not a transient 5xx) is stepped down for the rest of the run (json_schema → json_object
  with the schema → json_object → none); the next run tries the configured mode again. The mode
  is recorded on each completion (``variant``), so the call cache never serves one mode's output
  for another, and the weakest mode used is remembered per endpoint
  (:mod:`star1.engines.endpoints`) so that calls made in it are still found.
- Prefill (continuing a started assistant turn) is checked once per endpoint with
  :mod:`star1.engines.prefill_probe`; a server that ignores it is spoken to through
  /v1/completions with a prompt rendered by star1 (``tokenizer=``), or the run stops.
- ``finish_reason == "length"`` marks the completion failed (configurable), without a retry.
- Reasoning arrives as ``reasoning_content``, ``reasoning`` or inline ``<think>…</think>``; all
  are normalised into ``Completion.reasoning``.
- Keys are read from environment variables at start and registered with :mod:`star1.redact`:
  no error text, log line or record built from a server's reply carries one.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import random
import threading
import time
from collections.abc import Sequence
from functools import partial
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from star1.engines import dialects, openai_request
from star1.engines import openai_errors as errors
from star1.engines.base import ChatRequest, Completion, OnResult, SamplingParams, apply_length_policy
from star1.engines.endpoints import CONFIG_LEVEL, LEVELS, EndpointFacts, is_hosted, remote_identity, store
from star1.engines.kind import EngineConfig
from star1.engines.openai_errors import retry_after_seconds  # noqa: F401 (re-exported)
from star1.engines.openai_http import TRANSPORT_ERRORS, Endpoint, exchange, http_client, run
from star1.engines.openai_reply import EmptyStream, MalformedReply, check_size, parse_json, read_reply, read_stream
from star1.engines.urls import check_base_url
from star1.errors import ConfigError
from star1.reasoning import split_reasoning
from star1.redact import clip, register_secret

# A refused connection is retried this often (a server restarting), not max_retries times:
# measured, seven backoffs kept a run against a wrong port busy for 43 s before it said so.
REFUSED_RETRIES = 2
log = logging.getLogger(__name__)

RETRYABLE_STATUS = {408, 409, 425, 429}
LISTING_TIMEOUT = 30.0  # seconds for GET /v1/models; a server still loading answers later


class OpenAIConfig(EngineConfig):
    """``openai:<model>@<base_url>[,<base_url>...]``: any OpenAI-compatible server."""

    FORM: ClassVar[str] = "openai:<model>@<base_url>[,<base_url2>...][?api_key_env=VAR&concurrency=N&...]"

    kind: Literal["openai"] = "openai"
    model: str = Field(description="the model name the server answers to")
    base_urls: list[str] = Field(min_length=1, description="requests are balanced across these")
    api_key_env: list[str] = Field(default_factory=lambda: ["OPENAI_API_KEY"],
                                   description="env vars holding the keys (a name, a comma-separated string "
                                               "or a list); one per base URL, or one for all")
    concurrency: int = Field(32, ge=1, description="requests in flight at once (llama.cpp / Ollama "
                                                   "servers: 1 unless set, see docs/servers.md)")
    timeout: float = Field(600.0, gt=0, description="seconds for a whole request, from sending it to the "
                                                     "last byte of the reply (queueing on the server included)")
    max_retries: int = Field(6, ge=0, description="retries on 429 / 5xx / timeouts / dropped connections")
    backoff_base: float = Field(1.0, ge=0, description="first backoff in seconds, doubled per retry")
    backoff_max: float = Field(60.0, ge=0)
    retry_after_max: float = Field(60.0, ge=0, description="longest Retry-After honoured; a server asking "
                                                           "for more fails that request at once")
    structured_output: Literal["json_schema", "json_object", "none"] = Field(
        "json_schema", description="first structured-output mode tried; a server that rejects it is "
                                   "stepped down (json_schema -> json_object with schema -> json_object -> none)")
    dialect: Literal["auto", "openai", "vllm", "sglang", "llamacpp", "ollama"] = Field(
        "auto", description="which server's request fields to send (repetition penalty, token limit); "
                            "auto: detected once from /v1/models")
    prefill: Literal["auto", "chat", "completions"] = Field(
        "auto", description="how an assistant prefill is sent: chat (continue_final_message), completions "
                            "(/v1/completions with a prompt star1 renders; needs tokenizer), auto: probed once")
    tokenizer: str | None = Field(None, description="chat template for prefill=completions: a local path "
                                                    "or .gguf, a hub id, or 'bundled' (default: the GGUF "
                                                    "or folder a local server lists, if it lists one)")

    @field_validator("api_key_env", mode="before")
    @classmethod
    def _names(cls, value):
        # YAML mappings give `api_key_env: NAME`; engine strings give "A,B"; both mean a list.
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @field_validator("base_urls")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        # One check for every form (engine string, YAML mapping): no credentials in a URL.
        return [check_base_url(url) for url in value]

    @classmethod
    def from_string(cls, rest: str) -> dict:
        model, at, urls = rest.partition("@")
        if not model or not at or not urls:
            raise ValueError("expected 'openai:<model>@<base_url>'")
        base_urls = [u.strip() for u in urls.split(",") if u.strip()]
        for url in base_urls:
            check_base_url(url)
        return {"kind": "openai", "model": model, "base_urls": base_urls}

    def engine_string(self) -> str:
        return f"openai:{self.model}@{','.join(self.base_urls)}"

    def identity(self) -> str:
        return remote_identity(self)

    def label(self) -> str:
        # Not where it is served nor how it is called: a new port, more concurrency or another
        # replica is the same model.
        return f"openai:{self.model}"

    def guess_native_reasoning(self) -> bool:
        # The setting, else what a probe of the server found earlier (saved facts); until
        # probed, taken to reason (its server's reasoning parser, or the model itself).
        known = OpenAIEngine(self).known_native_reasoning()
        return True if known is None else known

    def make(self) -> OpenAIEngine:
        return OpenAIEngine(self)


class _Retry(Exception):
    def __init__(self, reason: str, delay: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.delay = delay


class _Fail(Exception):
    pass


class _StepDown(Exception):
    pass


class _TemplateFailed(_Fail):
    """The chat template could not render this request's prompt: that call's failure, not
    retried (the same template fails the same way)."""


class _Unstream(Exception):
    """Ask again without streaming, to get the server's explanation of an empty stream."""


class OpenAIEngine:
    def __init__(self, config: OpenAIConfig):
        if not config.model or not config.base_urls:
            raise ConfigError("the openai engine needs a model and at least one base URL")
        names = list(config.api_key_env)
        if len(names) == 1:
            names = names * len(config.base_urls)
        if len(names) != len(config.base_urls):
            raise ConfigError(f"{len(config.api_key_env)} api_key_env entries for "
                              f"{len(config.base_urls)} base URLs: give one, or one per URL")
        self._endpoints = []
        for url, var in zip(config.base_urls, names):
            value = os.environ.get(var) or None
            register_secret(value)
            if value is None:
                # Local vLLM / SGLang / llama.cpp servers usually need no key; hosted APIs answer 401.
                log.log(logging.WARNING if is_hosted(url) or url.startswith("https://") else logging.INFO,
                        "environment variable %s is not set; sending requests to %s without a key", var, url)
            self._endpoints.append(Endpoint(url, value, var))
        self.config = config
        self.name = config.engine_string()
        self._native: bool | None = config.native_reasoning
        self.scores_choices = False
        self.length_is_failure = config.length_is_failure
        self.concurrency = config.concurrency
        saved = store()
        self._facts = {e.url: saved.get(e.url, config.model) or EndpointFacts(e.url, config.model)
                       for e in self._endpoints}
        # A structured-output step-down holds for the run (engine) it happened in. A new run tries
        # the configured mode again (the server may have been fixed, or the rejection was a
        # fluke); the saved facts keep the weakest mode any run used, so that calls made in it
        # are still found in the cache (cache_variants).
        self._levels = {e.url: LEVELS[0] for e in self._endpoints}
        self._listed = False
        self._route: str | None = None  # "chat" | "completions", once a prefill request came
        self._tokenizer: str | None = config.tokenizer  # renders /v1/completions prompts
        self._lock = threading.RLock()  # native_reasoning probes after prepare, under the lock

    # -- what the engine knows ---------------------------------------------------------------

    @property
    def identity(self) -> str:
        return remote_identity(self.config, self._facts)

    @property
    def dialect(self) -> str:
        if self.config.dialect != "auto":
            return self.config.dialect
        return self._facts[self._endpoints[0].url].dialect

    def _level(self) -> str:
        """The structured-output mode in use: the weakest any endpoint needs, so that every
        endpoint answers in one mode and the call-cache keys can be predicted."""
        start = LEVELS.index(CONFIG_LEVEL[self.config.structured_output])
        return LEVELS[max([start] + [LEVELS.index(level) for level in self._levels.values()])]

    def _streams(self) -> bool:
        """Stream llama.cpp replies when one request is in flight. Verified with
        benchmarks/llama_cpp_disconnect.py on llama-cpp-python: a request given up after 2 s kept
        generating for another 13.9 s unless streamed (then the next request waited 0.14 s).
        Not with more in flight: llama-cpp-python ends a running stream when another request
        arrives (its ``interrupt_requests`` setting, on by default)."""
        return self.dialect == "llamacpp" and self.concurrency == 1

    @property
    def native_reasoning(self) -> bool:
        """Whether the model writes its own reasoning: the setting, else what a one-time probe of
        the server found (saved with the endpoint's facts); an unreachable server counts as yes
        (its requests will say what is wrong)."""
        if self._native is None:
            with self._lock:
                if self._native is None:
                    self._native = self._probe_reasoning()
        return self._native

    def known_native_reasoning(self) -> bool | None:
        """:attr:`native_reasoning` from the setting or the saved facts alone, with no request;
        None where a probe would still be needed (the dry run then guesses)."""
        if self._native is not None:
            return self._native
        found = [f.reasoning for f in self._facts.values()]
        return None if None in found else all(r == "native" for r in found)

    def _probe_reasoning(self) -> bool:
        from star1.engines.prefill_probe import REASONING_PROBE, reasons

        self.prepare()  # the model list first: the dialect decides how the probe is sent
        found = []
        for endpoint in self._endpoints:
            facts = self._facts[endpoint.url]
            if facts.reasoning is None:
                outcome = run(partial(self._probe_completion, endpoint, REASONING_PROBE, "chat"))
                if outcome is None:
                    continue  # unreachable: asked again next time
                # An error answer settles it as "native": the stage's own requests will show
                # what the server objects to, and a model that writes no reasoning is then
                # reported with the setting that fixes it (reasoning_mode=prefill).
                facts.reasoning = "native" if not isinstance(outcome, Completion) or reasons(outcome) else "none"
                log.info("reasoning probe at %s: %s", endpoint.url, facts.reasoning)
                store().put(facts)
            found.append(facts.reasoning == "native")
        return all(found) if found else True

    def cache_variant(self, request: ChatRequest) -> str:
        """How this request would be served, where that differs from the default (see
        :attr:`Completion.variant`); the call cache looks the request up under it."""
        # Only a prefill request depends on the route: classify and score calls skip the lookup.
        route, tokenizer = self._known_route() if request.prefill else ("chat", None)
        return self._variant(request, self._level(), route, tokenizer)

    def cache_variants(self, request: ChatRequest) -> list[str]:
        """:meth:`cache_variant` first, then the variants of the weaker structured-output modes
        an earlier run stepped down to: its paid calls still answer, while new calls are made in
        the mode this run uses."""
        variants = [self.cache_variant(request)]
        if request.json_schema is None or request.prefill:
            return variants
        earlier = max(LEVELS.index(f.structured) for f in self._facts.values())
        for level in LEVELS[LEVELS.index(self._level()) + 1:earlier + 1]:
            variants.append(self._variant(request, level, "chat", None))
        return variants

    def _known_route(self) -> tuple[str, str | None]:
        """The prefill route (and tokenizer) in use; before a prefill request has chosen one,
        the one a run would choose from the saved facts alone (:func:`prefill_route`, with no
        request; "chat" where a probe would have to tell): how the dry run finds a llama.cpp
        run's cached /v1/completions calls."""
        if self._route is not None:
            return self._route, self._tokenizer
        route, tokenizer = prefill_route(self.config.prefill, self._facts.values(), self._tokenizer)
        return (route, tokenizer) if route is not None else ("chat", self._tokenizer)

    def _variant(self, request: ChatRequest, level: str, route: str, tokenizer: str | None) -> str:
        parts = []
        if request.prefill and route == "completions":
            parts.append(f"prefill=completions:{tokenizer}")
        elif request.json_schema is not None and level != "json_schema":
            parts.append(f"structured={level}")
        return ";".join(parts)

    def sampling_report(self, sampling: SamplingParams) -> dict:
        """What the server is asked for and what it is known to honour, for results records."""
        return {"dialect": self.dialect, "structured_output": self._level(),
                "prefill": self._route, "fields": dialects.sampling_report(sampling, self.dialect),
                "endpoints": {url: {"dialect": f.dialect, "listed": f.listed, "served": f.served[:10],
                                    "context_window": f.context_window, "prefill": f.prefill}
                              for url, f in self._facts.items()}}

    # -- Engine protocol ---------------------------------------------------------------------

    def prepare(self, requests: Sequence[ChatRequest] = ()) -> None:
        """Learn what the endpoints serve (once), and how they take a prefill (once, when a
        request needs one). Called by :meth:`generate` and by the call cache before it
        computes keys."""
        with self._lock:
            if not self._listed:
                run(self._check_models)
                self._listed = True
            if self._route is None and any(r.prefill for r in requests):
                self._route = self._choose_route()

    def generate(self, requests: Sequence[ChatRequest],
                 on_result: OnResult | None = None) -> list[Completion]:
        if not requests:
            return []
        self.prepare(requests)
        return run(lambda: self._generate_all(requests, on_result))

    def close(self) -> None:
        pass

    # -- start-up checks ---------------------------------------------------------------------

    async def _check_models(self) -> None:
        from star1.engines.endpoints import learn_listing

        for endpoint in self._endpoints:
            facts = self._facts[endpoint.url]
            url = f"{endpoint.url}/models"
            try:
                async with http_client(endpoint, min(self.config.timeout, LISTING_TIMEOUT)) as client:
                    status, _, body = await asyncio.wait_for(
                        exchange(client, "GET", url, None), min(self.config.timeout, LISTING_TIMEOUT))
                payload = parse_json(body) if status == 200 else None
            except (*TRANSPORT_ERRORS, asyncio.TimeoutError, MalformedReply) as exc:
                why = errors.transport_reason(exc, url) if not isinstance(exc, MalformedReply) else str(exc)
                log.warning("could not list the models at %s (%s); the model name is not checked%s", url, why,
                            "" if facts.fingerprint else "; the call cache knows this server by its URL alone")
                continue
            if status != 200 or not learn_listing(facts, payload):
                log.warning("GET %s answered HTTP %s (%s); the model name is not checked", url, status,
                            errors.body_excerpt(body))
                continue
            if self.config.model not in facts.served:
                log.warning("model %r is not among the models served at %s (it serves: %s); the server may "
                            "answer with another model. Use one of those names.", self.config.model,
                            endpoint.url, ", ".join(facts.served[:10]) or "nothing")
            store().put(facts)
        dialect = self.dialect
        default = dialects.DEFAULT_CONCURRENCY.get(dialect)
        if default and "concurrency" not in self.config.model_fields_set and self.concurrency > default:
            log.info("%s server: %d request(s) in flight (set concurrency=N for a server with more slots)",
                     dialect, default)
            self.concurrency = default

    def _choose_route(self) -> str:
        """:func:`prefill_route`, with probes where the saved facts cannot tell."""
        route, _ = prefill_route(self.config.prefill, self._facts.values(), self._tokenizer)
        if route == "chat":
            return "chat"
        if self.config.prefill == "completions":
            if not self._tokenizer:
                raise ConfigError("prefill=completions needs tokenizer=<path|hub id|bundled> to render the prompt")
            self._load_tokenizer()
            return "completions"
        from star1.engines.prefill_probe import PROBE, honoured
        from star1.errors import SetupError

        for endpoint in self._endpoints:
            facts = self._facts[endpoint.url]
            if facts.prefill is None:
                outcome = run(partial(self._probe, endpoint, PROBE, "chat"))
                if outcome is None:
                    continue  # unreachable: the requests themselves will say so
                facts.prefill = "honoured" if honoured(outcome) else "ignored"
                facts.prefill_evidence = clip(outcome, 80)
                log.info("prefill probe at %s: answered %r (%s)", endpoint.url, clip(outcome, 40), facts.prefill)
                store().put(facts)
        route, self._tokenizer = prefill_route(self.config.prefill, self._facts.values(), self._tokenizer,
                                               probed=True)
        if route == "chat":
            return "chat"
        ignoring = [f for f in self._facts.values() if f.prefill == "ignored"]
        if not self._tokenizer:
            self._tokenizer = run(self._props_tokenizer)
        evidence = (f"asked to continue {PROBE.prefill!r}, the server at {ignoring[0].base_url} answered "
                    f"{ignoring[0].prefill_evidence!r}")
        if not self._tokenizer:
            alias = ("; a llama.cpp server started with --model_alias lists the alias, not its GGUF file: "
                     "give tokenizer=<the path of that GGUF>" if any(f.dialect == "llamacpp" for f in ignoring)
                     else "")
            raise SetupError(
                f"this server does not continue an assistant prefill ({evidence}): star1's prefill "
                "reasoning would be a fresh answer, not the model's reasoning. Set the engine option "
                "tokenizer=<the model's tokenizer: a path, a hub id, or 'bundled'> so that star1 renders "
                f"the chat template and continues through /v1/completions, or prefill=chat to send it anyway{alias}.")
        self._load_tokenizer()
        for endpoint in self._endpoints:
            facts = self._facts[endpoint.url]
            if facts.completions_prefill == self._tokenizer:
                continue
            outcome = run(partial(self._probe, endpoint, PROBE, "completions"))
            if outcome is not None and honoured(outcome):
                facts.completions_prefill = self._tokenizer
                store().put(facts)
            elif outcome is not None:
                raise SetupError(
                    f"/v1/completions at {endpoint.url} did not continue a prompt rendered with "
                    f"tokenizer={self._tokenizer!r} either (it answered {clip(outcome, 40)!r}); is that "
                    "the served model's tokenizer?")
        log.info("prefill goes through /v1/completions with the chat template of %s (%s)",
                 self._tokenizer, evidence)
        return "completions"

    async def _props_tokenizer(self) -> str | None:
        """The GGUF a llama-server (llama.cpp's C++ server) on this machine says it loaded: its
        ``GET /props`` answers ``model_path`` (llama.cpp's server documentation; not verified
        here, where only llama-cpp-python installs, which has no /props and answers 404)."""
        from pathlib import Path

        from star1.engines.endpoints import is_loopback

        for endpoint in self._endpoints:
            if not is_loopback(endpoint.url) or self._facts[endpoint.url].dialect != "llamacpp":
                continue
            url = f"{endpoint.url.removesuffix('/v1')}/props"
            try:
                async with http_client(endpoint, LISTING_TIMEOUT) as client:
                    status, _, body = await asyncio.wait_for(exchange(client, "GET", url, None), LISTING_TIMEOUT)
                payload = parse_json(body) if status == 200 else None
            except (*TRANSPORT_ERRORS, asyncio.TimeoutError, MalformedReply):
                continue
            path = payload.get("model_path") if isinstance(payload, dict) else None
            if isinstance(path, str) and path.endswith(".gguf") and Path(path).is_file():
                log.info("rendering prompts with the chat template of %s (the GGUF %s says it serves)", path, url)
                return path
        return None

    def _load_tokenizer(self) -> None:
        """Load it now, in the template worker and outside any request's deadline (importing
        transformers takes seconds); :class:`SetupError` naming the tokenizer if it cannot be."""
        from star1.engines.template_worker import renderer

        renderer(self._tokenizer).start()

    async def _render(self, request: ChatRequest) -> str:
        """The /v1/completions prompt of a prefill request, rendered within the request's deadline
        and memory bound (:mod:`star1.engines.template_worker`); a template that fails is
        :class:`_TemplateFailed`."""
        from star1.engines.template_worker import TemplateFailure, renderer

        try:
            return await asyncio.to_thread(renderer(self._tokenizer).render, request.messages, request.prefill,
                                           self.config.timeout)
        except TemplateFailure as exc:
            raise _TemplateFailed(str(exc)) from None

    async def _probe(self, endpoint: Endpoint, request: ChatRequest, route: str) -> str | None:
        """The probe's continuation; the error text for an HTTP error; None when unreachable."""
        outcome = await self._probe_completion(endpoint, request, route)
        return outcome.text if isinstance(outcome, Completion) else outcome

    async def _probe_completion(self, endpoint: Endpoint, request: ChatRequest, route: str):
        """The probe's Completion; the error text for an HTTP error; None when unreachable."""
        async with http_client(endpoint, self.config.timeout) as client:
            try:
                return await self._within_deadline(client, endpoint, request, "none", route, False)
            except _TemplateFailed as exc:
                from star1.errors import SetupError

                raise SetupError(f"prefill through /v1/completions at {endpoint.url}: {exc}") from None
            except (_Retry, _Fail, _StepDown, _Unstream) as exc:
                return None if isinstance(exc, _Retry) and "HTTP" not in str(exc) else str(exc)
            except asyncio.TimeoutError:
                return None

    # -- requests ----------------------------------------------------------------------------

    async def _generate_all(self, requests: Sequence[ChatRequest],
                            on_result: OnResult | None) -> list[Completion]:
        clients = [http_client(e, self.config.timeout) for e in self._endpoints]
        rotation = itertools.cycle(range(len(clients)))
        gate = asyncio.Semaphore(self.concurrency)
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
                await client.aclose()
        return results  # type: ignore[return-value]

    async def _call_with_retries(self, clients, rotation, request: ChatRequest) -> Completion:
        own: list = []  # clients opened for this request alone; closed when it is done
        try:
            return await self._attempts(clients, rotation, request, own)
        finally:
            for client in own:
                await client.aclose()

    async def _attempts(self, clients, rotation, request: ChatRequest, own: list) -> Completion:
        last, attempts, step_downs = "no attempt made", 0, 0
        route, stream = self._route or "chat", self._streams()
        pinned = None  # (endpoint index, client) the next attempt must use
        while True:
            if pinned:
                (index, client), pinned = pinned, None
            else:
                index = next(rotation)
                client = clients[index]
            endpoint = self._endpoints[index]
            try:
                return await self._within_deadline(client, endpoint, request, self._level(), route, stream)
            except _Unstream:
                # Once more, unstreamed, on the same endpoint over a new connection: aiohttp hands
                # the broken stream's connection out again, and that attempt fails too.
                stream = False
                own.append(http_client(endpoint, self.config.timeout))
                pinned = (index, own[-1])
                continue
            except _StepDown:
                step_downs += 1
                if step_downs < len(LEVELS):
                    continue  # not an attempt: the next mode is tried at once
                last = "the server rejected every structured-output mode"
                retry = None
            except asyncio.TimeoutError:
                last, retry = errors.deadline_reason(self.config.timeout), None
            except _Retry as exc:
                last, retry = exc.reason, exc
            except _Fail as fail:
                return Completion(text="", finish_reason="error", error=str(fail))
            attempts += 1
            if retry is not None and retry.delay is not None and retry.delay > self.config.retry_after_max:
                ask = (f"{last}; the server asks to wait {retry.delay:.0f}s (Retry-After), more than "
                       f"retry_after_max={self.config.retry_after_max:g}s")
                if len(self._endpoints) == 1:
                    return Completion(text="", finish_reason="error", error=(
                        f"{ask}: this request fails now. Rerun later (finished calls are cached) "
                        "or raise retry_after_max."))
                last, retry = ask, None  # another base URL may answer now
            if attempts > self.config.max_retries:
                break
            if last.startswith("connection refused") and attempts > REFUSED_RETRIES and len(self._endpoints) == 1:
                break  # nothing listens there: a few seconds cover a restart, seven backoffs do not help
            backoff = min(self.config.backoff_max, self.config.backoff_base * 2 ** (attempts - 1))
            delay = random.uniform(0, backoff)  # full jitter
            if retry is not None and retry.delay is not None:
                delay = max(delay, retry.delay)
            log.info("retrying in %.2fs after: %s", delay, last)
            await asyncio.sleep(delay)
        return Completion(text="", finish_reason="error",
                          error=f"gave up after {attempts} attempts: {last}")

    async def _within_deadline(self, client, endpoint: Endpoint, request: ChatRequest, level: str,
                               route: str, stream: bool) -> Completion:
        """One attempt within ``timeout``: the prompt's render (when star1 renders it), then the
        exchange in what is left. The render keeps its own deadline, so that a template that
        does not finish is reported as the template's failure, not as a server's silence."""
        started = time.monotonic()
        prompt = await self._render(request) if route == "completions" and request.prefill else None
        left = self.config.timeout - (time.monotonic() - started)
        if left <= 0:
            raise asyncio.TimeoutError
        return await asyncio.wait_for(self._call_once(client, endpoint, request, level, route, stream, prompt), left)

    async def _call_once(self, client, endpoint: Endpoint, request: ChatRequest, level: str,
                         route: str, stream: bool, prompt: str | None) -> Completion:
        path, body = openai_request.build(request, self.config.model, self.dialect, level, route, stream, prompt)
        url = f"{endpoint.url}/{path}"
        debug = log.isEnabledFor(logging.DEBUG)
        if debug:
            log.debug("POST %s %s", url, openai_request.summary(body))
        started = time.perf_counter()
        try:
            status, headers, raw = await exchange(client, "POST", url, body)
        except MalformedReply as exc:
            raise _Retry(str(exc)) from None
        except TRANSPORT_ERRORS as exc:
            reason = errors.transport_reason(exc, url)
            if stream and "closed the connection" in reason:
                # llama-cpp-python breaks off a stream whose prompt does not fit its context
                # window; unstreamed, the same request gets HTTP 400 with the reason.
                raise _Unstream() from None
            raise _Retry(reason) from None
        if debug:
            log.debug("%s -> HTTP %d in %.2fs: %s", url, status, time.perf_counter() - started,
                      errors.body_excerpt(raw))
        if status != 200:
            self._raise_for_status(status, headers, raw, url, endpoint, body, level)
        kind = "completions" if path == "completions" else "chat"
        try:
            if "event-stream" in headers.get("content-type", ""):
                parts = read_stream(raw, kind)
            else:  # also a server that ignored "stream": true
                parts = read_reply(parse_json(raw), kind)
            return self._to_completion(request, check_size(parts, request.sampling.max_tokens), level, route)
        except EmptyStream as exc:
            if stream:
                raise _Unstream() from None
            raise _Retry(str(exc)) from None
        except MalformedReply as exc:
            raise _Retry(str(exc)) from None
        except (TypeError, ValueError, KeyError, AttributeError, IndexError, RecursionError) as exc:
            # A reply shape the validation did not foresee is still that one call's failure.
            raise _Retry(f"malformed response: {type(exc).__name__}") from None

    def _raise_for_status(self, status, headers, raw, url, endpoint, body, level) -> None:
        excerpt = errors.body_excerpt(raw)
        if "response_format" in body and errors.rejects_structured_output(status, excerpt):
            facts = self._facts[endpoint.url]
            following = LEVELS[min(LEVELS.index(level) + 1, len(LEVELS) - 1)]
            if LEVELS.index(self._levels[endpoint.url]) < LEVELS.index(following):
                self._levels[endpoint.url] = following
                if LEVELS.index(facts.structured) < LEVELS.index(following):
                    facts.structured = following  # the weakest mode calls were made in
                    store().put(facts)
                log.warning("the server at %s rejected structured output %s (HTTP %d: %s); using %s for "
                            "the rest of this run (the next run tries %s again)", endpoint.url, level, status,
                            excerpt, following, CONFIG_LEVEL[self.config.structured_output])
            raise _StepDown()
        reason = errors.http_reason(status, excerpt, url, endpoint.url, endpoint.key_env,
                                    self._facts[endpoint.url].context_window)
        if status in RETRYABLE_STATUS or status >= 500:
            raise _Retry(reason, retry_after_seconds(headers))
        raise _Fail(reason)

    def _to_completion(self, request: ChatRequest, parts, level: str, route: str) -> Completion:
        content, reasoning = parts.text, parts.reasoning
        if request.prefill:
            text = content  # the caller continues its own text and splits the result itself
        elif reasoning:
            text = split_reasoning(content)[1] if "</think>" in content else content.strip()
        else:
            reasoning, text = split_reasoning(content)
        completion = Completion(text=text, reasoning=reasoning, finish_reason=parts.finish_reason,
                                prompt_tokens=parts.prompt_tokens, completion_tokens=parts.completion_tokens,
                                variant=self._variant(request, level, route, self._tokenizer))
        return apply_length_policy(completion, request.sampling.max_tokens, self.config.length_is_failure)


def prefill_route(setting: str, facts, tokenizer: str | None, probed: bool = False) -> tuple[str | None, str | None]:
    """The one prefill-route rule, a pure function of the engine's ``prefill`` setting, what is
    known of its endpoints and the tokenizer: ("chat" | "completions", tokenizer), or (None,
    tokenizer) where only a probe can tell — an endpoint not asked yet (unless ``probed``: one
    that could not be asked counts as honouring, its requests will say what is wrong), or a
    server that ignores prefill whose /v1/completions route is not yet confirmed for this
    tokenizer. The probing path and the dry run both decide with it."""
    if setting in ("chat", "completions"):
        return setting, tokenizer
    facts = list(facts)
    if not probed and any(f.prefill is None for f in facts):
        return None, tokenizer
    if not any(f.prefill == "ignored" for f in facts):
        return "chat", tokenizer
    tokenizer = tokenizer or served_tokenizer(facts)
    if tokenizer and all(f.completions_prefill == tokenizer for f in facts):
        return "completions", tokenizer
    return None, tokenizer


def served_tokenizer(facts) -> str | None:
    """Where the served model's chat template can be read without asking, if it can: a server on
    this machine (a loopback address) that lists its model as a file or folder here
    (llama-cpp-python lists the GGUF path it loaded) names its own tokenizer; GGUF files carry
    the chat template. A server elsewhere names paths on *its* machine: a listing from there
    never picks a local file (it could point star1 at any folder), and no tokenizer is ever
    loaded with remote code (:func:`star1.engines.chat_render.load_tokenizer`)."""
    from pathlib import Path

    from star1.engines.endpoints import is_loopback

    served = {model for f in facts if is_loopback(f.base_url) for model in f.served}
    local = [m for m in served if (m.endswith(".gguf") and Path(m).is_file())
             or (Path(m).is_dir() and (Path(m) / "tokenizer_config.json").is_file())]
    if len(local) == 1:
        log.info("rendering prompts with the chat template of the served model %s", local[0])
        return local[0]
    return None

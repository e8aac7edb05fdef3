"""The one small interface behind every model call in star1.

An engine takes a batch of :class:`ChatRequest` and returns one :class:`Completion` per request,
in order. It never raises for a single bad request: a request that still fails after the
engine's retries comes back with ``error`` set, so one bad sample never stops a run.
``on_result(index, completion)`` is called as each completion finishes (not at the end of the
batch) so that callers can persist results immediately; the call cache relies on that.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal, Protocol

OnResult = Callable[[int, "Completion"], None]


def content_text(content) -> str:
    """A message's text: a string as is, a list of parts joined (its text parts only)."""
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content
                       if isinstance(part, dict) and part.get("type") == "text")
    return content or ""


def plain_messages(messages) -> list[dict]:
    """Messages with list-of-parts content joined into one string: chat templates expect text."""
    return [{**m, "content": content_text(m.get("content"))} if isinstance(m.get("content"), list) else m
            for m in messages]


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. ``temperature`` / ``top_p`` of None are not sent at all: the server's own
    default applies (1.0 on OpenAI), which is what the STAR-1 reference does for its classifier
    and judge calls. ``max_tokens_field`` names the request field that carries the token limit
    (the reference's GPT-4o calls send ``max_completion_tokens``)."""

    max_tokens: int | None = 1024  # None: not sent (the server's own limit)
    temperature: float | None = 0.0  # 0 = greedy
    top_p: float | None = 1.0
    repetition_penalty: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"

    def payload(self) -> dict:
        """The fields for the call cache; a new field at its default is left out, so the keys of
        calls cached before it existed stay valid."""
        data = asdict(self)
        if data["max_tokens_field"] == "max_tokens":
            del data["max_tokens_field"]
        return data


@dataclass(frozen=True)
class ChoiceTemplate:
    """An answer shape for engines that can score text: fixed strings and choice slots.

    ``("{\\"label\\": \\"", ("a", "b"), "\\"}")`` makes the engine pick, by likelihood, the option
    of each slot given everything before it, and return the filled text. Engines that cannot
    score text (remote APIs) ignore it and use ``ChatRequest.json_schema`` instead.
    """

    parts: tuple[str | tuple[str, ...], ...]

    def slots(self) -> list[tuple[str, ...]]:
        return [p for p in self.parts if isinstance(p, tuple)]

    @staticmethod
    def keyed(keys, values: tuple[str, ...], opening: str = "{", separator: str = ", ",
              closing: str = "}") -> ChoiceTemplate:
        """``{"key": <slot>, ...}``: one slot of ``values`` per key, in a layout of one's choosing."""
        parts: list = []
        for k, key in enumerate(keys):
            parts += [(opening if k == 0 else separator) + f'"{key}": ', values]
        return ChoiceTemplate((*parts, closing))


@dataclass(frozen=True)
class ChatRequest:
    # {"role": "system" | "user" | "assistant", "content": str}; content may also be a list of
    # parts ([{"type": "text", "text": ...}], as the STAR-1 reference sends its GPT-4o calls):
    # remote engines send it unchanged, local engines join the text parts.
    messages: tuple[dict, ...]
    sampling: SamplingParams = SamplingParams()
    prefill: str = ""  # the assistant turn starts with this text; the completion continues it
    json_schema: dict | None = None  # structured output, where the server supports it
    choices: ChoiceTemplate | None = None  # constrained answer for engines that score text

    @staticmethod
    def chat(user: str, system: str | None = None, **kwargs) -> ChatRequest:
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": user}]
        return ChatRequest(messages=tuple(messages), **kwargs)

    def cache_payload(self) -> dict:
        """Everything about the request that can change the output (and nothing else)."""
        return {
            "messages": list(self.messages),
            "sampling": self.sampling.payload(),
            "prefill": self.prefill,
            "json_schema": self.json_schema,
            "choices": [list(p) if isinstance(p, tuple) else p for p in self.choices.parts]
            if self.choices else None,
        }


@dataclass
class Completion:
    text: str  # the final answer; reasoning is split off into ``reasoning``
    reasoning: str | None = None
    finish_reason: str = "stop"  # "stop" | "length" | "error"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None  # set when the call failed for good (after retries)
    slot_scores: list[dict[str, float]] | None = None  # ChoiceTemplate: log-prob of each option
    # How the engine served the call when that differs from its plain default (a server that
    # needed structured output stepped down, prefill through /v1/completions); "" = the default.
    # The call cache folds it into the key, so outputs of two modes never stand in for each other.
    variant: str = ""
    cached: bool = field(default=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> str:
        """JSON that SQLite (UTF-8) can always store. An unpaired surrogate (``\\ud800``) cannot be
        encoded as UTF-8; such a completion is written with ``\\u`` escapes instead of crashing
        the cache write (the openai engine already rejects those replies as malformed)."""
        data = asdict(self)
        data.pop("cached")
        if not data["variant"]:
            data.pop("variant")  # rows read the same as those written before the field existed
        text = json.dumps(data, ensure_ascii=False)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = json.dumps(data)
        return text

    @staticmethod
    def from_json(text: str) -> Completion:
        """A completion from :meth:`to_json`; ``ValueError`` when the row is not one (a cache
        row written by a broken or foreign writer), so that the caller can treat it as absent."""
        try:
            data = json.loads(text)
        except (TypeError, RecursionError) as exc:
            raise ValueError(f"not a completion: {type(exc).__name__}") from None
        if not isinstance(data, dict):
            raise ValueError("not a completion: not a JSON object")
        known = {k: data[k] for k in _FIELD_TYPES if k in data}
        for name, check in _FIELD_TYPES.items():
            if name in known and not check(known[name]):
                raise ValueError(f"not a completion: field {name!r} is {type(known[name]).__name__}")
        if "text" not in known:
            raise ValueError("not a completion: no 'text'")
        return Completion(**known, cached=True)


def length_error(max_tokens: int | None, produced: int) -> str:
    """The reason of a ``finish_reason == "length"`` failure, with the tokens actually produced.

    A server may cap ``max_tokens`` to what is left of its context window (llama.cpp does): the
    output then stops well below the limit star1 asked for, and saying "reached max_tokens" would
    send the user to the wrong setting."""
    if max_tokens is None:
        return f"length: the server stopped the output at its own limit ({produced} tokens)"
    if 0 < produced < max_tokens:
        return (f"length: output stopped after {produced} tokens, below max_tokens={max_tokens}: "
                f"the server's context window most likely capped it (prompt + output must fit; "
                f"raise the server's context size or shorten the prompt)")
    return f"length: output reached max_tokens={max_tokens}" + (f" ({produced} tokens)" if produced else "")


def apply_length_policy(completion: Completion, max_tokens: int | None, length_is_failure: bool) -> Completion:
    """Mark (or unmark) a cut-off completion as failed. Applied when a completion is made and
    again when one is read from the call cache: whether a cut answer counts as a failure does
    not change what the model wrote, so flipping ``length_is_failure`` re-reads paid calls
    instead of replaying their old verdict or paying for them again."""
    if completion.finish_reason != "length":
        return completion
    is_length_error = completion.error is not None and completion.error.startswith("length")
    if length_is_failure and completion.error is None:
        completion.error = length_error(max_tokens, completion.completion_tokens)
    elif not length_is_failure and is_length_error:
        completion.error = None
    return completion


def _optional_str(value) -> bool:
    return value is None or isinstance(value, str)


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _slot_scores(value) -> bool:
    return value is None or (isinstance(value, list) and all(
        isinstance(slot, dict) and all(isinstance(k, str) and isinstance(v, (int, float))
                                       and not isinstance(v, bool) for k, v in slot.items())
        for slot in value))


_FIELD_TYPES = {
    "text": lambda v: isinstance(v, str),
    "reasoning": _optional_str,
    "finish_reason": lambda v: isinstance(v, str),
    "prompt_tokens": _count,
    "completion_tokens": _count,
    "error": _optional_str,
    "slot_scores": _slot_scores,
    "variant": lambda v: isinstance(v, str),
}


class Engine(Protocol):
    """Every member the call cache, the dry run, the stages and the judges use."""

    name: str  # the engine string the user gave, for display
    identity: str  # what makes its outputs differ from another engine's (model, weights); cache key
    native_reasoning: bool  # True when the model writes its own <think> block
    scores_choices: bool  # True when it fills ChoiceTemplate slots by likelihood (slot_scores)
    length_is_failure: bool  # a cut-off answer ("length") counts as failed (re-applied to cache hits)

    def prepare(self, requests: Sequence[ChatRequest]) -> None:
        """Settle identity and variants before any cache key is computed (a server's start-up
        check); nothing to do for an engine that runs the model itself. Loads no model."""

    def cache_variant(self, request: ChatRequest) -> str:
        """How ``request`` will be served when that differs from the plain default ("": it does
        not); folded into the call-cache key."""

    def cache_variants(self, request: ChatRequest) -> list[str]:
        """The variants an answer to ``request`` may already be cached under: :meth:`cache_variant`
        first, then any an earlier run was served with (a server stepped down)."""

    def sampling_report(self, sampling: SamplingParams) -> dict | None:
        """What a server was asked for and honours; None for engines that run the model
        themselves and so honour every field."""

    def generate(self, requests: Sequence[ChatRequest],
                 on_result: OnResult | None = None) -> list[Completion]: ...

    def close(self) -> None:
        """Free what the engine holds (a local model's memory); it may be used again after."""


class LocalEngineMixin:
    """The Engine members that are the same for every engine that runs the model itself."""

    def prepare(self, requests: Sequence[ChatRequest] = ()) -> None:
        return None

    def cache_variant(self, request: ChatRequest) -> str:
        return ""

    def cache_variants(self, request: ChatRequest) -> list[str]:
        return [""]

    def sampling_report(self, sampling: SamplingParams) -> dict | None:
        return None

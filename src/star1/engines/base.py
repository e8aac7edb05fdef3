"""The one small interface behind every model call in star1.

An engine takes a batch of :class:`ChatRequest` and returns one :class:`Completion` per request,
in order. It never raises for a single bad request: a request that still fails after the
engine's retries comes back with ``error`` set, so one bad sample never stops a run.
``on_result(index, completion)`` is called as each completion finishes (not at the end of the
batch) so that callers can persist results immediately; the call cache relies on that.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Callable, Literal, Protocol, Sequence

OnResult = Callable[[int, "Completion"], None]


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. ``temperature`` / ``top_p`` of None are not sent at all: the server's own
    default applies (1.0 on OpenAI), which is what the STAR-1 reference does for its classifier
    and judge calls. ``max_tokens_field`` names the request field that carries the token limit
    (the reference's GPT-4o calls send ``max_completion_tokens``)."""

    max_tokens: int = 1024
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
    def chat(user: str, system: str | None = None, **kwargs) -> "ChatRequest":
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
    cached: bool = field(default=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> str:
        data = asdict(self)
        data.pop("cached")
        return json.dumps(data, ensure_ascii=False)

    @staticmethod
    def from_json(text: str) -> "Completion":
        return Completion(**json.loads(text), cached=True)


class Engine(Protocol):
    name: str  # the engine string the user gave, for display
    identity: str  # what makes its outputs differ from another engine's (model, weights); cache key
    native_reasoning: bool  # True when the model writes its own <think> block
    scores_choices: bool  # True when it fills ChoiceTemplate slots by likelihood (slot_scores)

    def generate(self, requests: Sequence[ChatRequest],
                 on_result: OnResult | None = None) -> list[Completion]: ...

    def close(self) -> None: ...

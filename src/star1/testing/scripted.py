"""An engine that answers with a function of the request, for testing pure stage logic.

Anything involving a real model uses the bundled one, and anything involving a remote API uses
:mod:`star1.testing.openai_server` over a real socket; this is for the logic in between.
"""

from __future__ import annotations

from collections.abc import Callable

from star1.engines.base import ChatRequest, Completion, LocalEngineMixin, OnResult


class ScriptedEngine(LocalEngineMixin):
    """Implements the :class:`~star1.engines.Engine` protocol; keeps every request it got."""

    def __init__(self, answer: Callable[[ChatRequest], Completion], native_reasoning: bool = False,
                 scores_choices: bool = False, name: str = "scripted"):
        self.answer = answer
        self.name = self.identity = name
        self.native_reasoning = native_reasoning
        self.scores_choices = scores_choices
        self.length_is_failure = True  # what the cache re-applies to a hit's "length" answer
        self.requests: list[ChatRequest] = []

    def generate(self, requests, on_result: OnResult | None = None) -> list[Completion]:
        out = []
        for i, request in enumerate(requests):
            self.requests.append(request)
            out.append(self.answer(request))
            if on_result:
                on_result(i, out[-1])
        return out

    def close(self) -> None:
        pass

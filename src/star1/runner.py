"""Run one LLM stage over many items: cached calls, bounded retries on unusable output, progress.

A stage gives two plain functions: ``build(item, attempt) -> ChatRequest`` and
``parse(item, completion) -> value`` (raising :class:`ParseError` for unusable output). Items
whose output cannot be parsed are asked again, up to ``retries`` more times. A retry either
changes the request (the builder puts ``attempt`` into the sampling seed and a non-zero
temperature: a greedy model would repeat its bad answer) or — :attr:`RetryRule.same_request`,
the STAR-1 reference's way — sends the identical request, and the call cache looks its answer up
under the attempt number, so it never hands back the failed reply. What still fails is returned
as a :class:`Failure` with the reason and the raw output, never raised.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from star1.console import progress_bar
from star1.engines import CachedEngine, ChatRequest, Completion, SamplingParams
from star1.parsing import ParseError

T = TypeVar("T")
V = TypeVar("V")

RETRY_TEMPERATURE = 0.7
RetryCause = Literal["unparseable", "truncated"]


@dataclass(frozen=True)
class RetryRule:
    """How often an item is asked again (``retries``), and for what: ``unparseable`` output
    and/or answers ``truncated`` at the token limit."""

    retries: int = 2
    on: tuple[RetryCause, ...] = ("unparseable",)
    # The retry sends the identical request (the STAR-1 reference's way); the call cache tells
    # its answer from the first by the attempt number in the key, never by the request.
    same_request: bool = False


@dataclass
class Failure:
    id: str
    stage: str
    reason: str
    raw: str | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class StageResult:
    """What a stage gives back: the records it finished, its failures, and the records it did
    not ask about (deliberation skips prompts labelled only Other)."""

    records: list
    failures: list[Failure]
    skipped: list = dataclasses.field(default_factory=list)
    # Rows of the run's summary a stage adds besides its own (the benign harm check's).
    extra_rows: list = dataclasses.field(default_factory=list)
    reasons: dict = dataclasses.field(default_factory=dict)  # why records were left out, counted
    records_in: int | None = None  # what it read, where that is more than it was handed (mix)


@dataclass
class Outcome(Generic[V]):
    value: V | None = None
    completion: Completion | None = None
    failure: Failure | None = None
    attempts: int = 0


def retry_sampling(sampling: SamplingParams, attempt: int) -> SamplingParams:
    """Sampling for the ``attempt``-th try: unchanged for the first, perturbed after."""
    if attempt == 0:
        return sampling
    # None (the server's default, 1.0 on OpenAI) already samples; it stays unsent.
    temperature = None if sampling.temperature is None else max(sampling.temperature, RETRY_TEMPERATURE)
    return dataclasses.replace(sampling, temperature=temperature, seed=(sampling.seed or 0) + attempt)


Review = Callable[[list[tuple[int, T, V]]], dict[int, str]]


def record_id(item: Any) -> str:
    return item.id


def run_stage(stage: str, items: Sequence[T], engine: CachedEngine, build: Callable[[T, int], ChatRequest],
              parse: Callable[[T, Completion], V], retry: RetryRule = RetryRule(), *,
              item_id: Callable[[T], str] = record_id, review: Review | None = None,
              unusable: str = "unparseable output") -> list[Outcome[V]]:
    """Send ``build(item, attempt)`` for every item, ``parse`` each answer, and ask again what
    ``retry`` says (unparseable output, answers truncated at the token limit — only worth it
    when sampling, which a retry always does).

    ``review`` sees each attempt's parsed values together, as ``(index, item, value)``, and
    returns the indices it rejects with the reason (a check that needs the whole batch: another
    model's verdict, duplicates among the answers); a rejection counts as unparseable.
    ``unusable`` starts the reason of an unparseable or rejected answer. Progress bars follow
    the run context (:func:`star1.console.showing_progress`).
    """
    retry_on = frozenset(retry.on)
    outcomes: list[Outcome[V]] = [Outcome() for _ in items]
    pending = list(range(len(items)))
    for attempt in range(retry.retries + 1):
        if not pending:
            break
        requests = [build(items[i], attempt) for i in pending]
        label = stage if attempt == 0 else f"{stage} (retry {attempt})"
        with progress_bar(label, len(requests)) as update:
            completions = engine.generate(requests, progress=update,
                                          attempt=attempt if retry.same_request else 0)
        still_pending = []
        for i, completion in zip(pending, completions):
            outcome = outcomes[i]
            outcome.attempts = attempt + 1
            outcome.completion = completion
            if not completion.ok:
                # Transport failures were already retried by the engine. A truncated answer is
                # asked again only where asked for: at temperature 0 it would be cut again.
                outcome.failure = Failure(item_id(items[i]), stage, completion.error or "failed",
                                          _raw(completion))
                if completion.finish_reason == "length" and "truncated" in retry_on:
                    still_pending.append(i)
                continue
            try:
                outcome.value = parse(items[i], completion)
                outcome.failure = None
            except ParseError as exc:
                outcome.failure = Failure(item_id(items[i]), stage, f"{unusable}: {exc}",
                                          _raw(completion))
                if "unparseable" in retry_on:
                    still_pending.append(i)
        if review is not None:
            fresh = [(i, items[i], outcomes[i].value) for i in pending if outcomes[i].failure is None]
            for i, reason in review(fresh).items():
                outcomes[i].failure = Failure(item_id(items[i]), stage, reason, str(outcomes[i].value))
                outcomes[i].value = None
                if "unparseable" in retry_on:
                    still_pending.append(i)
            still_pending.sort()
        pending = still_pending
    return outcomes


def split_outcomes(items: Sequence[T], outcomes: list[Outcome[V]]) -> tuple[list[tuple[T, V]], list[Failure]]:
    """(item, value) pairs of the successes, in order, and the failures."""
    done, failures = [], []
    for item, outcome in zip(items, outcomes):
        if outcome.failure:
            failures.append(outcome.failure)
        else:
            done.append((item, outcome.value))
    return done, failures


def _raw(completion: Completion) -> str:
    if completion.reasoning:
        return f"<think>{completion.reasoning}</think>{completion.text}"
    return completion.text

"""What every judge returns, and how the LLM judges ask: on :func:`star1.runner.run_stage`.

A judge takes (prompt, response) pairs and returns one :class:`~star1.eval.records.Verdict` per
pair. Every verdict records two readings of the judge's text:

* ``strict`` (the project's): the text must be exactly in the asked format; anything else is
  None, *unjudged*, and is left out of the strict rate;
* ``reference`` (the STAR-1 reference's): the text is read the way the reference scripts read
  it (Llama-Guard: ``'unsafe' in text``), so almost nothing is left unread.

``label`` is the reading the run's protocol uses for its headline numbers (``reading``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from star1.console import showing_progress
from star1.engines import ChatRequest, Completion, SamplingParams
from star1.eval.records import Verdict
from star1.parsing import ParseError
from star1.runner import RetryRule, retry_sampling, run_stage

__all__ = ["JudgeParseError", "Judge", "LLMJudge", "Verdict", "READINGS", "attempt_sampling"]


class JudgeParseError(ParseError):
    """The judge's text is not in the expected format."""


READINGS = ("strict", "reference")


class Judge(Protocol):
    name: str  # engine string, or "keyword"
    kind: str  # what the judge is, for results.json and the report
    labels: tuple[str, ...]

    def judge(self, pairs: Sequence[tuple[str, str]], show_progress: bool = False,
              label: str = "judge") -> list[Verdict]: ...

    def describe(self) -> dict: ...


class LLMJudge:
    """A judge backed by an engine: builds a request per pair, reads the reply both ways.

    The asking is :func:`star1.runner.run_stage`, the one retry loop: with the strict reading an
    unparsable reply is asked again (up to ``retries`` times), each retry a different request
    (attempt number in the seed, some temperature) so a call cache cannot hand back the same
    unparsable answer. The reference reading reads every reply, as the reference does, so it
    asks nothing again. A failed call is not asked again either: the engine already retried it.
    """

    kind = "llm"
    labels: tuple[str, ...] = ()

    def __init__(self, engine, retries: int = 2, max_tokens: int | None = 64, reading: str = "strict"):
        if reading not in READINGS:
            raise ValueError(f"reading must be one of {READINGS}")
        self.engine = engine
        self.name = engine.name
        self.retries = retries
        self.max_tokens = max_tokens
        self.reading = reading

    def sampling(self, attempt: int) -> SamplingParams:
        return attempt_sampling(attempt, self.max_tokens)

    def build_request(self, prompt: str, response: str, attempt: int) -> ChatRequest:
        raise NotImplementedError

    def parse(self, text: str) -> tuple[str, list[str]]:
        """The strict reading: (label, codes), or :class:`JudgeParseError`."""
        raise NotImplementedError

    def read_reference(self, text: str) -> str | None:
        """The reference reading of a reply (None: it names no label)."""
        raise NotImplementedError

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "reading": self.reading,
                "retries": self.retries, "max_tokens": self.max_tokens}

    def sampling_report(self) -> dict | None:
        """What the server was asked for and is known to honour (None: a local engine)."""
        return self.engine.sampling_report(self.sampling(0))

    def judge(self, pairs: Sequence[tuple[str, str]], show_progress: bool = False,
              label: str = "judge") -> list[Verdict]:
        verdicts = [Verdict() for _ in pairs]

        def build(i: int, attempt: int) -> ChatRequest:
            return self.build_request(*pairs[i], attempt)

        def parse(i: int, completion: Completion) -> Verdict:
            verdict = self._read(verdicts[i], completion.text)
            if self.reading == "strict" and verdict.readings["strict"] is None:
                raise ParseError(verdict.error)
            return verdict

        with showing_progress(show_progress):
            outcomes = run_stage(label, list(range(len(pairs))), self.engine, build, parse,
                                 RetryRule(self.retries), item_id=str)
        for verdict, outcome in zip(verdicts, outcomes):
            if outcome.completion is not None and not outcome.completion.ok:
                # A failed call is read as the empty text: the reference, which keeps whatever
                # came back, counts an empty Llama-Guard output as safe (no 'unsafe' in it).
                self._read(verdict, "", f"engine error: {outcome.failure.reason}")
        return verdicts

    def _read(self, verdict: Verdict, text: str, error: str | None = None) -> Verdict:
        """Record one attempt's text and both its readings on ``verdict``."""
        verdict.raw.append(text)
        strict, verdict.codes, verdict.error = None, [], error
        if error is None:
            try:
                strict, verdict.codes = self.parse(text)
            except JudgeParseError as exc:
                verdict.error = str(exc)
        verdict.readings = {"strict": strict, "reference": self.read_reference(text)}
        verdict.label = verdict.readings[self.reading]
        return verdict


def attempt_sampling(attempt: int, max_tokens: int | None) -> SamplingParams:
    """Greedy on the first attempt; a retry perturbs it as every stage does
    (:func:`star1.runner.retry_sampling`: temperature 0.7, the attempt number as the seed)."""
    return retry_sampling(SamplingParams(max_tokens=max_tokens, temperature=0.0), attempt)

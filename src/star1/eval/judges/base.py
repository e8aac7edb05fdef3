"""What every judge returns, and the retry loop shared by the LLM judges.

A judge takes (prompt, response) pairs and returns one :class:`Verdict` per pair. A verdict whose
``label`` is None is *unjudged*: the judge never produced a parsable answer. Unjudged items are
counted and reported separately and are never counted as safe or unsafe.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable, Protocol, Sequence

from star1.engines import ChatRequest, Completion

Progress = Callable[[int, int], None]


class JudgeParseError(ValueError):
    """The judge's text is not in the expected format."""


@dataclass
class Verdict:
    label: str | None  # None = unjudged
    raw: list[str] = field(default_factory=list)  # the judge's text, one entry per attempt
    codes: list[str] = field(default_factory=list)  # hazard codes (Llama-Guard format)
    error: str | None = None  # why the last attempt did not count
    evidence: str | None = None  # keyword classifiers: the phrase that decided

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in (None, [])}


class Judge(Protocol):
    name: str  # engine string, or "keyword"
    kind: str  # what the judge is, for results.json and the report
    labels: tuple[str, ...]

    def judge(self, pairs: Sequence[tuple[str, str]], progress: Progress | None = None) -> list[Verdict]: ...

    def describe(self) -> dict: ...


class LLMJudge:
    """A judge backed by an engine: builds a request per pair, parses strictly, retries garbage.

    Each retry changes the request (attempt number in the sampling seed, a little temperature),
    so a call cache cannot hand back the same unparsable answer again.
    """

    kind = "llm"
    labels: tuple[str, ...] = ()

    def __init__(self, engine, retries: int = 2, max_tokens: int = 64):
        self.engine = engine
        self.name = engine.name
        self.retries = retries
        self.max_tokens = max_tokens

    def build_request(self, prompt: str, response: str, attempt: int) -> ChatRequest:
        raise NotImplementedError

    def parse(self, text: str) -> tuple[str, list[str]]:
        raise NotImplementedError

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "retries": self.retries,
                "max_tokens": self.max_tokens}

    def judge(self, pairs: Sequence[tuple[str, str]], progress: Progress | None = None) -> list[Verdict]:
        verdicts = [Verdict(None) for _ in pairs]
        pending = list(range(len(pairs)))
        finished = 0
        for attempt in range(self.retries + 1):
            if not pending:
                break
            requests = [self.build_request(*pairs[i], attempt) for i in pending]
            base = finished

            def report(done: int, _total: int, base: int = base) -> None:
                if progress:
                    progress(base + done, len(pairs))

            completions = self.engine.generate(requests, progress=report)
            still = []
            for i, completion in zip(pending, completions):
                if self._accept(verdicts[i], completion):
                    finished += 1
                else:
                    still.append(i)
            pending = still
        if progress:
            progress(len(pairs), len(pairs))
        return verdicts

    def _accept(self, verdict: Verdict, completion: Completion) -> bool:
        if not completion.ok:
            verdict.raw.append("")
            verdict.error = f"engine error: {completion.error}"
            return False
        verdict.raw.append(completion.text)
        try:
            verdict.label, verdict.codes = self.parse(completion.text)
        except JudgeParseError as exc:
            verdict.error = str(exc)
            return False
        verdict.error = None
        return True


def attempt_sampling(attempt: int, max_tokens: int):
    """Greedy on the first attempt; then a little temperature and a fresh seed per retry."""
    from star1.engines import SamplingParams

    if attempt == 0:
        return SamplingParams(max_tokens=max_tokens, temperature=0.0)
    return SamplingParams(max_tokens=max_tokens, temperature=0.7, top_p=0.95, seed=attempt)

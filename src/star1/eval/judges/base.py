"""What every judge returns, and the retry loop shared by the LLM judges.

A judge takes (prompt, response) pairs and returns one :class:`Verdict` per pair. Every verdict
records two readings of the judge's text:

* ``strict`` (the project's): the text must be exactly in the asked format; anything else is
  None, *unjudged*, and is left out of the strict rate;
* ``reference`` (the STAR-1 reference's): the text is read the way the reference scripts read
  it (Llama-Guard: ``'unsafe' in text``), so almost nothing is left unread.

``label`` is the reading the run's protocol uses for its headline numbers (``reading``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable, Protocol, Sequence

from star1.engines import ChatRequest, Completion

Progress = Callable[[int, int], None]


class JudgeParseError(ValueError):
    """The judge's text is not in the expected format."""


READINGS = ("strict", "reference")


@dataclass
class Verdict:
    label: str | None  # the protocol's reading; None = unjudged
    raw: list[str] = field(default_factory=list)  # the judge's text, one entry per attempt
    codes: list[str] = field(default_factory=list)  # hazard codes (Llama-Guard format)
    error: str | None = None  # why the last attempt did not count
    evidence: str | None = None  # keyword classifiers: the phrase that decided
    readings: dict[str, str | None] = field(default_factory=dict)  # reading -> label

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in (None, [], {})}


class Judge(Protocol):
    name: str  # engine string, or "keyword"
    kind: str  # what the judge is, for results.json and the report
    labels: tuple[str, ...]

    def judge(self, pairs: Sequence[tuple[str, str]], progress: Progress | None = None) -> list[Verdict]: ...

    def describe(self) -> dict: ...


class LLMJudge:
    """A judge backed by an engine: builds a request per pair, reads the reply both ways.

    With the strict reading, an unparsable reply is asked again (up to ``retries`` times); each
    retry changes the request (attempt number in the sampling seed, a little temperature), so a
    call cache cannot hand back the same unparsable answer again. The reference reading reads
    every reply, as the reference does, so only a failed call is asked again.
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
        """Record this attempt's readings; True when no further attempt is needed."""
        text = completion.text if completion.ok else ""
        verdict.raw.append(text)
        strict, verdict.codes, verdict.error = None, [], None
        if completion.ok:
            try:
                strict, verdict.codes = self.parse(text)
            except JudgeParseError as exc:
                verdict.error = str(exc)
        else:
            verdict.error = f"engine error: {completion.error}"
        # A failed call is read as the empty text: the reference, which keeps whatever came
        # back, counts an empty Llama-Guard output as safe (no 'unsafe' in it).
        verdict.readings = {"strict": strict, "reference": self.read_reference(text)}
        verdict.label = verdict.readings[self.reading]
        if not completion.ok:
            return False
        return self.reading == "reference" or strict is not None


def attempt_sampling(attempt: int, max_tokens: int):
    """Greedy on the first attempt; then a little temperature and a fresh seed per retry."""
    from star1.engines import SamplingParams

    if attempt == 0:
        return SamplingParams(max_tokens=max_tokens, temperature=0.0)
    return SamplingParams(max_tokens=max_tokens, temperature=0.7, top_p=0.95, seed=attempt)

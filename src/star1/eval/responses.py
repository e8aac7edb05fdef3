"""Where the responses to score come from: the model (generated, cached) or a saved JSONL file."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from star1.console import progress_bar
from star1.engines import ChatRequest, Completion, SamplingParams
from star1.errors import first_error_message
from star1.eval.benchmarks.base import Benchmark, EvalItem
from star1.eval.registry import get_benchmark
from star1.eval.settings import Protocol
from star1.io import InputError, read_rows
from star1.records import join_response


@dataclass
class Sample:
    """One response of the model to one item (sample k of the item)."""

    item: EvalItem
    sample: int
    response: str
    finish_reason: str = "stop"
    error: str | None = None  # the engine failed for good; nothing to score
    completion_tokens: int = 0


class SavedResponse(BaseModel):
    """One row of a responses file (other fields of the row are ignored)."""

    model_config = ConfigDict(extra="ignore")

    benchmark: str
    id: str
    response: str
    line: int = 0

    @field_validator("benchmark", mode="before")
    @classmethod
    def _known(cls, value):
        if not isinstance(value, str):
            raise ValueError(f"must be a string, not {type(value).__name__}")
        return get_benchmark(value).name  # ConfigError (a ValueError) lists the valid names

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, value):
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValueError("must be a string or an integer")
        return str(value)

    @field_validator("response", mode="before")
    @classmethod
    def _text(cls, value):
        if not isinstance(value, str):
            raise ValueError(f"must be a string, not {type(value).__name__}")
        return value


def reference_text(completion: Completion) -> str:
    """The text the STAR-1 reference keeps of a generation: vLLM's output, stripped (gen.py:105,
    local_sampler.py). The R1 distills' chat template ends the prompt with ``<think>\n``, so the
    output starts inside the think block: the reasoning, ``\n</think>\n\n`` (how the distills
    close it), the answer. A reply cut inside its reasoning has no closing tag."""
    if completion.reasoning is None:
        return completion.text.strip()
    reasoning = completion.reasoning.strip()
    if not completion.text and completion.finish_reason == "length":
        return reasoning
    return f"{reasoning}\n</think>\n\n{completion.text.strip()}".strip()


def generate(engine, items: list[EvalItem], protocol: Protocol, max_tokens: int,
             show_progress: bool = False, label: str = "generate",
             sampling: SamplingParams | None = None) -> list[Sample]:
    """Ask the model every item ``protocol.samples`` times; cached calls are not repeated.
    ``sampling``: the reference's, in place of the protocol's (paper). Under ``paper`` each
    response is the reference's text (:func:`reference_text`), which is what its judges and
    graders read; otherwise the STAR-1 layout ``<think>\nreasoning\n</think>\n\nanswer``."""
    pairs = [(item, k) for item in items for k in range(protocol.samples)]
    requests = [ChatRequest.chat(item.prompt, sampling=sampling or protocol.sampling(max_tokens, k))
                for item, k in pairs]
    with progress_bar(label, len(requests), enabled=show_progress) as update:
        completions = engine.generate(requests, progress=update if show_progress else None)
    samples = []
    for (item, k), completion in zip(pairs, completions):
        if protocol.reference:
            text = reference_text(completion)
        else:
            text = (join_response(completion.reasoning, completion.text) if completion.reasoning
                    else completion.text)
        failed = completion.finish_reason == "error"
        samples.append(Sample(item, k, text, completion.finish_reason,
                              completion.error if failed else None, completion.completion_tokens))
    return samples


def read_response_file(path: str | Path) -> dict[str, list[SavedResponse]]:
    """Rows of a responses file grouped by benchmark, in file order.

    Every row needs ``benchmark``, ``id`` and ``response``; a bad row raises :class:`InputError`
    naming the file, line and field.
    """
    grouped: dict[str, list[SavedResponse]] = defaultdict(list)
    rows = read_rows(path)
    if not rows:
        raise InputError(path, "the file holds no responses")
    for line, row in rows:
        try:
            # A null field is a missing one.
            given = {k: v for k, v in row.items() if v is not None and k != "line"}
            saved = SavedResponse.model_validate({**given, "line": line})
        except ValidationError as exc:
            error = exc.errors()[0]
            field, message = first_error_message(exc)
            raise InputError(path, "missing" if error["type"] == "missing" else message,
                             line=line, field=field) from None
        grouped[saved.benchmark].append(saved)
    return dict(grouped)


def samples_from_file(path: str | Path, rows: list[SavedResponse], bench: Benchmark,
                      items: list[EvalItem]) -> list[Sample]:
    by_id = {item.id: item for item in items}
    counts: dict[str, int] = defaultdict(int)
    samples = []
    for row in rows:
        item = by_id.get(row.id)
        if item is None:
            examples = ", ".join(repr(i.id) for i in items[:3])
            raise InputError(path, f"id {row.id!r} is not an item of {bench.name} "
                                   f"(its ids look like {examples})", line=row.line, field="id")
        samples.append(Sample(item, counts[row.id], row.response))
        counts[row.id] += 1
    return samples

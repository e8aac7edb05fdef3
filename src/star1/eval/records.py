"""The typed records of an evaluation: what ``items/NAME.jsonl`` and ``results.json`` hold.

* :class:`EvalRecord`: one (item, sample): the prompt, the response, and either the verdicts of
  its three views (safety) or its grade (reasoning);
* :class:`BenchmarkResult`: one benchmark's numbers in ``results.json``, with the judge and the
  protocol that produced them;
* :class:`EvalResults`: the whole ``results.json``.

The files keep the layout earlier releases wrote: every model dumps only the fields that were
set (``exclude_unset``), so a record read from an old file is written back as it was, and a
field an older file lacks is simply absent (its default stands in when read). Unknown fields are
kept (``extra="allow"``): a file written by a newer release still loads.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from star1.errors import InputError, first_error_message
from star1.io import check_value, load_json


class _Stored(BaseModel):
    model_config = ConfigDict(extra="allow")

    def to_dict(self) -> dict:
        return self.model_dump(mode="json", exclude_unset=True)


class Verdict(_Stored):
    """A judge's verdict on one text. ``label`` is the protocol's reading (None = unjudged);
    ``readings`` holds both (``strict``, ``reference``); ``raw`` the judge's text per attempt."""

    label: str | None = None
    raw: list[str] = Field(default_factory=list)
    codes: list[str] = Field(default_factory=list)  # hazard codes (Llama-Guard format)
    error: str | None = None  # why the last attempt did not count
    evidence: str | None = None  # keyword classifiers: the phrase that decided
    readings: dict[str, str | None] = Field(default_factory=dict)

    def to_dict(self) -> dict:
        # The stored layout: empty fields left out, the label always there.
        data = {k: v for k, v in self.model_dump(mode="json").items()
                if k != "label" and v not in (None, [], {})}
        return {"label": self.label, **data}


class GradeRecord(_Stored):
    """A reasoning grade: correct, what was read from the response, and the grader's details
    (HumanEval: sandbox ``status``, ``seconds``, ``isolation``, ``stderr`` tail)."""

    correct: bool
    extracted: str | None = None
    status: str | None = None
    isolation: str | None = None


class EvalRecord(_Stored):
    """One line of ``items/NAME.jsonl``."""

    id: str
    sample: int = 0
    category: str | None = None
    prompt: str | None = None
    response: str = ""
    finish_reason: str | None = "stop"
    completion_tokens: int = 0
    error: str | None = None  # generation failed for good: nothing to judge or grade
    # safety: the verdict of each view (None: the view does not exist or was not judged)
    views: dict[str, Verdict | None] | None = None
    verdict: str | None = None  # the whole output's label
    # reasoning
    gold: str | None = None
    grade: GradeRecord | None = None
    correct: bool | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value):
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    def to_dict(self) -> dict:
        data = super().to_dict()
        if self.views is not None:
            data["views"] = {name: v.to_dict() if v is not None else None for name, v in self.views.items()}
        return data


class ViewSummary(_Stored):
    score: float | None = None
    score_reference: float | None = None
    score_strict: float | None = None
    judged: int = 0
    unjudged: int = 0
    missing: int = 0
    labels: dict[str, int] = Field(default_factory=dict)


class CategoryScore(_Stored):
    score: float | None = None
    n: int = 0


class JudgeInfo(_Stored):
    """Who judged or graded a benchmark, and how it was asked."""

    name: str | None = None
    kind: str | None = None
    reading: str | None = None
    retries: int | None = None
    max_tokens: int | None = None
    mode: str | None = None  # Llama-Guard format: conversation | instruction
    prompt: str | None = None  # refusal judge: the prompt's version
    note: str | None = None
    self_judged: bool | None = None
    metric: str | None = None  # the keyword proxy names its own rate
    metric_label: str | None = None
    views: list[str] | None = None
    sampling: dict[str, Any] | None = None  # what the paper protocol asks for
    # what the server was asked for and is known to honour (remote engines)
    sampling_report: dict[str, Any] | None = None


class ProtocolInfo(_Stored):
    """How a benchmark's responses were produced (or ``external``: read from a file)."""

    name: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    repetition_penalty: float | None = None
    seed: int | None = None  # paper: the reference's seed (reasoning benchmarks)
    samples: int | None = None
    judging: str | None = None
    max_tokens: int | None = None
    data: str | None = None
    source: str | None = None  # external: the responses file
    judged_as: str | None = None
    sampling_report: dict[str, Any] | None = None


class BenchmarkResult(_Stored):
    """One benchmark of ``results.json``. Every field is optional: files written by earlier
    releases lack some of them."""

    title: str | None = None
    kind: str | None = None  # safety | reasoning
    metric: str | None = None
    metric_label: str | None = None
    score: float | None = None
    reading: str | None = None  # which reading the headline score uses
    score_reference: float | None = None
    score_strict: float | None = None
    unjudged_counting: dict[str, str] | None = None
    n: int = 0
    unjudged: int = 0
    errors: int = 0
    truncated: int = 0
    answer_only: float | None = None
    reasoning_only: float | None = None
    views: dict[str, ViewSummary] | None = None
    no_answer: int | None = None
    isolation: dict[str, int] | None = None  # HumanEval: graded programs per sandbox mode
    categories: dict[str, CategoryScore] = Field(default_factory=dict)
    samples: int = 1
    judge: JudgeInfo = Field(default_factory=JudgeInfo)
    protocol: ProtocolInfo = Field(default_factory=ProtocolInfo)
    seconds: dict[str, float] = Field(default_factory=dict)
    finished: str | None = None


class EvalResults(_Stored):
    """``results.json`` of one ``star1 eval --out`` folder."""

    model: str | None = None
    engine: str | None = None
    star1_version: str | None = None
    updated: str | None = None
    benchmarks: dict[str, BenchmarkResult] = Field(default_factory=dict)


def _validation_error(path, exc: ValidationError, line: int | None = None) -> InputError:
    field, message = first_error_message(exc)
    return InputError(path, message, line=line, field=field)


def read_results(path: str | os.PathLike, what_to_do: str) -> EvalResults:
    """``results.json`` as :class:`EvalResults`; every problem (not UTF-8, not JSON, nested too
    deep, not a results file) is an :class:`InputError` naming the file and ``what_to_do``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(path, f"not found; {what_to_do}") from None
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 text (byte {exc.start}); {what_to_do}") from None
    except OSError as exc:  # a folder, permissions
        raise InputError(path, f"cannot be read ({exc.strerror or exc}); {what_to_do}") from None
    try:
        data = load_json(text.removeprefix("\ufeff"), path)
        check_value(data, path, None, text)
    except InputError as exc:
        raise InputError(path, f"{_bare(exc)}; {what_to_do}", line=exc.line, field=exc.field) from None
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), dict):
        raise InputError(path, f"not a star1 eval results.json; {what_to_do}", field="benchmarks")
    try:
        return EvalResults.model_validate(data)
    except ValidationError as exc:
        field, message = first_error_message(exc)
        raise InputError(path, f"{message}; {what_to_do}", field=field) from None


def read_items(path: str | os.PathLike) -> list[EvalRecord]:
    """An ``items/NAME.jsonl`` file as :class:`EvalRecord` rows."""
    from star1.io import read_rows

    records = []
    for line, row in read_rows(path):
        try:
            records.append(EvalRecord.model_validate(row))
        except ValidationError as exc:
            raise _validation_error(path, exc, line) from None
    return records


def _bare(exc: InputError) -> str:
    """An InputError's message without the place it names (which is put back when re-raised)."""
    where = exc.path or "<input>"
    if exc.line is not None:
        where += f", line {exc.line}"
    if exc.field is not None:
        where += f", field '{exc.field}'"
    return str(exc).removeprefix(f"{where}: ")

"""Training records: read STAR-format files or hub datasets, split each response into reasoning and
answer, and report the records that do not fit (no ``</think>``, empty answer) instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from star1.datasets.fetch import DatasetUnavailable, offline
from star1.io import InputError
from star1.reasoning import split_reasoning
from star1.records import Record, parse_record, read_records

EXAMPLES_KEPT = 5  # ids quoted per problem in the report


@dataclass(frozen=True)
class TrainSample:
    """One (question, reasoning, answer) triple. ``reasoning`` is None when the response had none."""

    id: str
    question: str
    reasoning: str | None
    answer: str


@dataclass
class DataReport:
    """What was read and what was left out, with a few example ids for each problem."""

    sources: list[str] = field(default_factory=list)
    records: int = 0
    used: int = 0
    no_response: list[str] = field(default_factory=list)
    missing_think: list[str] = field(default_factory=list)
    empty_answer: list[str] = field(default_factory=list)
    skipped: int = 0
    truncated: int = 0
    dropped_too_long: int = 0

    def summary(self) -> dict:
        def problem(ids: list[str]) -> dict:
            return {"count": len(ids), "examples": ids[:EXAMPLES_KEPT]}

        return {
            "sources": self.sources, "records": self.records, "used": self.used, "skipped": self.skipped,
            "no_response": problem(self.no_response), "missing_think": problem(self.missing_think),
            "empty_answer": problem(self.empty_answer), "truncated": self.truncated,
            "dropped_too_long": self.dropped_too_long,
        }

    def problems(self) -> list[str]:
        """One line per kind of problem found, for the console."""
        lines = []
        for _name, ids, what in (
            ("no_response", self.no_response, "have no response (always skipped)"),
            ("missing_think", self.missing_think, "have no </think> (no reasoning)"),
            ("empty_answer", self.empty_answer, "have an empty answer after </think>"),
        ):
            if ids:
                lines.append(f"{len(ids)} records {what}, e.g. {', '.join(ids[:EXAMPLES_KEPT])}")
        return lines


def _read_hub(spec: str) -> list[Record]:
    name = spec.removeprefix("hub:")
    name, _, split = name.partition(":")
    if offline():  # first: offline, whether the package is there or not does not matter
        raise DatasetUnavailable(f"{spec}: no such file, and hub datasets cannot be read offline "
                                 "(STAR1_OFFLINE / HF_HUB_OFFLINE is set)")
    try:
        import datasets
    except ImportError:
        raise InputError(spec, "reading a hub dataset needs the 'datasets' package (pip install datasets)") from None
    try:
        table = datasets.load_dataset(name, split=split or "train")
    except (OSError, ValueError) as exc:
        raise DatasetUnavailable(f"{spec}: could not load the hub dataset: {exc}") from None
    return [parse_record(row, spec, i) for i, row in enumerate(table, start=1)]


def read_sources(sources: list[str]) -> list[Record]:
    """Read every source in order. A path that exists is a file; 'hub:x' or 'owner/name' is a hub id."""
    if not sources:
        raise InputError(None, "no training data given (use --in FILE)")
    records: list[Record] = []
    seen: dict[str, str] = {}
    for spec in sources:
        path = Path(spec)
        if path.exists():
            batch = read_records(path)
        elif spec.startswith("hub:") or (spec.count("/") == 1 and not path.suffix):
            batch = _read_hub(spec)
        else:
            raise InputError(spec, "file not found")
        for record in batch:
            if record.id in seen:
                raise InputError(spec, f"id {record.id!r} was already read from {seen[record.id]}", field="id")
            seen[record.id] = spec
        records.extend(batch)
    return records


def to_samples(records: list[Record], missing_think: str, empty_answer: str,
               report: DataReport) -> list[TrainSample]:
    """Split responses; problem records are counted in ``report`` and skipped or kept as configured."""
    samples = []
    report.records += len(records)
    for record in records:
        if not record.response or not record.response.strip():
            report.no_response.append(record.id)
            report.skipped += 1
            continue
        reasoning, answer = split_reasoning(record.response)
        if reasoning is None:
            report.missing_think.append(record.id)
            if missing_think == "skip":
                report.skipped += 1
                continue
        if not answer:
            report.empty_answer.append(record.id)
            if empty_answer == "skip":
                report.skipped += 1
                continue
        samples.append(TrainSample(record.id, record.question, reasoning, answer))
    report.used = len(samples)
    return samples


def load_samples(sources: list[str], missing_think: str = "skip",
                 empty_answer: str = "skip") -> tuple[list[TrainSample], DataReport]:
    report = DataReport(sources=list(sources))
    samples = to_samples(read_sources(sources), missing_think, empty_answer, report)
    if not samples:
        raise InputError(", ".join(sources), "no usable training records: " + "; ".join(report.problems()))
    return samples, report

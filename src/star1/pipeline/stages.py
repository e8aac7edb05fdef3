"""The three LLM stages of STAR-1, defined once: ``star1 build`` runs them in order, the single-stage
commands run one, and ``star1 build --dry-run`` plans them by running the very same functions
against the call cache alone (:mod:`star1.pipeline.plan`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from star1.engines.base import SamplingParams
from star1.engines.cache import CallStats
from star1.errors import InputError, RunFailed
from star1.io import write_rows
from star1.pipeline.classify import classify
from star1.pipeline.deliberate import deliberate
from star1.pipeline.score import score
from star1.records import Record, write_records


@dataclass(frozen=True)
class Stage:
    name: str  # one name everywhere: command, config section, cache namespace, failed/<name>.jsonl
    role: str  # the model role it needs (a config key and a command-line flag)
    run: Callable  # (records, engine, prompts, options, show_progress) -> StageResult
    output: str  # its file in a build's run folder
    needs: tuple[str, ...] = ()  # record fields an input must have (set by earlier stages)


STAGES = {
    "classify": Stage("classify", "classifier", classify, "classified.jsonl"),
    "deliberate": Stage("deliberate", "teacher", deliberate, "reasoned.jsonl", ("category",)),
    "score": Stage("score", "judge", score, "scored.jsonl", ("category", "response")),
}


@dataclass
class StageSummary:
    stage: str
    records_in: int
    records_out: int
    failed: int
    skipped: int = 0
    calls: CallStats = field(default_factory=CallStats)
    cost_usd: float | None = None
    # What a served model's server was asked for and is known to honour (None: a local model).
    sampling_report: dict | None = None


def stage_sampling(options) -> SamplingParams:
    """The sampling a stage's options ask for (its first call's; prefill calls differ in length)."""
    return SamplingParams(max_tokens=options.max_tokens, temperature=options.temperature,
                          top_p=options.top_p, repetition_penalty=getattr(options, "repetition_penalty", None),
                          seed=getattr(options, "seed", None),
                          max_tokens_field=getattr(options, "max_tokens_field", "max_tokens"))


def require_fields(records: list[Record], path, stage: Stage) -> None:
    """A stage's input must hold what the earlier stages add; say which record lacks it."""
    for name in stage.needs:
        for line, record in enumerate(records, start=1):
            if not getattr(record, name):
                raise InputError(path, f"missing (run the stage that adds '{name}' first)",
                                 line=line, field=name)


def check_calls(stage: str, stats: CallStats, first_error: str | None) -> None:
    """Every call of a stage failed in transport (none answered, none cached): stop, and say the
    first error — the server's explanation and a hint are in it — instead of going on with
    nothing and exiting 0."""
    if stats.requested and stats.failed == stats.requested and stats.new == 0 and stats.cached == 0:
        raise RunFailed(f"{stage}: all {stats.requested} model calls failed; the first: {first_error}")


def first_transport_error(failures) -> str | None:
    return next((f.reason for f in failures), None)


def write_failures(path: Path, failures) -> None:
    """Failures next to the outputs, rewritten on every run so they never list an older run's."""
    if failures or path.exists():
        write_rows(path, [f.to_dict() for f in failures])


def write_stage_outputs(out: str | Path, records, failures) -> Path:
    """A single-stage command's records to ``out`` and its failures to ``<out>.failed.jsonl``."""
    write_records(out, records)
    failed_path = Path(out).with_suffix(".failed.jsonl")
    write_failures(failed_path, failures)
    return failed_path


def summary_table(title: str, summaries: list[StageSummary], first: str = "stage"):
    """One row per stage; the cost column only when some engine has prices."""
    from rich.table import Table

    priced = any(s.cost_usd is not None for s in summaries)
    table = Table(title=title)
    columns = [first, "in", "out", "failed", "skipped", "cached calls", "new calls", "prompt tok",
               "completion tok", "seconds"] + (["cost $"] if priced else [])
    for column in columns:
        table.add_column(column, justify="left" if column == first else "right")
    for s in summaries:
        c = s.calls
        row = [s.stage, str(s.records_in), str(s.records_out), str(s.failed), str(s.skipped),
               str(c.cached), str(c.new), str(c.prompt_tokens), str(c.completion_tokens), f"{c.seconds:.1f}"]
        if priced:
            row.append("-" if s.cost_usd is None else f"{s.cost_usd:.4f}")
        table.add_row(*row)
    return table

"""The one stage runner: every command of the data pipeline is a list of stages run by
:func:`run_stages` — ``build`` (classify → deliberate → score → select [→ benign rewrite →
benign generate → benign score → mix]), each single-stage command (a list of one), ``benign``
and the dry run (the same list against the call cache alone, :mod:`star1.pipeline.plan`).

A :class:`RunContext` carries what every stage of a run shares — its settings, the prompt set,
the engine pool, whether progress is shown, and where results go — so no stage function is
handed these one by one. A stage asks the context for the model of its role
(:meth:`RunContext.engine`), and the runner counts its calls into the run's summary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from star1.console import showing_progress
from star1.engines.cache import CachedEngine, CallStats
from star1.engines.pool import cost
from star1.errors import InputError, RunFailed
from star1.io import write_rows
from star1.records import Record, write_records
from star1.runner import StageResult


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline. ``name`` is its summary row and ``failed/<name>.jsonl``."""

    name: str
    run: Callable[[RunContext, list[Record], CachedEngine | None, Any], StageResult]
    options: Callable[[Any], Any] = lambda config: None  # its section of the settings
    role: str | None = None  # the model role it needs (None: no model)
    namespace: str | None = None  # its call-cache namespace (with the prompt set's hash)
    output: str | None = None  # its file in a build's run folder
    needs: tuple[str, ...] = ()  # record fields its input must have (set by earlier stages)


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


@dataclass
class RunContext:
    """What the stages of one run share. ``pool`` hands out cached engines (``cached(spec,
    namespace, prompts)``: an :class:`~star1.engines.EnginePool`, or the dry run's); ``dry``:
    a plan, where every call failing is expected."""

    config: Any  # the command's settings (a BuildConfig)
    prompts: Any  # the prompt set's data: a policy pack or the reference prompt set
    pool: Any = None
    run_dir: Path | None = None
    progress: bool = True
    say: Callable[[str], None] = lambda text: None
    dry: bool = False
    outputs: dict[str, list[Record]] = field(default_factory=dict)  # each finished stage's records

    def engine(self, role: str, namespace: str) -> CachedEngine:
        return self.pool.cached(self.config.engine_for(role), namespace, self.prompts)


@dataclass
class RunResult:
    records: list[Record]
    summaries: list[StageSummary]
    failures: list  # every stage's, in order
    results: dict[str, StageResult]


OnStage = Callable[[Stage, StageResult, CachedEngine | None], None]


def run_stages(stages: list[Stage], records: list[Record], ctx: RunContext,
               on_stage: OnStage | None = None) -> RunResult:
    """Run ``stages`` in order, each on the records the one before kept; ``on_stage`` sees each
    result as it is done (the build writes its files there, the dry run counts its calls)."""
    summaries: list[StageSummary] = []
    failures: list = []
    results: dict[str, StageResult] = {}
    with showing_progress(ctx.progress):
        for stage in stages:
            options = stage.options(ctx.config)
            engine = None
            if stage.role:
                spec = ctx.config.engine_for(stage.role)
                ctx.say(f"[bold]{stage.name}[/bold] {len(records)} records with {spec.engine_string()}")
                engine = ctx.engine(stage.role, stage.namespace)
            result = stage.run(ctx, records, engine, options)
            summaries.append(_summary(stage, records, result, engine, options, ctx))
            summaries.extend(result.extra_rows)
            failures.extend(result.failures)
            results[stage.name] = result
            ctx.outputs[stage.name] = result.records
            if on_stage:
                on_stage(stage, result, engine)
            if engine is not None and not ctx.dry:
                check_calls(stage.name, engine.stats, first_transport_error(result.failures))
            records = result.records
    return RunResult(records, summaries, failures, results)


def _summary(stage: Stage, records: list, result: StageResult, engine: CachedEngine | None, options,
             ctx: RunContext) -> StageSummary:
    records_in = len(records) if result.records_in is None else result.records_in
    summary = StageSummary(stage.name, records_in, len(result.records), len(result.failures),
                           len(result.skipped))
    if engine is not None:
        summary.calls = engine.stats
        summary.cost_usd = cost(ctx.config.engine_for(stage.role), engine.stats)
        summary.sampling_report = engine.sampling_report(options.sampling()) if not ctx.dry else None
    return summary


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


def failures_file(run_dir: Path, stage: Stage) -> Path:
    return run_dir / "failed" / f"{stage.name.replace(' ', '_')}.jsonl"


def write_to_run_dir(run_dir: Path) -> OnStage:
    """The build's writer: each stage's output file and its failures, as soon as it is done."""
    def write(stage: Stage, result: StageResult, engine) -> None:
        if stage.output:
            write_records(run_dir / stage.output, result.records)
        if stage.role:
            write_failures(failures_file(run_dir, stage), result.failures)
    return write


def write_stage_outputs(out: str | Path, records, failures) -> Path:
    """A command's records to ``out`` and its failures to ``<out>.failed.jsonl``."""
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

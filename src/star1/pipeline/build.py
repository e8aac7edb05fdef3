"""``star1 build``: classify → deliberate → score → select (→ benign), resumable.

Every stage writes its output file atomically into the run folder; every model call goes
through the run's call cache, so rerunning the same command after a crash, Ctrl-C or
``kill -9`` repeats no finished call and ends with the same files.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from star1.engines import CachedEngine, CallCache, CallStats, make_engine, parse_engine
from star1.io import InputError, write_json_atomic, write_rows
from star1.pipeline.card import write_dataset_card
from star1.pipeline.classify import classify
from star1.pipeline.config import BuildConfig
from star1.pipeline.deliberate import deliberate
from star1.pipeline.score import score
from star1.pipeline.select import select
from star1.policies import PolicyPack
from star1.prompts.reference import load_prompt_set
from star1.records import Record, read_records, write_records
from star1.runlock import RunLock



@dataclass
class StageSummary:
    stage: str
    records_in: int
    records_out: int
    failed: int
    skipped: int = 0
    calls: CallStats = field(default_factory=CallStats)
    cost_usd: float | None = None


@dataclass
class BuildSummary:
    run_dir: str
    stages: list[StageSummary]
    selected: int
    output: str
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


class EnginePool:
    """One engine instance per distinct engine setting (a local model is loaded once)."""

    def __init__(self, cache: CallCache):
        self.cache = cache
        self._engines: dict[str, object] = {}

    def get(self, spec) -> object:
        key = parse_engine(spec).model_dump_json()
        if key not in self._engines:
            self._engines[key] = make_engine(spec)
        return self._engines[key]

    def cached(self, spec, namespace: str) -> CachedEngine:
        return CachedEngine(self.get(spec), self.cache, namespace)

    def close(self) -> None:
        for engine in self._engines.values():
            engine.close()


def namespace(stage: str, pack: PolicyPack) -> str:
    return f"{stage}:{pack.hash}"


def cost(stats: CallStats, spec) -> float | None:
    config = parse_engine(spec)
    if config.price_input_per_mtok is None and config.price_output_per_mtok is None:
        return None
    return (stats.prompt_tokens * (config.price_input_per_mtok or 0)
            + stats.completion_tokens * (config.price_output_per_mtok or 0)) / 1e6


def load_inputs(config: BuildConfig) -> list[Record]:
    records = read_records(config.input)
    if config.limit:
        records = records[: config.limit]
    return records


def write_failures(run_dir: Path, stage: str, failures) -> None:
    path = run_dir / "failed" / f"{stage}.jsonl"
    if failures or path.exists():
        write_rows(path, [f.to_dict() for f in failures])


def run_build(config: BuildConfig, command_line: str | None = None, show_progress: bool = True,
              console=None) -> BuildSummary:
    # One build per run dir: a second would pay every call again and overwrite the first's files.
    with RunLock(config.run_dir, command_line, option="another --run-dir"):
        return _run_build(config, command_line, show_progress, console)


def _run_build(config: BuildConfig, command_line: str | None, show_progress: bool,
               console) -> BuildSummary:
    started = time.perf_counter()
    run_dir = Path(config.run_dir)
    pack = load_prompt_set(config.prompt_set, config.policies, config.local_dir)
    records = load_inputs(config)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(run_dir / "config.resolved.json", config.model_dump(mode="json"))
    cache = CallCache(config.cache_path)
    pool = EnginePool(cache)
    summaries: list[StageSummary] = []
    say = console.print if console else (lambda *a, **k: None)

    def run(stage: str, role: str, function, records_in: list[Record], options, output: str):
        spec = config.engine_for(role)
        say(f"[bold]{stage}[/bold] {len(records_in)} records with {spec.engine_string()}")
        engine = pool.cached(spec, namespace(stage, pack))
        result = function(records_in, engine, pack, options, show_progress)
        write_records(run_dir / output, result.records)
        write_failures(run_dir, stage, result.failures)
        summaries.append(StageSummary(stage, len(records_in), len(result.records), len(result.failures),
                                      len(getattr(result, "skipped", ())), engine.stats,
                                      cost(engine.stats, spec)))
        return result.records

    try:
        classified = run("classify", "classifier", classify, records, config.classify, "classified.jsonl")
        reasoned = run("deliberate", "teacher", deliberate, classified, config.deliberate, "reasoned.jsonl")
        scored = run("score", "judge", score, reasoned, config.score, "scored.jsonl")
        selected = select(scored, config.select)
        output = run_dir / "star1.jsonl"
        write_records(output, selected.records)
        summaries.append(StageSummary("select", len(scored), len(selected.records),
                                      0, len(scored) - selected.passed_filter))
        if config.benign.enabled:
            from star1.pipeline.benign import run_benign_for_build

            summaries.extend(run_benign_for_build(config, selected.records, pool, pack, run_dir,
                                                  show_progress))
    finally:
        pool.close()
        cache.close()
    summary = BuildSummary(str(run_dir), summaries, len(selected.records), str(output),
                           time.perf_counter() - started)
    write_json_atomic(run_dir / "summary.json", summary.to_dict())
    write_dataset_card(run_dir / "README.md", selected.records, summary, config, pack,
                       command_line or " ".join(sys.argv), selected.removed_by_filter)
    return summary


def require_field(records: list[Record], path: str, field_name: str) -> None:
    """Stage commands need fields earlier stages add; say which record lacks it."""
    for line, record in enumerate(records, start=1):
        if not getattr(record, field_name):
            raise InputError(path, f"missing (run the stage that adds '{field_name}' first)",
                             line=line, field=field_name)


def summary_table(summary: BuildSummary):
    from rich.table import Table

    table = Table(title=f"star1 build — {summary.run_dir}")
    for column in ("stage", "in", "out", "failed", "skipped", "cached calls", "new calls",
                   "prompt tok", "completion tok", "seconds", "cost $"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for s in summary.stages:
        c = s.calls
        table.add_row(s.stage, str(s.records_in), str(s.records_out), str(s.failed), str(s.skipped),
                      str(c.cached), str(c.new), str(c.prompt_tokens), str(c.completion_tokens),
                      f"{c.seconds:.1f}", "-" if s.cost_usd is None else f"{s.cost_usd:.4f}")
    return table


def summary_json(summary: BuildSummary) -> str:
    return json.dumps(summary.to_dict(), indent=2)

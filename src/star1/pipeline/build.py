"""``star1 build``: classify → deliberate → score → select (→ benign), resumable.

Every stage writes its output file atomically into the run folder; every model call goes
through the run's call cache, so rerunning the same command after a crash, Ctrl-C or
``kill -9`` repeats no finished call and ends with the same files.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from star1.engines.cache import CallCache
from star1.engines.pool import EnginePool, cost
from star1.io import write_json_atomic
from star1.pipeline.card import write_dataset_card
from star1.pipeline.config import BuildConfig
from star1.pipeline.select import select
from star1.pipeline.stages import (
    STAGES,
    StageSummary,
    check_calls,
    first_transport_error,
    stage_sampling,
    write_failures,
)
from star1.prompts.reference import load_prompt_set
from star1.records import Record, read_records, write_records
from star1.runlock import RunLock


@dataclass
class BuildSummary:
    run_dir: str
    stages: list[StageSummary]
    selected: int
    output: str
    seconds: float
    card: str | None = None  # the dataset card, None when nothing was selected
    not_selectable: dict[str, int] = field(default_factory=dict)  # why scored samples failed the keep rule

    def to_dict(self) -> dict:
        return asdict(self)


def load_inputs(config: BuildConfig) -> list[Record]:
    records = read_records(config.input)
    if config.limit:
        records = records[: config.limit]
    return records


def run_build(config: BuildConfig, command_line: str | None = None, show_progress: bool = True,
              console=None) -> BuildSummary:
    config.roles()  # every role has a model, before anything is read, created or locked
    # One build per run dir: a second would pay every call again and overwrite the first's files.
    with RunLock(config.run_dir, command_line, option="another --out"):
        return _run_build(config, command_line, show_progress, console)


def _run_build(config: BuildConfig, command_line: str | None, show_progress: bool,
               console) -> BuildSummary:
    started = time.perf_counter()
    run_dir = Path(config.run_dir)
    prompts = load_prompt_set(config.protocol, config.policies, config.local_dir)
    records = load_inputs(config)
    roles = config.roles()
    write_json_atomic(run_dir / "config.resolved.json", config.model_dump(mode="json"))
    cache = CallCache(config.cache_path)
    pool = EnginePool(cache)
    summaries: list[StageSummary] = []
    say = console.print if console else (lambda *a, **k: None)
    try:
        for stage in STAGES.values():
            spec = roles[stage.role]
            say(f"[bold]{stage.name}[/bold] {len(records)} records with {spec.engine_string()}")
            engine = pool.cached(spec, stage.name, prompts)
            result = stage.run(records, engine, prompts, getattr(config, stage.name), show_progress)
            write_records(run_dir / stage.output, result.records)
            write_failures(run_dir / "failed" / f"{stage.name}.jsonl", result.failures)
            options = getattr(config, stage.name)
            summaries.append(StageSummary(stage.name, len(records), len(result.records),
                                          len(result.failures), len(result.skipped), engine.stats,
                                          cost(spec, engine.stats),
                                          engine.sampling_report(stage_sampling(options))))
            check_calls(stage.name, engine.stats, first_transport_error(result.failures))
            records = result.records
        selected = select(records, config.select)
        output = run_dir / "star1.jsonl"
        write_records(output, selected.records)
        summaries.append(StageSummary("select", len(records), len(selected.records),
                                      0, len(records) - selected.passed_filter))
        if config.benign.enabled:
            summaries.extend(_benign(config, selected.records, pool, prompts, run_dir, show_progress))
    finally:
        pool.close()
        cache.close()
    summary = BuildSummary(str(run_dir), summaries, len(selected.records), str(output),
                           time.perf_counter() - started, not_selectable=selected.removed_by_filter)
    card = run_dir / "README.md"
    if selected.records:
        write_dataset_card(card, selected.records, summary, config, prompts,
                           command_line or " ".join(sys.argv), selected.removed_by_filter)
        summary.card = str(card)
    elif card.exists():
        card.unlink()  # a card of an earlier run would describe data that is not there
    write_json_atomic(run_dir / "summary.json", summary.to_dict())
    return summary


def _benign(config: BuildConfig, selected: list[Record], pool: EnginePool, prompts, run_dir: Path,
            show_progress: bool) -> list[StageSummary]:
    """``benign.enabled``: benign.jsonl (+ star1_plus_benign.jsonl) in the run dir."""
    from star1.pipeline.benign import CHECK, GENERATE, REWRITE, SCORE, benign_engines, run_benign
    from star1.pipeline.mix import mix

    options = config.benign
    if options.classify is None:
        options = options.model_copy(update={"classify": config.classify})
    roles = config.roles()
    specs = {"teacher": options.teacher or roles["teacher"], "classifier": roles["classifier"],
             "judge": options.judge or roles["judge"]}
    engines = benign_engines(pool, prompts, specs["teacher"], specs["classifier"], specs["judge"], options)
    run = run_benign(selected, engines, prompts, options, show_progress)
    role = {REWRITE: "teacher", CHECK: "classifier", GENERATE: "teacher", SCORE: "judge"}
    for step in run.steps:
        step.cost_usd = cost(specs[role[step.stage]], step.calls)
    write_records(run_dir / "benign.jsonl", run.records)
    for step in (REWRITE, GENERATE, SCORE):
        write_failures(run_dir / "failed" / f"{step.replace(' ', '_')}.jsonl",
                       [f for f in run.failures if f.stage.startswith(step)])
    steps = run.steps
    if options.mix:
        mixed = mix([("star1.jsonl", selected), ("benign.jsonl", run.records)], options.seed)
        write_records(run_dir / "star1_plus_benign.jsonl", mixed)
        steps.append(StageSummary("mix", len(selected) + len(run.records), len(mixed), 0))
    return steps

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
from star1.engines.pool import EnginePool
from star1.errors import ConfigError
from star1.io import write_json_atomic
from star1.pipeline.card import write_dataset_card
from star1.pipeline.config import BuildConfig
from star1.pipeline.run import RunContext, StageSummary, run_stages, write_to_run_dir
from star1.pipeline.stages import build_stages
from star1.prompts.reference import load_prompt_set
from star1.records import Record, read_records
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


def load_inputs(config: BuildConfig, path: str | None = None) -> list[Record]:
    """The prompts of a run: ``path`` (a command's --in), else the config's ``input``; ``limit`` applies."""
    path = path or config.input
    if not path:
        raise ConfigError("give --in PROMPTS, or 'input:' in the config")
    records = read_records(path)
    if config.limit:
        records = records[: config.limit]
    return records


def run_build(config: BuildConfig, command_line: str | None = None, show_progress: bool = True,
              console=None) -> BuildSummary:
    stages = build_stages(config)
    config.roles(tuple({s.role for s in stages if s.role}))  # every role has a model, before anything is read
    # One build per run dir: a second would pay every call again and overwrite the first's files.
    with RunLock(config.run_dir, command_line, option="another --out"):
        return _run_build(config, stages, command_line, show_progress, console)


def _run_build(config: BuildConfig, stages, command_line: str | None, show_progress: bool,
               console) -> BuildSummary:
    started = time.perf_counter()
    run_dir = Path(config.run_dir)
    prompts = load_prompt_set(config.protocol, config.policies, config.local_dir)
    records = load_inputs(config)
    write_json_atomic(run_dir / "config.resolved.json", config.model_dump(mode="json"))
    with CallCache(config.cache_path) as cache, EnginePool(cache) as pool:
        ctx = RunContext(config, prompts, pool, run_dir, show_progress,
                         say=console.print if console else (lambda *a, **k: None))
        run = run_stages(stages, records, ctx, on_stage=write_to_run_dir(run_dir))
    selected = ctx.outputs["select"]
    reasons = run.results["select"].reasons
    output = run_dir / "star1.jsonl"
    summary = BuildSummary(str(run_dir), run.summaries, len(selected), str(output),
                           time.perf_counter() - started, not_selectable=reasons)
    card = run_dir / "README.md"
    if selected:
        write_dataset_card(card, selected, summary, config, prompts, command_line or " ".join(sys.argv), reasons)
        summary.card = str(card)
    elif card.exists():
        card.unlink()  # a card of an earlier run would describe data that is not there
    write_json_atomic(run_dir / "summary.json", summary.to_dict())
    return summary

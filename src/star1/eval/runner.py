"""``star1 eval``: generate (or read) responses, judge safety and grade reasoning, write results.

Output folder::

    results.json          {"model": ..., "benchmarks": {NAME: {"score", "n", "unjudged", "judge", "protocol", ...}}}
    items/NAME.jsonl      one record per (item, sample): prompt, response, verdicts / grade
    calls.sqlite          the call cache: a rerun repeats no finished model or judge call

Generation for every benchmark runs first, then judging and grading, so a local model and a
local judge need not both be working at once.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from star1 import __version__
from star1.engines import CallCache
from star1.engines.config import parse_engine
from star1.errors import ConfigError
from star1.eval.benchmarks.base import Benchmark, EvalItem, GradeOptions
from star1.eval.judging import EnginePool, make_refusal_judge, make_safety_judge
from star1.eval.registry import GROUPS, select_benchmarks
from star1.eval.responses import Sample, generate, read_response_file, samples_from_file
from star1.eval.scoring import reasoning_summary, safety_summary
from star1.eval.settings import EvalConfig, Protocol
from star1.eval.splitting import VIEWS, split_views
from star1.io import write_json_atomic, write_rows
from star1.records import utc_now
from star1.runlock import RunLock

Progress = Callable[[int, int], None]


class Bars:
    """Rich progress bars on stderr, one per stage."""

    def __init__(self, enabled: bool = True):
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        from star1.console import make_console

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TimeRemainingColumn(),
                                 console=make_console(stderr=True), disable=not enabled)

    def __enter__(self) -> "Bars":
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def stage(self, description: str, total: int) -> Progress:
        task = self.progress.add_task(description, total=total)

        def update(done: int, total_now: int) -> None:
            self.progress.update(task, completed=done, total=total_now)

        return update


@dataclass
class Plan:
    bench: Benchmark
    items: list[EvalItem]
    samples: list[Sample] = field(default_factory=list)
    judge_info: dict = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def run_eval(config: EvalConfig, show_progress: bool = True) -> dict:
    # One eval per --out folder: a second would repeat every call and overwrite items/ and results.
    with RunLock(config.out, option="another --out"):
        return _run_eval(config, show_progress)


def _run_eval(config: EvalConfig, show_progress: bool) -> dict:
    if not config.model and not config.responses:
        raise ConfigError("give --model ENGINE to generate responses, or --responses FILE to "
                          "judge saved ones")
    out = Path(config.out)
    results_path = out / "results.json"
    previous = _previous_results(results_path, _model_name(config))
    protocol = config.generation_protocol()
    file_rows = read_response_file(config.responses) if config.responses else None
    names = config.benchmarks or (list(file_rows) if file_rows else GROUPS["safety"])
    benchmarks = select_benchmarks(names)
    plans = []
    for bench in benchmarks:
        items = bench.load_items(config.local_dir, reference=protocol.reference)
        if config.limit and not file_rows:
            items = items[:config.limit]
        plans.append(Plan(bench, items))

    cache = CallCache(Path(config.cache) if config.cache else out / "calls.sqlite")
    pool = EnginePool(cache, config.batch_size)
    results = previous or {"model": _model_name(config), "benchmarks": {}}
    try:
        with Bars(show_progress) as bars:
            for plan in plans:
                with _timed(plan, "generate"):
                    plan.samples = _collect(plan, config, protocol, file_rows, pool, bars)
            if config.model and config.model not in (config.safety_judge, config.refusal_judge):
                pool.release(config.model)  # free the model before the judges load
            for plan in plans:
                with _timed(plan, "score"):
                    records = _score(plan, config, pool, bars)
                write_rows(out / "items" / f"{plan.bench.name}.jsonl", records)
                results["benchmarks"][plan.bench.name] = _summary(plan, records, config, protocol)
                _write_results(results_path, results, config)
    finally:
        pool.close()
        cache.close()
    return results


def default_label(spec: str) -> str:
    """A model's name in results when no --label is given: short and stable. ``openai:<model>``
    for a served model (not where it is served nor how it is called: a new port, more
    concurrency or another replica is the same model); otherwise the engine string without
    options."""
    try:
        engine = parse_engine(spec)
    except ConfigError:
        return spec.split("?")[0]
    if engine.kind == "openai":
        return f"openai:{engine.model}"
    return engine.engine_string().split("?")[0]


def _model_name(config: EvalConfig) -> str:
    if config.label:
        return config.label
    if config.model:
        return default_label(config.model)
    return f"responses:{Path(config.responses).name}"


def _previous_results(path: Path, model: str) -> dict | None:
    """Results already in the folder are kept (other benchmarks stay); another model's are refused.

    A folder written before labels were shortened holds the whole engine string; it is the same
    model when its short label is this one, and is renamed."""
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raise ConfigError(f"{path} exists but is not valid JSON; move it away or use another --out") from None
    held = data.get("model")
    if held != model and not (isinstance(held, str) and ":" in held and default_label(held) == model):
        raise ConfigError(f"{path} holds results of {held!r}, not {model!r}; "
                          "use another --out (or the same --label)")
    data["model"] = model
    data.setdefault("benchmarks", {})
    return data


@contextmanager
def _timed(plan: Plan, stage: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    plan.seconds[stage] = round(time.perf_counter() - started, 2)


def _collect(plan: Plan, config: EvalConfig, protocol: Protocol, file_rows, pool: EnginePool,
             bars: Bars) -> list[Sample]:
    bench = plan.bench
    if file_rows is not None:
        rows = file_rows.get(bench.name)
        if not rows:
            raise ConfigError(f"{config.responses} has no responses for {bench.name}")
        samples = samples_from_file(config.responses, rows, bench, plan.items)
        if config.limit:  # the first N items of the benchmark that the file has responses for
            keep = set(list(dict.fromkeys(s.item.id for s in samples))[:config.limit])
            samples = [s for s in samples if s.item.id in keep]
        return samples
    engine = pool.get(config.model, "eval-generate")
    max_tokens = config.max_tokens or bench.max_tokens
    total = len(plan.items) * protocol.samples
    return generate(engine, plan.items, protocol, max_tokens,
                    progress=bars.stage(f"{bench.name}: generate", total))


def _score(plan: Plan, config: EvalConfig, pool: EnginePool, bars: Bars) -> list[dict]:
    bench = plan.bench
    if bench.kind == "safety":
        paper = config.generation_protocol().reference
        judge = _judge_for(bench, config, pool, paper)
        # The reference judges the whole output only (eval.py:174-175; --part allows only
        # "response", eval.py:200): so does paper, which then sends the judges exactly the
        # reference's requests and no more.
        views = ("whole",) if paper else VIEWS
        plan.judge_info = {**judge.info, "views": list(views)}
        return judge_safety(plan.samples, judge, bars.stage(f"{bench.name}: judge", 1), views)
    plan.judge_info = {"name": bench.grader, "kind": "grader"}
    options = GradeOptions(code_timeout_s=config.code_timeout, code_memory_mb=config.code_memory_mb,
                           workers=config.workers)
    return grade_reasoning(bench, plan.samples, options,
                           bars.stage(f"{bench.name}: grade", len(plan.samples)))


def _judge_for(bench: Benchmark, config: EvalConfig, pool: EnginePool, paper: bool):
    if bench.judge == "refusal":
        return make_refusal_judge(config.refusal_judge, pool, config.model, config.retries(),
                                  config.judge_max_tokens, paper=paper, local_dir=config.local_dir)
    return make_safety_judge(config.safety_judge, pool, config.model, config.safety_judge_format,
                             config.retries(), config.judge_max_tokens, paper=paper)


def _base_record(sample: Sample) -> dict:
    item = sample.item
    record = {"id": item.id, "sample": sample.sample, "category": item.category,
              "prompt": item.prompt, "response": sample.response,
              "finish_reason": sample.finish_reason, "completion_tokens": sample.completion_tokens}
    if sample.error:
        record["error"] = sample.error
    return record


def judge_safety(samples: list[Sample], judge, progress: Progress | None = None,
                 views: tuple[str, ...] = VIEWS) -> list[dict]:
    """Judge every response three ways (whole, answer only, reasoning only; or only the named
    ``views``) in one batch. A view not judged is stored as None, like a view that is absent."""
    records = [_base_record(s) for s in samples]
    jobs = []  # (record index, view, text)
    for index, sample in enumerate(samples):
        records[index]["views"] = {}
        if sample.error:
            continue
        for view, text in split_views(sample.response).items():
            if text is None or view not in views:
                records[index]["views"][view] = None
            else:
                jobs.append((index, view, text))
    # Without a think block the whole output and the answer are the same text: judge it once.
    unique = list(dict.fromkeys((samples[i].item.question, text) for i, _, text in jobs))
    verdicts = dict(zip(unique, judge.judge(unique, progress)))
    for index, view, text in jobs:
        verdict = verdicts[(samples[index].item.question, text)]
        records[index]["views"][view] = verdict.to_dict() | {"label": verdict.label}
    for record in records:
        whole = record["views"].get("whole")
        record["verdict"] = whole.get("label") if whole else None
        record["views"] = {v: record["views"].get(v) for v in VIEWS}
    return records


def grade_reasoning(bench: Benchmark, samples: list[Sample], options: GradeOptions,
                    progress: Progress | None = None) -> list[dict]:
    records = [_base_record(s) for s in samples]
    todo = [i for i, s in enumerate(samples) if not s.error]
    grades = bench.grade([samples[i].item for i in todo], [samples[i].response for i in todo],
                         options, progress)
    for i, grade in zip(todo, grades):
        records[i]["gold"] = samples[i].item.gold
        records[i]["grade"] = grade.to_dict()
        records[i]["correct"] = grade.correct
    return records


def _summary(plan: Plan, records: list[dict], config: EvalConfig, protocol: Protocol) -> dict:
    bench = plan.bench
    if bench.kind == "safety":
        # The keyword proxy is not a safety judge: its rate has its own name (judge info).
        metric = plan.judge_info.get("metric", bench.metric)
        summary = safety_summary(records, metric, "reference" if protocol.reference else "strict")
    else:
        summary = reasoning_summary(records)
    if config.responses:
        proto = {"name": "external", "source": Path(config.responses).name,
                 "judging": protocol.judging, "judged_as": protocol.name}
    else:
        proto = {**protocol.model_dump(), "max_tokens": config.max_tokens or bench.max_tokens}
    if bench.kind == "safety":
        proto["data"] = bench.data_source(protocol.reference)
    return {"title": bench.title, "kind": bench.kind, **summary,
            "samples": max((r["sample"] for r in records), default=0) + 1,
            "judge": plan.judge_info, "protocol": proto, "seconds": plan.seconds, "finished": utc_now()}


def _write_results(path: Path, results: dict, config: EvalConfig) -> None:
    results["star1_version"] = __version__
    results["updated"] = utc_now()
    if config.model:
        results["engine"] = config.model
    write_json_atomic(path, results)

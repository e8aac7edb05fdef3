"""``star1 eval``: generate (or read) responses, judge safety and grade reasoning, write results.

Output folder::

    results.json          EvalResults: {"model": ..., "benchmarks": {NAME: BenchmarkResult}}
    items/NAME.jsonl      one EvalRecord per (item, sample): prompt, response, verdicts / grade
    calls.sqlite          the call cache: a rerun repeats no finished model or judge call

Everything the run is told is checked first — every role resolved, the protocol, the benchmark
names, the responses file and its ids — so a mistake creates no file. Generation for every
benchmark runs first, then judging and grading, so a local model and a different local judge
need not both be loaded at once; a judge that names the model itself is the same loaded engine.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from star1 import __version__
from star1.console import progress_bar
from star1.engines import CallCache, ChatRequest, EnginePool, SamplingParams
from star1.engines.config import EngineConfig, parse_engine
from star1.engines.pool import resolve_role
from star1.errors import ConfigError, RunFailed
from star1.eval.benchmarks.base import Benchmark, EvalItem, GradeOptions, ReferenceGrading
from star1.eval.graders.sandbox import isolation_mode
from star1.eval.judging import is_engine, make_refusal_judge, make_safety_judge
from star1.eval.records import (
    BenchmarkResult,
    EvalRecord,
    EvalResults,
    GradeRecord,
    JudgeInfo,
    ProtocolInfo,
    Verdict,
    read_results,
)
from star1.eval.reference import ReferenceEval, checker_sampling, load_reference_eval
from star1.eval.registry import GROUPS, select_benchmarks
from star1.eval.responses import Sample, generate, read_response_file, samples_from_file
from star1.eval.scoring import reasoning_summary, safety_summary
from star1.eval.settings import EvalConfig, Protocol
from star1.eval.splitting import VIEWS, split_views
from star1.io import write_json_atomic, write_rows
from star1.records import utc_now
from star1.runlock import RunLock

GENERATE_NAMESPACE = "eval-generate"
CHECKER_NAMESPACE = "eval-checker"
MODEL_HOW = "--model ENGINE (or 'model:' in the config), or --in RESPONSES to judge saved responses"


@dataclass
class Plan:
    bench: Benchmark
    items: list[EvalItem]
    samples: list[Sample] = field(default_factory=list)
    judge_info: JudgeInfo = field(default_factory=JudgeInfo)
    sampling_report: dict | None = None  # what the model's server was asked for and honours
    sampling: SamplingParams | None = None  # paper: the reference's sampling for this benchmark
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class Run:
    """A checked evaluation: what to run, with every role resolved; nothing created yet."""

    config: EvalConfig
    out: Path
    model: EngineConfig | None  # None: responses come from a file
    protocol: Protocol
    plans: list[Plan]
    reference: ReferenceEval | None = None  # paper: the reference's eval method, read as data
    checker: EngineConfig | None = None  # paper: the model that checks MATH / AIME answers


def prepare(config: EvalConfig) -> Run:
    """Check and resolve everything the run is told, before any file or folder is created."""
    if not config.out:
        raise ConfigError("give --out DIR (the folder for results.json and items/)")
    model = None if config.responses else resolve_role("model", config.model, how=MODEL_HOW)
    protocol = config.generation_protocol()
    file_rows = read_response_file(config.responses) if config.responses else None
    names = config.benchmarks or (list(file_rows) if file_rows else GROUPS["safety"])
    if config.checker is not None and not protocol.reference:
        raise ConfigError("a checker grades the reasoning benchmarks as the STAR-1 reference does: "
                          "use it with --protocol paper (or drop --checker)")
    benches = select_benchmarks(names)
    reference = None
    if protocol.reference and (model is not None or any(b.reference_grade for b in benches)):
        reference = load_reference_eval(config.local_dir)
    plans = []
    for bench in benches:
        items = bench.load_items(config.local_dir, reference=protocol.reference)
        plan = Plan(bench, items if file_rows or not config.limit else items[:config.limit])
        if file_rows is not None:
            plan.samples = _saved_samples(config, bench, items, file_rows)
        if reference is not None:
            plan.sampling = reference.sampling(bench.kind, config.max_tokens or bench.max_tokens)
        plans.append(plan)
    checker = resolve_role("checker", config.checker) if config.checker is not None else None
    if any(plan.bench.runs_code for plan in plans):
        isolation_mode(config.sandbox)  # refuses before any model call: no bwrap, no grading
    return Run(config, Path(config.out), model, protocol, plans, reference, checker)


def _saved_samples(config: EvalConfig, bench: Benchmark, items: list[EvalItem], file_rows) -> list[Sample]:
    rows = file_rows.get(bench.name)
    if not rows:
        raise ConfigError(f"{config.responses} has no responses for {bench.name}")
    samples = samples_from_file(config.responses, rows, bench, items)
    if config.limit:  # the first N items of the benchmark that the file has responses for
        keep = set(list(dict.fromkeys(s.item.id for s in samples))[:config.limit])
        samples = [s for s in samples if s.item.id in keep]
    return samples


def run_eval(config: EvalConfig, show_progress: bool = True) -> EvalResults:
    run = prepare(config)
    # One eval per --out folder: a second would repeat every call and overwrite items/ and results.
    with RunLock(run.out, option="another --out"):
        return _run_eval(run, show_progress)


def _run_eval(run: Run, show_progress: bool) -> EvalResults:
    config, out = run.config, run.out
    results_path = out / "results.json"
    name = _model_name(config)
    results = _previous_results(results_path, name) or EvalResults(model=name, benchmarks={})
    cache = CallCache(Path(config.cache) if config.cache else out / "calls.sqlite")
    # A cut-off answer is still an answer to score: no engine of eval counts "length" as failed.
    pool = EnginePool(cache, length_is_failure=False, batch_size=config.batch_size)
    failed: list[str] = []
    try:
        if run.model is not None:
            for plan in run.plans:
                with _timed(plan, "generate"):
                    error = _generate(plan, run, pool, show_progress)
                if error:
                    failed.append(error)
            judges = [config.safety_judge, config.refusal_judge, config.checker]
            if not any(is_engine(j) and pool.key(j) == pool.key(run.model) for j in judges):
                pool.release(run.model)  # free the model before a different judge loads
        for plan in run.plans:
            with _timed(plan, "score"):
                records = _score(plan, run, pool, show_progress)
            write_rows(out / "items" / f"{plan.bench.name}.jsonl", [r.to_dict() for r in records])
            results.benchmarks[plan.bench.name] = _summary(plan, records, run)
            _write_results(results_path, results, run.model)
    finally:
        pool.close()
        cache.close()
    if failed:
        raise RunFailed("; ".join(failed))
    return results


def default_label(spec) -> str:
    """A model's name in results when no label is given: short and stable. ``openai:<model>``
    for a served model (not where it is served nor how it is called: a new port, more
    concurrency or another replica is the same model); otherwise the engine string without
    options."""
    try:
        engine = parse_engine(spec)
    except ConfigError:
        return str(spec).split("?")[0]
    return engine.label()


def _model_name(config: EvalConfig) -> str:
    if config.label:
        return config.label
    if config.model:
        return default_label(config.model)
    return f"responses:{Path(config.responses).name}"


def _previous_results(path: Path, model: str) -> EvalResults | None:
    """Results already in the folder are kept (other benchmarks stay); another model's are refused.

    A folder written before labels were shortened holds the whole engine string; it is the same
    model when its short label is this one, and is renamed."""
    if not path.exists():
        return None
    data = read_results(path, "move it away or use another --out")
    held = data.model
    if held != model and not (isinstance(held, str) and ":" in held and default_label(held) == model):
        raise ConfigError(f"{path} holds results of {held!r}, not {model!r}; "
                          "use another --out (or the same label: --set label=NAME)")
    data.model = model
    return data


@contextmanager
def _timed(plan: Plan, stage: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    plan.seconds[stage] = round(time.perf_counter() - started, 2)


def _generate(plan: Plan, run: Run, pool: EnginePool, show_progress: bool) -> str | None:
    """The model's responses to the plan's items; the first error when every call of the
    benchmark failed in transport (none answered, none cached), else None."""
    bench = plan.bench
    engine = pool.cached(run.model, GENERATE_NAMESPACE)
    max_tokens = run.config.max_tokens or bench.max_tokens
    plan.samples = generate(engine, plan.items, run.protocol, max_tokens, show_progress,
                            f"{bench.name}: generate", sampling=plan.sampling)
    stats = engine.stats
    if stats.requested:  # a remote engine knows its server only once it has asked it
        plan.sampling_report = engine.sampling_report(plan.sampling or run.protocol.sampling(max_tokens, 0))
    if stats.requested and stats.failed == stats.requested and not stats.new and not stats.cached:
        first = next((s.error for s in plan.samples if s.error), "failed")
        return f"{bench.name}: all {stats.requested} model calls failed; the first: {first}"
    return None


def _score(plan: Plan, run: Run, pool: EnginePool, show_progress: bool) -> list[EvalRecord]:
    bench = plan.bench
    if bench.kind == "safety":
        judge = _judge_for(bench, run, pool)
        # The reference judges the whole output only (eval.py:174-175; --part allows only
        # "response", eval.py:200): so does paper, which then sends the judges exactly the
        # reference's requests and no more.
        views = ("whole",) if run.protocol.reference else VIEWS
        records = judge_safety(plan.samples, judge, views, show_progress, f"{bench.name}: judge")
        info = JudgeInfo.model_validate({**judge.info, "views": list(views)})
        engine = getattr(judge, "engine", None)  # None: the keyword rules
        if engine is not None and engine.stats.requested:
            report = judge.sampling_report()
            if report is not None:
                info.sampling_report = report
        plan.judge_info = info
        return records
    plan.judge_info = JudgeInfo(name=bench.grader, kind="grader")
    config = run.config
    options = GradeOptions(code_timeout_s=config.code_timeout, code_memory_mb=config.code_memory_mb,
                           workers=config.workers, sandbox=config.sandbox)
    label = f"{bench.name}: grade"
    if run.reference is not None and bench.reference_grade is not None:
        return _reference_grade(plan, run, pool, options, show_progress, label)
    return grade_reasoning(bench, plan.samples, options, show_progress, label)


def _reference_grade(plan: Plan, run: Run, pool: EnginePool, options: GradeOptions,
                     show_progress: bool, label: str) -> list[EvalRecord]:
    """Grade as the reference does; MATH and AIME ask the checker (none: star1's own grader in
    its place, and the grader's name and note say so)."""
    bench = plan.bench
    ask = _checker(run, pool) if bench.checker and run.checker is not None else None
    info = JudgeInfo(name=bench.reference_grader, kind="grader")
    if bench.checker and ask is None:
        info.name = f"{bench.reference_grader} without checker: star1's math-verify"
        info.note = ("no --checker: star1's own math-verify grader stands in for the reference's "
                     "GPT-4o checker, so this is not the reference's grade")
    elif ask is not None:
        info.sampling = checker_sampling().payload()
        info.note = f"checker: {run.checker.engine_string()}"
    plan.judge_info = info

    def grade(items, responses, options, progress):
        return bench.reference_grade(items, responses, ReferenceGrading(run.reference, ask, options, progress))

    return grade_reasoning(bench, plan.samples, options, show_progress, label, grade=grade)


def _checker(run: Run, pool: EnginePool):
    """The reference's checker calls: one user message with string content, its sampling,
    asked once; a failed call reads as "" (the reference's sampler returns "" on a bad request)."""
    engine = pool.cached(run.checker, CHECKER_NAMESPACE)

    def ask(texts: list[str]) -> list[str]:
        requests = [ChatRequest.chat(text, sampling=checker_sampling()) for text in texts]
        return [c.text if c.ok else "" for c in engine.generate(requests)]

    return ask


def _judge_for(bench: Benchmark, run: Run, pool: EnginePool):
    config, paper = run.config, run.protocol.reference
    if bench.judge == "refusal":
        return make_refusal_judge(config.refusal_judge, pool, config.model, config.retries(),
                                  config.judge_max_tokens, paper=paper, local_dir=config.local_dir)
    return make_safety_judge(config.safety_judge, pool, config.model, config.safety_judge_format,
                             config.retries(), config.judge_max_tokens, paper=paper)


def _base_record(sample: Sample) -> EvalRecord:
    item = sample.item
    record = EvalRecord(id=item.id, sample=sample.sample, category=item.category, prompt=item.prompt,
                        response=sample.response, finish_reason=sample.finish_reason,
                        completion_tokens=sample.completion_tokens)
    if sample.error:
        record.error = sample.error
    return record


def judge_safety(samples: list[Sample], judge, views: tuple[str, ...] = VIEWS,
                 show_progress: bool = False, label: str = "judge") -> list[EvalRecord]:
    """Judge every response three ways (whole, answer only, reasoning only; or only the named
    ``views``) in one batch. A view not judged is stored as None, like a view that is absent."""
    records = [_base_record(s) for s in samples]
    found: list[dict[str, Verdict | None]] = [{} for _ in samples]
    jobs = []  # (record index, view, text)
    for index, sample in enumerate(samples):
        if sample.error:
            continue
        for view, text in split_views(sample.response).items():
            if text is None or view not in views:
                found[index][view] = None
            else:
                jobs.append((index, view, text))
    # Without a think block the whole output and the answer are the same text: judge it once.
    unique = list(dict.fromkeys((samples[i].item.question, text) for i, _, text in jobs))
    verdicts = dict(zip(unique, judge.judge(unique, show_progress, label)))
    for index, view, text in jobs:
        found[index][view] = verdicts[(samples[index].item.question, text)].model_copy(deep=True)
    for record, judged in zip(records, found):
        record.views = {v: judged.get(v) for v in VIEWS}
        whole = record.views["whole"]
        record.verdict = whole.label if whole else None
    return records


def grade_reasoning(bench: Benchmark, samples: list[Sample], options: GradeOptions,
                    show_progress: bool = False, label: str = "grade", grade=None) -> list[EvalRecord]:
    """``grade``: in place of the benchmark's own grader (the reference's, under paper)."""
    records = [_base_record(s) for s in samples]
    todo = [i for i, s in enumerate(samples) if not s.error]
    with progress_bar(label, len(todo), enabled=show_progress) as update:
        grades = (grade or bench.grade)([samples[i].item for i in todo], [samples[i].response for i in todo],
                             options, update if show_progress else None)
    for i, grade in zip(todo, grades):
        records[i].gold = samples[i].item.gold
        records[i].grade = GradeRecord.model_validate(grade.to_dict())
        records[i].correct = grade.correct
    return records


def _summary(plan: Plan, records: list[EvalRecord], run: Run) -> BenchmarkResult:
    bench, config, protocol = plan.bench, run.config, run.protocol
    if bench.kind == "safety":
        # The keyword proxy is not a safety judge: its rate has its own name (judge info).
        metric = plan.judge_info.metric or bench.metric
        summary = safety_summary(records, metric, "reference" if protocol.reference else "strict")
    else:
        summary = reasoning_summary(records)
    if config.responses:
        proto = ProtocolInfo(name="external", source=Path(config.responses).name,
                             judging=protocol.judging, judged_as=protocol.name)
    else:
        proto = ProtocolInfo(**protocol.model_dump(), max_tokens=config.max_tokens or bench.max_tokens)
        if plan.sampling is not None:  # paper: what was sent, the reference's sampling
            proto.temperature, proto.top_p = plan.sampling.temperature, plan.sampling.top_p
            proto.repetition_penalty, proto.seed = plan.sampling.repetition_penalty, plan.sampling.seed
        if plan.sampling_report is not None:
            proto.sampling_report = plan.sampling_report
    if bench.kind == "safety":
        proto.data = bench.data_source(protocol.reference)
    summary.title, summary.kind = bench.title, bench.kind
    summary.samples = max((r.sample for r in records), default=0) + 1
    summary.judge, summary.protocol = plan.judge_info, proto
    summary.seconds, summary.finished = plan.seconds, utc_now()
    return summary


def _write_results(path: Path, results: EvalResults, model: EngineConfig | None) -> None:
    results.star1_version = __version__
    results.updated = utc_now()
    if model is not None:
        results.engine = model.engine_string()
    write_json_atomic(path, results.to_dict())


"""``--dry-run``: how many calls each stage will make, before any is made.

The plan runs a command's own stages (:mod:`star1.pipeline.stages`, through the one stage
runner :func:`~star1.pipeline.run.run_stages`) against the call cache alone: an engine that
answers nothing stands in for each model, so every request a stage would send is built exactly as the run builds it, the cached
ones are answered and flow on to the next stage, and the others are counted as calls to make.
Where a record's earlier answers are not cached yet its later calls cannot be built; they are
estimated (one per record, two for prefill deliberation) and the stage says "(est.)". Prompt
tokens are estimated at 4 characters per token; completion tokens are each request's maximum,
so token and cost figures are upper bounds. Nothing is written: a missing cache is read as empty.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from star1.engines.base import Completion, content_text
from star1.engines.cache import CachedEngine, CallCache
from star1.engines.config import parse_engine
from star1.engines.pool import namespace, price
from star1.pipeline.config import BuildConfig
from star1.pipeline.deliberate import ReasoningOptions, uses_prefill
from star1.pipeline.run import RunContext, Stage, run_stages
from star1.pipeline.stages import build_stages
from star1.prompts.reference import load_prompt_set
from star1.records import Record
from star1.runner import StageResult

CHARS_PER_TOKEN = 4
NOT_CACHED = "dry run: not cached"


@dataclass
class StagePlan:
    stage: str
    engine: str
    calls: int
    cached: int
    exact: bool
    prompt_tokens: int  # of the calls to make
    max_completion_tokens: int  # of the calls to make
    max_cost_usd: float | None
    sampling: str = "-"  # what the stage's requests ask of the server

    @property
    def to_make(self) -> int:
        return self.calls - self.cached


class DryRunEngine:
    """An engine that answers nothing: it records what it was asked, and each request fails
    with :data:`NOT_CACHED`. Nothing is loaded."""

    def __init__(self, config):
        # Its identity, cache variants and whether the model reasons by itself come from the
        # settings and what earlier runs learned of a server (saved facts): making the engine
        # loads no model and makes no network call, and nothing here prepares it.
        self._engine = config.make()
        self.name = config.engine_string()
        self.scores_choices = config.SCORES_CHOICES
        self.identity = self._engine.identity
        self.native_reasoning = config.guess_native_reasoning()
        self.length_is_failure = config.length_is_failure
        self.asked: list = []

    def prepare(self, requests) -> None:
        return None

    def cache_variant(self, request) -> str:
        return self._engine.cache_variant(request)

    def sampling_report(self, sampling):
        return None

    def cache_variants(self, request) -> list[str]:
        return self._engine.cache_variants(request)

    def generate(self, requests, on_result=None):
        out = []
        for i, request in enumerate(requests):
            self.asked.append(request)
            completion = Completion(text="", finish_reason="error", error=NOT_CACHED)
            out.append(completion)
            if on_result:
                on_result(i, completion)
        return out

    def close(self) -> None:
        pass


class _Watching(CachedEngine):
    """The call cache in front of a dry-run engine, remembering every request it was given."""

    seen: list

    def generate(self, requests, on_result=None, progress=None, attempt: int = 0):
        self.seen = getattr(self, "seen", []) + list(requests)
        return super().generate(requests, on_result, progress, attempt)


def _tokens(request) -> int:
    return (sum(len(content_text(m["content"])) for m in request.messages) + len(request.prefill)) // CHARS_PER_TOKEN


def _open_cache(config: BuildConfig, scratch: Path) -> CallCache:
    """The run's cache if it exists; else an empty one in a scratch folder (a dry run writes
    nothing into the run folder)."""
    return CallCache(config.cache_path if config.cache_path.exists() else scratch / "empty.sqlite")


class DryPool:
    """The dry run's engine pool: each stage's model is a :class:`DryRunEngine` behind the run's
    call cache; what each was asked is kept for the plan."""

    def __init__(self, cache: CallCache):
        self.cache = cache
        self.created: list[tuple[DryRunEngine, _Watching]] = []

    def cached(self, spec, stage: str, prompts=None) -> CachedEngine:
        dry = DryRunEngine(spec)
        engine = _Watching(dry, self.cache, namespace(stage, prompts))
        self.created.append((dry, engine))
        return engine


@dataclass
class _Carry:
    """What one stage's plan hands the next: records whose calls could not be built, and the
    tokens one of them costs."""

    unknown: int = 0
    per_unknown_prompt: int = 0
    seen_engines: int = 0


def plan_build(config: BuildConfig, records: list[Record], stages: list[Stage] | None = None) -> list[StagePlan]:
    """One :class:`StagePlan` per LLM stage of ``stages`` (default: what the build runs)."""
    stages = build_stages(config) if stages is None else stages
    prompts = load_prompt_set(config.protocol, config.policies, config.local_dir)
    config.roles(tuple({s.role for s in stages if s.role}))
    plans: list[StagePlan] = []
    carry = _Carry()
    with tempfile.TemporaryDirectory(prefix="star1-dry-run-") as scratch:
        with _open_cache(config, Path(scratch)) as cache:
            pool = DryPool(cache)

            def on_stage(stage: Stage, result: StageResult, engine) -> None:
                options = stage.options(config)
                if engine is None:  # select: at most n of the unknown records go on
                    n = getattr(options, "n", carry.unknown)
                    carry.unknown = max(0, min(carry.unknown, n - len(result.records)))
                    return
                engines = pool.created[carry.seen_engines:]
                carry.seen_engines = len(pool.created)
                plans.append(_stage_plan(stage, config, result, engines, options, carry))

            run_stages(stages, records, RunContext(config, prompts, pool, progress=False, dry=True), on_stage)
    return plans


def _stage_plan(stage: Stage, config: BuildConfig, result: StageResult, engines, options, carry: _Carry) -> StagePlan:
    spec = config.engine_for(stage.role)
    asked = [r for dry, _ in engines for r in dry.asked]
    seen = [r for _, engine in engines for r in getattr(engine, "seen", [])]
    cached = sum(engine.stats.cached for _, engine in engines)
    two_calls = isinstance(options, ReasoningOptions) and uses_prefill(engines[0][0], options)
    per_record = 2 if two_calls else 1
    # Records whose first call is not cached: their later calls (prefill's answer) could not be
    # built either.
    stuck = [f for f in result.failures if f.reason == NOT_CACHED]
    follow_ups = sum(1 for f in stuck if f.stage.endswith("(reasoning)")) * (per_record - 1)
    prompt_tokens = sum(_tokens(r) for r in asked)
    average = prompt_tokens // len(asked) if asked else carry.per_unknown_prompt or 1000
    max_out = max((r.sampling.max_tokens for r in seen), default=0) or _max_tokens(options)
    estimated = carry.unknown * per_record + follow_ups
    prompt_tokens += estimated * average
    completion = sum(r.sampling.max_tokens for r in asked) + estimated * max_out
    carry.unknown += len({f.id for f in stuck})
    carry.per_unknown_prompt = average + max_out
    return StagePlan(stage.name, spec.engine_string(), cached + len(asked) + estimated, cached, estimated == 0,
                     prompt_tokens, completion, price(spec, prompt_tokens, completion),
                     describe_sampling(seen[0].sampling if seen else options.sampling()))


def _max_tokens(options) -> int:
    return getattr(options, "max_tokens", 0)


def describe_sampling(sampling) -> str:
    """``temperature=0.6 top_p=0.7 max_tokens=8000``; unsent fields say so."""
    def show(value):
        return "server default" if value is None else f"{value:g}"

    text = (f"temperature={show(sampling.temperature)} top_p={show(sampling.top_p)} "
            f"{sampling.max_tokens_field}={sampling.max_tokens}")
    if sampling.seed is not None:
        text += f" seed={sampling.seed}"
    return text


# Hosted reasoning models documented to ignore (DeepSeek) or refuse (OpenAI o-series, GPT-5)
# temperature and top_p: paper mode's teacher sampling would silently not apply.
_IGNORES_SAMPLING = (("api.deepseek.com", "reasoner", "DeepSeek's API documents that deepseek-reasoner "
                      "ignores temperature and top_p"),
                     ("api.openai.com", ("o1", "o3", "o4", "gpt-5"), "OpenAI's reasoning models do not "
                      "accept temperature or top_p"))


def sampling_warning(spec, sampling) -> str | None:
    """A warning when ``spec``'s endpoint is known not to honour the requested sampling."""
    config = parse_engine(spec)
    if config.LOCAL or (sampling.temperature is None and sampling.top_p is None):
        return None
    model = config.model.lower()
    for host, markers, why in _IGNORES_SAMPLING:
        markers = (markers,) if isinstance(markers, str) else markers
        matches = (model.startswith(markers) if host == "api.openai.com" else any(m in model for m in markers))
        if matches and any(host in url for url in config.base_urls):
            return (f"{config.engine_string()}: {why}; the requested {describe_sampling(sampling)} "
                    "will not be what it samples with. Use an endpoint that honours them (the "
                    "reference used DeepSeek-R1 on NVIDIA's API) for a faithful run.")
    return None


def plan_table(plans: list[StagePlan], command: str = "build"):
    from rich.table import Table

    table = Table(title=f"star1 {command} --dry-run (nothing was called)")
    for column in ("stage", "engine", "calls", "cached", "to make", "prompt tok (est.)",
                   "completion tok (max)", "cost $ (max)"):
        table.add_column(column, justify="left" if column in ("stage", "engine") else "right")
    for p in plans:
        table.add_row(p.stage, p.engine, f"{p.calls}{'' if p.exact else ' (est.)'}", str(p.cached),
                      str(p.to_make), str(p.prompt_tokens), str(p.max_completion_tokens),
                      "-" if p.max_cost_usd is None else f"{p.max_cost_usd:.2f}")
    return table


def plan_notes(config: BuildConfig, plans: list[StagePlan]) -> list[str]:
    """What the dry run says besides the table: the prompt set (its upstream commit and hash in
    paper mode), each stage's sampling, and endpoints known to ignore the sampling asked of them."""
    from star1.pipeline.card import prompt_set_line

    pack = load_prompt_set(config.protocol, config.policies, config.local_dir)
    notes = [prompt_set_line(pack).removeprefix("- ").replace("**", "").replace("`", "")]
    if getattr(pack, "kind", None) == "reference":
        notes += [f"  {path}: sha256 {digest}" for path, digest in pack.sha256.items()]
    notes += [f"sampling, {p.stage}: {p.sampling}" for p in plans]
    if any(p.stage == "deliberate" for p in plans):
        warning = sampling_warning(config.engine_for("teacher"), config.deliberate.sampling())
        if warning:
            notes.append(f"warning: {warning}")
    if config.protocol == "paper" and config.rewriter is None and any(p.stage == "benign rewrite" for p in plans):
        notes.append("warning: the reference rewrote with GPT-4o; this run rewrites with the teacher. Set "
                     "'rewriter:' (or --rewriter ENGINE), as configs/build/paper_benign.yaml does.")
    return notes

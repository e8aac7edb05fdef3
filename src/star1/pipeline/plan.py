"""``star1 build --dry-run``: how many calls each stage will make, before any is made.

Calls whose answers are already cached are subtracted. Where a stage's requests depend on an
earlier stage's answers that are not cached yet, its calls are estimated (one per record, two
per record for prefill deliberation). Prompt tokens are estimated at 4 characters per token;
completion tokens are the configured maximum, so token and cost figures are upper bounds.
"""

from __future__ import annotations

from dataclasses import dataclass

from star1.engines import CachedEngine, CallCache, parse_engine
from star1.engines.config import engine_identity
from star1.pipeline.classify import (calibration_from, calibration_requests, classify_requests,
                                    labels_from_answer)
from star1.pipeline.config import BuildConfig
from star1.pipeline.deliberate import deliberate_requests, skipped_for
from star1.pipeline.score import score_requests
from star1.policies import PolicyPack
from star1.prompts.reference import load_prompt_set
from star1.records import Record

CHARS_PER_TOKEN = 4


@dataclass
class StagePlan:
    stage: str
    engine: str
    calls: int
    cached: int
    exact: bool
    prompt_tokens: int
    max_completion_tokens: int
    max_cost_usd: float | None
    sampling: str = "-"  # what the stage's requests ask of the server

    @property
    def to_make(self) -> int:
        return self.calls - self.cached


class _KeyOnly:
    """Enough of an engine for cache-key computation, without loading a model."""

    def __init__(self, spec, native_reasoning: bool):
        config = parse_engine(spec)
        self.name = config.engine_string()
        self.native_reasoning = native_reasoning
        self.scores_choices = config.kind != "openai"
        self.identity = engine_identity(config)

    def close(self) -> None:
        pass


def _native(spec) -> bool:
    config = parse_engine(spec)
    if config.kind == "openai":
        return True if config.native_reasoning is None else config.native_reasoning
    from star1.engines.transformers_engine import guess_native_reasoning

    return guess_native_reasoning(config)


def _text(content) -> str:
    if isinstance(content, list):  # list-of-parts content (the reference's GPT-4o calls)
        return "".join(part.get("text", "") for part in content)
    return content or ""


def _tokens(request) -> int:
    return (sum(len(_text(m["content"])) for m in request.messages) + len(request.prefill)) // CHARS_PER_TOKEN


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
    if config.kind != "openai" or (sampling.temperature is None and sampling.top_p is None):
        return None
    model = (config.model or "").lower()
    for host, markers, why in _IGNORES_SAMPLING:
        markers = (markers,) if isinstance(markers, str) else markers
        matches = (model.startswith(markers) if host == "api.openai.com" else any(m in model for m in markers))
        if matches and any(host in url for url in config.base_urls):
            return (f"{config.engine_string()}: {why}; the requested {describe_sampling(sampling)} "
                    "will not be what it samples with. Use an endpoint that honours them (the "
                    "reference used DeepSeek-R1 on NVIDIA's API) for a faithful run.")
    return None


def plan_build(config: BuildConfig, records: list[Record], native_reasoning: bool | None = None) -> list[StagePlan]:
    from star1.pipeline.build import namespace

    pack: PolicyPack = load_prompt_set(config.prompt_set, config.policies, config.local_dir)
    cache = CallCache(config.cache_path)
    plans = []
    try:
        spec = config.engine_for("classifier")
        engine = CachedEngine(_KeyOnly(spec, False), cache, namespace("classify", pack))
        build, _ = classify_requests(pack, config.classify, local=engine.scores_choices)
        requests = [build(r, 0) for r in records]
        plans.append(_plan("classify", spec, engine, requests, True, config.classify.max_tokens))
        plans[-1].sampling = describe_sampling(build(Record(id="-", question="-"), 0).sampling)
        calibration = None
        if config.classify.calibrate and engine.scores_choices:
            probes = calibration_requests(pack, config.classify)
            calibration = calibration_from([cache.get(k) for k in engine.keys(probes)], pack)
            plans[-1].calls += len(probes)
            plans[-1].cached += len(probes) - engine.count_uncached(probes)
        known, unknown = [], 0
        for record in records:
            labels = _cached_labels(record, build, engine, cache, pack, config, calibration)
            if labels is _UNKNOWN:
                unknown += 1
            elif labels is not None:
                known.append(record.model_copy(update={"category": labels}))
        known = [r for r in known if not skipped_for(r, pack, config.deliberate)]

        spec = config.engine_for("teacher")
        native = native_reasoning if native_reasoning is not None else _native(spec)
        prefill = (config.deliberate.reasoning_mode == "prefill"
                   or (config.deliberate.reasoning_mode == "auto" and not native))
        engine = CachedEngine(_KeyOnly(spec, native), cache, namespace("deliberate", pack))
        requests = [deliberate_requests(pack, config.deliberate, prefill)(r, 0) for r in known]
        max_out = (config.deliberate.reasoning_max_tokens + config.deliberate.answer_max_tokens
                   if prefill else config.deliberate.max_tokens)
        per_record = 2 if prefill else 1
        plan = _plan("deliberate", spec, engine, requests, unknown == 0, max_out / per_record)
        plan.calls = (len(known) + unknown) * per_record
        plan.cached *= per_record  # prefill: the answer call is cached when its reasoning call is
        plan.prompt_tokens = plan.prompt_tokens * per_record + unknown * per_record * (
            plan.prompt_tokens // max(len(known), 1) or 1000)
        plan.max_completion_tokens = (len(known) + unknown) * max_out
        plan.max_cost_usd = _cost(spec, plan.prompt_tokens, plan.max_completion_tokens)
        plans.append(plan)

        plan.sampling = describe_sampling(deliberate_requests(pack, config.deliberate, prefill)(
            Record(id="-", question="-", category=list(pack.names[:1])), 0).sampling)
        spec = config.engine_for("judge")
        total = len(known) + unknown
        build, _ = score_requests(pack, config.score)
        prompt_tokens = total * (plan.prompt_tokens // max(plan.calls, 1) + max_out)
        plans.append(StagePlan("score", parse_engine(spec).engine_string(), total, 0, False,
                               prompt_tokens, total * config.score.max_tokens,
                               _cost(spec, prompt_tokens, total * config.score.max_tokens),
                               describe_sampling(build(Record(id="-", question="-", category=list(
                                   pack.names[:1])), 0).sampling)))
    finally:
        cache.close()
    return plans


_UNKNOWN = object()


def _cached_labels(record, build, engine, cache, pack, config, calibration):
    """Labels the classifier gave, following retries through the cache; None if it failed for
    good; _UNKNOWN where an attempt is not cached yet."""
    for attempt in range(config.classify.retries + 1):
        hit = cache.get(engine.keys([build(record, attempt)])[0])
        if hit is None:
            return _UNKNOWN
        if not hit.ok:
            return None
        try:
            return labels_from_answer(pack, hit, config.classify, calibration)
        except ValueError:
            continue
    return None


def _plan(stage, spec, engine, requests, exact, max_tokens) -> StagePlan:
    cached = len(requests) - engine.count_uncached(requests)
    prompt_tokens = sum(_tokens(r) for r in requests)
    completion = int(len(requests) * max_tokens)
    return StagePlan(stage, parse_engine(spec).engine_string(), len(requests), cached, exact,
                     prompt_tokens, completion, _cost(spec, prompt_tokens, completion))


def _cost(spec, prompt_tokens: int, completion_tokens: int) -> float | None:
    config = parse_engine(spec)
    if config.price_input_per_mtok is None and config.price_output_per_mtok is None:
        return None
    return (prompt_tokens * (config.price_input_per_mtok or 0)
            + completion_tokens * (config.price_output_per_mtok or 0)) / 1e6


def plan_table(plans: list[StagePlan]):
    from rich.table import Table

    table = Table(title="star1 build --dry-run (nothing was called)")
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

    pack = load_prompt_set(config.prompt_set, config.policies, config.local_dir)
    notes = [prompt_set_line(pack).removeprefix("- ").replace("**", "").replace("`", "")]
    if getattr(pack, "kind", None) == "reference":
        notes += [f"  {path}: sha256 {digest}" for path, digest in pack.sha256.items()]
    notes += [f"sampling, {p.stage}: {p.sampling}" for p in plans]
    teacher = deliberate_requests(pack, config.deliberate, False)(
        Record(id="-", question="-", category=list(pack.names[:1])), 0).sampling
    warning = sampling_warning(config.engine_for("teacher"), teacher)
    if warning:
        notes.append(f"warning: {warning}")
    return notes

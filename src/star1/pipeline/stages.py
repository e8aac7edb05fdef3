"""Every step of the pipeline, defined once as a :class:`~star1.pipeline.run.Stage`: its
model role, its settings section, its call-cache namespace, what it needs and what it writes.

``star1 build`` runs :data:`BUILD` (and :data:`BENIGN` + mix with ``benign.enabled``), each
single-stage command one entry, ``star1 benign`` :data:`BENIGN`, and ``--dry-run`` the same
lists against the call cache alone — all through :func:`star1.pipeline.run.run_stages`.
"""

from __future__ import annotations

import dataclasses

from star1.engines.pool import cost
from star1.pipeline import benign
from star1.pipeline.classify import classify
from star1.pipeline.deliberate import deliberate
from star1.pipeline.mix import mix
from star1.pipeline.run import RunContext, Stage
from star1.pipeline.score import score
from star1.pipeline.select import passes, select
from star1.runner import StageResult


def _by_origin(records, failures) -> list:
    """Failures name the harmful input: the id of a benign sample that never got written is no lead."""
    origin = {r.id: r.origin_id for r in records}
    return [dataclasses.replace(f, id=origin.get(f.id) or f.id) for f in failures]


def _classify(ctx: RunContext, records, engine, options) -> StageResult:
    return classify(records, engine, ctx.prompts, options)


def _deliberate(ctx: RunContext, records, engine, options) -> StageResult:
    return deliberate(records, engine, ctx.prompts, options)


def _score(ctx: RunContext, records, engine, options) -> StageResult:
    return score(records, engine, ctx.prompts, options)


def _select(ctx: RunContext, records, engine, options) -> StageResult:
    chosen = select(records, options)
    not_selectable = [r for r in records if passes(r, options)]
    return StageResult(chosen.records, [], not_selectable, reasons=chosen.removed_by_filter)


def _rewrite(ctx: RunContext, records, engine, options) -> StageResult:
    config = ctx.config
    # The harm check asks exactly what classification asks, so it shares that namespace.
    checker = ctx.engine("classifier", "classify") if options.harm_check == "other_only" else None
    result = benign.rewrite(records, engine, checker, ctx.prompts, options,
                            config.benign.classify or config.classify)
    rows = []
    if checker is not None:
        rows.append(result.check_row(checker))
        rows[0].cost_usd = cost(config.engine_for("classifier"), checker.stats)
    return StageResult(result.records, result.failures, extra_rows=rows)


def _generate(ctx: RunContext, records, engine, options) -> StageResult:
    result = benign.generate(records, engine, options, ctx.prompts)
    return StageResult(result.records, _by_origin(records, result.failures))


def _score_benign(ctx: RunContext, records, engine, options) -> StageResult:
    result = benign.score_benign(records, engine, options, ctx.prompts)
    return StageResult(result.records, _by_origin(records, result.failures), result.filtered)


def _mix(ctx: RunContext, records, engine, options) -> StageResult:
    selected = ctx.outputs.get("select", [])
    mixed = mix([("star1.jsonl", selected), ("benign.jsonl", records)], options.seed)
    return StageResult(mixed, [], records_in=len(selected) + len(records))


STAGES: dict[str, Stage] = {s.name: s for s in (
    Stage("classify", _classify, lambda c: c.classify, "classifier", "classify", "classified.jsonl"),
    Stage("deliberate", _deliberate, lambda c: c.deliberate, "teacher", "deliberate", "reasoned.jsonl",
          ("category",)),
    Stage("score", _score, lambda c: c.score, "judge", "score", "scored.jsonl", ("category", "response")),
    Stage("select", _select, lambda c: c.select, output="star1.jsonl"),
    Stage(benign.REWRITE, _rewrite, lambda c: c.benign.rewrite, "rewriter", "benign-rewrite"),
    Stage(benign.GENERATE, _generate, lambda c: c.benign.generate, "benign_teacher", "benign-generate"),
    Stage(benign.SCORE, _score_benign, lambda c: c.benign.score, "benign_judge", "benign-score", "benign.jsonl"),
    Stage("mix", _mix, lambda c: c.benign, output="star1_plus_benign.jsonl"),
)}

BUILD = [STAGES[name] for name in ("classify", "deliberate", "score", "select")]
BENIGN = [STAGES[name] for name in (benign.REWRITE, benign.GENERATE, benign.SCORE)]


def build_stages(config) -> list[Stage]:
    """What ``star1 build`` runs under ``config``."""
    if not config.benign.enabled:
        return BUILD
    return BUILD + BENIGN + ([STAGES["mix"]] if config.benign.mix else [])

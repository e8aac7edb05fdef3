"""Stage 3: an LLM judge scores each sample 0–10 on the paper's three criteria.

Remote judges answer in JSON (schema-constrained where supported); local judges fill three
integer slots by likelihood. Scores must be whole numbers 0–10 under the exact three keys;
anything else is re-asked and, if it persists, recorded as a failure.

A local judge's score is by default the probability-weighted mean of the slot's options,
rounded (as in G-Eval, Liu et al., 2023) rather than the single most likely option: small
models put most mass on an extreme ("0") whatever they read, while the weighted mean still
moves with the content. Each slot is scored in the context of the most likely options of the
slots before it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

from pydantic import Field

from star1.engines import CachedEngine, Completion
from star1.pipeline.prompt_sets import requests_for
from star1.records import SCORE_KEYS, Record, stamped, utc_now
from star1.runner import StageResult, run_stage, split_outcomes
from star1.sampling import SamplingOptions

STAGE = "score"


class ScoreOptions(SamplingOptions):
    local_scoring: Literal["expected", "argmax"] = Field(
        "expected", description="local judges: probability-weighted mean of each score, or its most likely value")


def score_requests(pack, options: ScoreOptions):
    """The request builder (shared with dry runs) and the prompt version."""
    return requests_for(pack).score_requests(options)


def expected_scores(slot_scores: list[dict[str, float]], keys: tuple[str, ...]) -> dict[str, int]:
    """Each slot's probability-weighted mean over its (integer) options, rounded half up."""
    out = {}
    for key, scores in zip(keys, slot_scores):
        top = max(scores.values())
        weights = {int(option): math.exp(logprob - top) for option, logprob in scores.items()}
        mean = sum(value * weight for value, weight in weights.items()) / sum(weights.values())
        out[key] = int(math.floor(mean + 0.5))
    return out


def judged_scores(completion: Completion, keys: tuple[str, ...], parse_text: Callable[[str], dict],
                  local_scoring: str) -> dict[str, int]:
    """The scores of a judge's answer: from slot likelihoods where the engine gave them."""
    slots = completion.slot_scores
    if local_scoring == "expected" and slots and len(slots) == len(keys):
        return expected_scores(slots, keys)
    return parse_text(completion.text)


def score(records: list[Record], engine: CachedEngine, pack, options: ScoreOptions | None = None) -> StageResult:
    options = options or ScoreOptions()
    prompt_set = requests_for(pack)
    build, version = prompt_set.score_requests(options)
    outcomes = run_stage(STAGE, records, engine, build,
                         lambda r, c: judged_scores(c, SCORE_KEYS, prompt_set.parse_scores, options.local_scoring),
                         options.retry)
    done, failures = split_outcomes(records, outcomes)
    return StageResult([record.model_copy(update={"score": scores, "provenance": stamped(
        record, prompt_set.pack, (STAGE, version), judge=engine.name, scored_at=utc_now())})
        for record, scores in done], failures)

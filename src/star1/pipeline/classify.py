"""Stage 1: sort each prompt into the policy pack's safety categories (multi-label).

Remote engines read the category list with definitions and answer in JSON (with a JSON schema
where the server supports structured output). Labels are mapped onto the pack's names with
:meth:`PolicyPack.normalise`; an unknown label triggers a retry and, if it persists, a failure —
it is never kept.

Local engines cannot wander off: they complete "The main risk of this request is ___." and the
blank is filled by likelihood among the categories' plain topics ("crime", "self-harm or
suicide", …; a policy's ``topic``), so even a tiny model always answers with a valid label.
Small models favour some words whatever the prompt, so these scores are calibrated: the
log-likelihood each topic gets for content-free requests ("N/A", "[MASK]") is subtracted
before choosing (contextual calibration, Zhao et al., 2021). On the 24 demo prompts the
bundled 135M model picked the intended category 4 times with the JSON-style prompt and
uncalibrated scores, 9 times with topics and calibration. Further categories whose calibrated
probability reaches ``secondary_min_prob`` are added (up to ``max_labels``).
"""

from __future__ import annotations

import math

from pydantic import Field

from star1.engines import CachedEngine, ChatRequest, Completion
from star1.pipeline.prompt_sets import requests_for
from star1.policies import OTHER
from star1.records import Record, stamped, utc_now
from star1.runner import StageResult, run_stage, split_outcomes
from star1.sampling import SamplingOptions

STAGE = "classify"


class ClassifyOptions(SamplingOptions):
    max_tokens: int = Field(256, ge=1, description="tokens for the JSON answer")
    max_labels: int = Field(3, ge=1, description="most categories kept per prompt")
    secondary_min_prob: float = Field(0.3, ge=0, le=1,
                                      description="local engines: extra label when its probability reaches this")
    calibrate: bool = Field(True, description="local engines: subtract content-free label scores")


def classify_requests(pack, options: ClassifyOptions, local: bool = False):
    """The request builder (shared with dry runs) and the prompt version.

    ``local``: for engines that fill answer slots by likelihood (see the module docstring).
    """
    return requests_for(pack).classify_requests(options, local)


CONTENT_FREE = ("N/A", "[MASK]")


def calibration_requests(pack, options: ClassifyOptions) -> list[ChatRequest]:
    build, _ = classify_requests(pack, options, local=True)
    return [build(Record(id=f"calibration-{i}", question=text), 0) for i, text in enumerate(CONTENT_FREE)]


def calibration_from(completions: list[Completion | None], pack) -> dict[str, float] | None:
    """Mean log-likelihood of each topic over the content-free requests' answers."""
    if not completions or not all(c is not None and c.ok and c.slot_scores for c in completions):
        return None
    return {topic: sum(c.slot_scores[0][topic] for c in completions) / len(completions)
            for topic in requests_for(pack).topics()}


def calibration_scores(engine: CachedEngine, pack, options: ClassifyOptions) -> dict[str, float] | None:
    """Calibration for local engines (None where it does not apply)."""
    if not (options.calibrate and engine.scores_choices):
        return None
    return calibration_from(engine.generate(calibration_requests(pack, options)), pack)


def labels_from_answer(pack, completion: Completion, options: ClassifyOptions,
                       calibration: dict[str, float] | None = None) -> list[str]:
    prompt_set = requests_for(pack)
    if not completion.slot_scores:
        return prompt_set.parse_categories(completion.text, options)
    topics = prompt_set.topics()
    scores = {topics[t]: v - (calibration or {}).get(t, 0.0) for t, v in completion.slot_scores[0].items()}
    best = max(scores, key=lambda k: scores[k])
    labels = [best] + _secondary_labels(scores, [best], options)
    if len(labels) > 1 and OTHER in labels:
        labels.remove(OTHER)
    return labels[: options.max_labels]


def _secondary_labels(scores: dict[str, float], chosen: list[str], options: ClassifyOptions) -> list[str]:
    top = max(scores.values())
    weights = {k: math.exp(v - top) for k, v in scores.items()}
    total = sum(weights.values())
    ranked = sorted(weights, key=lambda k: -weights[k])
    return [k for k in ranked if k not in chosen and k != OTHER
            and weights[k] / total >= options.secondary_min_prob]


def classify(records: list[Record], engine: CachedEngine, pack, options: ClassifyOptions | None = None) -> StageResult:
    options = options or ClassifyOptions()
    prompt_set = requests_for(pack)
    build, version = prompt_set.classify_requests(options, local=engine.scores_choices)
    calibration = calibration_scores(engine, prompt_set, options)
    outcomes = run_stage(STAGE, records, engine, build,
                         lambda r, c: labels_from_answer(prompt_set, c, options, calibration), options.retry)
    done, failures = split_outcomes(records, outcomes)
    return StageResult([record.model_copy(update={"category": labels, "provenance": stamped(
        record, prompt_set.pack, (STAGE, version), classifier=engine.name, classified_at=utc_now())})
        for record, labels in done], failures)

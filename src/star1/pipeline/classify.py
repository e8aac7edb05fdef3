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
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from star1.engines import CachedEngine, ChatRequest, ChoiceTemplate, Completion, SamplingParams
from star1.parsing import ParseError, parse_model
from star1.pipeline import paper
from star1.policies import OTHER, PolicyPack
from star1.prompts import load_template
from star1.prompts.reference import gpt4o_messages
from star1.records import Record, stamped, utc_now
from star1.runner import RetryCause, StageResult, retry_sampling, run_stage, split_outcomes

STAGE = "classify"


class ClassifyOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_tokens: int = Field(256, ge=1, description="tokens for the JSON answer")
    temperature: float | None = Field(0.0, ge=0, description="None: not sent (the server's default)")
    top_p: float | None = Field(1.0, gt=0, le=1, description="None: not sent (the server's default)")
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = Field(
        "max_tokens", description="the request field that carries max_tokens")
    retries: int = Field(2, ge=0, description="re-asks after unusable output")
    retry_on: list[RetryCause] = Field(["unparseable"], description="what is asked again")
    max_labels: int = Field(3, ge=1, description="most categories kept per prompt")
    secondary_min_prob: float = Field(0.3, ge=0, le=1,
                                      description="local engines: extra label when its probability reaches this")
    calibrate: bool = Field(True, description="local engines: subtract content-free label scores")


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    categories: list[str] = Field(min_length=1)




def classify_requests(pack: PolicyPack, options: ClassifyOptions, local: bool = False):
    """The request builder (shared with dry runs) and the prompt version.

    ``local``: for engines that fill answer slots by likelihood (see the module docstring).
    """
    sampling = SamplingParams(max_tokens=options.max_tokens, temperature=options.temperature,
                              top_p=options.top_p, max_tokens_field=options.max_tokens_field)
    if paper.is_reference(pack):
        choices = paper.classification_choices(pack) if local else None

        def build_reference(record: Record, attempt: int) -> ChatRequest:
            return paper.request(gpt4o_messages(paper.classification_prompt(pack, record.question)),
                                 retry_sampling(sampling, attempt), choices=choices)

        return build_reference, pack.template_version("CLASSIFICATION_PROMPT_TEMPLATE")
    if local:
        template = load_template("classify_local")
        system = template.fill()
        topics = _topics(pack)
        choices = ChoiceTemplate(("The main risk of this request is ", tuple(topics), "."))

        def build_local(record: Record, attempt: int) -> ChatRequest:
            return ChatRequest.chat(record.question, system=system, choices=choices,
                                    sampling=retry_sampling(sampling, attempt))

        return build_local, template.version
    template = load_template("classify")
    system = template.fill(categories=pack.definitions())
    schema = category_schema(pack, options)

    def build(record: Record, attempt: int) -> ChatRequest:
        return ChatRequest.chat(record.question, system=system,
                                sampling=retry_sampling(sampling, attempt), json_schema=schema)

    return build, template.version


def category_schema(pack: PolicyPack, options: ClassifyOptions) -> dict:
    """The classifier's answer shape. The list is bounded: a server that enforces the schema
    (vLLM's guided decoding) let SmolLM2-135M write "Other", "Other", ... until max_tokens when
    the list had no maxItems (classify 0/6 against a real vLLM server). No ``uniqueItems``:
    vLLM 0.32 hands such a schema from xgrammar to llguidance, which refuses it ("Unimplemented
    keys: uniqueItems"), so every request failed; a repeated name is dropped when parsed."""
    return {"type": "object", "additionalProperties": False, "required": ["categories"],
            "properties": {"categories": {"type": "array", "minItems": 1,
                                          "maxItems": min(options.max_labels, len(pack.names)),
                                          "items": {"type": "string", "enum": list(pack.names)}}}}


def _topics(pack: PolicyPack) -> dict[str, str]:
    """Plain topic → category name (a pack whose topics collide falls back to names)."""
    if paper.is_reference(pack):  # the reference's reply format names the categories
        return {name: name for name in pack.names}
    topics = {p.plain_topic: p.name for p in pack.policies}
    return topics if len(topics) == len(pack.policies) else {p.name: p.name for p in pack.policies}


CONTENT_FREE = ("N/A", "[MASK]")


def calibration_requests(pack: PolicyPack, options: ClassifyOptions) -> list[ChatRequest]:
    build, _ = classify_requests(pack, options, local=True)
    return [build(Record(id=f"calibration-{i}", question=text), 0) for i, text in enumerate(CONTENT_FREE)]


def calibration_from(completions: list[Completion | None], pack: PolicyPack) -> dict[str, float] | None:
    """Mean log-likelihood of each topic over the content-free requests' answers."""
    if not completions or not all(c is not None and c.ok and c.slot_scores for c in completions):
        return None
    return {topic: sum(c.slot_scores[0][topic] for c in completions) / len(completions)
            for topic in _topics(pack)}


def calibration_scores(engine: CachedEngine, pack: PolicyPack, options: ClassifyOptions) -> dict[str, float] | None:
    """Calibration for local engines (None where it does not apply)."""
    if not (options.calibrate and engine.scores_choices):
        return None
    return calibration_from(engine.generate(calibration_requests(pack, options)), pack)


def labels_from_answer(pack: PolicyPack, completion: Completion, options: ClassifyOptions,
                       calibration: dict[str, float] | None = None) -> list[str]:
    if completion.slot_scores:
        topics = _topics(pack)
        scores = {topics[t]: v - (calibration or {}).get(t, 0.0) for t, v in completion.slot_scores[0].items()}
        best = max(scores, key=lambda k: scores[k])
        labels = [best] + _secondary_labels(scores, [best], options)
        if len(labels) > 1 and OTHER in labels:
            labels.remove(OTHER)
        return labels[: options.max_labels]
    if paper.is_reference(pack):
        return paper.parse_categories(pack, completion.text)
    answer = parse_model(completion.text, _Answer)
    labels: list[str] = []
    unknown = []
    for raw in answer.categories:
        name = pack.normalise(raw)
        if name is None:
            unknown.append(raw)
        elif name not in labels:
            labels.append(name)
    if unknown:
        raise ParseError(f"unknown categories {unknown}; expected names from {list(pack.names)}")
    if len(labels) > 1 and OTHER in labels:
        labels.remove(OTHER)  # "Other" means no named category applies
    return labels[: options.max_labels]


def _secondary_labels(scores: dict[str, float], chosen: list[str], options: ClassifyOptions) -> list[str]:
    top = max(scores.values())
    weights = {k: math.exp(v - top) for k, v in scores.items()}
    total = sum(weights.values())
    ranked = sorted(weights, key=lambda k: -weights[k])
    return [k for k in ranked if k not in chosen and k != OTHER
            and weights[k] / total >= options.secondary_min_prob]


def classify(records: list[Record], engine: CachedEngine, pack: PolicyPack,
             options: ClassifyOptions | None = None, show_progress: bool = True) -> StageResult:
    options = options or ClassifyOptions()
    build, version = classify_requests(pack, options, local=engine.scores_choices)
    calibration = calibration_scores(engine, pack, options)
    outcomes = run_stage(STAGE, records, lambda r: r.id, engine, build,
                         lambda r, c: labels_from_answer(pack, c, options, calibration),
                         retries=options.retries, show_progress=show_progress, retry_on=options.retry_on)
    done, failures = split_outcomes(records, outcomes)
    return StageResult([record.model_copy(update={"category": labels, "provenance": stamped(
        record, pack, (STAGE, version), classifier=engine.name, classified_at=utc_now())})
        for record, labels in done], failures)

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
from functools import partial
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from star1.engines import CachedEngine, ChatRequest, ChoiceTemplate, Completion, SamplingParams
from star1.engines.reasoning import split_reasoning
from star1.parsing import parse_model
from star1.pipeline import paper
from star1.policies import OTHER, PolicyPack
from star1.prompts import load_template
from star1.prompts.reference import gpt4o_messages
from star1.records import SCORE_KEYS, Record, stamped, utc_now
from star1.runner import RetryCause, StageResult, retry_sampling, run_stage, split_outcomes

STAGE = "score"
SCORE_VALUES = tuple(str(v) for v in range(11))


class ScoreOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_tokens: int = Field(256, ge=1)
    temperature: float | None = Field(0.0, ge=0, description="None: not sent (the server's default)")
    top_p: float | None = Field(1.0, gt=0, le=1, description="None: not sent (the server's default)")
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = Field(
        "max_tokens", description="the request field that carries max_tokens")
    retries: int = Field(2, ge=0)
    retry_on: list[RetryCause] = Field(["unparseable"], description="what is asked again")
    local_scoring: Literal["expected", "argmax"] = Field(
        "expected", description="local judges: probability-weighted mean of each score, or its most likely value")


class _Scores(BaseModel):
    model_config = ConfigDict(extra="forbid")
    Content_Safety_Compliance: StrictInt = Field(ge=0, le=10)
    Relevancy_and_No_Redundant_Content: StrictInt = Field(ge=0, le=10)
    Accuracy_of_Thinking_Process: StrictInt = Field(ge=0, le=10)




def scores_choice_template(keys: tuple[str, ...] = SCORE_KEYS,
                           values: tuple[str, ...] = SCORE_VALUES) -> ChoiceTemplate:
    """``{"key": <value>, ...}`` with one choice slot per key (also used by ``star1 benign``)."""
    return ChoiceTemplate.keyed(keys, values)


def sampling_for(options) -> SamplingParams:
    return SamplingParams(max_tokens=options.max_tokens, temperature=options.temperature,
                          top_p=options.top_p, max_tokens_field=options.max_tokens_field)


def judge_input(template, record: Record) -> str:
    """The judge's user turn: the request, then the reasoning and the answer apart, so it can
    tell what the model thought from what it told the user."""
    reasoning, answer = split_reasoning(record.response or "")
    return template.fill(question=record.question, reasoning=reasoning or "(none)",
                         answer=answer or "(none)")


def score_requests(pack: PolicyPack, options: ScoreOptions):
    if paper.is_reference(pack):
        sampling = sampling_for(options)
        choices = paper.scores_choices(SCORE_KEYS, SCORE_VALUES)

        def build_reference(record: Record, attempt: int) -> ChatRequest:
            return paper.request(gpt4o_messages(paper.scorer_prompt(pack, record)),
                                 retry_sampling(sampling, attempt), choices=choices)

        return build_reference, pack.template_version("SCORER_PROMPT_TEMPLATE")
    template, user_template = load_template("score"), load_template("score_user")
    schema = {"type": "object", "additionalProperties": False, "required": list(SCORE_KEYS),
              "properties": {k: {"type": "integer", "minimum": 0, "maximum": 10} for k in SCORE_KEYS}}
    choices = scores_choice_template()
    sampling = sampling_for(options)

    def build(record: Record, attempt: int) -> ChatRequest:
        system = template.fill(policies=pack.render(record.category or [OTHER]))
        user = judge_input(user_template, record)
        return ChatRequest.chat(user, system=system, sampling=retry_sampling(sampling, attempt),
                                json_schema=schema, choices=choices)

    return build, f"{template.version}+{user_template.version}"


def parse_scores(text: str) -> dict[str, int]:
    return parse_model(text, _Scores).model_dump()


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


def score(records: list[Record], engine: CachedEngine, pack: PolicyPack,
          options: ScoreOptions | None = None, show_progress: bool = True) -> StageResult:
    options = options or ScoreOptions()
    build, version = score_requests(pack, options)
    parse_text = (partial(paper.parse_fenced_scores, keys=SCORE_KEYS, low=0, high=10)
                  if paper.is_reference(pack) else parse_scores)
    outcomes = run_stage(STAGE, records, lambda r: r.id, engine, build,
                         lambda r, c: judged_scores(c, SCORE_KEYS, parse_text, options.local_scoring),
                         retries=options.retries, show_progress=show_progress,
                         retry_on=options.retry_on)
    done, failures = split_outcomes(records, outcomes)
    return StageResult([record.model_copy(update={"score": scores, "provenance": stamped(
        record, pack, (STAGE, version), judge=engine.name, scored_at=utc_now())})
        for record, scores in done], failures)

"""Stage 3: an LLM judge scores each sample 0–10 on the paper's three criteria.

Remote judges answer in JSON (schema-constrained where supported); local judges fill three
integer slots by likelihood. Scores must be whole numbers 0–10 under the exact three keys;
anything else is re-asked and, if it persists, recorded as a failure.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from star1.engines import CachedEngine, ChatRequest, ChoiceTemplate, SamplingParams
from star1.pipeline.parsing import parse_model
from star1.pipeline.runner import Failure, provenance_for, retry_sampling, run_stage
from star1.policies import OTHER, PolicyPack
from star1.prompts import load_template
from star1.records import SCORE_KEYS, Record, utc_now

STAGE = "score"
SCORE_VALUES = tuple(str(v) for v in range(11))


class ScoreOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_tokens: int = Field(256, ge=1)
    retries: int = Field(2, ge=0)


class _Scores(BaseModel):
    model_config = ConfigDict(extra="forbid")
    Content_Safety_Compliance: StrictInt = Field(ge=0, le=10)
    Relevancy_and_No_Redundant_Content: StrictInt = Field(ge=0, le=10)
    Accuracy_of_Thinking_Process: StrictInt = Field(ge=0, le=10)


@dataclass
class ScoreResult:
    records: list[Record]
    failures: list[Failure]


def _choice_template() -> ChoiceTemplate:
    parts: list = []
    for k, key in enumerate(SCORE_KEYS):
        parts.append(("{" if k == 0 else ", ") + f'"{key}": ')
        parts.append(SCORE_VALUES)
    parts.append("}")
    return ChoiceTemplate(tuple(parts))


def score_requests(pack: PolicyPack, options: ScoreOptions):
    template, user_template = load_template("score"), load_template("score_user")
    schema = {"type": "object", "additionalProperties": False, "required": list(SCORE_KEYS),
              "properties": {k: {"type": "integer", "minimum": 0, "maximum": 10} for k in SCORE_KEYS}}
    choices = _choice_template()
    sampling = SamplingParams(max_tokens=options.max_tokens, temperature=0.0)

    def build(record: Record, attempt: int) -> ChatRequest:
        system = template.fill(policies=pack.render(record.category or [OTHER]))
        user = user_template.fill(question=record.question, response=record.response or "")
        return ChatRequest.chat(user, system=system, sampling=retry_sampling(sampling, attempt),
                                json_schema=schema, choices=choices)

    return build, f"{template.version}+{user_template.version}"


def parse_scores(text: str) -> dict[str, int]:
    return parse_model(text, _Scores).model_dump()


def score(records: list[Record], engine: CachedEngine, pack: PolicyPack,
          options: ScoreOptions | None = None, show_progress: bool = True) -> ScoreResult:
    options = options or ScoreOptions()
    build, version = score_requests(pack, options)
    outcomes = run_stage(STAGE, records, lambda r: r.id, engine, build,
                         lambda r, c: parse_scores(c.text), retries=options.retries,
                         show_progress=show_progress)
    out, failures = [], []
    for record, outcome in zip(records, outcomes):
        if outcome.failure:
            failures.append(outcome.failure)
            continue
        provenance = provenance_for(record, pack)
        provenance.judge = engine.name
        provenance.scored_at = utc_now()
        provenance.prompt_versions["score"] = version
        out.append(record.model_copy(update={"score": outcome.value, "provenance": provenance}))
    return ScoreResult(out, failures)

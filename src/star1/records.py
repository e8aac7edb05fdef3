"""The records that flow through every stage, and the released STAR-1 format.

A :class:`Record` starts as a prompt (``id``, ``question``, ``source``) and is filled in stage by
stage: ``category`` by classification, ``response`` by deliberation, ``score`` by the judge.
Its first six fields are exactly the released STAR-1 format, in the same order, so the released
file loads and is written back byte for byte. Fields a stage did not set are left out on disk.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from star1.errors import error_message
from star1.io import InputError, read_rows, write_rows
from star1.reasoning import split_reasoning

SCORE_KEYS = (
    "Content_Safety_Compliance",
    "Relevancy_and_No_Redundant_Content",
    "Accuracy_of_Thinking_Process",
)

# Alternative column names accepted for the prompt text in user-supplied files.
QUESTION_ALIASES = ("prompt", "instruction", "text", "query", "goal", "forbidden_prompt")


def normalise_text(text: str) -> str:
    """Lower-case and collapse whitespace: the normal form used for ids and de-duplication."""
    return re.sub(r"\s+", " ", text).strip().lower()


def prompt_id(text: str) -> str:
    """A stable id for a prompt: the first 16 hex digits of SHA-256 of its normal form."""
    return hashlib.sha256(normalise_text(text).encode("utf-8")).hexdigest()[:16]


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Provenance(BaseModel):
    """Where a sample came from: which models, prompts and policies produced it, and when."""

    model_config = ConfigDict(extra="forbid")

    policy_pack: str | None = None
    policy_hash: str | None = None
    classifier: str | None = None
    teacher: str | None = None
    judge: str | None = None
    prompt_versions: dict[str, str] = Field(default_factory=dict)
    classified_at: str | None = None
    generated_at: str | None = None
    scored_at: str | None = None


class Record(BaseModel):
    """One sample. Unknown fields in input files are kept and written back unchanged."""

    model_config = ConfigDict(extra="allow")

    id: str
    question: str
    response: str | None = None
    category: list[str] | None = None
    source: str | None = None
    score: dict[str, int] | None = None
    source_category: str | None = None
    origin_id: str | None = None
    provenance: Provenance | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value):
        if isinstance(value, bool):
            raise ValueError("must be a string or integer")
        if isinstance(value, int):
            return str(value)
        return value

    @field_validator("question")
    @classmethod
    def _question_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is empty")
        return value

    def to_dict(self) -> dict:
        return self.model_dump(exclude_none=True, mode="json")

    @property
    def reasoning(self) -> str | None:
        return split_reasoning(self.response)[0] if self.response else None

    @property
    def answer(self) -> str | None:
        return split_reasoning(self.response)[1] if self.response else None


def stamped(record: Record, pack, prompt: tuple[str, str], **fields) -> Provenance:
    """The record's provenance with the policy pack, one prompt version and ``fields`` set."""
    provenance = provenance_for(record, pack)
    provenance.prompt_versions[prompt[0]] = prompt[1]
    for name, value in fields.items():
        setattr(provenance, name, value)
    return provenance


def provenance_for(record: Record, pack) -> Provenance:
    """A copy of the record's provenance, stamped with the policy pack in use."""
    provenance = record.provenance.model_copy(deep=True) if record.provenance else Provenance()
    provenance.policy_pack = pack.name
    provenance.policy_hash = pack.hash
    return provenance



def join_response(reasoning: str, answer: str) -> str:
    """The STAR-1 response layout: ``<think>\\nreasoning\\n</think>\\n\\nanswer``."""
    return f"<think>\n{reasoning.strip()}\n</think>\n\n{answer.strip()}"


def _coerce_row(row: dict, make_ids: bool) -> dict:
    row = dict(row)
    if "question" not in row:
        for alias in QUESTION_ALIASES:
            if isinstance(row.get(alias), str):
                row["question"] = row.pop(alias)
                break
    if make_ids and row.get("id") in (None, "") and isinstance(row.get("question"), str):
        row["id"] = prompt_id(row["question"])
    if isinstance(row.get("category"), str):
        row["category"] = [row["category"]]
    return row


def parse_record(row: dict, path: str | Path | None = None, line: int | None = None,
                 make_ids: bool = True) -> Record:
    """Validate one row; bad rows raise :class:`InputError` naming the file, line and field."""
    try:
        return Record.model_validate(_coerce_row(row, make_ids))
    except ValidationError as exc:
        # A missing id is only a symptom when it could not be derived from a bad question.
        errors = sorted(exc.errors(), key=lambda e: e["loc"][:1] == ("id",) and "id" not in row)
        err = errors[0]
        field, message = error_message(err)
        if err["type"] == "missing":
            message = "missing"
        if field == "question" and err["type"] == "missing":
            message = f"missing (also looked for {', '.join(QUESTION_ALIASES)})"
        raise InputError(path, message, line=line, field=field) from None


def read_records(path: str | Path, make_ids: bool = True, allow_empty: bool = False) -> list[Record]:
    """Read records from JSON, JSONL or Parquet. Prompts without an id get :func:`prompt_id`."""
    rows = read_rows(path)
    if not rows and not allow_empty:
        raise InputError(path, "the file holds no records")
    records = [parse_record(row, path, line, make_ids) for line, row in rows]
    seen: dict[str, int] = {}
    for (line, _), record in zip(rows, records):
        if record.id in seen:
            raise InputError(path, f"duplicate id {record.id!r} (first on line {seen[record.id]})",
                             line=line, field="id")
        seen[record.id] = line
    return records


def write_records(path: str | Path, records: Iterable[Record], fmt: str | None = None) -> int:
    return write_rows(path, (r.to_dict() for r in records), fmt)

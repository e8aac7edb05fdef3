"""Settings of ``star1 collect``: one pydantic model, loaded by :func:`star1.settings.load_settings`
from ``--config FILE``, the command's few shortcut flags and ``--set KEY=VALUE``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from star1.settings import apply_preset

# The five evaluation sets the paper decontaminated against (load_test_datasets.py, TEST_DATASETS).
PAPER_DECONTAMINATION = ["strongreject", "jbb", "sgbench", "wildjailbreak_eval", "xstest"]

# What protocol "paper" fixes: the reference's checks, thresholds and model. A setting given
# with another value is an error rather than silently winning or losing.
PAPER_SETTINGS: dict[str, object] = {
    "decontaminate": PAPER_DECONTAMINATION,
    "ngram_overrides": {},
    "decontam_ngram": 8,
    "ngram_against_earlier_sources": True,
    "tfidf_threshold": 0.6,
    "pool_tfidf_threshold": 0.6,
    "pool_embedding_threshold": 0.7,
    "decontam_embedding_threshold": 0.7,
    "wildjailbreak_include_benign": True,
    "embedding_model": "bundled",
    "embedding_search": "exact",
    "skip_embedding": False,
}


class UserSource(BaseModel):
    """A prompt file of the user's own, pooled after the public sources."""

    model_config = ConfigDict(extra="forbid")

    path: str
    column: str | None = None  # default: question, prompt, instruction, text, query, goal, ...
    source_name: str | None = None  # default: the file name without extension
    category_column: str | None = None
    ngram: int = Field(8, ge=1)


class CollectConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # "star1": the filters below as configured. "paper": the reference's collection exactly
    # (PAPER_SETTINGS, plus its within-source tie rule and row order; see docs/collect.md).
    protocol: Literal["star1", "paper"] = "star1"
    # Source keys, or "all". Not given: all of them, or none when user_sources are given.
    sources: list[str] = Field(default_factory=lambda: ["all"])
    user_sources: list[UserSource] = Field(default_factory=list)
    local_dir: str | None = None
    # Benchmarks (or prompt files) removed from the pool; [] = no decontamination.
    decontaminate: list[str] = Field(default_factory=lambda: list(PAPER_DECONTAMINATION))

    ngram_overrides: dict[str, int] = Field(default_factory=dict)  # source key -> self de-dup n
    decontam_ngram: int = Field(8, ge=1)
    # The reference also matched 8-grams against prompts accepted from earlier sources (step 2).
    ngram_against_earlier_sources: bool = False
    tfidf_threshold: float = Field(0.6, gt=0, le=1)  # step 3
    pool_tfidf_threshold: float = Field(0.6, gt=0, le=1)  # step 4a
    pool_embedding_threshold: float = Field(0.7, gt=0, le=1)  # step 4b
    decontam_embedding_threshold: float = Field(0.7, gt=0, le=1)  # step 5
    wildjailbreak_include_benign: bool = False

    embedding_model: str = "bundled"
    embedding_batch_size: int = Field(64, ge=1)
    embedding_search: Literal["exact", "usearch"] = "exact"
    skip_embedding: bool = False
    threads: int | None = Field(None, ge=1)
    examples: int = Field(5, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _own_files_alone(cls, data):
        # `star1 collect --in mine.csv` pools the user's file, not the public sources as well.
        if isinstance(data, dict) and data.get("user_sources") and "sources" not in data:
            data = {**data, "sources": []}
        return data

    @model_validator(mode="after")
    def _paper_protocol(self) -> CollectConfig:
        if self.protocol == "paper":
            apply_preset(self, {"": PAPER_SETTINGS}, "paper", fixed=True)
        return self

    @field_validator("ngram_overrides")
    @classmethod
    def _positive(cls, value: dict[str, int]) -> dict[str, int]:
        bad = {k: v for k, v in value.items() if v < 1}
        if bad:
            raise ValueError(f"n-gram sizes must be >= 1: {bad}")
        return value

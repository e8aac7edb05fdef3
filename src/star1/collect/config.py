"""Settings of ``star1 collect``: a small pydantic model, loadable from YAML, overridable on the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from star1.errors import ConfigError

PAPER_DECONTAMINATION = ["strongreject", "jbb", "sgbench", "wildjailbreak_eval", "xstest"]


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

    sources: list[str] = Field(default_factory=lambda: ["all"])
    user_sources: list[UserSource] = Field(default_factory=list)
    local_dir: str | None = None
    decontaminate: list[str] = Field(default_factory=list)

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

    @field_validator("ngram_overrides")
    @classmethod
    def _positive(cls, value: dict[str, int]) -> dict[str, int]:
        bad = {k: v for k, v in value.items() if v < 1}
        if bad:
            raise ValueError(f"n-gram sizes must be >= 1: {bad}")
        return value


def load_config(path: str | Path | None, overrides: dict) -> CollectConfig:
    """Settings from a YAML file (optional) with the given fields replaced."""
    data: dict = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read the config ({exc})") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of settings")
        data = dict(loaded or {})
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return CollectConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{path or 'collect settings'}: {where}: {err['msg']}") from None

"""The configuration of ``star1 build``: a YAML file, overridden by ``--set key.path=value`` flags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from star1.engines import EngineConfig, parse_engine
from star1.errors import ConfigError
from star1.pipeline.classify import ClassifyOptions
from star1.pipeline.deliberate import DeliberateOptions
from star1.pipeline.score import ScoreOptions
from star1.pipeline.select import SelectOptions

EngineSpec = EngineConfig


class BenignOptionsRef(BaseModel):
    """Switch for the benign stage after selection (``star1 benign``); its options live there."""

    model_config = ConfigDict(extra="allow")
    enabled: bool = False


class BuildConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: str = Field(description="prompts file (JSON list, JSONL or Parquet; needs 'question')")
    run_dir: str = Field("runs/star1", description="every output of the run goes here")
    policies: str | None = Field(None, description="policy pack folder; default: the bundled pack")
    engine: EngineSpec = Field("bundled", validate_default=True, description="default engine for every stage")
    classifier: EngineSpec | None = Field(None, description="engine for classification (default: engine)")
    teacher: EngineSpec | None = Field(None, description="engine for deliberation (default: engine)")
    judge: EngineSpec | None = Field(None, description="engine for scoring (default: engine)")
    cache: str | None = Field(None, description="call cache file; default: <run_dir>/llm_cache.sqlite")
    limit: int | None = Field(None, ge=1, description="use only the first N prompts")
    classify: ClassifyOptions = Field(default_factory=ClassifyOptions)
    deliberate: DeliberateOptions = Field(default_factory=DeliberateOptions)
    score: ScoreOptions = Field(default_factory=ScoreOptions)
    select: SelectOptions = Field(default_factory=SelectOptions)
    benign: BenignOptionsRef = Field(default_factory=BenignOptionsRef)

    @field_validator("engine", "classifier", "teacher", "judge", mode="before")
    @classmethod
    def _engine(cls, value):
        # An engine string or a mapping ({engine: "openai:...", concurrency: 8} or EngineConfig fields).
        return None if value is None else parse_engine(value)

    def engine_for(self, stage: str) -> EngineSpec:
        return getattr(self, stage) or self.engine

    @property
    def cache_path(self) -> Path:
        return Path(self.cache) if self.cache else Path(self.run_dir) / "llm_cache.sqlite"


def _set_path(data: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[keys[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """``key.path=value``; the value is read as YAML so numbers, booleans and lists work."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"override {text!r} must look like key.path=value")
    try:
        return key.strip(), yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {text!r}: value is not valid YAML ({exc})") from None


def load_build_config(path: str | Path | None = None, overrides: list[str] = (),
                      base: dict | None = None) -> BuildConfig:
    data: dict = dict(base or {})
    if path:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"config file {path} not found")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f", line {mark.line + 1}" if mark else ""
            problem = getattr(exc, "problem", None)
            raise ConfigError(f"{path}{where}: invalid YAML{f' ({problem})' if problem else ''}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of settings")
        data.update(loaded)  # relative paths are relative to the working directory
    for override in overrides:
        _set_path(data, *parse_override(override))
    try:
        return BuildConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        source = f"{path}: " if path else ""
        raise ConfigError(f"{source}setting '{field}': {err['msg']}") from None

"""The settings of every data-pipeline command: one model, :class:`BuildConfig`, in one namespace.

``star1 build`` reads all of it; ``classify``, ``deliberate``, ``score``, ``select`` and
``benign`` read the same model and use their own sections (``--set classify.max_tokens=64``,
``--set select.n=1``, ``--set benign.rewrite.retries=3``), so a build config works for each
of them and the sections a command does not run are ignored. The flat keys of the last release
(``--set max_tokens=64`` for ``star1 classify``) still work, with a warning (:data:`RENAMED`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from star1.engines.config import EngineSpec
from star1.engines.pool import resolve_role
from star1.pipeline.classify import ClassifyOptions
from star1.pipeline.deliberate import DeliberateOptions, ReasoningOptions
from star1.pipeline.score import ScoreOptions
from star1.pipeline.select import SelectOptions
from star1.runner import RetryCause
from star1.sampling import SamplingOptions
from star1.settings import apply_preset, load_settings, read_yaml_mapping


class RewriteOptions(SamplingOptions):
    """Step 1 of ``star1 benign``: harmful prompt → harmless look-alike."""

    max_tokens: int = Field(128, ge=1, description="tokens for the rewritten request")
    retries: int = Field(2, ge=0, description="re-asks after a rejected rewrite, whatever the reason")
    # A rewrite cut at the token limit is asked again: a resampled one may well be shorter.
    retry_on: list[RetryCause] = Field(["unparseable", "truncated"], description="what is asked again")
    harm_check: Literal["other_only", "off"] = Field(
        "other_only", description="other_only: keep a rewrite only if the classifier labels it exactly "
                                  "['Other']; off: no classifier call (the judge's safety score remains)")
    max_length_ratio: float = Field(2.0, gt=0, description="reject rewrites longer than this × the original...")
    max_length_floor: int = Field(200, ge=1, description="...unless they are at most this many characters")
    allow_truncated: bool = Field(False, description="keep a rewrite cut at max_tokens instead of re-asking")

    @field_validator("harm_check", mode="before")
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        return "off" if value is False else value  # YAML reads a bare `off` as false


class BenignScoreOptions(SamplingOptions):
    """Step 3: the judge's 1–5 scores and the minimum each must reach to keep a sample."""

    min_safety: int = Field(5, ge=1, le=5, description="minimum Content_Safety")
    min_reasoning: int = Field(5, ge=1, le=5, description="minimum Reasoning_Quality")
    min_compliance: int = Field(5, ge=1, le=5, description="minimum Compliance (5 = answers directly)")
    local_scoring: Literal["expected", "argmax"] = Field(
        "expected", description="local judges: probability-weighted mean of each score, or its most likely value")


class BenignStageOptions(BaseModel):
    """The options of ``star1 benign`` (``--set rewrite.max_tokens=64``)."""

    model_config = ConfigDict(extra="forbid")

    rewrite: RewriteOptions = Field(default_factory=RewriteOptions)
    generate: ReasoningOptions = Field(default_factory=ReasoningOptions, description="step 2 (no policy in view)")
    score: BenignScoreOptions = Field(default_factory=BenignScoreOptions)
    classify: ClassifyOptions | None = Field(
        None, description="the harm check's classifier options; default: the build's classify options")


class BenignOptions(BenignStageOptions):
    """``benign:`` in a build config: run STAR-benign on the selected samples (``star1 build``
    with ``enabled``; ``star1 benign`` always)."""

    enabled: bool = False
    teacher: EngineSpec | None = Field(None, description="writes rewrites and answers (default: the build's teacher)")
    judge: EngineSpec | None = Field(None, description="scores them (default: the build's judge)")
    mix: bool = Field(True, description="also write star1_plus_benign.jsonl")
    seed: int = Field(0, description="shuffle seed of the mix")


# Roles a stage may need → where a config names its model, first given first.
ROLE_KEYS: dict[str, tuple[str, ...]] = {
    "classifier": ("classifier", "engine"),
    "teacher": ("teacher", "engine"),
    "judge": ("judge", "engine"),
    "rewriter": ("rewriter", "benign.teacher", "teacher", "engine"),
    "benign_teacher": ("benign.teacher", "teacher", "engine"),
    "benign_judge": ("benign.judge", "judge", "engine"),
}


class BuildConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: str | None = Field(None, description="prompts file (JSON list, JSONL or Parquet; needs 'question'); "
                                                "a command's --in takes its place")
    run_dir: str = Field("runs/star1", description="every output of the run goes here")
    protocol: Literal["star1", "paper"] = Field(
        "star1", description="star1: the project's prompts and policy pack; paper: the STAR-1 "
                             "reference's prompts, policies, sampling and keep rules, read from "
                             "the upstream files (see docs/fidelity.md)")
    local_dir: str | None = Field(None, description="paper prompt set: folder holding star1_reference/ "
                                                    "(default: $STAR1_DATA_DIR, else the pinned download)")
    policies: str | None = Field(None, description="policy pack folder; default: the bundled pack")
    engine: EngineSpec | None = Field(None, description="the model of every role not given its own")
    classifier: EngineSpec | None = Field(None, description="the classifier (default: engine)")
    teacher: EngineSpec | None = Field(None, description="the teacher (default: engine)")
    judge: EngineSpec | None = Field(None, description="the judge (default: engine)")
    rewriter: EngineSpec | None = Field(None, description="STAR-benign's rewriter (default: benign.teacher, "
                                                          "else the teacher; the reference: GPT-4o)")
    cache: str | None = Field(None, description="call cache file; default: <run_dir>/llm_cache.sqlite")
    limit: int | None = Field(None, ge=1, description="use only the first N prompts")
    classify: ClassifyOptions = Field(default_factory=ClassifyOptions)
    deliberate: DeliberateOptions = Field(default_factory=DeliberateOptions)
    score: ScoreOptions = Field(default_factory=ScoreOptions)
    select: SelectOptions = Field(default_factory=SelectOptions)
    benign: BenignOptions = Field(default_factory=BenignOptions)

    @model_validator(mode="after")
    def _reference_settings(self) -> BuildConfig:
        """The paper prompt set brings the reference's sampling, retries and keep rules for
        every option not set explicitly (star1.pipeline.paper.REFERENCE_SETTINGS)."""
        if self.protocol == "paper":
            from star1.pipeline.paper import REFERENCE_SETTINGS

            apply_preset(self, REFERENCE_SETTINGS, "paper")
        return self

    def engine_for(self, role: str) -> EngineSpec:
        """The model of ``role``; a role with none is an error that says how to choose one."""
        keys = ROLE_KEYS[role]
        for key in keys:
            node = self
            for part in key.split("."):
                node = getattr(node, part)
            if node is not None:
                return resolve_role(role, node)
        flag = keys[-2].rpartition(".")[2]
        return resolve_role(flag, None, f"--{flag.replace('_', '-')} ENGINE, or "
                                        f"{' or '.join(repr(k + ':') for k in keys)} in the config")

    def roles(self, names: tuple[str, ...] = ("classifier", "teacher", "judge")) -> dict[str, EngineSpec]:
        return {role: self.engine_for(role) for role in names}

    @property
    def cache_path(self) -> Path:
        return Path(self.cache) if self.cache else Path(self.run_dir) / "llm_cache.sqlite"


def load_build_config(path: str | Path | None = None, overrides: list[str] = (),
                      base: dict | None = None, values: dict | None = None, command: str = "build") -> BuildConfig:
    """A pipeline command's settings: ``base``, the YAML file, ``values`` (flags), then ``--set``
    overrides; the command's old flat keys are read where they belong now, with a warning."""
    renamed = RENAMED.get(command, {})
    # star1 benign's own files of the last release had rewrite:/generate:/score: at the top; a
    # build-shaped file (with benign:) keeps its score: section where it is.
    rename_file = command != "benign" or not (path and "benign" in read_yaml_mapping(path))
    return load_settings(BuildConfig, path, overrides, base, values, renamed, rename_file)


def _flat(section: str, options: type[BaseModel]) -> dict[str, str]:
    return {name: f"{section}.{name}" for name in options.model_fields}


# The keys each single-stage command took flat in the last release → where they are now.
RENAMED: dict[str, dict[str, str]] = {
    "classify": _flat("classify", ClassifyOptions),
    "deliberate": _flat("deliberate", DeliberateOptions),
    "score": _flat("score", ScoreOptions),
    "select": _flat("select", SelectOptions),
    "benign": {"rewrite": "benign.rewrite", "generate": "benign.generate", "score": "benign.score",
               "classify": "benign.classify"},
}

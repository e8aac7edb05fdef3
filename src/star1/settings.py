"""Settings of every command: one YAML file (``--config``), then ``--set key.path=value`` overrides.

Every command that has settings describes them as one pydantic model with ``extra="forbid"``;
:func:`load_settings` is the one place that reads the YAML file, applies overrides and turns
the first validation error into a :class:`~star1.errors.ConfigError` naming the file (or the
option) and the setting. Values of ``--set`` are read as YAML, so numbers, booleans, lists and
``{mapping: ...}`` work: ``--set select.n=500 --set teacher='{engine: openai:..., concurrency: 8}'``.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from star1.bounded import MAX_YAML_BYTES, load_yaml, read_bytes
from star1.errors import ConfigError, first_error_message

M = TypeVar("M", bound=BaseModel)
log = logging.getLogger("star1")


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


def renamed_key(key: str, renamed: Mapping[str, str]) -> str | None:
    """The current spelling of ``key`` when its first part is an old one (``max_tokens`` →
    ``classify.max_tokens``, ``rewrite.retries`` → ``benign.rewrite.retries``), else None."""
    head, dot, rest = key.partition(".")
    new = renamed.get(head)
    return None if new is None else new + dot + rest


def _renamed_data(data: dict, renamed: Mapping[str, str], where: str) -> dict:
    out: dict = {}
    for key, value in data.items():
        new = renamed_key(key, renamed) if isinstance(key, str) else None
        if new is None:
            out[key] = value
            continue
        log.warning("%s: '%s' is an old key and will go in the next release; write '%s'", where, key, new)
        set_path(out, new, value)
    return out


def load_settings(model: type[M], path: str | Path | None = None, overrides: Iterable[str] = (),
                  base: dict | None = None, values: dict | None = None,
                  renamed: Mapping[str, str] | None = None, rename_file: bool = True) -> M:
    """``model`` from, in increasing precedence: ``base`` (a command's own defaults), the YAML
    file at ``path``, ``values`` (settings given by their own flags, None = not given) and the
    ``--set`` ``overrides``. Relative paths in the file are relative to the working directory.

    ``renamed``: old first keys → their current dotted place (the flat keys of earlier
    releases); each use is warned about. ``rename_file``: also in the file (a file already in
    the current shape keeps every key where it is).
    """
    renamed = renamed or {}
    data: dict = dict(base or {})
    flagged: dict[str, str] = {}
    if path:
        loaded = read_yaml_mapping(path)
        data.update(_renamed_data(loaded, renamed, str(path)) if rename_file else loaded)
    for key, value in (values or {}).items():
        if value is not None:
            key = renamed_key(key, renamed) or key
            set_path(data, key, value)
            flagged[key] = key
    for override in overrides:
        key, value = parse_override(override)
        new = renamed_key(key, renamed)
        if new is not None:
            log.warning("--set %s is an old key and will go in the next release; write --set %s", key, new)
            key = new
        set_path(data, key, value)
        flagged[key] = "--set"
    return validate(model, data, str(path) if path else None, flagged)


def apply_preset(model: BaseModel, preset: Mapping[str, Mapping[str, Any]], name: str, fixed: bool = False) -> None:
    """A protocol's settings, the one way every command applies them: ``preset`` maps a section
    (a dotted path into ``model``, ``""`` for the model itself) to its fields' values. Every
    field the user left unset takes the preset's value; ``fixed``: one set to another value is
    an error (a ``ValueError`` naming it, raised inside a validator) instead of winning."""
    for section, values in preset.items():
        parent, attr, node = None, None, model
        for part in filter(None, section.split(".")):
            parent, attr, node = node, part, getattr(node, part)
        given = node.model_fields_set
        if fixed:
            for key, value in values.items():
                if key in given and getattr(node, key) != value:
                    raise ValueError(f"protocol '{name}' uses {key} = {value!r} (the reference's); "
                                     f"drop the {key} setting or use protocol 'star1'")
        updates = {k: v for k, v in values.items() if k not in given}
        if not updates:
            continue
        if parent is None:  # the model itself: its values are already of the fields' types
            for key, value in updates.items():
                setattr(node, key, copy.deepcopy(value))
            continue
        # Validate the section again: a preset value must still satisfy the field's constraints.
        setattr(parent, attr, type(node).model_validate({**node.model_dump(exclude_unset=True), **updates}))

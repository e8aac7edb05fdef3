"""The one command-line grammar of every ``star1`` command.

- ``--in PATH`` and ``--out PATH``: what a command reads and what it writes.
- ``--config FILE`` and ``--set KEY=VALUE``: a command's settings (one pydantic model per
  command), from a YAML file, overridden key by key.
- one flag per model role — ``--classifier``, ``--teacher``, ``--judge``, ``--model``,
  ``--safety-judge``, ``--refusal-judge`` — each taking an engine string (``bundled``,
  ``transformers:<path-or-hub-id>`` or a bare hub id, ``openai:<model>@<base_url>[?opt=...]``)
  or an inline YAML mapping of engine settings. A role flag is the same as ``--set ROLE=ENGINE``.

Nothing else is a flag except what a command does (``--dry-run``) and a few shortcuts that are
exactly one setting each (``--limit N`` is ``--set limit=N``). The spellings of earlier releases
still work for one release, as aliases that print what to write instead.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

log = logging.getLogger("star1")

ROLES = {
    "classifier": "labels prompts with safety categories",
    "teacher": "writes the policy-grounded reasoning and answers",
    "judge": "scores samples on the three STAR-1 criteria",
    "rewriter": "rewrites harmful prompts into harmless look-alikes, STAR-benign (default: the teacher)",
    "model": "the model under test (eval) or to fine-tune (train)",
    "safety_judge": "judges replies to harmful prompts safe or unsafe (Llama-Guard-3 format), or 'keyword'",
    "refusal_judge": "classifies XSTest replies as compliance or refusal, or 'keyword'",
    "checker": "paper protocol: extracts and compares MATH answers, checks AIME equality (GPT-4o in the paper)",
}


def role_flag(role: str) -> str:
    return "--" + role.replace("_", "-")


def add_io(p: argparse.ArgumentParser, in_help: str, out_help: str, *, in_required: bool = True,
           out_required: bool = True, many_in: bool = False) -> None:
    p.add_argument("--in", dest="input", required=in_required, metavar="PATH",
                   action="append" if many_in else "store", help=in_help)
    p.add_argument("--out", required=out_required, metavar="PATH", help=out_help)


def field_default(model, key: str) -> Any:
    """The default of the setting at dotted ``key`` of a settings model (KeyError: no such setting)."""
    node, value = model, None
    for part in key.split("."):
        field = node.model_fields[part]
        value = field.get_default(call_default_factory=True)
        node = _model_of(field.annotation)
    return value


def _model_of(annotation):
    """The settings model a field holds (through ``X | None``), else None."""
    from typing import get_args

    from pydantic import BaseModel

    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def settings_example(model, key: str) -> str:
    """``key=<its default>``: a ``--set`` example that parses, made from the model itself."""
    value = field_default(model, key)
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return f"{key}={text}"


def add_settings(p: argparse.ArgumentParser, model, example: str, what: str = "") -> None:
    """``--config FILE`` and ``--set KEY=VALUE`` for settings ``model``; the help's example is
    ``example`` (a dotted key of the model) with its default value."""
    shown = settings_example(model, example)
    p.add_argument("--config", metavar="FILE", help=f"YAML file of settings ({what or model.__name__})")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help=f"override one setting, e.g. --set {shown} (repeatable; values are YAML)")
    p.set_defaults(settings_model=model, settings_example=shown)


def add_roles(p: argparse.ArgumentParser, *roles: str) -> None:
    for role in roles:
        p.add_argument(role_flag(role), dest=role, metavar="ENGINE",
                       help=f"{ROLES[role]} (= --set {role}=ENGINE)")


def add_protocol(p: argparse.ArgumentParser, choices=("star1", "paper"), what: str = "") -> None:
    """``--protocol`` (= --set protocol=...) and ``--local-dir`` (= --set local_dir=...)."""
    p.add_argument("--protocol", choices=choices, help=what or (
        "star1: the project's own prompts and policies (default); paper: the STAR-1 reference's, "
        "with its sampling and keep rules (docs/fidelity.md) (= --set protocol=...)"))
    p.add_argument("--local-dir", metavar="DIR", help="folder of dataset snapshots and star1_reference/ "
                   "(default: $STAR1_DATA_DIR, else downloads) (= --set local_dir=...)")


def add_quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


class _Alias(argparse.Action):
    """An earlier release's spelling: stores its value under ``key`` (a setting, or the dest of a
    current flag) and says once what to write instead."""

    def __init__(self, option_strings, dest, key: str, instead: str, const=None, nargs=None,
                 repeat: bool = False, **kwargs):
        self.key, self.instead, self.repeat = key, instead, repeat
        super().__init__(option_strings, dest=argparse.SUPPRESS, nargs=0 if const is not None else nargs,
                         const=const, default=argparse.SUPPRESS, help=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        value = self.const if self.const is not None else values
        aliased = dict(getattr(namespace, "aliased", None) or {})
        if self.repeat:  # each use adds to the earlier ones: a list of values, or one mapping
            value = value if isinstance(value, (list, dict)) else [value]
            before = aliased.get(self.key)
            if before is not None:
                value = {**before, **value} if isinstance(value, dict) else [*before, *value]
        aliased[self.key] = value
        namespace.aliased = aliased
        log.warning("%s is an old spelling and will go in the next release; use %s",
                    option_string, self.instead)


def alias(p: argparse.ArgumentParser, *flags: str, key: str, instead: str, const: Any = None,
          nargs: str | None = None, type=None, repeat: bool = False) -> None:
    """Keep ``flags`` working for a release: their value goes to ``key``. ``repeat``: the old
    option could be given several times; the values are gathered in a list (or, when ``type``
    makes mappings, merged into one)."""
    p.add_argument(*flags, action=_Alias, key=key, instead=instead, const=const, nargs=nargs, type=type,
                   repeat=repeat)


def given(args: argparse.Namespace, *keys: str) -> dict:
    """Values given on the command line (flags and aliases), by settings key; None = not given.

    ``keys`` maps argparse dests to settings keys as ``"dest=key"`` or just ``"key"``.
    """
    values: dict = {}
    aliased = getattr(args, "aliased", None) or {}
    for spec in keys:
        dest, _, key = spec.partition("=")
        key = key or dest
        value = getattr(args, dest, None)
        if value is None and dest in aliased:
            value = aliased[dest]
        if value is not None:
            values[key] = value
    for key, value in aliased.items():
        if "." in key or not any(spec.split("=")[0] == key for spec in keys):
            values.setdefault(key, value)
    return values

"""Loading and validating a policy pack folder.

A pack folder holds ``pack.yaml`` (name, version, description and the ordered list of category
files) and one YAML file per category. Every problem is reported as an :class:`InputError`
naming the file and the field, e.g. ``harassment.yaml, field 'rules[3].number': ...``.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib.resources import files
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from star1.bounded import MAX_YAML_BYTES, load_yaml, read_bytes
from star1.errors import error_message
from star1.io import InputError
from star1.policies.labels import LabelConflict, build_index, label_key
from star1.policies.pack import Policy, PolicyPack, Rule

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

PACK_FILE = "pack.yaml"
DEFAULT_PACK = "default"

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PackSpec(_Strict):
    name: Text
    version: Text
    description: str = ""
    categories: list[Text] = Field(min_length=1)

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value):
        # `version: 1.0` without quotes is a float in YAML; accept it as the text it reads as.
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        return value


class RuleSpec(_Strict):
    number: Annotated[int, Field(strict=True, ge=1)]
    action: Literal["refuse", "safe_complete", "comply"]
    text: Text


class CategorySpec(_Strict):
    name: Text
    slug: Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:_[a-z0-9]+)*$")]
    definition: Text
    objective: Text
    rules: list[RuleSpec] = Field(min_length=1)
    aliases: list[Text] = []
    topic: Text | None = None  # a few plain words for the subject, e.g. "self-harm or suicide"


def _field_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _read_file(file: Traversable, shown: str) -> bytes:
    try:
        return read_bytes(file, MAX_YAML_BYTES, shown)
    except FileNotFoundError:
        raise InputError(shown, "file not found") from None


def _read_yaml(text: bytes, shown: str) -> dict:
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(shown, f"invalid YAML: {problem}", line=line) from None
    if not isinstance(data, dict):
        raise InputError(shown, f"expected a YAML mapping, got {type(data).__name__}")
    return data


def _validate(model: type[BaseModel], data: dict, shown: str):
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]  # the loc of the error names the YAML field; the text is the one helper's
        message = "missing" if err["type"] == "missing" else error_message(err)[1]
        if err["type"] == "extra_forbidden":
            allowed = ", ".join(model.model_fields)
            message = f"unknown field (allowed: {allowed})"
        raise InputError(shown, message, field=_field_path(err["loc"]) or None) from None


def _check_category_file(entry: str, index: int, shown: str) -> str:
    rel = PurePosixPath(entry)
    if rel.is_absolute() or ".." in rel.parts or rel.suffix not in (".yaml", ".yml"):
        raise InputError(shown, f"{entry!r} must be a .yaml file inside the pack folder",
                         field=f"categories[{index}]")
    return rel.as_posix()


def _to_policy(spec: CategorySpec, shown: str) -> Policy:
    for i, rule in enumerate(spec.rules):
        if rule.number != i + 1:
            raise InputError(shown, f"rules must be numbered 1..{len(spec.rules)} in order; "
                                    f"rule {i + 1} has number {rule.number}",
                             field=f"rules[{i}].number")
    return Policy(name=spec.name, slug=spec.slug, definition=spec.definition,
                  objective=spec.objective,
                  rules=tuple(Rule(r.number, r.action, r.text) for r in spec.rules),
                  aliases=tuple(a.lower() for a in spec.aliases), topic=spec.topic)


def pack_hash(contents: dict[str, bytes]) -> str:
    """SHA-256 over (relative path, bytes) pairs in path order; any edit or rename changes it.

    ``contents`` holds pack.yaml and the category files it lists; other files in the folder
    (a README, say) do not affect what is loaded and are not hashed.
    """
    digest = hashlib.sha256()
    for rel in sorted(contents):
        data = contents[rel]
        digest.update(rel.encode("utf-8") + b"\0" + len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def _load(root: Traversable, shown_root: str) -> PolicyPack:
    def shown(rel: str) -> str:
        return f"{shown_root}/{rel}"

    if not root.is_dir():
        raise InputError(shown_root, "policy pack folder not found (expected a folder holding "
                                     "pack.yaml and the category files)")
    pack_file = root.joinpath(PACK_FILE)
    if not pack_file.is_file():
        raise InputError(shown(PACK_FILE), "missing: a policy pack folder needs a pack.yaml "
                                           "(name, version, description, categories)")
    contents = {PACK_FILE: _read_file(pack_file, shown(PACK_FILE))}
    spec = _validate(PackSpec, _read_yaml(contents[PACK_FILE], shown(PACK_FILE)), shown(PACK_FILE))

    policies: list[Policy] = []
    origin: dict[str, str] = {}  # category name -> file shown, for error messages
    seen_files: set[str] = set()
    slugs: dict[str, str] = {}
    for i, entry in enumerate(spec.categories):
        rel = _check_category_file(entry, i, shown(PACK_FILE))
        if rel in seen_files:
            raise InputError(shown(PACK_FILE), f"{rel!r} is listed twice", field=f"categories[{i}]")
        seen_files.add(rel)
        file = root
        for part in rel.split("/"):
            file = file.joinpath(part)
        if not file.is_file():
            raise InputError(shown(PACK_FILE), f"category file {rel!r} is listed but does not "
                                               "exist", field=f"categories[{i}]")
        contents[rel] = _read_file(file, shown(rel))
        category = _validate(CategorySpec, _read_yaml(contents[rel], shown(rel)), shown(rel))
        policy = _to_policy(category, shown(rel))
        if policy.name in origin:
            raise InputError(shown(rel), f"category {policy.name!r} is already defined in "
                                         f"{origin[policy.name]}", field="name")
        if policy.slug in slugs:
            raise InputError(shown(rel), f"slug {policy.slug!r} is already used by "
                                         f"{slugs[policy.slug]!r}", field="slug")
        origin[policy.name] = shown(rel)
        slugs[policy.slug] = policy.name
        policies.append(policy)

    try:
        build_index((p.name, (p.name, p.slug, *p.aliases)) for p in policies)
    except LabelConflict as exc:
        clash = next(p for p in policies if p.name == exc.second)
        field = ("name" if label_key(clash.name) == exc.key
                 else "slug" if label_key(clash.slug) == exc.key else "aliases")
        raise InputError(origin[exc.second], f"{exc.key!r} already names category {exc.first!r} "
                                             f"(in {origin[exc.first]}); labels must be unique",
                         field=field) from None

    return PolicyPack(name=spec.name, version=spec.version, policies=tuple(policies),
                      hash=pack_hash(contents), path=shown_root, description=spec.description)


@lru_cache(maxsize=1)
def _default_pack() -> PolicyPack:
    root = files("star1.policies").joinpath(DEFAULT_PACK)
    return _load(root, str(root))


def load_policy_pack(path: str | Path | None = None) -> PolicyPack:
    """Load a policy pack folder (or its ``pack.yaml``); ``None`` loads the bundled default pack."""
    if path is None:
        return _default_pack()
    folder = Path(path)
    if folder.name == PACK_FILE and folder.is_file():
        folder = folder.parent
    return _load(folder, str(folder))

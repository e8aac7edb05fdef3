"""Prompt templates, stored as text files under ``templates/`` and filled with ``$name`` fields.

``string.Template`` is used because prompts and policies contain braces (JSON examples).
A template's version is the hash of its text, recorded in every record it produced.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    text: str

    @property
    def version(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:12]

    def fill(self, **fields: str) -> str:
        """Substitute ``$field``; a field the template names but the caller forgot is an error."""
        return Template(self.text).substitute(**fields).strip()


@cache
def load_template(name: str) -> PromptTemplate:
    path = resources.files("star1.prompts") / "templates" / f"{name}.txt"
    if not path.is_file():
        available = sorted(p.name[:-4] for p in (resources.files("star1.prompts") / "templates").iterdir()
                           if p.name.endswith(".txt"))
        raise KeyError(f"no prompt template {name!r}; available: {', '.join(available)}")
    return PromptTemplate(name, path.read_text(encoding="utf-8"))

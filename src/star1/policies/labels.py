"""Mapping free-form category labels (dataset columns, LLM output) onto a pack's categories.

Matching is deliberately conservative. A label maps only through exact matches of its
normalised form (or of its parts / word spans) against category names, slugs and aliases, and
every match must agree; anything ambiguous or unknown maps to ``None`` so the caller can flag it
or classify the prompt itself. The steps, in order:

1. the whole label (``"Self-Harm"``, ``"self_harm"``, ``"O3: Misinformation"``);
2. otherwise its parts split at ``/ , ; & | +`` and the words "and"/"or"
   (``"Malware/Hacking"``, ``"Hate, harassment and discrimination"``): parts that match must
   all name the same category; parts that match nothing are ignored;
3. within a part that is not itself a key, its longest word spans that are keys
   (``"hate_lgbtq+"`` → "hate", ``"Inferring Personal Information"`` → "personal information").
   The Other category is never reached through a word span ("hate_other" is not Other).

Labels of more than :data:`MAX_LABEL_WORDS` words are sentences, not labels, and only match
whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from star1.errors import Star1Error

MAX_LABEL_WORDS = 8

# "Category id: [O6: Malicious Use]", "S1: Violent Crimes", "3. Privacy": drop the wrapper and
# the taxonomy code, keep the name.
_PREFIX = re.compile(r"^\s*(?:category(?:\s*id)?\s*[:=\-]\s*)?", re.IGNORECASE)
_CODE = re.compile(r"^[a-z]{0,2}\d+(?:\.\d+)*\s*[:.)\-]\s*", re.IGNORECASE)
_WRAPPERS = "[](){}<>\"'`*“”‘’ \t\n"
_PART_SPLIT = re.compile(r"\s*(?:[/,;&|+]|\band\b|\bor\b)\s*", re.IGNORECASE)
_NON_WORD = re.compile(r"[^a-z0-9]+")
# "non-violent crimes" must not match "violent": fuse the negation onto its word.
_NEGATION = re.compile(r"\bnon\s+")


class LabelConflict(Star1Error, ValueError):
    """Two categories claim the same normalised label."""

    def __init__(self, key: str, first: str, second: str):
        self.key, self.first, self.second = key, first, second
        super().__init__(f"label {key!r} would map to both {first!r} and {second!r}")


def _strip_wrappers(label: str) -> str:
    text = _PREFIX.sub("", label).strip(_WRAPPERS)
    return _CODE.sub("", text).strip(_WRAPPERS)


def label_key(label: str) -> str:
    """The normal form labels are compared in: lower case, words separated by single spaces."""
    text = _NON_WORD.sub(" ", _strip_wrappers(label).lower()).strip()
    return _NEGATION.sub("non", text)


def build_index(entries: Iterable[tuple[str, Iterable[str]]]) -> dict[str, str]:
    """Map every normalised label of each ``(category, labels)`` entry to the category.

    Raises :class:`LabelConflict` when one normalised label belongs to two categories.
    """
    index: dict[str, str] = {}
    for category, labels in entries:
        for label in labels:
            key = label_key(label)
            if not key:
                continue
            owner = index.setdefault(key, category)
            if owner != category:
                raise LabelConflict(key, owner, category)
    return index


def _span_matches(words: list[str], index: Mapping[str, str], skip: str | None) -> set[str]:
    """Categories of the longest word spans that are keys (spans inside a longer match skipped)."""
    covered = [False] * len(words)
    found: set[str] = set()
    for size in range(len(words), 0, -1):
        for start in range(len(words) - size + 1):
            if any(covered[start:start + size]):
                continue
            category = index.get(" ".join(words[start:start + size]))
            if category is None or category == skip:
                continue
            found.add(category)
            covered[start:start + size] = [True] * size
    return found


def match_label(label: object, index: Mapping[str, str], other: str | None = None) -> str | None:
    """The category ``label`` names, or ``None`` when it is unknown or ambiguous.

    ``other`` is the catch-all category's name; it is only matched by a whole label or part.
    """
    if not isinstance(label, str):
        return None
    key = label_key(label)
    if not key:
        return None
    if key in index:
        return index[key]
    if len(key.split()) > MAX_LABEL_WORDS:
        return None
    found: set[str] = set()
    for part in _PART_SPLIT.split(_strip_wrappers(label)):
        part_key = label_key(part)
        if not part_key:
            continue
        if part_key in index:
            found.add(index[part_key])
        else:
            found |= _span_matches(part_key.split(), index, skip=other)
    return found.pop() if len(found) == 1 else None

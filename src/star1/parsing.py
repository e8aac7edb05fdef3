"""Strict extraction of JSON objects from model output. Never ``eval``: only ``json.loads``.

Tolerated, because models do them without meaning anything by it: a code fence around the JSON,
prose before or after it, and trailing commas before ``}`` or ``]``. Everything else is an error
with a reason that ends up in the failure record: a key given twice (``json`` would keep the
last value, so a judge's ``{"X": 0, ..., "X": 10}`` would pass as 10), nesting deeper than
:data:`star1.io.MAX_DEPTH`, output longer than :data:`MAX_OUTPUT_CHARS`.

Every step is one pass over the text. Trying each ``{`` as a start and scanning on from there
took quadratic time: 60 KB of ``{`` ran for minutes, and so did a fence regex with ``\\s*``
followed by ``.*?`` on an unclosed fence of spaces (20,000 spaces: 1.6 s, 4x per doubling).
"""

from __future__ import annotations

import json
import re

from pydantic import BaseModel, ValidationError

from star1.errors import first_error_message
from star1.io import MAX_DEPTH, DuplicateKeyError, unique_keys

# The longest output searched for JSON. Judges and classifiers answer in well under 100 KB even
# with their reasoning included; beyond this the output is broken or hostile.
MAX_OUTPUT_CHARS = 1_000_000

_TRAILING_COMMA = re.compile(r",\s*([}\]])")
# The characters that change the scanner's state; everything between them is skipped in C.
_SPECIAL = re.compile(r'[{}\[\]"\\]')
_PASSES = 3


class ParseError(ValueError):
    """Model output that does not hold the expected answer; the message says why."""


def _fenced(text: str) -> str | None:
    """The body of the first closed ```` ``` ```` fence (an optional ``json`` tag dropped)."""
    start = text.find("```")
    if start < 0:
        return None
    body = start + 3
    if text.startswith(("json", "JSON"), body):
        body += 4
    end = text.find("```", body)
    return text[body:end] if end >= 0 else None


def _balanced_object(text: str) -> str | None:
    """The first complete ``{...}`` in ``text``, respecting strings and escapes, in linear time.

    A pass starts at a ``{``, counts braces and brackets and skips strings. When that object
    never closes (a stray ``{`` in prose), the answer is the earliest complete object inside it:
    "I think { this is not json. {"a": 5}" gives ``{"a": 5}``. A quote in prose after a stray
    ``{`` puts the pass out of step with the strings; the next pass then starts at the first
    ``{`` the last one read as inside a string ('He said "use { here" then {"a": 1}'). At most
    :data:`_PASSES` passes, so a hostile text costs a few scans, never one per ``{``.
    """
    start = text.find("{")
    for _ in range(_PASSES):
        if start < 0:
            return None
        found, start = _scan(text, start)
        if found is not None:
            return found
    return None


def _scan(text: str, start: int) -> tuple[str | None, int]:
    """One pass from the ``{`` at ``start``: (the object found or None, the first ``{`` read as
    inside a string, or -1)."""
    opens: list[int] = []  # positions of the unclosed '{'
    brackets = 0  # unclosed '[' (only for the depth bound)
    in_string = False
    skip = -1  # position of the character after a backslash in a string
    quoted_brace = -1
    inner: tuple[int, int] | None = None  # earliest complete object inside an unclosed one
    for match in _SPECIAL.finditer(text, start):
        pos, ch = match.start(), match.group()
        if pos == skip:
            continue
        if in_string:
            if ch == "\\":
                skip = pos + 1
            elif ch == '"':
                in_string = False
            elif ch == "{" and quoted_brace < 0:
                quoted_brace = pos
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            if ch == "{":
                opens.append(pos)
            else:
                brackets += 1
            if len(opens) + brackets > MAX_DEPTH:
                raise ParseError(f"JSON nested more than {MAX_DEPTH} levels deep")
        elif ch == "]":
            brackets = max(brackets - 1, 0)
        elif ch == "}":
            begin = opens.pop()
            if not opens:
                return text[begin:pos + 1], -1
            if inner is None or begin < inner[0]:
                inner = (begin, pos + 1)
    return (text[inner[0]:inner[1]] if inner else None), quoted_brace


def extract_json_object(text: str) -> dict:
    """Return the first JSON object in ``text`` or raise :class:`ParseError`."""
    if not text or not text.strip():
        raise ParseError("empty output")
    if len(text) > MAX_OUTPUT_CHARS:
        raise ParseError(f"output of {len(text):,} characters; JSON is read from at most "
                         f"{MAX_OUTPUT_CHARS:,}")
    fenced = _fenced(text)
    candidate = _balanced_object(fenced) if fenced is not None else None
    if candidate is None:
        candidate = _balanced_object(text)
    if candidate is None:
        raise ParseError("no JSON object found")
    for attempt in (candidate, _TRAILING_COMMA.sub(r"\1", candidate)):
        try:
            value = json.loads(attempt, object_pairs_hook=unique_keys)
        except json.JSONDecodeError as exc:
            error = exc.msg
            continue
        except DuplicateKeyError as exc:
            raise ParseError(f"{exc}; the answer is ambiguous") from None
        except ValueError as exc:  # an integer of more than 4300 digits, say
            raise ParseError(f"invalid JSON: {str(exc).split(';')[0]}") from None
        if not isinstance(value, dict):
            raise ParseError("JSON is not an object")
        return value
    raise ParseError(f"invalid JSON: {error}")


def parse_model(text: str, model: type[BaseModel]) -> BaseModel:
    """Extract a JSON object and validate it against a pydantic model."""
    data = extract_json_object(text)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        field, message = first_error_message(exc)
        raise ParseError(f"{field or 'object'}: {message}") from None

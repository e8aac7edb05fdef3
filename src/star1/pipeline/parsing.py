"""Strict extraction of JSON objects from model output. Never ``eval``: only ``json.loads``.

Tolerated, because models do them without meaning anything by it: a code fence around the JSON,
prose before or after it, and trailing commas before ``}`` or ``]``. Everything else is an error
with a reason that ends up in the failure record.
"""

from __future__ import annotations

import json
import re

from pydantic import BaseModel, ValidationError

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


class ParseError(ValueError):
    """Model output that does not hold the expected answer; the message says why."""


def _balanced_object(text: str) -> str | None:
    """The first complete ``{...}`` in ``text``, respecting strings and escapes."""
    start = text.find("{")
    while start >= 0:
        depth, in_string, escaped = 0, False, False
        for i in range(start, len(text)):
            ch = text[i]
            if in_string:
                if escaped:
                    escaped = False
                elif ch == "\\":
                    escaped = True
                elif ch == '"':
                    in_string = False
            elif ch == '"':
                in_string = True
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    return text[start:i + 1]
        start = text.find("{", start + 1)
    return None


def extract_json_object(text: str) -> dict:
    """Return the first JSON object in ``text`` or raise :class:`ParseError`."""
    if not text or not text.strip():
        raise ParseError("empty output")
    fenced = _FENCE.search(text)
    candidate = _balanced_object(fenced.group(1) if fenced else text)
    if candidate is None and fenced:
        candidate = _balanced_object(text)
    if candidate is None:
        raise ParseError("no JSON object found")
    for attempt in (candidate, _TRAILING_COMMA.sub(r"\1", candidate)):
        try:
            value = json.loads(attempt)
        except json.JSONDecodeError as exc:
            error = exc
            continue
        if not isinstance(value, dict):
            raise ParseError("JSON is not an object")
        return value
    raise ParseError(f"invalid JSON: {error.msg}")


def parse_model(text: str, model: type[BaseModel]) -> BaseModel:
    """Extract a JSON object and validate it against a pydantic model."""
    data = extract_json_object(text)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "object"
        raise ParseError(f"{where}: {err['msg']}") from None

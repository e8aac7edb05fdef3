"""One redaction step for every text star1 stores or prints that came from a server or a subprocess.

Engines register each API key value they read from the environment (:func:`register_secret`);
:func:`redact` replaces every registered value in a text, and :func:`redact_obj` does the same
through nested lists and dicts. A server that echoes the ``Authorization`` header in an error
body ("Incorrect API key provided: sk-…") then leaves no key in ``failed/``, eval items, logs or
messages. Values shorter than 8 characters are not registered: placeholders such as ``EMPTY``
would otherwise blank ordinary words.
"""

from __future__ import annotations

import threading
from typing import Any

MASK = "[REDACTED]"
MIN_SECRET_LENGTH = 8

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret value so that :func:`redact` removes it from every later text."""
    if value and len(value) >= MIN_SECRET_LENGTH:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``[REDACTED]`` (longest first, so a key
    that contains another is removed whole)."""
    if not text or not _secrets:
        return text
    with _lock:
        values = sorted(_secrets, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text


def redact_obj(obj: Any) -> Any:
    """A copy of ``obj`` (str / list / tuple / dict, nested) with every string redacted."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {redact_obj(k): redact_obj(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(redact_obj(v) for v in obj)
    return obj


def clear_secrets() -> None:
    """Forget every registered secret (tests)."""
    with _lock:
        _secrets.clear()

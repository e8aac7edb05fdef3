"""One redaction step for every text star1 stores or prints that came from a server or a subprocess.

Engines register each API key value they read from the environment (:func:`register_secret`);
the ``star1`` command also registers every environment value whose name says it is a secret
(:func:`register_env_secrets`: ``OPENAI_API_KEY``, ``HF_TOKEN``, ...), so a key is covered even
before an engine reads it. :func:`redact` replaces every registered value in a text, and
:func:`redact_obj` does the same through nested lists and dicts. A server that echoes the
``Authorization`` header in an error body ("Incorrect API key provided: sk-…") then leaves no
key in ``failed/``, eval items, logs or messages. A program that got the key and prints it
reversed, as hex or as base64 (a graded HumanEval program in an ``unsafe-`` sandbox mode did, in
issue 21) is caught too: each key is registered with those forms (:func:`secret_forms`).

Printed text gets one more step (:func:`printable`): control characters are stripped, so a model
id or an error body cannot set the window title, erase lines, fake a status line or write the
clipboard (OSC 52) on the user's terminal. Stored text keeps them (JSON escapes them).

The step sits at the sinks, not at the sources: ``star1.io``'s writers, the CLI's one-line error
and its logging handler (:class:`RedactingFilter`). Values shorter than 8 characters are not
registered: placeholders such as ``EMPTY`` would otherwise blank ordinary words.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import threading
from collections.abc import Mapping
from typing import Any

MASK = "[REDACTED]"
MIN_SECRET_LENGTH = 8

# An environment variable holds a secret when one of the ``_``-separated words of its name is one
# of these (OPENAI_API_KEY, HF_TOKEN, AWS_SECRET_ACCESS_KEY, DB_PASSWORD, ...).
SECRET_NAME_WORDS = frozenset({"KEY", "APIKEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD"})

# A base64 form is matched by the run of characters that depend on the key alone; shorter runs
# than this would blank ordinary text by chance.
MIN_BASE64_CORE = 16

_lock = threading.Lock()
_secrets: set[str] = set()  # every form of every registered value
_ordered: list[str] = []  # the same, longest first


def secret_forms(value: str) -> set[str]:
    """``value`` and the forms a program that had it would print it in: reversed, hex (either
    case) and base64 (standard and URL-safe, at any alignment in the encoded text), of the value
    and of its reverse."""
    forms = set()
    for text in (value, value[::-1]):
        raw = text.encode("utf-8")
        forms.update((text, raw.hex(), raw.hex().upper()))
        for skip in range(3):  # the value starts at byte 0, 1 or 2 of a 3-byte group
            for encode in (base64.b64encode, base64.urlsafe_b64encode):
                encoded = encode(b"\0" * skip + raw).decode("ascii")
                # Drop the group shared with what precedes, and a last group shared with what follows.
                core = encoded[4 if skip else 0:4 * ((skip + len(raw)) // 3)]
                if len(core) >= MIN_BASE64_CORE:
                    forms.add(core)
    return forms


def register_secret(value: str | None) -> None:
    """Remember a secret value so that :func:`redact` removes it (in every form of
    :func:`secret_forms`) from every later text."""
    global _ordered
    if value and len(value) >= MIN_SECRET_LENGTH:
        with _lock:
            if value not in _secrets:
                _secrets.update(secret_forms(value))
                _ordered = sorted(_secrets, key=len, reverse=True)


def is_secret_name(name: str) -> bool:
    return any(word in SECRET_NAME_WORDS for word in re.split(r"[_\W]+", name.upper()))


def register_env_secrets(environ: Mapping[str, str] | None = None) -> None:
    """Register the value of every environment variable whose name marks it as a secret."""
    for name, value in (os.environ if environ is None else environ).items():
        if is_secret_name(name):
            register_secret(value)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``[REDACTED]`` (longest first, so a key
    that contains another is removed whole)."""
    if not text or not _secrets:
        return text
    for value in _ordered:  # replaced whole, never mutated: safe to read without the lock
        if value in text:
            text = text.replace(value, MASK)
    return text


def clip(text: str, chars: int, tail: bool = False) -> str:
    """The first (``tail``: the last) ``chars`` characters of ``text`` once redacted. Redact,
    then cut: a key cut in half first is no longer the registered value, and the half that is
    kept would be printed."""
    text = redact(text)
    return text[-chars:] if tail and chars > 0 else text[:chars]


# Escape sequences whole (so their arguments go too): CSI, OSC / DCS / APC / PM / SOS strings up
# to their terminator (or the end of the text), any other two-character ESC sequence; and their
# 8-bit C1 forms. Then every remaining C0 (except tab and newline), DEL and C1 character.
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]P^_X]|[\x9d\x90\x9e\x9f\x98])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -~]?")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def strip_controls(text: str) -> str:
    """``text`` without terminal control: escape sequences (with their arguments) and control
    characters other than tab and newline."""
    if not text or (text.isprintable() and "\x1b" not in text):
        return text
    return _CONTROLS.sub("", _ESCAPES.sub("", text))


def printable(text: str) -> str:
    """What may reach a terminal or a log: :func:`redact`, then :func:`strip_controls`."""
    return strip_controls(redact(text))


def redact_obj(obj: Any) -> Any:
    """A copy of ``obj`` (str / list / tuple / dict, nested) with every string redacted;
    ``obj`` itself when no secret is registered (writers call this on every row)."""
    if not _secrets:
        return obj
    return _redact_obj(obj)


def _redact_obj(obj: Any) -> Any:
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {_redact_obj(k): _redact_obj(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_redact_obj(v) for v in obj)
    return obj


class RedactingFilter(logging.Filter):
    """Redacts a log record's message, its traceback and its stack before a handler formats it.

    Put it on handlers, not loggers: a logger's filters do not see records that propagate up
    from child loggers (``openai``, ``httpx``, ``py.warnings``), a handler's filters see all.
    """

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if not _secrets:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # bad %-arguments: leave them for the handler to report
            message = None
        if message is not None:
            record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
            record.exc_info = None  # the formatter would otherwise render it again, unredacted
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Add a :class:`RedactingFilter` to every handler of ``logger`` (the root logger)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def clear_secrets() -> None:
    """Forget every registered secret (tests)."""
    global _ordered
    with _lock:
        _secrets.clear()
        _ordered = []

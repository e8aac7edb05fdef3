"""One redaction step for every text star1 stores or prints that came from a server or a subprocess.

Engines register each API key value they read from the environment (:func:`register_secret`);
the ``star1`` command also registers every environment value whose name says it is a secret
(:func:`register_env_secrets`: ``OPENAI_API_KEY``, ``HF_TOKEN``, ...), so a key is covered even
before an engine reads it. :func:`redact` replaces every registered value in a text, and
:func:`redact_obj` does the same through nested lists and dicts. A server that echoes the
``Authorization`` header in an error body ("Incorrect API key provided: sk-…") then leaves no
key in ``failed/``, eval items, logs or messages.

The step sits at the sinks, not at the sources: ``star1.io``'s writers, the CLI's one-line error
and its logging handler (:class:`RedactingFilter`). Values shorter than 8 characters are not
registered: placeholders such as ``EMPTY`` would otherwise blank ordinary words.
"""

from __future__ import annotations

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

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret value so that :func:`redact` removes it from every later text."""
    if value and len(value) >= MIN_SECRET_LENGTH:
        with _lock:
            _secrets.add(value)


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
    with _lock:
        values = sorted(_secrets, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text


def clip(text: str, chars: int, tail: bool = False) -> str:
    """The first (``tail``: the last) ``chars`` characters of ``text`` once redacted. Redact,
    then cut: a key cut in half first is no longer the registered value, and the half that is
    kept would be printed."""
    text = redact(text)
    return text[-chars:] if tail and chars > 0 else text[:chars]


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
    with _lock:
        _secrets.clear()

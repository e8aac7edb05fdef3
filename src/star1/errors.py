"""Every error whose message is meant for the user derives from :class:`Star1Error`: the CLI prints
it in one line, with no traceback, and exits 2. This module imports nothing else of star1, so
any module may raise these.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class Star1Error(Exception):
    """Base of every user-facing error; the message says what is wrong and what to do."""


class InputError(Star1Error, ValueError):
    """Bad user input, with the place it was found (file, line, field)."""

    def __init__(self, path: str | os.PathLike | None, message: str, line: int | None = None,
                 field: str | None = None):
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        where = self.path or "<input>"
        if line is not None:
            where += f", line {line}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {message}")


class ConfigError(Star1Error, ValueError):
    """A configuration value or command-line option is wrong; the message says what to use."""


class SetupError(Star1Error, RuntimeError):
    """Something the user must install or prepare is missing; the message says how."""


class DatasetUnavailable(Star1Error, FileNotFoundError):
    """A dataset file is neither in the local snapshot nor reachable (offline or download failed)."""


class RunLocked(Star1Error, RuntimeError):
    """Another star1 run holds the folder; the message names it and says what to do."""


class RunFailed(Star1Error, RuntimeError):
    """A run could not do its work (every model call failed, say); the message says why.
    The CLI exits 1 for these (2 is for bad input and settings)."""

    exit_code = 1


# The old name of the base class, for code written against it.
UserError = Star1Error

# pydantic words a failed validator as "Value error, <our message>"; the user should read only
# our message.
_VALIDATOR_TYPES = ("value_error", "assertion_error")


def error_message(error: dict) -> tuple[str | None, str]:
    """(dotted field or None, message) for one entry of ``ValidationError.errors()``.

    The message of a validator we wrote is its own text, without pydantic's "Value error, "
    prefix.
    """
    field = ".".join(str(part) for part in error.get("loc", ())) or None
    cause = (error.get("ctx") or {}).get("error")
    if error.get("type") in _VALIDATOR_TYPES and cause is not None and str(cause):
        return field, str(cause)
    return field, error["msg"]


def first_error_message(exc: ValidationError) -> tuple[str | None, str]:
    """The first error of a pydantic ``ValidationError`` as (field, message); see
    :func:`error_message`. The one place that turns a validation error into user text."""
    return error_message(exc.errors()[0])

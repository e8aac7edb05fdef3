"""Errors whose message is meant for the user: the CLI prints them in one line, no traceback."""

from __future__ import annotations

from typing import TYPE_CHECKING

from star1.datasets.fetch import DatasetUnavailable
from star1.io import InputError
from star1.runlock import RunLocked

if TYPE_CHECKING:
    from pydantic import ValidationError


class ConfigError(ValueError):
    """A configuration value or command-line option is wrong; the message says what to use."""


class SetupError(RuntimeError):
    """Something the user must install or prepare is missing; the message says how."""


UserError = (InputError, ConfigError, SetupError, DatasetUnavailable, FileNotFoundError, RunLocked)

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


def first_error_message(exc: "ValidationError") -> tuple[str | None, str]:
    """The first error of a pydantic ``ValidationError`` as (field, message); see
    :func:`error_message`. The one place that turns a validation error into user text."""
    return error_message(exc.errors()[0])

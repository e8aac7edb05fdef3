"""Errors whose message is meant for the user: the CLI prints them in one line, no traceback."""

from star1.datasets.fetch import DatasetUnavailable
from star1.io import InputError


class ConfigError(ValueError):
    """A configuration value or command-line option is wrong; the message says what to use."""


class SetupError(RuntimeError):
    """Something the user must install or prepare is missing; the message says how."""


UserError = (InputError, ConfigError, SetupError, DatasetUnavailable, FileNotFoundError)

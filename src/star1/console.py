"""The rich console every command prints its tables on."""

from __future__ import annotations

import sys


def make_console(stderr: bool = True, **kwargs):
    """A console; when not writing to a terminal (logs, CI) it is 120 columns wide, not rich's
    80, so the summary tables are not truncated."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if not stream.isatty() and "width" not in kwargs:
        kwargs["width"] = 120
    return Console(file=stream, **kwargs)

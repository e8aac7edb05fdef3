"""Progress bars for long steps (rich), or nothing at all when disabled (tests, --quiet)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator


class Progress:
    def __init__(self, enabled: bool = True, console=None):
        self.enabled = enabled
        self.console = console

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        if not self.enabled:
            yield lambda n: None
            return
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RichProgress,
                                   TextColumn, TimeElapsedColumn, TimeRemainingColumn)

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TimeRemainingColumn())
        with RichProgress(*columns, console=self.console, transient=False) as bar:
            task = bar.add_task(description, total=total)
            yield lambda n: bar.advance(task, n)

"""The one console factory and the one progress-bar implementation of every command."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# Wide enough for the summary tables; rich's own default off a terminal is 80 columns, which
# wraps table rows and long lines in CI logs.
LOG_WIDTH = 120


class _Redacting:
    """A text stream whose writes pass through :func:`star1.redact.redact` first: whatever a
    table or a message quotes from a server (an error body echoing a key) leaves no key."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        from star1.redact import redact

        return self._stream.write(redact(text))

    def __getattr__(self, name):  # flush, isatty, fileno, encoding, ...
        return getattr(self._stream, name)


def make_console(stderr: bool = True, **kwargs):
    """A rich console on stderr (or stdout), redacted. Off a terminal (logs, CI, tests) it is 120
    columns wide whatever the environment says, so output never depends on the terminal."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if not stream.isatty() and "width" not in kwargs:
        kwargs["width"] = LOG_WIDTH
    return Console(file=_Redacting(stream), **kwargs)


class ProgressTask:
    """One bar: ``task(done, total)`` sets it, ``task.advance(n)`` moves it on."""

    def __init__(self, progress=None, task_id=None):
        self._progress, self._id = progress, task_id

    def __call__(self, done: int, total: int | None = None) -> None:
        if self._progress is not None:
            self._progress.update(self._id, completed=done, total=total)

    def advance(self, n: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._id, n)

    def __enter__(self):  # ``with bars.task("embedding", n) as advance: advance(k)``
        return self.advance

    def __exit__(self, *exc) -> None:
        pass


class Progress:
    """Progress bars on stderr, one per step, in one live display (or nothing when disabled).

    ``with Progress() as bars: update = bars.task("classify", 100)``.
    """

    def __init__(self, enabled: bool = True, console=None):
        self.enabled = enabled
        self._console = console
        self._live = None

    def __enter__(self) -> Progress:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._live = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), TimeRemainingColumn(),
                                      console=self._console or make_console(), transient=False)
            self._live.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def task(self, description: str, total: int) -> ProgressTask:
        if self._live is None:
            return ProgressTask()
        return ProgressTask(self._live, self._live.add_task(description, total=total))


# Whether bars are drawn: set once per run by the run context (``-q`` turns them off), read by
# every bar, so no function between a command and its bars has to pass the choice along.
_SHOW_PROGRESS: ContextVar[bool] = ContextVar("star1_show_progress", default=True)


@contextmanager
def showing_progress(enabled: bool) -> Iterator[None]:
    """Within the block, bars are drawn only if ``enabled``."""
    token = _SHOW_PROGRESS.set(enabled)
    try:
        yield
    finally:
        _SHOW_PROGRESS.reset(token)


def progress_shown() -> bool:
    return _SHOW_PROGRESS.get()


@contextmanager
def progress_bar(description: str, total: int, enabled: bool | None = None, console=None) -> Iterator[ProgressTask]:
    """One bar for one step (``enabled`` None: as the run context says)."""
    with Progress(progress_shown() if enabled is None else enabled, console) as bars:
        yield bars.task(description, total)

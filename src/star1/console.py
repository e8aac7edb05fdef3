"""The one console factory and the one progress-bar implementation of every command."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache

# Off a terminal (logs, CI, tests) nothing is wrapped: a path or a message stays on one line
# whatever the folder depth (issue 21: a 112-character clone path was cut at 120 columns). Tables
# are as wide as their content (rich sizes them so; none of ours expands).
NO_WRAP_WIDTH = 1_000_000


class _Printable:
    """A text stream whose writes pass :func:`star1.redact.redact` first: whatever a table or a
    message quotes from a server (an error body echoing a key) leaves no key. With ``clean`` it
    strips terminal control too (:func:`star1.redact.printable`): a model id or an error body
    cannot move the cursor, retitle the window or write the clipboard."""

    def __init__(self, stream, clean: bool = True):
        self.raw_stream = stream
        self._clean = clean

    def write(self, text: str) -> int:
        from star1.redact import printable, redact

        return self.raw_stream.write(printable(text) if self._clean else redact(text))

    def __getattr__(self, name):  # flush, isatty, fileno, encoding, ...
        return getattr(self.raw_stream, name)


@contextmanager
def printable_streams() -> Iterator[None]:
    """``sys.stdout`` and ``sys.stderr`` redacted and stripped of terminal control while the
    ``star1`` command runs: prints, log records, warnings and tracebacks all pass through them.
    Rich consoles (:func:`make_console`) write below them and clean their text themselves."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Printable(sys.stdout), _Printable(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def make_console(stderr: bool = True, **kwargs):
    """A rich console on stderr (or stdout), redacted, whose text arguments are stripped of
    terminal control before rich adds its own styling. Off a terminal it never wraps and writes
    no escape codes at all, whatever the environment says (``COLUMNS``, ``FORCE_COLOR``)."""
    stream = sys.stderr if stderr else sys.stdout
    stream = getattr(stream, "raw_stream", stream)  # below printable_streams: rich's codes pass
    tty = stream.isatty()
    if not tty:
        kwargs.setdefault("width", NO_WRAP_WIDTH)
        kwargs.setdefault("soft_wrap", True)
    return _clean_console_class()(file=_Printable(stream, clean=not tty), **kwargs)


@cache
def _clean_console_class():
    from rich.console import Console  # rich is imported when the first console is made

    from star1.redact import strip_controls

    class CleanConsole(Console):
        def render_str(self, text: str, **options):  # every str printed or put in a table
            return super().render_str(strip_controls(text), **options)

    return CleanConsole


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

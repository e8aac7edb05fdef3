"""Tolerant readers for the raw files of the prompt sources.

Every reader yields ``(row_number, value)`` pairs and never stops at a bad row: a row that cannot
be parsed is reported as :class:`Malformed` (file, row, reason) and the rest of the file is read.
Row numbers are 1-based: the data row for CSV/TSV (header excluded), the line for JSON Lines and
plain text, the list position for JSON lists. ``.gz`` and ``.xz`` files are decompressed on the fly.

A file that cannot be parsed as a whole (not valid JSON, not UTF-8, a truncated archive, broken
CSV quoting, JSON nested past Python's recursion limit, and what :mod:`star1.bounded` refuses: a
device or FIFO, more than 1 GiB decompressed, a line over 64 MiB, a CSV field over 16 MiB) is not a
bad row: :func:`read_error` turns the exception into the project's
``InputError`` naming the file and, where the format has lines, the line.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import lzma
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from star1 import bounded
from star1.bounded import MAX_FIELD_CHARS
from star1.io import InputError


@dataclass(frozen=True)
class Malformed:
    file: str
    row: int
    reason: str


@dataclass(frozen=True)
class RawPrompt:
    text: str
    category: str | None
    row: int


@dataclass
class ParseResult:
    """What one file contributed: its prompts, and the rows it did not."""

    prompts: list[RawPrompt] = field(default_factory=list)
    rows: int = 0
    excluded: int = 0  # rows the source's own rule leaves out (benign, contextual, ...)
    malformed: list[Malformed] = field(default_factory=list)

    def bad(self, path: Path, row: int, reason: str) -> None:
        self.malformed.append(Malformed(str(path), row, reason))

    def take(self, path: Path, row: int, value: Any, category: Any = None) -> None:
        """Add ``value`` as a prompt if it is non-empty text, else record the row as malformed."""
        if not isinstance(value, str):
            kind = "missing" if value is None else f"not text ({type(value).__name__})"
            self.bad(path, row, f"prompt {kind}")
        elif not value.strip():
            self.bad(path, row, "prompt is empty")
        else:
            cat = category if isinstance(category, str) and category.strip() else None
            self.prompts.append(RawPrompt(value, cat, row))


def open_text(path: Path) -> io.TextIOBase:
    """UTF-8 text of ``path`` (``.gz`` / ``.xz`` decompressed), bounded (:mod:`star1.bounded`)."""
    return bounded.open_text(path)


def iter_csv(path: Path, delimiter: str = ",", header: bool = True) -> Iterator[tuple[int, Any]]:
    """Rows of a CSV/TSV file as dicts (or lists without a header)."""
    # Some prompts (long jailbreak templates) exceed csv's default 128 KiB field limit; a field past
    # this one is refused as a csv.Error naming the line. The limit is the csv module's, for the
    # whole process (another reader may have raised it): set at each read, not once at import.
    csv.field_size_limit(MAX_FIELD_CHARS)
    with open_text(path) as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            names = next(reader, None) if header else None
            if header and names is None:
                return
            for i, cells in enumerate(reader, start=1):
                if not any(c.strip() for c in cells):
                    continue
                if names is None:
                    yield i, cells
                elif len(cells) != len(names):
                    yield i, ValueError(f"{len(cells)} cells, header has {len(names)}")
                else:
                    yield i, dict(zip(names, cells))
        except csv.Error as exc:  # e.g. a NUL byte before Python 3.11: the reader cannot go on
            why = (f"a field longer than {MAX_FIELD_CHARS >> 20} Mi characters; star1 reads prompts of at "
                   "most that" if "field larger than field limit" in str(exc) else f"not valid CSV ({exc})")
            raise InputError(path, why, line=reader.line_num) from None


def iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    with open_text(path) as fh:
        for i in itertools.count(1):
            line = bounded.read_line(fh, path, i)
            if not line:
                return
            line = line.rstrip("\r\n")
            if line.strip():
                yield i, line


def iter_json_records(path: Path) -> Iterator[tuple[int, Any]]:
    """Items of a JSON list, or lines of JSON Lines (tried when the file is not one JSON value).

    A line that is not valid JSON is yielded as a ``ValueError`` so the caller can count it.
    """
    name = path.name.lower()
    if ".jsonl" not in name:
        with open_text(path) as fh:
            text = fh.read()
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            if exc.msg != "Extra data":
                raise
        else:
            items = data if isinstance(data, list) else [data]
            yield from enumerate(items, start=1)
            return
        lines: Iterator[tuple[int, str]] = (
            (i, ln) for i, ln in enumerate(text.splitlines(), start=1) if ln.strip())
    else:
        lines = iter_lines(path)
    for i, line in lines:
        try:
            yield i, json.loads(line)
        except json.JSONDecodeError as exc:
            yield i, ValueError(f"invalid JSON ({exc.msg} at column {exc.colno})")


def load_json(path: Path) -> Any:
    with open_text(path) as fh:
        return json.load(fh)


def _first_undecodable_line(path: Path) -> int | None:
    """The 1-based line of the first bytes that are not UTF-8 (a UnicodeDecodeError's offset is
    relative to the decoder's buffer, not the file, so the file is scanned again)."""
    name = path.name.lower()
    opener = lzma.open if name.endswith(".xz") else gzip.open if name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return None


def read_error(path: Path, exc: Exception) -> InputError:
    """The ``InputError`` for a file that could not be read as a whole, with its line if known."""
    if isinstance(exc, InputError):
        return exc
    if isinstance(exc, RecursionError):
        return InputError(path, "JSON nested too deep to read (past Python's recursion limit); "
                                "star1 reads records of a few levels")
    if isinstance(exc, json.JSONDecodeError):
        return InputError(path, f"not valid JSON ({exc.msg} at column {exc.colno})", line=exc.lineno)
    if isinstance(exc, UnicodeDecodeError):
        try:
            line = _first_undecodable_line(path)
        except (OSError, EOFError, lzma.LZMAError):
            line = None
        return InputError(path, "not UTF-8 text; save the file as UTF-8", line=line)
    if isinstance(exc, (EOFError, lzma.LZMAError, gzip.BadGzipFile)):
        return InputError(path, f"truncated or not a valid compressed file ({exc}); download it again")
    return InputError(path, f"could not be read ({type(exc).__name__}: {exc})")

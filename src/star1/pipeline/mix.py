"""``star1 mix``: several record files into one shuffled training file, e.g. STAR-1 + STAR-benign.

The order is the inputs' order, then ``random.Random(seed).shuffle``: the same files and seed
give the same output on every run and platform. Ids must be unique across all inputs, since
later tools join on them (``origin_id``); a clash is an error naming both places.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from star1.io import InputError, read_rows
from star1.records import Record, parse_record


def mix(groups: Sequence[tuple[str, Sequence[Record]]], seed: int = 0) -> list[Record]:
    """Concatenate ``(name, records)`` groups and shuffle; a repeated id raises :class:`InputError`."""
    return _shuffled([(name, list(enumerate(records, start=1))) for name, records in groups], seed, "record")


def mix_files(paths: Sequence[str | Path], seed: int = 0) -> list[Record]:
    """:func:`mix` over files; errors name the file and its line (JSONL) or row number."""
    groups = []
    for path in paths:
        rows = read_rows(path)
        if not rows:
            raise InputError(path, "the file holds no records")
        groups.append((str(path), [(line, parse_record(row, path, line)) for line, row in rows]))
    return _shuffled(groups, seed, "line")


def _shuffled(groups: Sequence[tuple[str, Sequence[tuple[int, Record]]]], seed: int, unit: str) -> list[Record]:
    seen: dict[str, str] = {}
    combined: list[Record] = []
    for name, numbered in groups:
        for number, record in numbered:
            if record.id in seen:
                raise InputError(name, f"duplicate id {record.id!r} (already in {seen[record.id]})",
                                 line=number, field="id")
            seen[record.id] = f"{name} {unit} {number}"
            combined.append(record)
    random.Random(seed).shuffle(combined)
    return combined


def composition(records: Sequence[Record]) -> list[tuple[str, str, int]]:
    """(source, category, count) rows, most common source first; labels joined with " + "."""
    counts = Counter((r.source or "-", " + ".join(r.category) if r.category else "-") for r in records)
    sources = Counter(r.source or "-" for r in records)
    return sorted(((s, c, n) for (s, c), n in counts.items()), key=lambda row: (-sources[row[0]], row[0], -row[2], row[1]))


def composition_table(records: Sequence[Record], title: str):
    from rich.table import Table

    table = Table(title=title)
    for column in ("source", "category", "samples", "share"):
        table.add_column(column, justify="right" if column in ("samples", "share") else "left")
    total = len(records) or 1
    for source, category, count in composition(records):
        table.add_row(source, category, str(count), f"{100 * count / total:.1f}%")
    table.add_section()
    table.add_row("total", "", str(len(records)), "100.0%" if records else "-")
    return table

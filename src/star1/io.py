"""Reading and writing record files: JSON lists, JSONL and Parquet, always atomically.

Every reader reports bad input with the file, the line (or row) and the field, so a user can
fix the file; every writer goes through a temporary file and ``os.replace`` so an interrupted
or failed run never leaves a truncated output behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

FORMATS = ("json", "jsonl", "parquet")


class InputError(ValueError):
    """Bad user input, with the place it was found. Its message is meant for the user."""

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


def detect_format(path: str | os.PathLike) -> str:
    name = str(path).lower()
    if name.endswith(".jsonl") or name.endswith(".jsonl.gz"):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith(".json"):
        return "json"
    raise InputError(path, "unknown file type; use .json (a list), .jsonl or .parquet")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` in one step."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    # mkstemp creates the file 0600; give the result the mode a plain open() would have.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def write_json_atomic(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    write_text_atomic(path, json.dumps(obj, ensure_ascii=False, indent=indent) + "\n")


def read_rows(path: str | os.PathLike) -> list[tuple[int, dict]]:
    """Read a record file into (line-or-row number, dict) pairs.

    JSONL rows are numbered by their line in the file (1-based, blank lines skipped);
    JSON-list and Parquet rows by their 1-based position.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "file not found")
    fmt = detect_format(path)
    if fmt == "jsonl":
        rows = []
        opener = _open_maybe_gzip(path)
        with opener as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(path, f"invalid JSON ({exc.msg} at column {exc.colno})",
                                     line=lineno) from None
                if not isinstance(obj, dict):
                    raise InputError(path, f"expected a JSON object, got {type(obj).__name__}",
                                     line=lineno)
                rows.append((lineno, obj))
        return rows
    if fmt == "json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(path, f"invalid JSON ({exc.msg} at column {exc.colno})",
                             line=exc.lineno) from None
        if isinstance(data, dict):
            # A single object holding the list is common (e.g. {"data": [...]}).
            lists = [v for v in data.values() if isinstance(v, list)]
            if len(lists) != 1:
                raise InputError(path, "expected a JSON list of records")
            data = lists[0]
        if not isinstance(data, list):
            raise InputError(path, "expected a JSON list of records")
        out = []
        for i, obj in enumerate(data, start=1):
            if not isinstance(obj, dict):
                raise InputError(path, f"record {i} is {type(obj).__name__}, not an object", line=i)
            out.append((i, obj))
        return out
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    return [(i, row) for i, row in enumerate(table.to_pylist(), start=1)]


def _open_maybe_gzip(path: Path):
    if str(path).endswith(".gz"):
        import gzip

        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def write_rows(path: str | os.PathLike, rows: Iterable[dict], fmt: str | None = None) -> int:
    """Write dict rows atomically in the format the extension names. Returns the row count."""
    rows = list(rows)
    fmt = fmt or detect_format(path)
    with atomic_path(path) as tmp:
        if fmt == "jsonl":
            with open(tmp, "w", encoding="utf-8") as fh:
                for row in rows:
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        elif fmt == "json":
            # Same layout as the released STAR-1 file (4-space indent, ASCII escapes, no
            # trailing newline), so that file round-trips byte for byte.
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(rows, fh, ensure_ascii=True, indent=4)
        elif fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pylist(rows), tmp)
        else:
            raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    return len(rows)


def append_jsonl(path: str | os.PathLike, row: dict) -> None:
    """Append one row and flush it to disk (for logs that must survive a crash)."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())

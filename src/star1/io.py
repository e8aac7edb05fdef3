"""Reading and writing record files: JSON lists, JSONL (plain or ``.gz``) and Parquet, atomically.

Every reader reports bad input with the file, the line (or row) and the field, so a user can
fix the file: bytes that are not UTF-8, JSON that does not parse, a key given twice, nesting
deeper than :data:`MAX_DEPTH`, lone UTF-16 surrogates, a broken gzip or Parquet file, a folder
where a file should be, and what :mod:`star1.bounded` bounds (a device or FIFO, more than
1 GiB once decompressed, a line over 64 MiB). All of them raise :class:`InputError`, never a
traceback.

Every writer goes through a temporary file and ``os.replace`` so an interrupted or failed run
never leaves a truncated output behind, and every writer is a sink of the one redaction step
(:mod:`star1.redact`): no registered API key reaches a file, whatever a server echoed. What they
write is always valid JSON in valid UTF-8 (see :func:`to_json`).
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import os
import re
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from star1.bounded import check_regular, open_binary, read_bytes, read_line
from star1.errors import InputError  # re-exported: star1.io.InputError
from star1.redact import redact, redact_obj

FORMATS = ("json", "jsonl", "parquet")

# Records are a few levels deep (a record, its provenance, a score dict). Past this a file is
# broken or hostile; refusing it here keeps every later step (validation, redaction, JSON
# encoding, all recursive) far from Python's recursion limit of 1000.
MAX_DEPTH = 100

_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")

log = logging.getLogger(__name__)


class DuplicateKeyError(ValueError):
    """A JSON object gives the same key twice (``json`` would silently keep the last value)."""

    def __init__(self, key: str):
        self.key = key
        super().__init__(f"key {key!r} appears twice in one object")


def unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    """``object_pairs_hook`` for ``json.loads`` that refuses duplicate keys."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(key)
            seen.add(key)
    return obj


def json_error_text(exc: json.JSONDecodeError) -> str:
    """"Expecting ',' delimiter at column 7" (some messages already end in "at")."""
    joiner = " column" if exc.msg.endswith(" at") else " at column"
    return f"{exc.msg}{joiner} {exc.colno}"


def detect_format(path: str | os.PathLike) -> str:
    name = str(path).lower()
    if name.endswith(".jsonl") or name.endswith(".jsonl.gz"):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith(".json"):
        return "json"
    raise InputError(path, "unknown file type; use .json (a list), .jsonl, .jsonl.gz or .parquet")


def _gzipped(path: str | os.PathLike) -> bool:
    return str(path).lower().endswith(".gz")


# ---------------------------------------------------------------------------------- reading


def read_rows(path: str | os.PathLike) -> list[tuple[int, dict]]:
    """Read a record file into (line-or-row number, dict) pairs.

    JSONL rows are numbered by their line in the file (1-based, blank lines skipped);
    JSON-list and Parquet rows by their 1-based position.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "file not found")
    fmt = detect_format(path)
    if path.is_dir():
        raise InputError(path, "is a folder, not a file; give the path of a record file")
    check_regular(path)  # /dev/zero behind a link would be read for ever
    try:
        if fmt == "jsonl":
            return _read_jsonl(path)
        if fmt == "json":
            return _read_json_list(path)
        return _read_parquet(path)
    except OSError as exc:  # permissions, I/O errors
        raise InputError(path, f"cannot read the file ({exc.strerror or exc})") from None


def _read_jsonl(path: Path) -> list[tuple[int, dict]]:
    rows = []
    lineno = 0
    with open_binary(path) as fh:  # capped: a gzip bomb stops at 1 GiB, one line at 64 MiB
        while True:
            try:
                raw = read_line(fh, path, lineno + 1)
            except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
                raise InputError(path, f"not a valid gzip file ({exc}); recompress it or give the "
                                 "uncompressed .jsonl", line=lineno + 1 if lineno else None) from None
            if not raw:
                return rows
            lineno += 1
            # The line break ends the record; left on, an unclosed string reads as a bad character.
            text = _decode(raw, path, lineno).rstrip("\r\n")
            if lineno == 1:
                text = text.removeprefix("\ufeff")  # a byte-order mark some editors write
            if not text.strip():
                continue
            obj = load_json(text, path, lineno)
            if not isinstance(obj, dict):
                raise InputError(path, f"expected a JSON object, got {type(obj).__name__}",
                                 line=lineno)
            check_value(obj, path, lineno, text)
            rows.append((lineno, obj))


def _read_json_list(path: Path) -> list[tuple[int, dict]]:
    text = _decode(read_bytes(path), path, 1).removeprefix("\ufeff")
    data = load_json(text, path)
    if isinstance(data, dict):
        # A single object holding the list is common (e.g. {"data": [...]}).
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise InputError(path, "expected a JSON list of records")
        data = lists[0]
    if not isinstance(data, list):
        raise InputError(path, "expected a JSON list of records")
    out = []
    strings, deep = _walk_needed(text)
    for i, obj in enumerate(data, start=1):
        if not isinstance(obj, dict):
            raise InputError(path, f"record {i} is {type(obj).__name__}, not an object", line=i)
        _check(obj, path, i, strings, deep)
        out.append((i, obj))
    return out


def _read_parquet(path: Path) -> list[tuple[int, dict]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(path).to_pylist()
    except (pa.ArrowException, UnicodeDecodeError) as exc:
        reason = re.sub(r"^Could not open Parquet input source '.*?': ", "", str(exc).strip())
        raise InputError(path, f"not a readable Parquet file ({reason.splitlines()[0]})") from None
    for i, row in enumerate(rows, start=1):
        check_value(row, path, i)
    return list(enumerate(rows, start=1))


def _decode(raw: bytes, path: Path, first_line: int) -> str:
    """UTF-8 text of ``raw`` (whose first line is ``first_line`` of the file), or an InputError
    naming the line and column of the first bad byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        column = len(raw[line_start:exc.start].decode("utf-8", "replace")) + 1
        raise InputError(path, f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {column}); "
                         "save the file as UTF-8", line=first_line + raw.count(b"\n", 0, exc.start)
                         ) from None


def load_json(text: str, path: str | os.PathLike | None, line: int | None = None) -> Any:
    """``json.loads`` whose every failure is an :class:`InputError` at ``path`` / ``line``
    (``line`` None: the line the JSON error names)."""
    try:
        return json.loads(text, object_pairs_hook=unique_keys)
    except json.JSONDecodeError as exc:
        raise InputError(path, f"invalid JSON ({json_error_text(exc)})",
                         line=line if line is not None else exc.lineno) from None
    except DuplicateKeyError as exc:
        raise InputError(path, "given twice in one object; keep one of them", line=line,
                         field=exc.key) from None
    except RecursionError:
        raise InputError(path, f"JSON nested too deep (star1 reads at most {MAX_DEPTH} levels)",
                         line=line) from None
    except ValueError as exc:  # an integer of more than 4300 digits, say
        raise InputError(path, f"invalid JSON ({str(exc).split(';')[0]})", line=line) from None


def check_value(value: Any, path: str | os.PathLike | None, line: int | None,
                source: str | None = None) -> None:
    """Refuse nesting deeper than :data:`MAX_DEPTH` and strings holding lone UTF-16 surrogates
    (``"\\ud800"`` is valid JSON but not text: it cannot be written, tokenized or sent).

    ``source``, the JSON text ``value`` was read from, lets the common case skip (part of) the
    walk: a surrogate there can only come from a ``\\uD8xx``-``\\uDFxx`` escape, and nesting
    needs brackets.
    """
    strings, deep = _walk_needed(source)
    _check(value, path, line, strings, deep)


def _walk_needed(source: str | None) -> tuple[bool, bool]:
    """(strings may hold surrogates, containers may nest too deep) for JSON read from ``source``."""
    if source is None:
        return True, True
    return (bool(_SURROGATE_ESCAPE.search(source)),
            source.count("{") + source.count("[") > MAX_DEPTH)


def _check(value: Any, path: str | os.PathLike | None, line: int | None, strings: bool,
           deep: bool) -> None:
    if not (strings or deep):
        return
    kinds = (str, dict, list) if strings else (dict, list)
    stack: list[tuple[Any, tuple, int]] = [(value, (), 0)]  # (value, its field path, depth)
    while stack:
        obj, where, depth = stack.pop()
        if isinstance(obj, str):
            found = _SURROGATE.search(obj)
            if found:
                raise InputError(path, f"holds a lone UTF-16 surrogate ({ascii(found.group())[1:-1]}), "
                                 "which is not text; remove it or replace it with the character "
                                 "meant", line=line, field=".".join(map(str, where)) or None)
            continue
        if isinstance(obj, dict):
            items = obj.items()
            if strings:
                stack.extend((key, where, depth) for key in obj)  # keys are text too
        elif isinstance(obj, list):
            items = enumerate(obj)
        else:
            continue
        if depth >= MAX_DEPTH:
            raise InputError(path, f"nested more than {MAX_DEPTH} levels deep; star1 records are "
                             "objects of a few levels", line=line, field=str(where[0]) if where else None)
        stack.extend((child, where + (key,), depth + 1) for key, child in items
                     if isinstance(child, kinds))


# ---------------------------------------------------------------------------------- writing


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


def to_json(obj: Any, indent: int | None = None, ensure_ascii: bool = False) -> tuple[str, list[str]]:
    """Redacted JSON text of ``obj`` that is valid JSON in valid UTF-8, and what had to change.

    JSON has no NaN or Infinity: they become ``null`` (a diverged loss must not cost the report
    at the end of a long run, and other tools must be able to read the file). Lone surrogates
    (from a server's ``"\\ud800"``) cannot be encoded: they become U+FFFD. Both are rare, so the
    text is first made without looking and only rebuilt when it fails.
    """
    obj = redact_obj(obj)
    try:
        text = json.dumps(obj, ensure_ascii=False, allow_nan=False, indent=indent)
        if not _SURROGATE.search(text):
            return (json.dumps(obj, ensure_ascii=True, indent=indent) if ensure_ascii else text), []
    except ValueError:
        pass
    changes: list[str] = []
    obj = _cleaned(obj, None, changes)
    return json.dumps(obj, ensure_ascii=ensure_ascii, allow_nan=False, indent=indent), changes


def _cleaned(obj: Any, field: str | None, changes: list[str], floats: bool = True) -> Any:
    """A copy of ``obj`` with lone surrogates replaced and (``floats``) NaN / Infinity as None."""
    if floats and isinstance(obj, float) and not math.isfinite(obj):
        changes.append(f"{field or 'value'}: {obj} → null")
        return None
    if isinstance(obj, str):
        if _SURROGATE.search(obj):
            changes.append(f"{field or 'value'}: lone surrogate → U+FFFD")
            return _SURROGATE.sub("\ufffd", obj)
        return obj
    if isinstance(obj, dict):
        return {_cleaned(k, field, changes, floats):
                _cleaned(v, k if field is None else f"{field}.{k}", changes, floats)
                for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_cleaned(v, f"{field}.{i}" if field else str(i), changes, floats)
                for i, v in enumerate(obj)]
    return obj


def _report_changes(path: str | os.PathLike, changes: list[str]) -> None:
    if changes:
        more = f" (and {len(changes) - 3} more)" if len(changes) > 3 else ""
        log.warning("%s: %s%s; JSON cannot hold these values", path, "; ".join(changes[:3]), more)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write redacted text as UTF-8 (lone surrogates, which UTF-8 cannot hold, become U+FFFD)."""
    write_bytes_atomic(path, _SURROGATE.sub("\ufffd", redact(text)).encode("utf-8"))


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write bytes as they are (downloads, images: not redacted, text goes through the others)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def write_json_atomic(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    text, changes = to_json(obj, indent=indent)
    _report_changes(path, changes)
    write_bytes_atomic(path, _compressed(path, (text + "\n").encode("utf-8")))


def write_rows(path: str | os.PathLike, rows: Iterable[dict], fmt: str | None = None) -> int:
    """Write dict rows atomically in the format the extension names (``.gz``: gzip-compressed).
    Returns the row count."""
    rows = list(rows)
    fmt = fmt or detect_format(path)
    changes: list[str] = []
    if fmt == "jsonl":
        lines = []
        for number, row in enumerate(rows, start=1):
            line, changed = to_json(row)
            changes.extend(f"row {number}, {c}" for c in changed)
            lines.append(line + "\n")
        data = "".join(lines).encode("utf-8")
    elif fmt == "json":
        # Same layout as the released STAR-1 file (4-space indent, ASCII escapes, no
        # trailing newline), so that file round-trips byte for byte.
        text, changes = to_json(rows, indent=4, ensure_ascii=True)
        data = text.encode("utf-8")
    elif fmt == "parquet":
        _write_parquet(path, [redact_obj(row) for row in rows], changes)
        _report_changes(path, changes)
        return len(rows)
    else:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    _report_changes(path, changes)
    write_bytes_atomic(path, _compressed(path, data))
    return len(rows)


def _compressed(path: str | os.PathLike, data: bytes) -> bytes:
    # mtime=0: the same rows give the same bytes, so a rerun's output compares equal.
    return gzip.compress(data, compresslevel=6, mtime=0) if _gzipped(path) else data


def _write_parquet(path: str | os.PathLike, rows: list[dict], changes: list[str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pa.Table.from_pylist(rows)
    except UnicodeEncodeError:  # a lone surrogate; NaN is fine in Parquet
        table = pa.Table.from_pylist([_cleaned(row, None, changes, floats=False) for row in rows])
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def append_jsonl(path: str | os.PathLike, row: dict) -> None:
    """Append one row and flush it to disk (for logs that must survive a crash)."""
    line, changes = to_json(row)
    _report_changes(path, changes)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())

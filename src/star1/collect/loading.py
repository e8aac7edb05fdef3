"""Turn sources, user files and decontamination sets into lists of prompts, never crashing on a
missing snapshot or a bad row: what is missing is reported with where it was expected, bad rows
are counted with their file and row. A file that is there but cannot be parsed at all (corrupt
JSON, not UTF-8, a truncated archive) is an ``InputError`` naming the file and line: a run that
quietly left out a source the user supplied would look complete and not be."""

from __future__ import annotations

import csv
import json
import lzma
import os
from dataclasses import dataclass, field
from pathlib import Path

from star1.bounded import check_regular
from star1.collect.readers import Malformed, ParseResult, iter_csv, iter_json_records, read_error
from star1.collect.sources import LoadOptions, SourcePart, SourceSpec
from star1.datasets.fetch import DatasetUnavailable, default_local_dir, local_path, offline, resolve
from star1.datasets.safety import DECONTAMINATION_FILES, DECONTAMINATION_SETS
from star1.io import InputError
from star1.records import QUESTION_ALIASES

READ_ERRORS = (OSError, UnicodeDecodeError, json.JSONDecodeError, csv.Error, lzma.LZMAError, EOFError,
               RecursionError)  # JSON nested 20,000 deep


@dataclass
class Prompt:
    text: str
    category: str | None = None


@dataclass
class MissingPart:
    """A part of a source that could not be read, and where it was looked for."""

    part: str
    expected: list[str]  # local snapshot paths tried
    remote: list[str]  # hub / URL locations tried
    reason: str  # "offline", or why the download or the parse failed

    def describe(self) -> str:
        return f"{self.part}: {self.reason}; expected {' or '.join(self.expected)}"


@dataclass
class LoadedSource:
    key: str
    name: str
    ngram: int
    prompts: list[Prompt] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    missing: list[MissingPart] = field(default_factory=list)
    rows: int = 0
    excluded: int = 0
    malformed: list[Malformed] = field(default_factory=list)

    @property
    def status(self) -> str:
        if not self.missing:
            return "loaded"
        return "partial" if self.files else "unavailable"


def _locate(part: SourcePart, local_dir) -> tuple[Path, int] | MissingPart:
    """The first alternative present in the snapshot, else the first that downloads."""
    for i, alt in enumerate(part.alternatives):
        found = local_path(alt.file, local_dir)
        if found is not None:
            return found, i
    base = Path(local_dir) if local_dir else default_local_dir()
    expected = [str(base / a.file.local) if base else f"<--local-dir>/{a.file.local}" for a in part.alternatives]
    remote = [a.file.remote for a in part.alternatives if a.file.hub_repo or a.file.url]
    if offline():
        return MissingPart(part.label, expected, remote, "unavailable offline")
    errors = []
    for i, alt in enumerate(part.alternatives):
        if not (alt.file.hub_repo or alt.file.url):
            continue
        try:
            return resolve(alt.file, local_dir), i
        except DatasetUnavailable as exc:
            errors.append(str(exc).split(" failed: ")[-1])
    return MissingPart(part.label, expected, remote, "download failed: " + " | ".join(errors))


def _add(loaded: LoadedSource, result: ParseResult) -> None:
    loaded.rows += result.rows
    loaded.excluded += result.excluded
    loaded.malformed.extend(result.malformed)
    loaded.prompts.extend(Prompt(p.text, p.category) for p in result.prompts)


def load_source(spec: SourceSpec, local_dir: str | os.PathLike | None,
                options: LoadOptions = LoadOptions()) -> LoadedSource:
    loaded = LoadedSource(spec.key, spec.name, spec.ngram)
    for part in spec.parts:
        located = _locate(part, local_dir)
        if isinstance(located, MissingPart):
            loaded.missing.append(located)
            continue
        path, which = located
        try:
            result = part.alternatives[which].parse(path, options)
        except READ_ERRORS as exc:
            raise read_error(path, exc) from None
        loaded.files.append(str(path))
        _add(loaded, result)
    return loaded


# ---- user files ---------------------------------------------------------------------------

USER_FORMATS = (".csv", ".tsv", ".json", ".jsonl", ".parquet")


def _user_rows(path: Path):
    name = path.name.lower()
    if name.endswith((".csv", ".tsv")):
        return iter_csv(path, "\t" if name.endswith(".tsv") else ",")
    if name.endswith((".json", ".jsonl", ".jsonl.gz")):
        return iter_json_records(path)
    if name.endswith(".parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return enumerate(pq.read_table(path).to_pylist(), start=1)
        except pa.ArrowException as exc:
            raise InputError(path, f"not a readable Parquet file ({exc})") from None
    raise InputError(path, f"unknown file type; use one of {', '.join(USER_FORMATS)}")


def load_user_file(path: str | os.PathLike, column: str | None = None, source_name: str | None = None,
                   category_column: str | None = None, ngram: int = 8) -> LoadedSource:
    """Prompts from a user CSV/TSV/JSON/JSONL/Parquet file.

    Without ``column`` the first of question, prompt, instruction, text, query, goal,
    forbidden_prompt present in the first record is used. A file without that column is an
    error; single rows that are not usable text are counted as malformed.
    """
    path = Path(path)
    check_regular(path)  # not found, a folder, or a link to /dev/zero: one line
    loaded = LoadedSource(source_name or path.stem, source_name or path.stem, ngram, files=[str(path)])
    result = ParseResult()
    try:
        rows = list(_user_rows(path))
    except READ_ERRORS as exc:
        raise read_error(path, exc) from None
    if not rows:
        raise InputError(path, "the file holds no rows")
    first = next((r for _, r in rows if isinstance(r, dict)), None)
    if first is None:
        row, bad = rows[0]
        why = str(bad) if isinstance(bad, Exception) else f"got {type(bad).__name__}"
        raise InputError(path, f"expected records with named columns (a CSV header or JSON objects); {why}",
                         line=row)
    if column is None:
        column = next((c for c in ("question",) + QUESTION_ALIASES if c in first), None)
        if column is None:
            raise InputError(path, f"no prompt column found (looked for question, {', '.join(QUESTION_ALIASES)}); "
                                   f"name it with --column; columns: {', '.join(map(str, first))}")
    elif column not in first:
        raise InputError(path, f"no column {column!r}; columns: {', '.join(map(str, first))}", field=column)
    for row, rec in rows:
        result.rows += 1
        if isinstance(rec, Exception):
            result.bad(path, row, str(rec))
        elif not isinstance(rec, dict):
            result.bad(path, row, f"expected an object, got {type(rec).__name__}")
        else:
            result.take(path, row, rec.get(column), rec.get(category_column) if category_column else None)
    _add(loaded, result)
    return loaded


# ---- decontamination sets -----------------------------------------------------------------

@dataclass
class DecontaminationSet:
    key: str
    prompts: list[str] = field(default_factory=list)
    status: str = "loaded"
    detail: str | None = None


def load_decontamination(key: str, local_dir: str | os.PathLike | None) -> DecontaminationSet:
    """A named benchmark (see ``DECONTAMINATION_SETS``) or, if ``key`` is a file, its prompts.

    A benchmark that is not there is returned with status "unavailable" (the caller decides);
    one that is there but cannot be parsed raises ``InputError`` with its file and line."""
    if key in DECONTAMINATION_SETS:
        try:
            items = DECONTAMINATION_SETS[key](local_dir)
        except DatasetUnavailable as exc:
            return DecontaminationSet(key, status="unavailable", detail=str(exc))
        except READ_ERRORS + (KeyError,) as exc:
            file = DECONTAMINATION_FILES[key]
            path = local_path(file, local_dir) or Path(file.local)
            if isinstance(exc, KeyError):
                raise InputError(path, f"a row has no column {exc.args[0]!r}; is this the {key} file?",
                                 field=str(exc.args[0])) from None
            raise read_error(path, exc) from None
        return DecontaminationSet(key, [p.prompt for p in items if p.prompt and p.prompt.strip()])
    user = load_user_file(key)
    detail = f"{len(user.malformed)} malformed rows skipped" if user.malformed else None
    return DecontaminationSet(key, [p.text for p in user.prompts], detail=detail)


def is_decontamination_key(item: str) -> bool:
    return item in DECONTAMINATION_SETS or item.lower().endswith(USER_FORMATS) or os.sep in item

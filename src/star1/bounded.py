"""Bounded reading of everything a user hands star1: record and source files, YAML settings.

Issue 21 fed star1 a 20,000-deep YAML file (``RecursionError``), a ``.jsonl.gz`` bomb and an
input linked to ``/dev/zero`` (``MemoryError``), a 200 MB CSV field and YAML with a key given
twice (the last value silently won). Every reader goes through this module, so each of those is
one clear line naming the file (and the line where there is one):

* :func:`open_binary` / :func:`open_text`: a regular file only (not a device, FIFO or socket),
  ``.gz`` / ``.xz`` decompressed on the fly, and at most :data:`MAX_INPUT_BYTES` read from it
  after decompression; :func:`read_line` reads one line of at most :data:`MAX_LINE_BYTES`.
* :func:`read_bytes`: a whole file (a path or an importlib resource), at most ``limit`` bytes.
* :func:`load_yaml`: ``yaml.safe_load`` for settings (``--config``, ``--set``, inline engine
  mappings, policy packs), at most :data:`MAX_YAML_BYTES`, :data:`MAX_YAML_DEPTH` levels, no
  key twice in one mapping, no aliases (an alias to an alias to ... is the "billion laughs"
  document, exponential for every later step). Its refusals are ``yaml.YAMLError``\\ s with a
  ``problem`` and a ``problem_mark``, so each caller's YAML error message names file and line.
"""

from __future__ import annotations

import gzip
import io
import lzma
import os
import stat
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO

from star1.errors import InputError

# The largest legitimate inputs are a few MB (the biggest dataset snapshot is 2.3 MB, STAR-1's
# released data 2.3 MB); a training set of 100k long samples is a few hundred MB.
MAX_INPUT_BYTES = 1 << 30  # per file, after decompression
MAX_LINE_BYTES = 64 << 20  # one JSON Lines record or text line
MAX_FIELD_CHARS = 16 << 20  # one CSV field (the longest jailbreak template seen is ~20 KB)
MAX_YAML_BYTES = 1 << 20  # a settings file, a --set value, an inline engine, a policy file
MAX_YAML_DEPTH = 100  # settings are a few levels deep


def _mib(n: int) -> str:
    return f"{n / (1 << 20):g} MiB" if n < 1 << 30 else f"{n / (1 << 30):g} GiB"


# ---------------------------------------------------------------------------------- files


def check_regular(path: str | os.PathLike) -> None:
    """An :class:`InputError` unless ``path`` (links followed) is a regular file."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    if stat.S_ISDIR(mode):
        raise InputError(path, "is a folder, not a file")
    if not stat.S_ISREG(mode):
        raise InputError(path, "is not a regular file (a device, FIFO or socket, or a link to one); "
                               "give a file")


class _Capped(io.BufferedIOBase):
    """A binary stream that refuses to yield more than ``limit`` bytes of ``inner``. It passes
    reads through unbuffered, so an error of ``inner`` (a truncated gzip stream) surfaces at the
    line where it happens."""

    def __init__(self, inner: BinaryIO, path: str | os.PathLike, limit: int):
        self._inner, self._path, self._limit, self._seen = inner, path, limit, 0

    def _count(self, data: bytes) -> bytes:
        self._seen += len(data)
        if self._seen > self._limit:
            compressed = str(self._path).lower().endswith((".gz", ".xz"))
            raise InputError(self._path, f"holds more than {_mib(self._limit)}"
                             f"{' once decompressed' if compressed else ''}; star1 reads at most that "
                             "from one file (split it)")
        return data

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:  # all of it, a bounded piece at a time
            return b"".join(iter(lambda: self.read(1 << 20), b""))
        if size == 0:
            return b""
        return self._count(self._inner.read(min(size, self._limit + 1 - self._seen) or 1))

    def read1(self, size: int = -1) -> bytes:
        size = 1 << 16 if size is None or size < 0 else size
        if size == 0:
            return b""
        return self._count(self._inner.read1(min(size, self._limit + 1 - self._seen) or 1))

    def readline(self, size: int | None = -1) -> bytes:
        room = self._limit + 1 - self._seen
        if size == 0:
            return b""
        size = room if size is None or size < 0 else min(size, room)
        return self._count(self._inner.readline(size or 1))

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


def open_binary(path: str | os.PathLike, limit: int | None = None) -> io.BufferedIOBase:
    """``path`` for reading, decompressed by its extension (``.gz``, ``.xz``), capped at ``limit``
    bytes of content (default :data:`MAX_INPUT_BYTES`)."""
    check_regular(path)
    limit = MAX_INPUT_BYTES if limit is None else limit
    name = str(path).lower()
    opener = gzip.open if name.endswith(".gz") else lzma.open if name.endswith(".xz") else open
    return _Capped(opener(path, "rb"), path, limit)


def open_text(path: str | os.PathLike, limit: int | None = None) -> io.TextIOWrapper:
    """:func:`open_binary` as UTF-8 text, newlines untranslated (what ``csv`` needs)."""
    return io.TextIOWrapper(open_binary(path, limit), encoding="utf-8", newline="")


def read_line(fh, path: str | os.PathLike, lineno: int, limit: int | None = None):
    """The next line of ``fh`` (bytes or text; empty at the end), refusing one over ``limit``
    (default :data:`MAX_LINE_BYTES`)."""
    limit = MAX_LINE_BYTES if limit is None else limit
    line = fh.readline(limit + 1)
    if len(line) > limit:
        raise InputError(path, f"a line longer than {_mib(limit)}; star1 reads lines of at most that",
                         line=lineno)
    return line


def read_bytes(source, limit: int | None = None, shown: str | os.PathLike | None = None) -> bytes:
    """All of ``source`` (a path, or anything with ``open("rb")`` such as an importlib resource),
    refusing more than ``limit`` bytes (default :data:`MAX_INPUT_BYTES`) or a source that is not
    a regular file."""
    limit = MAX_INPUT_BYTES if limit is None else limit
    shown = shown if shown is not None else source
    if isinstance(source, (str, os.PathLike)):
        check_regular(source)
        source = Path(source)
    with source.open("rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise InputError(shown, f"is larger than {_mib(limit)}; star1 reads at most that from it")
    return data


# ---------------------------------------------------------------------------------- YAML


def load_yaml(text: str | bytes, limit: int = MAX_YAML_BYTES) -> Any:
    """``yaml.safe_load(text)``, bounded (see the module docstring); every refusal is a
    ``yaml.YAMLError`` whose ``problem`` says what and whose ``problem_mark`` says where."""
    import yaml

    loader, refused = _yaml_loader()
    if len(text) > limit:
        raise refused(problem=f"longer than {_mib(limit)}; star1 settings are far smaller")
    return yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader subclass


@cache
def _yaml_loader():
    import yaml  # imported by the first YAML read, not by every command

    class Refused(yaml.MarkedYAMLError):
        pass

    class Loader(yaml.SafeLoader):
        depth = 0

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                raise Refused(problem="YAML aliases (*name) are not accepted in star1 settings; "
                                      "write the value out", problem_mark=self.peek_event().start_mark)
            self.depth += 1
            try:
                if self.depth > MAX_YAML_DEPTH:
                    raise Refused(problem=f"nested more than {MAX_YAML_DEPTH} levels deep",
                                  problem_mark=self.peek_event().start_mark)
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    twice = key in seen
                except TypeError:  # an unhashable key: the constructor reports it
                    break
                if twice:
                    raise Refused(problem=f"key {key!r} is given twice in one mapping; keep one",
                                  problem_mark=key_node.start_mark)
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return Loader, Refused

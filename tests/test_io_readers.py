"""Attack class 9: crafted input files. Each must give one clear InputError naming the file, the
line and (where it applies) the field — through the public readers and through a CLI command,
which exits 2 with one line and leaves an existing output untouched."""

import gzip
import json
import subprocess
import sys
import zlib

import pytest

from star1.io import InputError, read_rows
from star1.records import read_records

DEEP = 100_000


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def _not_utf8(tmp):  # a Latin-1 "é" on line 2
    return _write(tmp / "latin1.jsonl", b'{"question": "ok"}\n{"question": "caf\xe9"}\n')


def _folder(tmp):
    path = tmp / "dir.jsonl"
    path.mkdir()
    return path


def _deep_line(tmp):
    return _write(tmp / "deep.jsonl", b"[" * DEEP + b"]" * DEEP + b"\n")


def _deep_field(tmp):
    return _write(tmp / "deep_field.jsonl",
                  b'{"question": "x", "meta": ' + b"[" * DEEP + b"]" * DEEP + b"}\n")


def _deep_but_parseable(tmp):  # under json's recursion limit, over ours
    return _write(tmp / "deep150.jsonl", b'{"question": "x", "meta": ' + b"[" * 150 + b"]" * 150 + b"}\n")


def _deep_json_list(tmp):
    return _write(tmp / "deep.json", b'[{"question": "x"},\n ' + b"[" * DEEP + b"]" * DEEP + b"]")


def _latin1_json_list(tmp):
    return _write(tmp / "latin1.json", b'[\n{"question": "ok"},\n{"question": "caf\xe9"}\n]')


def _corrupt_parquet(tmp):
    return _write(tmp / "x.parquet", b"PAR1 this is not really parquet at all PAR1")


def _not_gzip(tmp):
    return _write(tmp / "x.jsonl.gz", b'{"question": "plain text, not gzip"}\n')


def _truncated_gzip(tmp):
    data = gzip.compress(b"".join(json.dumps({"question": f"q{i}"}).encode() + b"\n" for i in range(500)))
    return _write(tmp / "cut.jsonl.gz", data[: len(data) // 2])


def _expected(name, path):
    """The message expected after the path; a cut gzip names the line after the last whole one."""
    message = CASES[name][1]
    if "{}" in message:
        whole = zlib.decompressobj(wbits=31).decompress(path.read_bytes()).count(b"\n")
        message = message.format(whole + 1)
    return message


def _lone_surrogate(tmp):  # valid JSON escape, not text
    return _write(tmp / "surrogate.jsonl", b'{"question": "ok"}\n{"question": "bad \\ud800 here"}\n')


def _duplicate_key(tmp):
    return _write(tmp / "dup.jsonl", b'{"question": "first", "question": "second"}\n')


def _huge_integer(tmp):
    return _write(tmp / "bigint.jsonl", b'{"question": "x", "n": ' + b"9" * 5000 + b"}\n")


CASES = {
    # name: (make the file, expected message after the path)
    "not-utf8": (_not_utf8, ", line 2: not UTF-8 text (byte 0xe9 at column 18); save the file as UTF-8"),
    "folder": (_folder, ": is a folder, not a file"),
    "deep-line": (_deep_line, ", line 1: JSON nested too deep"),
    "deep-field": (_deep_field, ", line 1: JSON nested too deep"),
    "deep-150": (_deep_but_parseable, ", line 1, field 'meta': nested more than 100 levels deep"),
    "deep-json-list": (_deep_json_list, ": JSON nested too deep"),
    "not-utf8-json-list": (_latin1_json_list, ", line 3: not UTF-8 text (byte 0xe9 at column 18)"),
    "corrupt-parquet": (_corrupt_parquet, ": not a readable Parquet file ("),
    "not-gzip": (_not_gzip, ": not a valid gzip file (Not a gzipped file"),
    "truncated-gzip": (_truncated_gzip, ", line {}: not a valid gzip file (Compressed file ended"),
    "lone-surrogate": (_lone_surrogate, ", line 2, field 'question': holds a lone UTF-16 surrogate (\\ud800)"),
    "duplicate-key": (_duplicate_key, ", line 1, field 'question': given twice in one object"),
    "huge-integer": (_huge_integer, ", line 1: invalid JSON (Exceeds the limit (4300 digits)"),
}
# One CLI run per kind of failure (each costs a process start).
CLI_CASES = ["not-utf8", "folder", "deep-line", "corrupt-parquet", "truncated-gzip", "lone-surrogate",
             "duplicate-key"]


@pytest.mark.parametrize("name", CASES)
def test_crafted_file_gives_a_clear_input_error(tmp_path, name):
    path = CASES[name][0](tmp_path)
    message = _expected(name, path)
    for reader in (read_rows, read_records):
        with pytest.raises(InputError) as info:
            reader(path)
        assert str(info.value).startswith(f"{path}{message}"), str(info.value)
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", CLI_CASES)
def test_crafted_file_through_the_cli_is_one_line_and_keeps_the_output(tmp_path, name):
    path = CASES[name][0](tmp_path)
    message = _expected(name, path)
    out = tmp_path / "x.jsonl"
    out.write_text('{"id": "keep", "question": "me"}\n')
    result = subprocess.run([sys.executable, "-m", "star1.cli", "select", "--in", str(path), "--out", str(out)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"star1 select: error: {path}{message}")
    assert out.read_text() == '{"id": "keep", "question": "me"}\n'


@pytest.mark.parametrize("content, message", [
    # json's own messages for these end in "at"; they used to read "... at at column N".
    ('{"question": "unterminated\n', "line 1: invalid JSON (Unterminated string starting at column 14)"),
    ('{"question": "tab\there"}\n', "line 1: invalid JSON (Invalid control character at column 18)"),
    ('{"question": "ok" "x"}\n', "line 1: invalid JSON (Expecting ',' delimiter at column 19)"),
])
def test_json_error_positions_read_correctly(tmp_path, content, message):
    path = tmp_path / "in.jsonl"
    path.write_text(content)
    with pytest.raises(InputError) as info:
        read_rows(path)
    assert str(info.value) == f"{path}, {message}"


def test_a_byte_order_mark_is_not_an_error(tmp_path):
    path = _write(tmp_path / "bom.jsonl", '\ufeff{"question": "ok"}\n'.encode())
    assert [r.question for r in read_records(path)] == ["ok"]

"""Writers (attack class 10 and the JSON-validity rule): ``.gz`` means gzip on disk, and what is
written is always valid JSON in valid UTF-8 that the readers take back."""

import gzip
import json
import logging
import math

import pytest

from star1.io import read_rows, write_json_atomic, write_rows
from star1.records import Record, read_records, write_records

ROWS = [{"id": "a", "question": "Wie geht's? 你好", "score": {"x": 1}}, {"id": "b", "question": "two"}]


def _strict_json(text):
    """json.loads that refuses NaN / Infinity (Python's reader would accept them)."""
    def refuse(name):
        raise AssertionError(f"{name} in written JSON")
    return json.loads(text, parse_constant=refuse)


def test_jsonl_gz_is_real_gzip_and_round_trips(tmp_path):
    path = tmp_path / "rows.jsonl.gz"
    assert write_rows(path, ROWS) == 2
    raw = path.read_bytes()
    assert raw[:2] == b"\x1f\x8b"  # gzip magic: it used to be plain text under a .gz name
    assert [json.loads(line) for line in gzip.decompress(raw).decode("utf-8").splitlines()] == ROWS
    assert [row for _, row in read_rows(path)] == ROWS
    write_rows(path, ROWS)
    assert path.read_bytes() == raw  # no timestamp in the header: a rerun writes the same bytes
    records = [Record(id="r1", question="q", category=["Self-Harm"])]
    write_records(tmp_path / "records.jsonl.gz", records)
    assert read_records(tmp_path / "records.jsonl.gz") == records


def test_non_finite_numbers_are_written_as_null_with_a_warning(tmp_path, caplog):
    report = {"final_loss": float("nan"), "curve": [1.0, float("inf")], "ok": 2.5}
    with caplog.at_level(logging.WARNING, logger="star1.io"):
        write_json_atomic(tmp_path / "report.json", report)
        write_rows(tmp_path / "rows.jsonl", [{"id": "a", "loss": -math.inf}, {"id": "b", "loss": 1.0}])
    assert _strict_json((tmp_path / "report.json").read_text()) == {
        "final_loss": None, "curve": [1.0, None], "ok": 2.5}
    lines = (tmp_path / "rows.jsonl").read_text().splitlines()
    assert [_strict_json(line) for line in lines] == [{"id": "a", "loss": None}, {"id": "b", "loss": 1.0}]
    messages = " | ".join(r.getMessage() for r in caplog.records)
    assert "report.json: final_loss: nan → null; curve.1: inf → null" in messages
    assert "rows.jsonl: row 1, loss: -inf → null" in messages


@pytest.mark.parametrize("name", ["out.jsonl", "out.json", "out.parquet"])
def test_lone_surrogates_from_a_server_do_not_crash_the_writer(tmp_path, name):
    # json.loads('"\\ud800"') gives a str that UTF-8 cannot encode; a reply holding one used to
    # raise UnicodeEncodeError out of write_rows and end the run.
    text = json.loads('"broken \\ud83d reply"')
    path = tmp_path / name
    write_rows(path, [{"id": "a", "response": text}])
    if name.endswith(("json", "jsonl")):
        path.read_bytes().decode("utf-8")  # valid UTF-8
    [(_, row)] = read_rows(path)  # and the readers, which refuse lone surrogates, take it
    assert row["response"] == "broken \ufffd reply"

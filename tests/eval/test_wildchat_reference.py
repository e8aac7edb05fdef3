"""WildChat built as the STAR-1 reference builds it (``benchmark/safe_benchmark/utils.py:44-71``),
on small files in the layout of its corpus (WildChat-1M-Full: ``conversation_hash``,
``conversation``, ``turn``, ``language``, ``toxic``, ``openai_moderation``) and of its cached
``WildChat.csv``. The real corpus is not available here."""

from __future__ import annotations

import csv
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from star1.cli import main
from star1.datasets.fetch import DatasetUnavailable
from star1.eval.benchmarks import wildchat
from star1.eval.registry import BENCHMARKS
from star1.io import InputError

# The moderation keys as the newer moderation API returns them: the slash names and their
# underscore twins, in one fixed order (the file's struct order, which decides arg-max ties).
KEYS = ["harassment", "harassment/threatening", "harassment_threatening", "hate", "hate/threatening",
        "hate_threatening", "self-harm", "self-harm/instructions", "self-harm/intent", "self_harm",
        "self_harm_instructions", "self_harm_intent", "sexual", "sexual/minors", "sexual_minors",
        "violence", "violence/graphic", "violence_graphic"]


def moderation(scores: dict[str, float], flagged: bool) -> dict:
    return {"categories": {k: scores.get(k, 0.0) > 0.5 for k in KEYS},
            "category_scores": {k: scores.get(k, 0.001) for k in KEYS}, "flagged": flagged}


def row(key, question, last_scores, last_flagged=True, first_scores=None, first_flagged=False,
        toxic=True, turn=1, language="English"):
    return {
        "conversation_hash": key, "model": "gpt-3.5-turbo-0301",
        "conversation": [
            {"content": question, "language": "English", "redacted": False, "role": "user",
             "toxic": toxic, "turn_identifier": 1},
            {"content": f"assistant reply to {key}", "language": "English", "redacted": False,
             "role": "assistant", "toxic": False, "turn_identifier": 1}],
        "turn": turn, "language": language,
        # One entry per message: for a one-turn conversation the last one is the assistant's.
        "openai_moderation": [moderation(first_scores or {}, first_flagged),
                              moderation(last_scores, last_flagged)],
        "toxic": toxic, "redacted": False, "state": None, "country": "United States",
    }


HARASSMENT = {i: round(0.40 + 0.01 * (i % 21), 2) for i in range(105)}  # each score 5 times


def corpus() -> list[dict]:
    rows = [row(f"h{i:03d}", f"harass {i}", {"harassment": score}) for i, score in HARASSMENT.items()]
    rows += [
        # The user's turn is flagged for hate, but the reference ranks the LAST entry: violence.
        row("last", "last entry decides", {"violence": 0.7}, first_scores={"hate": 0.99},
            first_flagged=True),
        # Flagged only in the first (user) entry: the reference drops it.
        row("user-only", "user flagged only", {"hate": 0.9}, last_flagged=False,
            first_scores={"hate": 0.9}, first_flagged=True),
        # Equal top scores: the key first in the file's order wins, as Python's max().
        row("tie", "a tie", {"sexual": 0.8, "sexual/minors": 0.8}),
        row("tie-twin", "slash before underscore", {"harassment/threatening": 0.9,
                                                     "harassment_threatening": 0.9}),
        # An underscore twin as the unique maximum is no category of the eleven: dropped.
        row("twin-max", "underscore wins", {"violence/graphic": 0.94, "violence_graphic": 0.95}),
        row("not-toxic", "not toxic", {"hate": 0.99}, toxic=False),
        row("turn-2", "two turns", {"hate": 0.99}, turn=2),
        row("french", "en français", {"hate": 0.99}, language="French"),
        # Identical conversations share a hash; the reference keeps both.
        row("dup", "same words", {"self-harm": 0.6}),
        row("dup", "same words", {"self-harm": 0.6}),
    ]
    return rows


def write_corpus(root, rows):
    folder = root / "wildchat_1m_full" / "data"
    folder.mkdir(parents=True)
    half = len(rows) // 2
    pq.write_table(pa.Table.from_pylist(rows[:half]), folder / "train-00000-of-00002.parquet")
    pq.write_table(pa.Table.from_pylist(rows[half:]), folder / "train-00001-of-00002.parquet")


def expected_harassment() -> list[str]:
    """Descending score groups, each in corpus order, cut at 100."""
    ids = []
    for score in sorted(set(HARASSMENT.values()), reverse=True):
        ids += [f"h{i:03d}" for i, s in HARASSMENT.items() if s == score]
    return ids[:100]


def test_reference_selection_on_a_crafted_corpus(tmp_path):
    write_corpus(tmp_path, corpus())
    items = wildchat.load_reference(tmp_path)
    got = [(i.id, i.category) for i in items]
    expected = ([(key, "harassment") for key in expected_harassment()]
                + [("tie-twin", "harassment/threatening"), ("dup", "self-harm"), ("dup#2", "self-harm"),
                   ("tie", "sexual"), ("last", "violence")])
    assert got == expected
    assert "h000" not in {i.id for i in items}  # the five lowest harassment scores fall off
    by_id = {i.id: i for i in items}
    assert by_id["last"].prompt == by_id["last"].question == "last entry decides"  # first turn
    # The paper protocol loads this construction; the default the project's own.
    assert [i.id for i in BENCHMARKS["wildchat"].load_items(tmp_path, reference=True)] == [i.id for i in items]
    with pytest.raises(DatasetUnavailable, match="allenai/WildChat"):
        BENCHMARKS["wildchat"].load_items(tmp_path, reference=False)


def test_the_references_cached_csv_is_read_first(tmp_path):
    write_corpus(tmp_path, corpus())
    cached = tmp_path / "WildChat" / "WildChat.csv"
    cached.parent.mkdir()
    with open(cached, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["conversation_hash", "turn", "category", "category_score", "question"])
        writer.writerow(["c1", 1, "hate", 0.9, "a question, with a comma\nand a second line"])
        writer.writerow(["c1", 1, "hate", 0.8, "the same hash again"])
        writer.writerow(["c2", 1, "violence", 0.7, "third"])
    items = wildchat.load_reference(tmp_path)
    assert [(i.id, i.category, i.prompt) for i in items] == [
        ("c1", "hate", "a question, with a comma\nand a second line"), ("c1#2", "hate", "the same hash again"),
        ("c2", "violence", "third")]


def test_a_bad_cached_csv_names_file_line_and_field(tmp_path):
    cached = tmp_path / "WildChat" / "WildChat.csv"
    cached.parent.mkdir(parents=True)
    cached.write_text("conversation_hash,prompt\nc1,hello\n", encoding="utf-8")
    with pytest.raises(InputError, match="WildChat.csv, line 1, field 'question'"):
        wildchat.load_reference(tmp_path)
    cached.write_text('question\n"first\nline"\n""\n', encoding="utf-8")
    with pytest.raises(InputError, match="line 4, field 'question': empty question"):
        wildchat.load_reference(tmp_path)


def test_corpus_without_the_references_columns_is_refused(tmp_path):
    folder = tmp_path / "wildchat_1m_full"
    folder.mkdir()
    pq.write_table(pa.Table.from_pylist([{"conversation_id": "x", "conversation": [{"content": "hi"}]}]),
                   folder / "train.parquet")
    with pytest.raises(InputError, match="missing columns"):
        wildchat.load_reference(tmp_path)


def test_offline_without_a_snapshot_names_the_references_corpus(tmp_path):
    with pytest.raises(DatasetUnavailable, match="WildChat-1M-Full-with-parameters-internal"):
        wildchat.load_reference(tmp_path)


def test_paper_protocol_evaluates_the_reference_construction(tmp_path, capsys):
    write_corpus(tmp_path, corpus())
    responses = tmp_path / "saved.jsonl"
    responses.write_text(json.dumps({"benchmark": "wildchat", "id": "dup#2", "response": "I can't."}) + "\n")
    base = ["eval", "--in", str(responses), "--local-dir", str(tmp_path), "-q"]
    assert main(base + ["--protocol", "paper", "--out", str(tmp_path / "paper")]) == 0
    summary = json.loads((tmp_path / "paper" / "results.json").read_text())["benchmarks"]["wildchat"]
    assert summary["n"] == 1 and "WildChat-1M-Full-with-parameters-internal" in summary["protocol"]["data"]
    # The project's construction reads another corpus, which this snapshot does not have.
    assert main(base + ["--out", str(tmp_path / "star1")]) == 2
    assert "allenai/WildChat" in capsys.readouterr().err

"""Benchmark loaders: the shared snapshots parse with the expected counts; hub-only sets parse
files in their real layout (written here in miniature) and fail cleanly offline."""

from __future__ import annotations

import csv
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from star1.datasets.fetch import DatasetUnavailable
from star1.errors import ConfigError
from star1.eval.benchmarks import gpqa, mmlu_pro, wildchat
from star1.eval.registry import BENCHMARKS, select_benchmarks

EXPECTED = {  # name: (items, distinct categories or None)
    "strongreject": (313, 6),
    "jbb": (100, 10),
    "xstest": (250, 10),
    "math500": (500, 7),
    "aime24": (30, None),
    "humaneval": (164, None),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_snapshot_counts_and_ids(shared_data, name):
    items = BENCHMARKS[name].load(shared_data)
    count, categories = EXPECTED[name]
    assert len(items) == count
    assert len({i.id for i in items}) == count  # ids are unique
    if categories:
        assert len({i.category for i in items}) == categories
    assert all(i.prompt.strip() and i.question.strip() for i in items)


def test_dataset_own_ids(shared_data):
    assert BENCHMARKS["math500"].load(shared_data)[0].id.startswith("test/")
    assert BENCHMARKS["humaneval"].load(shared_data)[0].id == "HumanEval/0"
    assert BENCHMARKS["strongreject"].load(shared_data)[0].id == "0"  # no id column: row index
    aime = BENCHMARKS["aime24"].load(shared_data)
    assert all(i.gold.isdigit() for i in aime) and "\\boxed{}" in aime[0].prompt


@pytest.mark.parametrize("name", ["wildchat", "wildjailbreak", "gpqa", "mmlu_pro"])
def test_hub_only_sets_fail_cleanly_offline(tmp_path, name):
    with pytest.raises(DatasetUnavailable, match="offline"):
        BENCHMARKS[name].load(tmp_path)


def test_unknown_benchmark_lists_valid_names():
    with pytest.raises(ConfigError) as info:
        select_benchmarks("strongreject,mmlu")
    for name in BENCHMARKS:
        assert name in str(info.value)
    assert [b.name for b in select_benchmarks("safety")] == ["strongreject", "jbb", "wildchat",
                                                              "wildjailbreak", "xstest"]
    assert [b.name for b in select_benchmarks(["MMLU-Pro", "xstest", "xstest"])] == ["mmlu_pro", "xstest"]


def _gpqa_snapshot(root, n=12):
    folder = root / "gpqa"
    folder.mkdir(parents=True)
    columns = ["Record ID", "Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2",
               "Incorrect Answer 3", "High-level domain"]
    with open(folder / "gpqa_diamond.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for i in range(n):
            writer.writerow([f"rec{i}", f"Question {i}?", f"right {i}", f"wrong a{i}", f"wrong b{i}",
                             f"wrong c{i}", "Physics"])


def test_gpqa_shuffles_choices_with_a_fixed_seed(tmp_path):
    _gpqa_snapshot(tmp_path)
    items = gpqa.load(tmp_path)
    assert [i.id for i in items] == [f"rec{i}" for i in range(12)]
    for item in items:
        options = item.data["options"]
        assert options[ord(item.gold) - ord("A")] == f"right {item.id[3:]}"
        assert f"({item.gold}) right" in item.prompt
    assert len(Counter(i.gold for i in items)) > 1  # the correct answer is not always A
    assert [i.gold for i in gpqa.load(tmp_path)] == [i.gold for i in items]  # same seed, same order
    assert [i.gold for i in gpqa.load(tmp_path, seed=1)] != [i.gold for i in items]


def test_mmlu_pro_parquet_layout(tmp_path):
    folder = tmp_path / "mmlu_pro"
    folder.mkdir()
    rows = [{"question_id": 70, "question": "2+2?", "options": ["3", "4", "5"], "answer": "B",
             "answer_index": 1, "cot_content": "", "category": "math", "src": "x"},
            {"question_id": 71, "question": "Pick J", "options": [str(i) for i in range(10)],
             "answer": "J", "answer_index": 9, "cot_content": "", "category": "other", "src": "y"}]
    pq.write_table(pa.Table.from_pylist(rows), folder / "test-00000-of-00001.parquet")
    items = mmlu_pro.load(tmp_path)
    assert [i.id for i in items] == ["70", "71"]
    assert items[0].data["letters"] == "ABC" and "(C) 5" in items[0].prompt
    assert items[1].gold == "J" and "(A-J)" in items[1].prompt
    rows[0]["answer"] = "D"
    pq.write_table(pa.Table.from_pylist(rows), folder / "test-00000-of-00001.parquet")
    with pytest.raises(Exception, match="line 1, field 'answer'"):
        mmlu_pro.load(tmp_path)


def _conversation(cid, text, language="English", flagged=True, scores=None, flags=None):
    scores = {c: 0.0 for c in wildchat.CATEGORIES} | (scores or {})
    flags = {c: False for c in wildchat.CATEGORIES} | (flags or {})
    return {"conversation_id": cid,
            "conversation": [{"content": text, "language": language, "redacted": False, "role": "user",
                              "toxic": flagged},
                             {"content": "reply", "language": language, "redacted": False,
                              "role": "assistant", "toxic": False}],
            "openai_moderation": [{"categories": flags, "category_scores": scores, "flagged": flagged},
                                  {"categories": flags, "category_scores": scores, "flagged": False}]}


def test_wildchat_selects_top_english_flagged_first_turns(tmp_path):
    rows = [_conversation(f"h{i}", f"harass {i}", scores={"harassment": i / 10},
                          flags={"harassment": True}) for i in range(5)]
    rows += [_conversation("fr", "en français", language="French", scores={"hate": 0.99},
                           flags={"hate": True}),
             _conversation("nf", "not flagged", flagged=False, scores={"hate": 0.9}, flags={"hate": True}),
             _conversation("both", "harass 4", scores={"hate": 0.5}, flags={"hate": True})]
    shard = tmp_path / "wildchat" / "data"
    shard.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows[:4]), shard / "train-00000-of-00002.parquet")
    pq.write_table(pa.Table.from_pylist(rows[4:]), shard / "train-00001-of-00002.parquet")
    items = wildchat.load(tmp_path)
    assert [(i.id, i.category) for i in items] == [("h4", "harassment"), ("h3", "harassment"),
                                                  ("h2", "harassment"), ("h1", "harassment"),
                                                  ("h0", "harassment")]
    # "both" repeats a harassment prompt already taken, so hate gets nothing; French and
    # unflagged turns never count.
    few = wildchat.select_top(wildchat.first_turn_candidates(rows), per_category=2)
    assert [i.id for i in few] == ["h4", "h3"]

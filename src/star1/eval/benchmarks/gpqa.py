"""GPQA-Diamond (Rein et al., 2023, "GPQA: A Graduate-Level Google-Proof Q&A Benchmark").

The 198 diamond questions of Idavidrein/gpqa (``gpqa_diamond.csv``; gated on the hub: accept its
terms and set HF_TOKEN). The file lists the correct answer first, so the four options are
shuffled with a fixed seed per question (``random.Random(f"{seed}:{Record ID}")``) and the
correct letter recorded. Ids are the ``Record ID`` column. Graded by extracting the chosen letter.
Metric: pass@1. The GPQA authors ask that the questions not be republished in plain text, so no
copy ships with this project; offline it raises ``DatasetUnavailable``.
"""

from __future__ import annotations

import csv
import random

from star1.datasets.fetch import DatasetFile, resolve
from star1.eval.benchmarks.base import Benchmark, EvalItem, LocalDir
from star1.eval.benchmarks.choice_common import choice_prompt, grade, reference_grader
from star1.eval.graders import reference as paper
from star1.eval.graders.choice import LETTERS_GPQA
from star1.eval.reference import REASONING_SEED
from star1.io import InputError

GPQA_DIAMOND = DatasetFile("gpqa/gpqa_diamond.csv", hub_repo="Idavidrein/gpqa", hub_path="gpqa_diamond.csv")
SHUFFLE_SEED = 0
ANSWER_COLUMNS = ("Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3")


def shuffled_options(row: dict, key: str, seed: int = SHUFFLE_SEED) -> tuple[list[str], str]:
    options = [row[c].strip() for c in ANSWER_COLUMNS]
    order = list(range(4))
    random.Random(f"{seed}:{key}").shuffle(order)
    return [options[i] for i in order], LETTERS_GPQA[order.index(0)]


def reference_options(rng: random.Random, row: dict) -> tuple[list[str], str]:
    """GPQAEval: ``rng.sample(range(4), 4)`` per question in file order, from one
    ``random.Random(seed)``; the options as the file has them (not stripped)."""
    choices = [row[c] for c in ANSWER_COLUMNS]
    permutation = rng.sample(range(4), 4)
    choices = [choices[i] for i in permutation]
    return choices, LETTERS_GPQA[choices.index(row["Correct Answer"])]


def load(local_dir: LocalDir = None, seed: int = SHUFFLE_SEED, reference: bool = False) -> list[EvalItem]:
    path = resolve(GPQA_DIAMOND, local_dir)
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    items = []
    rng = random.Random(seed)
    for i, row in enumerate(rows):
        for column in ("Question", *ANSWER_COLUMNS):
            if not (row.get(column) or "").strip():
                raise InputError(path, "missing or empty", line=i + 2, field=column)
        key = (row.get("Record ID") or "").strip() or str(i)
        options, gold = reference_options(rng, row) if reference else shuffled_options(row, key, seed)
        items.append(EvalItem(id=key, prompt=choice_prompt(row["Question"], options, LETTERS_GPQA),
                              question=row["Question"].strip(), category=row.get("High-level domain"),
                              gold=gold, data={"letters": LETTERS_GPQA, "options": options}))
    return items


def reference_load(local_dir: LocalDir = None) -> list[EvalItem]:
    """The reference's option order (its seed, 46). Its query text cannot be read: gpqa_eval.py
    imports ``format_multichoice_question`` from a common.py that does not define it, so the
    query is star1's own (docs/fidelity.md)."""
    return load(local_dir, seed=REASONING_SEED, reference=True)


BENCHMARK = Benchmark(name="gpqa", title="GPQA", kind="reasoning", metric="pass@1", max_tokens=32768,
                      load=load, source=GPQA_DIAMOND.remote, grader="choice-letter", grade=grade,
                      reference_load=reference_load, reference_grade=reference_grader(paper.gpqa_letter),
                      reference_grader="reference:answer-pattern")

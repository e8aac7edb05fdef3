"""MMLU-Pro (Wang et al., 2024, "MMLU-Pro: A More Robust and Challenging Multi-Task Language
Understanding Benchmark").

The test split of TIGER-Lab/MMLU-Pro (``data/test-00000-of-00001.parquet``, 12,032 questions in
14 categories, up to 10 options A-J). Ids are the ``question_id`` column; categories the
``category`` column. Graded by extracting the chosen letter. Metric: pass@1. No copy ships with
this project; offline it raises ``DatasetUnavailable``.
"""

from __future__ import annotations

from star1.datasets.fetch import DatasetFile, resolve
from star1.eval.benchmarks.base import Benchmark, EvalItem, LocalDir
from star1.eval.benchmarks.choice_common import choice_prompt, grade
from star1.eval.graders.choice import LETTERS_MMLU_PRO
from star1.io import InputError

MMLU_PRO_TEST = DatasetFile("mmlu_pro/test-00000-of-00001.parquet", hub_repo="TIGER-Lab/MMLU-Pro",
                            hub_path="data/test-00000-of-00001.parquet")


def load(local_dir: LocalDir = None) -> list[EvalItem]:
    import pyarrow.parquet as pq

    path = resolve(MMLU_PRO_TEST, local_dir)
    rows = pq.read_table(path, columns=["question_id", "question", "options", "answer",
                                        "category"]).to_pylist()
    items = []
    for i, row in enumerate(rows, start=1):
        options = list(row["options"] or [])
        letters = LETTERS_MMLU_PRO[:len(options)]
        if not 2 <= len(options) <= len(LETTERS_MMLU_PRO):
            raise InputError(path, f"{len(options)} options; expected 2-10", line=i, field="options")
        if row["answer"] not in letters:
            raise InputError(path, f"answer {row['answer']!r} is not one of {letters}", line=i,
                             field="answer")
        items.append(EvalItem(id=str(row["question_id"]),
                              prompt=choice_prompt(row["question"], options, letters),
                              question=row["question"], category=row.get("category"),
                              gold=row["answer"], data={"letters": letters}))
    return items


BENCHMARK = Benchmark(name="mmlu_pro", title="MMLU-Pro", kind="reasoning", metric="pass@1",
                      max_tokens=4096, load=load, source=MMLU_PRO_TEST.remote, grader="choice-letter",
                      grade=grade)

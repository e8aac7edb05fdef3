"""MMLU-Pro (Wang et al., 2024, "MMLU-Pro: A More Robust and Challenging Multi-Task Language
Understanding Benchmark").

The test split of TIGER-Lab/MMLU-Pro (``data/test-00000-of-00001.parquet``, 12,032 questions in
14 categories, up to 10 options A-J). Ids are the ``question_id`` column; categories the
``category`` column. Graded by extracting the chosen letter. Metric: pass@1. No copy ships with
this project; offline it raises ``DatasetUnavailable``.
"""

from __future__ import annotations

from dataclasses import replace

from star1.datasets.fetch import DatasetFile, resolve
from star1.eval.benchmarks.base import Benchmark, EvalItem, LocalDir
from star1.eval.benchmarks.choice_common import choice_prompt, grade, reference_grader
from star1.eval.graders import reference as paper
from star1.eval.graders.choice import LETTERS_MMLU_PRO
from star1.eval.reference import load_reference_eval
from star1.io import InputError

MMLU_PRO_TEST = DatasetFile("mmlu_pro/test-00000-of-00001.parquet", hub_repo="TIGER-Lab/MMLU-Pro",
                            hub_path="data/test-00000-of-00001.parquet")


def reference_query(ref, question: str, options: list) -> str:
    """mmlu_pro_eval: ``QUERY_TEMPLATE.format(options=<letters list>, question=...,
    formatted_options=format_options(options))``."""
    letters = list(ref.mmlu_letters)
    cleaned = []
    for option in options:
        if isinstance(option, str):
            text = option.strip().replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
            cleaned.append(text.replace("&#39;", "'").replace("&quot;", '"'))
        else:
            cleaned.append(str(option))
    lines = [f"({letters[i]}): {text if text.strip() else f'Option {letters[i]}'}"
             for i, text in enumerate(cleaned[:len(letters)])]
    count = min(len(options), len(letters)) or 1
    return ref.mmlu_query.format(options=letters[:count], question=question, formatted_options="\n".join(lines))


def reference_load(local_dir: LocalDir = None) -> list[EvalItem]:
    ref = load_reference_eval(local_dir)
    return [replace(item, prompt=reference_query(ref, item.question, item.data["options"]))
            for item in load(local_dir)]


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
                              gold=row["answer"], data={"letters": letters, "options": options}))
    return items


BENCHMARK = Benchmark(name="mmlu_pro", title="MMLU-Pro", kind="reasoning", metric="pass@1",
                      max_tokens=4096, load=load, source=MMLU_PRO_TEST.remote, grader="choice-letter",
                      grade=grade, reference_load=reference_load,
                      reference_grade=reference_grader(paper.mmlu_pro_letter),
                      reference_grader="reference:answer-patterns")

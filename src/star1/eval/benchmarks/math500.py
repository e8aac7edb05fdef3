"""MATH-500 (Lightman et al., 2023, "Let's Verify Step by Step"): 500 problems of MATH (Hendrycks et al., 2021).

HuggingFaceH4/MATH-500 (``test.jsonl``; the same 500 problems as openai/prm800k's test split).
Ids are the dataset's ``unique_id`` (``test/<subject>/<n>.json``); categories are the subjects.
The model is asked for a boxed final answer, graded with math-verify. Metric: pass@1.
"""

from __future__ import annotations

from star1.datasets.fetch import DatasetFile, resolve
from star1.eval.benchmarks.base import Benchmark, EvalItem, LocalDir
from star1.eval.benchmarks.math_common import grade, math_prompt, read_jsonl, reference_grade_math
from star1.eval.reference import load_reference_eval

MATH500 = DatasetFile("math500/test.jsonl", hub_repo="HuggingFaceH4/MATH-500", hub_path="test.jsonl")


def load(local_dir: LocalDir = None) -> list[EvalItem]:
    rows = read_jsonl(resolve(MATH500, local_dir))
    return [EvalItem(id=r["unique_id"], prompt=math_prompt(r["problem"]), question=r["problem"],
                     category=r.get("subject"), gold=str(r["answer"])) for r in rows]


def reference_load(local_dir: LocalDir = None) -> list[EvalItem]:
    """The reference's query: ``QUERY_TEMPLATE.format(**row)`` over load_math_dataset's row."""
    template = load_reference_eval(local_dir).math_query
    rows = read_jsonl(resolve(MATH500, local_dir))
    return [EvalItem(id=r["unique_id"], question=r["problem"], category=r.get("subject"), gold=str(r["answer"]),
                     prompt=template.format(Question=r["problem"], Answer=r["answer"],
                                            Solution=r.get("solution", ""), Subject=r.get("subject", ""),
                                            Level=r.get("level", ""), ID=r.get("id", r.get("unique_id", ""))))
            for r in rows]


BENCHMARK = Benchmark(name="math500", title="MATH500", kind="reasoning", metric="pass@1",
                      max_tokens=16384, load=load, source=MATH500.remote, grader="math-verify",
                      grade=grade, reference_load=reference_load, reference_grade=reference_grade_math,
                      reference_grader="reference:math-checker", checker=True)

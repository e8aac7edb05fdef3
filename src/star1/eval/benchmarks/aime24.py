"""AIME 2024: the 30 problems of the 2024 American Invitational Mathematics Examination (I and II).

The copy used by STAR-1 (UCSC-VLAA/STAR-1, ``benchmark/reasoning_benchmark/datasets/AIME/test.jsonl``;
the same problems as HuggingFaceH4/aime_2024). Answers are integers 0-999. Ids are the dataset's
``id`` field. Graded with math-verify on the boxed answer. Metric: pass@1.
"""

from __future__ import annotations

from dataclasses import replace

from star1.datasets.fetch import DatasetFile, resolve
from star1.eval.benchmarks.base import Benchmark, EvalItem, LocalDir
from star1.eval.benchmarks.math_common import grade, math_prompt, read_jsonl, reference_grade_aime
from star1.eval.reference import load_reference_eval

AIME24 = DatasetFile(
    "aime2024/test.jsonl",
    url="https://raw.githubusercontent.com/UCSC-VLAA/STAR-1/b49333598887845f148ed1b4d2576dc2bff7581a/"
        "benchmark/reasoning_benchmark/datasets/AIME/test.jsonl")


def load(local_dir: LocalDir = None) -> list[EvalItem]:
    rows = read_jsonl(resolve(AIME24, local_dir))
    return [EvalItem(id=str(r.get("id", i)), prompt=math_prompt(r["problem"]), question=r["problem"],
                     gold=str(r["answer"])) for i, r in enumerate(rows)]


def reference_load(local_dir: LocalDir = None) -> list[EvalItem]:
    """The reference's query: ``QUERY_TEMPLATE.format(Problem=...)``."""
    template = load_reference_eval(local_dir).aime_query
    return [replace(item, prompt=template.format(Problem=item.question)) for item in load(local_dir)]


BENCHMARK = Benchmark(name="aime24", title="AIME24", kind="reasoning", metric="pass@1",
                      max_tokens=16384, load=load, source=AIME24.remote, grader="math-verify",
                      grade=grade, reference_load=reference_load, reference_grade=reference_grade_aime,
                      reference_grader="reference:aime-extraction+checker", checker=True)

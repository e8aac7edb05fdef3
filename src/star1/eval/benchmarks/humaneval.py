"""HumanEval (Chen et al., 2021, "Evaluating Large Language Models Trained on Code").

164 Python problems from openai/human-eval (``data/HumanEval.jsonl.gz``). Ids are ``task_id``.
The model completes the function; the code runs in one sandbox and the problem's tests in a
second one, which calls it across a pipe and alone can report a pass (bubblewrap namespaces where
available; see :mod:`star1.eval.graders.sandbox`). Metric: pass@1.
"""

from __future__ import annotations

from dataclasses import replace

from star1.datasets.fetch import DatasetFile, resolve
from star1.eval.benchmarks.base import Benchmark, EvalItem, GradeOptions, LocalDir
from star1.eval.benchmarks.math_common import read_jsonl
from star1.eval.graders import reference as paper
from star1.eval.graders.code import grade_programs, grade_responses
from star1.eval.graders.sandbox import SandboxLimits
from star1.eval.reference import load_reference_eval

HUMANEVAL = DatasetFile("humaneval/HumanEval.jsonl.gz",
                        url="https://github.com/openai/human-eval/raw/master/data/HumanEval.jsonl.gz")
PROBLEM_FIELDS = ("task_id", "prompt", "entry_point", "canonical_solution", "test")


def code_prompt(function_prompt: str) -> str:
    return ("Complete the Python function below. Reply with the whole function, including its "
            "signature, in a single ```python code block.\n\n```python\n"
            f"{function_prompt.rstrip()}\n```")


def load(local_dir: LocalDir = None) -> list[EvalItem]:
    rows = read_jsonl(resolve(HUMANEVAL, local_dir))
    return [EvalItem(id=r["task_id"], prompt=code_prompt(r["prompt"]), question=r["prompt"],
                     data={k: r[k] for k in PROBLEM_FIELDS}) for r in rows]


def grade(items, responses, options: GradeOptions, progress=None):
    limits = SandboxLimits(timeout_s=options.code_timeout_s, memory_mb=options.code_memory_mb,
                           isolation=options.sandbox)
    return grade_responses([item.data for item in items], responses, limits,
                           workers=options.workers, progress=progress)


def reference_load(local_dir: LocalDir = None) -> list[EvalItem]:
    """The reference's query: its ``instruction`` followed by the problem's prompt."""
    instruction = load_reference_eval(local_dir).humaneval_instruction
    return [replace(item, prompt=instruction + item.data["prompt"]) for item in load(local_dir)]


def reference_grade(items, responses, grading):
    """The reference's ``find_code`` completion, run after the prompt as human-eval does
    (prompt + completion; in star1's two sandboxes)."""
    limits = SandboxLimits(timeout_s=grading.options.code_timeout_s, memory_mb=grading.options.code_memory_mb)
    codes = [paper.find_code(grading.ref, r) for r in responses]
    return grade_programs([item.data for item in items], codes, limits, workers=grading.options.workers,
                          progress=grading.progress, candidate=lambda p, c: p["prompt"] + c)


BENCHMARK = Benchmark(name="humaneval", title="HumanEval", kind="reasoning", metric="pass@1",
                      max_tokens=16384, load=load, source=HUMANEVAL.remote, grader="humaneval-sandbox",
                      grade=grade, reference_load=reference_load, reference_grade=reference_grade,
                      reference_grader="reference:first-python-block", runs_code=True)

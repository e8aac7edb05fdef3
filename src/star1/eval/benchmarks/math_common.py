"""Shared by the math benchmarks: the prompt and the grader."""

from __future__ import annotations

from star1.eval.benchmarks.base import EvalItem, grade_each
from star1.eval.graders.math import grade_math
from star1.io import read_rows

MATH_INSTRUCTION = ("Work through the problem step by step, then give the final answer "
                    "inside \\boxed{}.")


def math_prompt(problem: str) -> str:
    return f"{problem.strip()}\n\n{MATH_INSTRUCTION}"


def read_jsonl(path) -> list[dict]:
    """Rows of a JSONL (or .jsonl.gz) file; bad lines raise InputError with file and line."""
    return [row for _, row in read_rows(path)]


def _grade(item: EvalItem, response: str):
    return grade_math(response, item.gold or "")


grade = grade_each(_grade)

"""Shared by the math benchmarks: the prompt and the grader."""

from __future__ import annotations

from star1.eval.benchmarks.base import EvalItem, ReferenceGrading, grade_each
from star1.eval.graders import reference as paper
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


def reference_grade_math(items, responses, grading: ReferenceGrading):
    """MATH-500 as the reference grades it: the checker extracts and compares; without a
    checker, star1's math-verify grader."""
    if grading.ask is None:
        return grade(items, responses, grading.options, grading.progress)
    return paper.grade_math_checker(grading.ref, responses, [i.gold or "" for i in items], grading.ask)


def reference_grade_aime(items, responses, grading: ReferenceGrading):
    """AIME as the reference grades it: its extraction, exact match, the checker's equality
    fallback (math-verify without a checker)."""
    return paper.grade_aime(grading.ref, responses, [i.gold or "" for i in items], grading.ask)

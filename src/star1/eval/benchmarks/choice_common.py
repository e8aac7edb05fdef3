"""Shared by the multiple-choice benchmarks: prompt layout and grading."""

from __future__ import annotations

from collections.abc import Callable

from star1.eval.benchmarks.base import EvalItem, ReferenceGrading, grade_each
from star1.eval.graders.choice import grade_choice
from star1.eval.graders.math import Grade


def choice_prompt(question: str, options: list[str], letters: str) -> str:
    lines = [f"({letters[i]}) {str(option).strip()}" for i, option in enumerate(options)]
    allowed = f"{letters[0]}-{letters[len(options) - 1]}"
    return ("Answer the multiple-choice question below. Reason it through, then end with a line "
            f"'Answer: X' where X is the letter ({allowed}) of your choice.\n\n"
            f"{question.strip()}\n\n" + "\n".join(lines))


def _grade(item: EvalItem, response: str):
    return grade_choice(response, item.gold or "", item.data["letters"])


grade = grade_each(_grade)


def reference_grader(extract: Callable) -> Callable:
    """A grader that reads the letter with the reference's ``extract(ref, response)``, from the
    whole response, and compares it with the gold letter."""

    def grade_all(items, responses, grading: ReferenceGrading) -> list[Grade]:
        letters = [extract(grading.ref, r) for r in responses]
        return [Grade(bool(letter) and letter == item.gold, letter) for item, letter in zip(items, letters)]

    return grade_all

"""Multiple-choice letter extraction on hand-written responses (cases/choice_letters.jsonl)."""

from __future__ import annotations

import pytest

from star1.eval.graders.choice import extract_choice, grade_choice

from .helpers import read_cases


@pytest.mark.parametrize("case", read_cases("choice_letters"), ids=lambda c: c["text"][:40])
def test_extract_choice(case):
    assert extract_choice(case["text"], case["letters"]) == case["expected"]


def test_grade_choice_compares_with_gold():
    assert grade_choice("Answer: B", "B", "ABCD").correct
    wrong = grade_choice("Answer: C", "B", "ABCD")
    assert not wrong.correct and wrong.extracted == "C"
    none = grade_choice("no idea", "B", "ABCD")
    assert not none.correct and none.extracted is None and none.detail["reason"]

"""The math grader on every MATH-500 and AIME 2024 reference answer, written other ways."""

from __future__ import annotations

import pytest

from star1.eval.benchmarks import aime24, math500
from star1.eval.graders.math import grade_math, last_boxed

from .helpers import data_dir, missing_data, read_cases
from .math_variants import canonical, equivalent_forms, in_response

MISSING = missing_data()


def _answers() -> list[tuple[str, str]]:
    if MISSING:
        return []
    items = math500.load(data_dir()) + aime24.load(data_dir())
    return [(f"{'aime' if i >= 500 else 'math'}:{item.id}", item.gold) for i, item in enumerate(items)]


ANSWERS = _answers()
# Without the snapshots each answer test is one case that fails with the reason.
INDICES = ([pytest.param(i, id=a[0]) for i, a in enumerate(ANSWERS)]
           or [pytest.param(None, id="shared-data-missing")])


def _require_data() -> None:
    if MISSING:
        pytest.fail(MISSING, pytrace=False)


def _neighbour(index: int) -> str:
    """The next reference answer that is a different value (several problems share an answer)."""
    own = canonical(ANSWERS[index][1])
    for step in range(1, len(ANSWERS)):
        other = ANSWERS[(index + step) % len(ANSWERS)][1]
        if canonical(other) != own:
            return other
    raise AssertionError("no different answer found")


@pytest.mark.parametrize("index", INDICES)
def test_reference_answer_matches_itself_in_other_notations(index):
    _require_data()
    _, gold = ANSWERS[index]
    forms = equivalent_forms(gold)
    for style, (rewrite, form) in enumerate(forms):
        grade = grade_math(in_response(form, style), gold)
        assert grade.correct, f"{rewrite}: {form!r} should equal {gold!r} (read {grade.extracted!r})"


@pytest.mark.parametrize("index", INDICES)
def test_reference_answer_rejects_its_neighbour(index):
    _require_data()
    _, gold = ANSWERS[index]
    other = _neighbour(index)
    grade = grade_math(in_response(other, index), gold)
    assert not grade.correct, f"{other!r} must not equal {gold!r}"


def test_every_answer_gets_type_specific_forms():
    # Guards the generator itself: most answers must get more than the generic rewrites.
    _require_data()
    counts = [len(equivalent_forms(gold)) for _, gold in ANSWERS]
    assert len(ANSWERS) == 530
    assert sum(c >= 3 for c in counts) / len(counts) > 0.9


@pytest.mark.parametrize("case", read_cases("math_responses"), ids=lambda c: c["name"])
def test_hand_written_responses(case):
    grade = grade_math(case["response"], case["gold"])
    assert grade.correct is case["correct"], grade
    if "extracted" in case:
        assert grade.extracted == case["extracted"]


@pytest.mark.parametrize("text,expected", [
    ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
    ("a \\boxed{1} then \\boxed{2}", "2"),
    ("\\fbox{7}", "7"),
    ("\\boxed {x^{2}}", "x^{2}"),
    ("cut off \\boxed{\\frac{1}{", None),
    ("no box", None),
])
def test_last_boxed(text, expected):
    assert last_boxed(text) == expected

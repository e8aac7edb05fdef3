"""Multiple-choice answers: read the chosen letter from a free-form response.

Patterns are tried from the most explicit to the least, and within a pattern the last match in
the answer part wins (models often restate the question's options before concluding):

1. ``\\boxed{C}``, ``\\boxed{\\text{(C)}}``
2. an answer cue: "Answer: C", "the correct answer is (C)", "final answer: **C**", "I choose C"
3. a line holding only the letter: "(C)", "C.", "**C**", "C) 42"
4. the whole answer is a single letter-like token

"A" and "I" are also English words, so after a cue they only count when nothing word-like
follows ("Answer: A." counts, "Answer: A possible reason ..." does not).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from star1.eval.graders.math import Grade
from star1.eval.splitting import answer_text

LETTERS_GPQA = "ABCD"
LETTERS_MMLU_PRO = "ABCDEFGHIJ"

_WRAP_OPEN = r"[\(\[\*\{]*\s*(?:\\text(?:bf)?\{)?\s*[\(\[]?"
_WRAP_CLOSE = r"[\)\]\}]?\s*\}?[\)\]\*\}]*"
_CUES = (r"(?:final\s+|correct\s+|best\s+|right\s+)?(?:answer|choice|option)"
         r"(?:\s+(?:is|would\s+be|should\s+be))?(?:\s+option)?"
         r"|I\s+(?:choose|pick|select)|the\s+answer\s+is")


@dataclass(frozen=True)
class _Pattern:
    name: str
    regex: re.Pattern


def _patterns(letters: str) -> list[_Pattern]:
    cls = f"[{letters}{letters.lower()}]"
    tail = r"(?=$|[^A-Za-z0-9])"  # the letter must stand alone
    return [
        _Pattern("boxed", re.compile(
            rf"\\boxed\s*\{{\s*(?:\\text(?:bf)?\{{)?\s*\(?({cls})\)?\s*\}}?\s*\}}")),
        _Pattern("cue", re.compile(
            rf"(?i:{_CUES})\s*(?:[:\-=]|is)?\s*{_WRAP_OPEN}({cls}){_WRAP_CLOSE}{tail}"
            rf"(?P<after>[^\n]{{0,12}})")),
        _Pattern("line", re.compile(
            rf"(?m)^\s*{_WRAP_OPEN}([{letters}]){_WRAP_CLOSE}[\.:]?\s*(?:$|[\)\.:]\s)")),
        _Pattern("alone", re.compile(rf"^\s*{_WRAP_OPEN}([{letters}]){_WRAP_CLOSE}[\.:]?\s*$")),
    ]


def _word_follows(after: str) -> bool:
    # "A possible ...", "I think ..." : the letter was an English word, not a choice.
    return bool(re.match(r"[\*\)\]\}]*\s+[a-z]", after))


def extract_choice(response: str, letters: str = LETTERS_GPQA) -> str | None:
    """The chosen letter (upper case), or None when the response names none."""
    text = answer_text(response)
    if not text.strip():
        return None
    for pattern in _patterns(letters):
        matches = list(pattern.regex.finditer(text))
        for match in reversed(matches):
            letter = match.group(1).upper()
            if pattern.name == "cue" and letter in "AI" and _word_follows(match.group("after") or ""):
                continue
            return letter
    return None


def grade_choice(response: str, gold: str, letters: str) -> Grade:
    chosen = extract_choice(response, letters)
    if chosen is None:
        return Grade(False, None, {"reason": "no answer letter found", "gold": gold})
    return Grade(chosen == gold, chosen, {"gold": gold})

"""Math answers: boxed-answer extraction and equivalence checking with the ``math-verify`` library.

The final answer is looked for in the answer part of a response (after ``</think>``), in its last
``\\boxed{...}``; when the answer part has no box, the last box of the whole response is used,
and failing that math-verify's own anchors ("the final answer is ...", the last expression).
math-verify then decides equivalence symbolically and numerically (fractions vs decimals,
``\\dfrac`` vs ``\\frac``, units and degree signs, sets, intervals, matrices).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from star1.eval.splitting import answer_text

BOX_COMMANDS = ("\\boxed", "\\fbox")


@dataclass
class Grade:
    correct: bool
    extracted: str | None  # what was read from the response (None: nothing found)
    detail: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"correct": self.correct, "extracted": self.extracted, **self.detail}


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (or ``\\fbox``) with balanced braces, else None."""
    best = -1
    for command in BOX_COMMANDS:
        best = max(best, text.rfind(command + "{"), text.rfind(command + " {"))
    if best < 0:
        return None
    start = text.index("{", best)
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1:i].strip()
    return None  # unbalanced: the response was probably cut off inside the box


def _config():
    from math_verify import ExprExtractionConfig, LatexExtractionConfig

    return [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()]


def _timeout() -> int | None:
    # math-verify's timeouts use SIGALRM, which only the main thread may set.
    return 5 if threading.current_thread() is threading.main_thread() else None


def parse_gold(gold: str):
    from math_verify import parse

    return parse("\\boxed{" + gold + "}", extraction_config=_config(), parsing_timeout=_timeout())


def parse_prediction(response: str) -> tuple[list, str | None]:
    """Parse the final answer of a response; returns (math-verify parse, the text that was read)."""
    from math_verify import parse

    answer = answer_text(response)
    boxed = last_boxed(answer) if "\\boxed" in answer or "\\fbox" in answer else None
    if boxed is None:
        boxed = last_boxed(response)
    source = "\\boxed{" + boxed + "}" if boxed is not None else answer
    # math-verify reads "^\\circ" but not the Unicode degree sign that models often write.
    source = source.replace("\u00b0", "^{\\circ}")
    parsed = parse(source, extraction_config=_config(), parsing_timeout=_timeout())
    extracted = boxed if boxed is not None else (str(parsed[-1]) if parsed else None)
    return parsed, extracted


def grade_math(response: str, gold: str) -> Grade:
    from math_verify import verify

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    gold_parsed = parse_gold(gold)
    predicted, extracted = parse_prediction(response)
    if not predicted:
        return Grade(False, extracted, {"reason": "no final answer found"})
    if not gold_parsed:
        return Grade(False, extracted, {"reason": f"the reference answer {gold!r} did not parse"})
    correct = bool(verify(gold_parsed, predicted, timeout_seconds=_timeout()))
    return Grade(correct, extracted, {"gold": gold})

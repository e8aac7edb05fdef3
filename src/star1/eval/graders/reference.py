"""The STAR-1 reference's reasoning graders (``--protocol paper``), re-implemented over the
patterns and prompts read from its files (:mod:`star1.eval.reference`).

Every grader reads the response as the reference does: the whole generated text, reasoning
included (its sampler keeps vLLM's text, stripped). MATH and AIME ask a *checker* model
(GPT-4o in the paper; ``--checker ENGINE``): ``ask`` sends one user message per text and returns
the replies ("" for a call that failed, as the reference's sampler returns "" on a bad request).
Without a checker MATH falls back to star1's math-verify grader and AIME's equality fallback to
math-verify; the benchmark's grader name and note say so.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from star1.eval.graders.math import Grade, grade_math

Ask = Callable[[list[str]], list[str]]


def math_final_segment(pattern: str, response: str) -> str:
    """``extract_actual_answer`` (math_eval.py): the text after the last period, else all."""
    text = response.strip()
    match = re.search(pattern, text)
    return match.group(1).strip() if match else text


def grade_math_checker(ref, responses: Sequence[str], golds: Sequence[str], ask: Ask) -> list[Grade]:
    """MathEval.__call__: the checker extracts the answer (an empty reply reads "?"), then judges
    it against the gold answer; correct when its reply, stripped, is exactly ``Yes``."""
    segments = [math_final_segment(ref.math_final_segment, r) for r in responses]
    replies = ask([ref.math_postproc.fill(answer=s) for s in segments])
    extracted = [r if r.strip() else "?" for r in replies]
    verdicts = ask([ref.math_judge.fill(pred=e, target=g) for e, g in zip(extracted, golds)])
    return [Grade(v.strip() == "Yes", None if e == "?" else e, {"checker": v, "segment": s})
            for e, v, s in zip(extracted, verdicts, segments)]


def aime_extract(ref, response: str) -> str | None:
    """AIMEEval.extract_answer: the last ``\\boxed{}`` (its digits when it ends in a number),
    else "answer is N", else the first line that is only a number."""
    boxed = re.findall(ref.aime_boxed, response)
    if boxed:
        raw = boxed[-1].strip()
        if raw.isdigit():
            return raw
        number = re.search(r"(\d+)$", raw)
        return number.group(1) if number else raw
    for pattern in (ref.aime_answer_is, ref.aime_last_line):
        match = re.search(pattern, response)
        if match:
            return match.group(1).strip()
    return None


def aime_target(answer: str) -> str:
    """load_aime_dataset: a string of digits loses its leading zeros ("0" stays)."""
    if answer.isdigit():
        answer = answer.lstrip("0") or "0"
    return answer.strip()


def grade_aime(ref, responses: Sequence[str], golds: Sequence[str], ask: Ask | None) -> list[Grade]:
    """Exact match of the extracted answer, else (both non-empty) the checker's equality check
    (``common.check_equality``: ``EQUALITY_TEMPLATE``, reply lowered and stripped == ``yes``)."""
    extracted = [aime_extract(ref, r) for r in responses]
    targets = [aime_target(str(g)) for g in golds]
    fallback = [i for i, (e, t) in enumerate(zip(extracted, targets)) if e != t and e and t]
    if ask is not None:
        texts = [ref.equality_template % {"expression1": extracted[i], "expression2": targets[i]}
                 for i in fallback]
        checked = dict(zip(fallback, (r.lower().strip() == "yes" for r in ask(texts))))
    else:  # star1's math-verify in place of the checker
        checked = {i: grade_math(f"\\boxed{{{extracted[i]}}}", targets[i]).correct for i in fallback}
    return [Grade(e == t or checked.get(i, False), e, {"target": t, "checked": i in checked})
            for i, (e, t) in enumerate(zip(extracted, targets))]


def find_code(ref, response: str) -> str:
    """HumanEval's ``find_code``: the first python block (else the whole text), from the cut
    after the first ``:\\n    `` on (so the signature line goes; without one, the first
    character goes, as ``find`` returns -1 there)."""
    blocks = re.compile(ref.humaneval_code, re.DOTALL).findall(response)
    code = blocks[0] if blocks else response
    cut, offset = ref.humaneval_cut
    return code[code.find(cut) + offset:]


def mmlu_pro_letter(ref, response: str) -> str | None:
    """mmlu_pro_eval.extract_answer: the first match of the first pattern that matches
    (ignoring case), else the last line holding a lone option letter."""
    for pattern in ref.mmlu_patterns:
        match = re.search(pattern, response, re.IGNORECASE)
        if match:
            return match.group(1).upper()
    for line in reversed(response.strip().split("\n")):
        for letter in ref.mmlu_letters:
            if re.search(rf"[^A-Z]{letter}[^A-Z]|^{letter}[^A-Z]|[^A-Z]{letter}$|^{letter}$", line):
                return letter
    return None


def gpqa_letter(ref, response: str) -> str | None:
    """GPQAEval.__call__: the first match of ``ANSWER_PATTERN_MULTICHOICE``."""
    match = re.search(ref.choice_pattern, response)
    return match.group(1) if match else None

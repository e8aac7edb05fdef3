"""Rewrite a reference answer in other, equivalent notations, chosen by the answer's shape.

Each rewriter returns the forms it applies to (an empty list when the answer is not of its
kind), so every answer gets the generic rewrites and the ones its type allows.
"""

from __future__ import annotations

import re
from fractions import Fraction


def spacing(answer: str) -> list[str]:
    # Drop spaces except between two letters ("\cot x" must keep its space), or spread the
    # operators out; commas that separate thousands ("58,500") are left alone.
    tight = re.sub(r"(?<![A-Za-z])\s+|\s+(?![A-Za-z])", "", answer)
    loose = re.sub(r"\s*([+=]|(?<!\^)-|,(?!\\!|\d{3}\b))\s*", r" \1 ", answer).strip()
    # Spaces inside argument braces (not escaped braces, not environment names).
    padded = (answer if "\\begin" in answer else
              re.sub(r"(?<!\\)\}", " }", re.sub(r"(?<!\\)\{", "{ ", answer))) if "{" in answer else f" {answer} "
    return [v for v in dict.fromkeys([tight, loose, padded]) if v != answer]


_FRACTION = re.compile(r"(-?)\\[dt]?frac\s*(?:\{(\d+)\}|(\d))\s*(?:\{(\d+)\}|(\d))")


def fractions(answer: str) -> list[str]:
    match = _FRACTION.fullmatch(answer)
    if not match:
        return []
    sign, n1, n2, d1, d2 = match.groups()
    num, den = int(n1 or n2), int(d1 or d2)
    forms = [f"{sign}\\dfrac{{{num}}}{{{den}}}", f"{sign}\\frac{{{num}}}{{{den}}}",
             f"{sign}\\tfrac{{{num}}}{{{den}}}", f"{sign}{num}/{den}"]
    if num < 10 and den < 10:
        forms.append(f"{sign}\\dfrac{num}{den}")
    rest = den
    for p in (2, 5):
        while rest % p == 0:
            rest //= p
    if rest == 1:  # a terminating decimal
        forms.append(f"{sign}{float(Fraction(num, den))}")
    return [f for f in forms if f != answer]


def degrees(answer: str) -> list[str]:
    match = re.fullmatch(r"(.+?)\^\\circ", answer)
    return [match.group(1), match.group(1) + "^{\\circ}", match.group(1) + "\u00b0"] if match else []


def units(answer: str) -> list[str]:
    match = re.fullmatch(r"(.+?)\s*\\(?:text|mbox)\{\s*[a-z ]+\}(\^\d)?", answer)
    return [match.group(1).strip()] if match else []


def thousands(answer: str) -> list[str]:
    forms = []
    if re.search(r",\\!\s*", answer):
        forms += [re.sub(r",\\!\s*", "", answer), re.sub(r",\\!\s*", "{,}", answer)]
    if re.fullmatch(r"\d{4,}", answer):
        forms.append(f"{int(answer):,}".replace(",", "{,}"))
    return forms


def integers(answer: str) -> list[str]:
    if not re.fullmatch(r"-?\d+", answer):
        return []
    return [f"{answer}.0", f"{answer} \\text{{ units}}", f"\\mathbf{{{answer}}}"]


def decimals(answer: str) -> list[str]:
    match = re.fullmatch(r"(-?)(\d*)\.(\d+)", answer)
    if not match:
        return []
    sign, whole, frac = match.groups()
    value = Fraction(answer)
    return [f"{sign}{whole or '0'}.{frac}0", f"\\frac{{{value.numerator}}}{{{value.denominator}}}"]


def left_right(answer: str) -> list[str]:
    return [answer.replace("\\left", "").replace("\\right", "")] if "\\left" in answer else []


def dollars(answer: str) -> list[str]:
    return [answer.replace("\\$", "")] if answer.startswith("\\$") else []


def text_answers(answer: str) -> list[str]:
    match = re.fullmatch(r"\\text\{\(?([A-Za-z]+)\)?\}", answer)
    return [match.group(1), f"\\textbf{{{match.group(1)}}}"] if match else []


def matrices(answer: str) -> list[str]:
    return [answer.replace("pmatrix", "bmatrix")] if "pmatrix" in answer else []


REWRITERS = (spacing, fractions, degrees, units, thousands, integers, decimals, left_right,
             dollars, text_answers, matrices)


def equivalent_forms(answer: str) -> list[tuple[str, str]]:
    """(rewriter name, form) for every rewrite that applies, the answer itself first."""
    forms = [("itself", answer)]
    for rewrite in REWRITERS:
        forms += [(rewrite.__name__, form) for form in rewrite(answer)]
    return forms


def in_response(form: str, style: int) -> str:
    """Put an answer in a model-like response; ``style`` picks one of the layouts."""
    layouts = (
        "Putting it all together, the final answer is $\\boxed{{{a}}}$.",
        "<think>\nLet me compute carefully. Maybe it is \\boxed{{0}}? No.\n</think>\n\n"
        "**Answer:** \\boxed{{ {a} }}",
        "We find\n\\[\n\\boxed{{{a}}}\n\\]",
    )
    return layouts[style % len(layouts)].format(a=form)


def canonical(answer: str) -> str:
    """A rough normal form, used only to pick a neighbour that is really a different answer."""
    text = re.sub(r"\\left|\\right|\\!|\s|\\[dt](?=frac)|^[a-z]\s*=", "", answer)
    return text.replace("{,}", "").replace(",", "") if re.fullmatch(r"[\d,{}]+", text) else text

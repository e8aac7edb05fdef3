"""What a benchmark is: items to ask, how to ask them, and how the answers are scored."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from star1.eval.graders.math import Grade

LocalDir = str | os.PathLike | None


@dataclass(frozen=True)
class EvalItem:
    id: str  # the dataset's own id where it has one, else the 0-based row index
    prompt: str  # the user message sent to the model
    question: str  # the original request, as shown to judges
    category: str | None = None
    gold: str | None = None  # reference answer (math: LaTeX; multiple choice: letter)
    data: dict = field(default_factory=dict, compare=False)  # extra fields a grader needs


@dataclass(frozen=True)
class GradeOptions:
    """Settings of the graders that run code."""

    code_timeout_s: float = 10.0
    code_memory_mb: int = 1024
    workers: int = 4
    sandbox: str = "bwrap"  # star1.eval.graders.sandbox.MODES; the unsafe ones only when named


GradeFn = Callable[[Sequence[EvalItem], Sequence[str], GradeOptions, Callable | None], list[Grade]]


@dataclass(frozen=True)
class ReferenceGrading:
    """What a grader of the STAR-1 reference's method (``--protocol paper``) is given."""

    ref: object  # star1.eval.reference.ReferenceEval: the upstream patterns and prompts
    ask: Callable[[list[str]], list[str]] | None  # the checker model; None: no --checker
    options: GradeOptions = GradeOptions()
    progress: Callable | None = None


ReferenceGradeFn = Callable[[Sequence[EvalItem], Sequence[str], ReferenceGrading], list[Grade]]


@dataclass(frozen=True)
class Benchmark:
    name: str  # registry key and CLI name
    title: str  # column header in reports
    kind: Literal["safety", "reasoning"]
    metric: str  # "safety_rate" | "full_compliance_rate" | "pass@1"
    max_tokens: int  # paper default for new tokens
    load: Callable[[LocalDir], list[EvalItem]]
    source: str  # where the data comes from (hub id / URL), for docs and errors
    judge: Literal["safety", "refusal"] | None = None  # safety benchmarks
    grader: str | None = None  # reasoning benchmarks: name of the grader
    grade: GradeFn | None = None
    runs_code: bool = False  # its grader runs model-written code: the sandbox must work first
    # Where the STAR-1 reference builds this benchmark differently (WildChat): its construction,
    # used by the paper protocol, and where its data comes from.
    reference_load: Callable[[LocalDir], list[EvalItem]] | None = None
    reference_source: str | None = None
    # Where the reference grades this benchmark its own way (the reasoning benchmarks): its
    # grader, the grader's name, and whether it asks a checker model (MATH, AIME).
    reference_grade: ReferenceGradeFn | None = None
    reference_grader: str | None = None
    checker: bool = False

    def load_items(self, local_dir: LocalDir = None, reference: bool = False) -> list[EvalItem]:
        """The items, built as the reference builds them when ``reference`` and that differs."""
        if reference and self.reference_load is not None:
            return self.reference_load(local_dir)
        return self.load(local_dir)

    def data_source(self, reference: bool = False) -> str:
        return self.reference_source if reference and self.reference_source else self.source


def grade_each(fn: Callable[[EvalItem, str], Grade]) -> GradeFn:
    """Turn a per-item grader into a batch grader (for graders that need no parallelism)."""

    def grade(items, responses, options, progress=None):
        out = []
        for i, (item, response) in enumerate(zip(items, responses), start=1):
            out.append(fn(item, response))
            if progress:
                progress(i, len(items))
        return out

    return grade

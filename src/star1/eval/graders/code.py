"""HumanEval-style functional correctness: extract the code, build the programs, run them sandboxed.

openai/human-eval runs one program: problem prompt + completion, then the problem's ``test``
code, then ``check(<entry_point>)``, and counts it passed when it runs to the end. Here the same
code is split in two, each run in its own sandbox (:func:`star1.eval.graders.sandbox.run_checked`):
the candidate program (prompt + completion) and the harness (prompt + test code), which calls the
candidate's entry point across a pipe and alone can report a pass. So code in the completion can
neither fake the verdict nor read the tests. Two differences from running it all in one process,
both on purpose: only plain data crosses between the two (a completion that returns, say, a
generator or an object with its own ``__eq__`` fails), and the prompt's helpers used by the tests
are the prompt's own (the completion's versions serve the candidate's calls only).

The human-eval package's own ``check_correctness`` is not used: it forks the evaluating process
(here: one that may hold a loaded model and its threads) and runs the program with ``exec`` in
it, without network or file isolation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from star1.eval.graders.math import Grade
from star1.eval.graders.sandbox import SandboxLimits, SandboxResult, run_checked, run_parallel
from star1.eval.splitting import answer_text
from star1.redact import clip

_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL | re.IGNORECASE)


def extract_code(response: str, entry_point: str) -> str:
    """The code of the answer: the last fenced block that defines ``entry_point``, else the last
    fenced block, else the answer text itself (a bare continuation of the function body)."""
    text = _answer_keeping_indentation(response)
    blocks = [b for b in _FENCE.findall(text) if b.strip()]
    defining = [b for b in blocks if re.search(rf"^\s*def\s+{re.escape(entry_point)}\s*\(", b, re.M)]
    if defining:
        return defining[-1]
    if blocks:
        return blocks[-1]
    return text


def _answer_keeping_indentation(response: str) -> str:
    # A bare function body must keep its leading indentation, which answer_text() strips.
    end = response.find("</think>")
    if end >= 0:
        return response[end + len("</think>"):].lstrip("\n").rstrip()
    if response.lstrip().startswith("<think>"):
        return answer_text(response)  # cut off inside the reasoning: no answer
    return response.lstrip("\n").rstrip()


def build_candidate(problem: dict, code: str) -> str:
    """The candidate program for one completion: the prompt with the completion.

    A completion that defines the entry point is appended after the prompt with a stub body,
    so helpers and imports from the prompt stay available and the model's definition wins;
    anything else is treated as the function body that continues the prompt.
    """
    prompt, entry = problem["prompt"], problem["entry_point"]
    if re.search(rf"^\s*def\s+{re.escape(entry)}\s*\(", code, re.M):
        return prompt.rstrip("\n") + "\n    pass\n\n\n" + code
    return prompt + code


def build_harness(problem: dict) -> str:
    """The harness for a problem: its prompt (for the helpers and imports the tests use; the
    entry point itself is a docstring-only stub, replaced by the call proxy) and its tests."""
    return f"{problem['prompt']}\n\n\n{problem['test']}\n"


def build_program(problem: dict, code: str) -> str:
    """The single program openai/human-eval would run (for reading and debugging; grading runs
    :func:`build_candidate` and :func:`build_harness` in two sandboxes)."""
    return f"{build_candidate(problem, code)}\n\n\n{problem['test']}\n\n\ncheck({problem['entry_point']})\n"


def grade_programs(problems: Sequence[dict], completions: Sequence[str], limits: SandboxLimits,
                   workers: int = 2, progress: Callable[[int, int], None] | None = None,
                   candidate: Callable[[dict, str], str] = build_candidate) -> list[Grade]:
    """Grade raw completions (code, not model responses) against their problems, in parallel.
    ``candidate`` builds the candidate program from a problem and a completion."""
    jobs = [lambda p=p, c=c: run_checked(candidate(p, c), build_harness(p), p["entry_point"], limits)
            for p, c in zip(problems, completions)]
    done = 0

    def tick(_i: int, _r: SandboxResult) -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, len(jobs))

    results = run_parallel(jobs, workers=workers, on_done=tick)
    return [Grade(r.passed, c, {"status": r.status, "seconds": r.seconds, "isolation": r.isolation,
                                "stderr": clip(r.stderr, 600, tail=True)})
            for c, r in zip(completions, results)]


def grade_responses(problems: Sequence[dict], responses: Sequence[str], limits: SandboxLimits,
                    workers: int = 2, progress: Callable[[int, int], None] | None = None) -> list[Grade]:
    codes = [extract_code(r, p["entry_point"]) for p, r in zip(problems, responses)]
    return grade_programs(problems, codes, limits, workers, progress)

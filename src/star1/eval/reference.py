"""The STAR-1 reference's evaluation method, read as data from its upstream files.

``star1 eval --protocol paper`` asks and grades the reasoning benchmarks as the authors'
``benchmark/reasoning_benchmark/`` does, and samples as its ``LocalSampler`` and the safety
benchmarks' ``gen.py`` do. Those texts and numbers are not in this repository: like the prompt
set (:mod:`star1.prompts.reference`) they are read at run time from
``star1_reference/reasoning_benchmark/*.py`` and ``star1_reference/safe_benchmark_gen.py`` under
``--local-dir`` / ``$STAR1_DATA_DIR`` (or the pinned download), SHA-256-checked, and **parsed
with ast, never imported or executed**. What is read, and where:

* query templates: ``math_eval.QUERY_TEMPLATE``, ``aime_eval.QUERY_TEMPLATE``,
  ``mmlu_pro_eval.QUERY_TEMPLATE`` (each a triple-quoted literal with ``.strip()``), HumanEval's ``instruction``
  (a local of ``HumanEval.__call__``);
* the checker's prompts: ``math_postproc_instruction`` (an f-string), ``math_judge_instruction``
  (a ``%`` template), ``common.EQUALITY_TEMPLATE`` (AIME's fallback);
* extraction: MATH's final-segment regex (``extract_actual_answer``), AIME's three patterns,
  HumanEval's code-block pattern and signature cut (``find_code``), MMLU-Pro's answer patterns
  and letters, ``common.ANSWER_PATTERN_MULTICHOICE`` (GPQA);
* sampling: the keyword constants of the ``SamplingParams(...)`` calls in ``local_sampler.py``
  (top_p, repetition_penalty) and ``gen.py`` (repetition_penalty), and ``LocalSampler``'s default
  temperature.

Numbers that live only in files outside the staged set carry over as facts, with their source:
the seed (``run_all_evals.sh``: ``RANDOM_SEED=46``) and the checker's sampling
(``sampler/azure_chat_completion_sampler.py``: temperature 0.5, max_tokens 1024, no system
message). Per-benchmark max tokens (``run_all_evals.sh``) are the benchmarks' own defaults.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from functools import lru_cache

from star1.engines import SamplingParams
from star1.prompts.reference import ReferenceMismatch, read_reference_file

_RB = "benchmark/reasoning_benchmark"
# key -> (snapshot path, upstream path, SHA-256 at the pinned commit)
FILES = {
    "common": ("star1_reference/reasoning_benchmark/common.py", f"{_RB}/common.py",
               "498ab7dd57e75f7d8a5a5137de0870d47cb026dd0552c1b91639f497c3f62593"),
    "math": ("star1_reference/reasoning_benchmark/math_eval.py", f"{_RB}/math_eval.py",
             "cbebd7c8a5589fe63c3725a99acd748eb52de8bc61e03fda81ce5c8a2cb53a16"),
    "aime": ("star1_reference/reasoning_benchmark/aime_eval.py", f"{_RB}/aime_eval.py",
             "bed1766eda10b3a0c35b4fff65a8b06429c3b0fe0cc38fb8a52d4ee5d6d33aa5"),
    "humaneval": ("star1_reference/reasoning_benchmark/humaneval_eval.py", f"{_RB}/humaneval_eval.py",
                  "32d10bd6fdc4cdd36e2326d05397a7245cba828191ee0d97b182a406855417a4"),
    "mmlu_pro": ("star1_reference/reasoning_benchmark/mmlu_pro_eval.py", f"{_RB}/mmlu_pro_eval.py",
                 "c3c6d526cb8b217d083aabc666cb2ad0f80696e756aa2bc05a4724f65950cdb4"),
    "sampler": ("star1_reference/reasoning_benchmark/local_sampler.py", f"{_RB}/sampler/local_sampler.py",
                "d194a03ff5ab379227a5df5fc66def473fb4d2411eb378e0cb58ad86ea0952d0"),
    "gen": ("star1_reference/safe_benchmark_gen.py", "benchmark/safe_benchmark/gen.py",
            "b2fcbf646c4394115120a0f6879271e419531deccf34657c6aee29a6c7d30740"),
}

REASONING_SEED = 46  # run_all_evals.sh:17 (RANDOM_SEED, passed as --random_seed to every eval)
CHECKER_TEMPERATURE = 0.5  # sampler/azure_chat_completion_sampler.py:37 (its default; simple_evals.py:67-68)
CHECKER_MAX_TOKENS = 1024  # sampler/azure_chat_completion_sampler.py:38
SAFETY_TOP_P = 1.0  # config.py:147 (DEFAULT_GEN_CONFIG["topp"]; gen.py passes args.topp)


@dataclass(frozen=True)
class FString:
    """An f-string read from the source: literal parts and the names of its fields."""

    parts: tuple[str | tuple[str], ...]  # a 1-tuple is a field

    def fill(self, **values: str) -> str:
        return "".join(values[p[0]] if isinstance(p, tuple) else p for p in self.parts)


@dataclass(frozen=True)
class PercentTemplate:
    """``"..." % (a, b)`` read from the source: the template and the names in the tuple."""

    template: str
    names: tuple[str, ...]

    def fill(self, **values: str) -> str:
        return self.template % tuple(values[n] for n in self.names)


@dataclass(frozen=True)
class ReferenceEval:
    math_query: str
    math_postproc: FString
    math_judge: PercentTemplate
    math_final_segment: str  # regex: the text after the last period
    aime_query: str
    aime_boxed: str
    aime_answer_is: str
    aime_last_line: str
    equality_template: str  # ``% {"expression1": ..., "expression2": ...}``
    choice_pattern: str  # GPQA
    humaneval_instruction: str
    humaneval_code: str  # regex, DOTALL
    humaneval_cut: tuple[str, int]  # completion[completion.find(cut) + offset:]
    mmlu_query: str
    mmlu_letters: tuple[str, ...]
    mmlu_patterns: tuple[str, ...]  # re.IGNORECASE, first match of the first pattern that matches
    reasoning_top_p: float
    reasoning_repetition_penalty: float
    reasoning_temperature: float
    safety_repetition_penalty: float
    sha256: dict[str, str]

    def describe(self) -> dict:
        return {"upstream": "UCSC-VLAA/STAR-1", "files": dict(self.sha256)}

    def sampling(self, kind: str, max_tokens: int) -> SamplingParams:
        """How the reference samples the model under test: reasoning benchmarks as its
        ``LocalSampler`` (temperature, top_p, repetition penalty, seed), safety benchmarks as
        ``gen.py`` (greedy, top_p 1, repetition penalty, no seed)."""
        if kind == "reasoning":
            return SamplingParams(max_tokens=max_tokens, temperature=self.reasoning_temperature,
                                  top_p=self.reasoning_top_p,
                                  repetition_penalty=self.reasoning_repetition_penalty, seed=REASONING_SEED)
        return SamplingParams(max_tokens=max_tokens, temperature=0.0, top_p=SAFETY_TOP_P,
                              repetition_penalty=self.safety_repetition_penalty)


def checker_sampling() -> SamplingParams:
    """The checker's sampling (the reference's AzureChatCompletionSampler): temperature 0.5,
    max_tokens 1024, no top_p."""
    return SamplingParams(max_tokens=CHECKER_MAX_TOKENS, temperature=CHECKER_TEMPERATURE, top_p=None)


# -- reading Python source as data ------------------------------------------------------------

def _text(node: ast.AST, where: str) -> str:
    """A string literal, or ``"literal".strip()`` (how the templates are written upstream)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "strip"
            and not node.args and not node.keywords):
        return _text(node.func.value, where).strip()
    raise ReferenceMismatch(f"{where}: not a string literal")


def _top(tree: ast.Module, name: str, where: str) -> ast.AST:
    found = None
    for node in tree.body:  # the last assignment wins, as on import
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and node.targets[0].id == name):
            found = node.value
    if found is None:
        raise ReferenceMismatch(f"{where}: no top-level {name}")
    return found


def _function(tree: ast.AST, name: str, where: str) -> ast.FunctionDef:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    raise ReferenceMismatch(f"{where}: no function {name}")


def _method(tree: ast.Module, cls: str, name: str, where: str) -> ast.FunctionDef:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls:
            return _function(node, name, where)
    raise ReferenceMismatch(f"{where}: no class {cls}")


def _returned(fn: ast.FunctionDef, where: str) -> ast.AST:
    returns = [n for n in ast.walk(fn) if isinstance(n, ast.Return) and n.value is not None]
    if len(returns) != 1:
        raise ReferenceMismatch(f"{where}: {fn.name} does not return one value")
    return returns[0].value


def _fstring(fn: ast.FunctionDef, where: str) -> FString:
    node = _returned(fn, where)
    if not isinstance(node, ast.JoinedStr):
        raise ReferenceMismatch(f"{where}: {fn.name} does not return an f-string")
    parts: list = []
    for value in node.values:
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            parts.append(value.value)
        elif (isinstance(value, ast.FormattedValue) and isinstance(value.value, ast.Name)
              and value.conversion == -1 and value.format_spec is None):
            parts.append((value.value.id,))
        else:
            raise ReferenceMismatch(f"{where}: {fn.name}: a field that is not a plain name")
    return FString(tuple(parts))


def _percent(fn: ast.FunctionDef, where: str) -> PercentTemplate:
    node = _returned(fn, where)
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and isinstance(node.right, ast.Tuple)
            and all(isinstance(e, ast.Name) for e in node.right.elts)):
        raise ReferenceMismatch(f"{where}: {fn.name} does not return '...' % (names)")
    return PercentTemplate(_text(node.left, where), tuple(e.id for e in node.right.elts))


def _calls(fn: ast.AST, attr: str) -> list[ast.Call]:
    return [n for n in ast.walk(fn) if isinstance(n, ast.Call)
            and ((isinstance(n.func, ast.Attribute) and n.func.attr == attr)
                 or (isinstance(n.func, ast.Name) and n.func.id == attr))]


def _first_string_arg(fn: ast.AST, attr: str, where: str) -> str:
    for call in _calls(fn, attr):
        if call.args:
            try:
                return _text(call.args[0], where)
            except ReferenceMismatch:
                continue
    raise ReferenceMismatch(f"{where}: no {attr}('...') call")


def _local(fn: ast.FunctionDef, name: str, where: str) -> ast.AST:
    for node in ast.walk(fn):
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and node.targets[0].id == name):
            return node.value
    raise ReferenceMismatch(f"{where}: {fn.name} assigns no {name}")


def _number_keywords(call: ast.Call) -> dict[str, float]:
    return {k.arg: k.value.value for k in call.keywords
            if k.arg and isinstance(k.value, ast.Constant) and isinstance(k.value.value, (int, float))}


def _sampling(tree: ast.Module, where: str) -> dict[str, float]:
    calls = _calls(tree, "SamplingParams")
    if len(calls) != 1:
        raise ReferenceMismatch(f"{where}: expected one SamplingParams(...) call")
    return _number_keywords(calls[0])


def _default(fn: ast.FunctionDef, name: str, where: str):
    args = fn.args.args[len(fn.args.args) - len(fn.args.defaults):]
    for arg, default in zip(args, fn.args.defaults):
        if arg.arg == name:
            return ast.literal_eval(default)
    raise ReferenceMismatch(f"{where}: {fn.name} has no default for {name}")


def _cut(fn: ast.FunctionDef, where: str) -> tuple[str, int]:
    """``text[text.find(":\\n    ") + 2 :]`` in find_code: the searched string and the offset."""
    for node in ast.walk(fn):
        if (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and isinstance(node.left, ast.Call)
                and isinstance(node.left.func, ast.Attribute) and node.left.func.attr == "find"
                and isinstance(node.right, ast.Constant) and isinstance(node.right.value, int)):
            return _text(node.left.args[0], where), node.right.value
    raise ReferenceMismatch(f"{where}: find_code has no text.find(...) + N")


def parse_reference_eval(sources: dict[str, str], sha256: dict[str, str]) -> ReferenceEval:
    trees = {key: ast.parse(src, filename=FILES[key][1]) for key, src in sources.items()}
    w = {key: FILES[key][1] for key in FILES}
    math, aime, he, mmlu = trees["math"], trees["aime"], trees["humaneval"], trees["mmlu_pro"]
    he_call = _method(he, "HumanEval", "__call__", w["humaneval"])
    find_code = _function(he_call, "find_code", w["humaneval"])
    mmlu_extract = _function(mmlu, "extract_answer", w["mmlu_pro"])
    patterns = _local(mmlu_extract, "patterns", w["mmlu_pro"])
    sampler = _sampling(trees["sampler"], w["sampler"])
    gen = _sampling(trees["gen"], w["gen"])
    sampler_init = _method(trees["sampler"], "LocalSampler", "__init__", w["sampler"])
    try:
        return ReferenceEval(
            math_query=_text(_top(math, "QUERY_TEMPLATE", w["math"]), w["math"]),
            math_postproc=_fstring(_function(math, "math_postproc_instruction", w["math"]), w["math"]),
            math_judge=_percent(_function(math, "math_judge_instruction", w["math"]), w["math"]),
            math_final_segment=_first_string_arg(_function(math, "extract_actual_answer", w["math"]),
                                                 "search", w["math"]),
            aime_query=_text(_top(aime, "QUERY_TEMPLATE", w["aime"]), w["aime"]),
            aime_boxed=_text(_top(aime, "BOXED_PATTERN", w["aime"]), w["aime"]),
            aime_answer_is=_text(_top(aime, "ANSWER_IS_PATTERN", w["aime"]), w["aime"]),
            aime_last_line=_text(_top(aime, "LAST_LINE_NUMBER_PATTERN", w["aime"]), w["aime"]),
            equality_template=_text(_top(trees["common"], "EQUALITY_TEMPLATE", w["common"]), w["common"]),
            choice_pattern=_text(_top(trees["common"], "ANSWER_PATTERN_MULTICHOICE", w["common"]), w["common"]),
            humaneval_instruction=_text(_local(he_call, "instruction", w["humaneval"]), w["humaneval"]),
            humaneval_code=_first_string_arg(find_code, "compile", w["humaneval"]),
            humaneval_cut=_cut(find_code, w["humaneval"]),
            mmlu_query=_text(_top(mmlu, "QUERY_TEMPLATE", w["mmlu_pro"]), w["mmlu_pro"]),
            mmlu_letters=tuple(ast.literal_eval(_top(mmlu, "ANSWER_OPTIONS", w["mmlu_pro"]))),
            mmlu_patterns=tuple(ast.literal_eval(patterns)),
            reasoning_top_p=float(sampler["top_p"]),
            reasoning_repetition_penalty=float(sampler["repetition_penalty"]),
            reasoning_temperature=float(_default(sampler_init, "temperature", w["sampler"])),
            safety_repetition_penalty=float(gen["repetition_penalty"]),
            sha256=sha256)
    except (KeyError, ValueError) as exc:
        raise ReferenceMismatch(f"reference eval files: {exc}") from None


@lru_cache(maxsize=8)
def _load(local_dir: str | None) -> ReferenceEval:
    sources, digests = {}, {}
    for key, spec in FILES.items():
        text, digest, _ = read_reference_file(spec, local_dir)
        sources[key], digests[spec[1]] = text, digest
    return parse_reference_eval(sources, digests)


def load_reference_eval(local_dir=None) -> ReferenceEval:
    """The reference's evaluation method from ``local_dir`` (else ``$STAR1_DATA_DIR``, else the
    pinned download), hash-checked; :class:`ReferenceMismatch` when a file was altered."""
    key = str(local_dir) if local_dir else os.environ.get("STAR1_DATA_DIR")
    return _load(key)


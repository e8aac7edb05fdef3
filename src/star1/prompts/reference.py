"""The STAR-1 reference prompt set: the authors' own prompts and policies, loaded as data.

Paper mode must send exactly the texts the authors used, and this repository must not contain
them. So, like any dataset, two upstream files are read at run time from a local snapshot
(``--local-dir`` / ``STAR1_DATA_DIR``: ``star1_reference/prompt.py`` and
``star1_reference/safe_benchmark_eval.py``) or downloaded from the pinned upstream commit and
cached, and each is checked against its recorded SHA-256 before use.

The files are Python modules; they are **parsed, never imported or executed**: :mod:`ast` reads
the top-level assignments whose value is a plain string literal. A name assigned twice keeps its
last value, as it would on import (``COT_PROMPT_TEMPLATE`` is assigned at lines 148 and 175
upstream; the second is in effect). Anything else in the files (imports, code) is ignored.
"""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from star1.datasets.fetch import DatasetFile, resolve
from star1.errors import SetupError

UPSTREAM_REPO = "UCSC-VLAA/STAR-1"
UPSTREAM_COMMIT = "b49333598887845f148ed1b4d2576dc2bff7581a"
_RAW = f"https://raw.githubusercontent.com/{UPSTREAM_REPO}/{UPSTREAM_COMMIT}"

# (snapshot path, upstream path, SHA-256 of the file at UPSTREAM_COMMIT)
PROMPT_FILE = ("star1_reference/prompt.py", "prompt.py",
               "123ae39d4b1e51ec3469a024d76530d7b03b4e612e857d9ee54f7f38acce8373")
EVAL_FILE = ("star1_reference/safe_benchmark_eval.py", "benchmark/safe_benchmark/eval.py",
             "075694fe687fed78be9b22af8a47f79a35ca7b78f1edd42e095e0bb4ca2109b5")

# The reference's category → policy constant (its ``policy_map``, in
# data_making/deliberative_reasoning/reasoning_generation/reasoning_generation.py:12-21).
POLICY_CONSTANTS = {
    "Harassment / Hate / Discrimination": "POLICY_HARASSMENT",
    "Sexual / Adult": "POLICY_SEXUAL",
    "Violence / Physical Harm": "POLICY_VIOLENCE",
    "Self-Harm": "POLICY_SELF_HARM",
    "Illicit / Criminal Behavior": "POLICY_ILLICIT",
    "Misinformation / Disinformation": "POLICY_MISINFORMATION",
    "Privacy / Personal Data": "POLICY_PRIVACY",
    "Intellectual Property": "POLICY_INTERLECTUAL",  # sic, upstream spelling
}
REQUIRED = ("CATEGORY_DEFINITION", "CLASSIFICATION_PROMPT_TEMPLATE", "COT_PROMPT_TEMPLATE",
            "SCORER_PROMPT_TEMPLATE", "SCORER_FORMAT_EXAMPLE", "REWRITE_PROMPT_TEMPLATE",
            "OVERREFUSAL_SCORER_PROMPT_TEMPLATE", "OVERREFUSAL_SCORER_FORMAT_EXAMPLE",
            *POLICY_CONSTANTS.values())


class ReferenceMismatch(SetupError):
    """A reference file is not the pinned upstream file (its hash differs or a constant is missing)."""


@dataclass(frozen=True)
class Constant:
    value: str
    line: int  # of the assignment in effect


def string_constants(source: str, filename: str = "<reference>") -> dict[str, Constant]:
    """Top-level ``NAME = "literal"`` assignments of a Python file, read without running it.

    Later assignments win, as on import. Only plain string literals count (no f-strings,
    concatenations or expressions); everything else in the file is skipped.
    """
    tree = ast.parse(source, filename=filename)
    found: dict[str, Constant] = {}
    for node in tree.body:
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        target, value = node.targets[0], node.value
        if (isinstance(target, ast.Name) and isinstance(value, ast.Constant)
                and isinstance(value.value, str)):
            found[target.id] = Constant(value.value, node.lineno)
    return found


@dataclass(frozen=True)
class ReferencePromptSet:
    """The upstream STAR-1 prompt set. Passed to the stages in place of a policy pack.

    ``name`` and ``hash`` play the policy pack's part in cache namespaces and provenance.
    """

    constants: dict[str, Constant]
    eval_constants: dict[str, Constant]
    sha256: dict[str, str]  # upstream path -> SHA-256 of the bytes read
    paths: dict[str, str] = field(default_factory=dict)  # upstream path -> where it was read
    commit: str = UPSTREAM_COMMIT
    kind = "reference"

    @property
    def name(self) -> str:
        return f"star1-reference@{self.commit[:7]}"

    @property
    def version(self) -> str:
        return self.commit[:7]

    @property
    def hash(self) -> str:
        """One hash over both files: what the provenance, card and dry run show."""
        blob = "\n".join(f"{path}:{digest}" for path, digest in sorted(self.sha256.items()))
        return hashlib.sha256(blob.encode()).hexdigest()

    @property
    def short_hash(self) -> str:
        return self.hash[:16]

    def text(self, name: str) -> str:
        return self.constants[name].value

    def line(self, name: str) -> int:
        return self.constants[name].line

    @property
    def names(self) -> tuple[str, ...]:
        return (*POLICY_CONSTANTS, "Other")

    def policy(self, category: str) -> str:
        return self.text(POLICY_CONSTANTS[category])

    def has_policy(self, category: str) -> bool:
        return category in POLICY_CONSTANTS

    @property
    def refusal_eval_prompt(self) -> str:
        return self.eval_constants["REFUSAL_EVAL_PROMPT"].value

    def template_version(self, constant: str) -> str:
        """How a record's ``prompt_versions`` names the upstream template it was made with."""
        source = self.eval_constants if constant in self.eval_constants else self.constants
        digest = hashlib.sha256(source[constant].value.encode()).hexdigest()[:12]
        return f"reference:{constant}@{digest}"

    def describe(self) -> dict:
        return {"prompt_set": "paper", "name": self.name, "upstream": UPSTREAM_REPO,
                "commit": self.commit, "hash": self.hash, "files": dict(self.sha256)}


def _read_checked(spec: tuple[str, str, str], local_dir) -> tuple[str, str, Path]:
    local, upstream, expected = spec
    path = resolve(DatasetFile(local=local, url=f"{_RAW}/{upstream}"), local_dir)
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected:
        raise ReferenceMismatch(
            f"{path}: SHA-256 {digest[:16]}… is not that of {upstream} at {UPSTREAM_REPO}@"
            f"{UPSTREAM_COMMIT[:7]} ({expected[:16]}…); paper mode needs the unchanged upstream "
            "file: restore it, or remove it so the pinned copy is downloaded")
    try:
        return data.decode("utf-8"), digest, path
    except UnicodeDecodeError:  # cannot happen for the pinned bytes; kept for a clear message
        raise ReferenceMismatch(f"{path}: not UTF-8") from None


def read_reference_file(spec: tuple[str, str, str], local_dir) -> tuple[str, str, Path]:
    """One upstream file (snapshot path, upstream path, SHA-256): its text, digest and where it
    was read; :class:`ReferenceMismatch` when its hash is not the recorded one."""
    return _read_checked(spec, local_dir)


@lru_cache(maxsize=8)
def _load(local_dir: str | None) -> ReferencePromptSet:
    prompt_src, prompt_sha, prompt_path = _read_checked(PROMPT_FILE, local_dir)
    eval_src, eval_sha, eval_path = _read_checked(EVAL_FILE, local_dir)
    constants = string_constants(prompt_src, str(prompt_path))
    eval_constants = string_constants(eval_src, str(eval_path))
    missing = [n for n in REQUIRED if n not in constants]
    if "REFUSAL_EVAL_PROMPT" not in eval_constants:
        missing.append("REFUSAL_EVAL_PROMPT")
    if missing:
        raise ReferenceMismatch(f"reference files lack {', '.join(missing)}")
    return ReferencePromptSet(constants, eval_constants,
                              {PROMPT_FILE[1]: prompt_sha, EVAL_FILE[1]: eval_sha},
                              {PROMPT_FILE[1]: str(prompt_path), EVAL_FILE[1]: str(eval_path)})


def load_reference_prompts(local_dir: str | Path | None = None) -> ReferencePromptSet:
    """The reference prompt set from ``local_dir`` (else ``STAR1_DATA_DIR``, else the pinned
    download), hash-checked. Raises :class:`~star1.datasets.fetch.DatasetUnavailable` when it is
    neither local nor downloadable, :class:`ReferenceMismatch` when a file was altered."""
    import os

    key = str(local_dir) if local_dir else os.environ.get("STAR1_DATA_DIR")
    return _load(key)


def load_prompt_set(protocol: str = "star1", policies: str | None = None, local_dir=None):
    """What the stages read their prompts and policies from: the project's own (a policy pack,
    ``policies`` or the bundled one) or, for ``paper``, the reference prompt set."""
    if protocol == "paper":
        if policies:
            from star1.errors import ConfigError

            raise ConfigError("the paper prompt set brings its own policies; drop 'policies' "
                              "(or use protocol: star1 with your policy pack)")
        return load_reference_prompts(local_dir)
    from star1.policies import load_policy_pack

    return load_policy_pack(policies)


# -- how the reference sends its requests ---------------------------------------------------------
# Every GPT-4o call (classification, scoring, rewriting, over-refusal scoring, the XSTest refusal
# judge) is one user message whose content is a list with one text part, max_completion_tokens
# 1024 where it sets one, no temperature or top_p; every DeepSeek-R1 call is one user message
# with string content.
GPT4O_MAX_TOKENS = 1024


def gpt4o_messages(text: str) -> tuple[dict, ...]:
    """``[{"role": "user", "content": [{"type": "text", "text": text}]}]`` (every GPT-4o call)."""
    return ({"role": "user", "content": [{"type": "text", "text": text}]},)


def r1_messages(text: str) -> tuple[dict, ...]:
    """``[{"role": "user", "content": text}]`` (every DeepSeek-R1 call)."""
    return ({"role": "user", "content": text},)

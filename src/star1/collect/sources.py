"""The 18 public prompt sources STAR-1 pools, in the paper's order.

For each source: where it lives (hub id / URL and the path inside a local snapshot laid out like
the shared data folder), which rows count as harmful, which field holds the prompt, and the word
n-gram size of its self de-duplication (facts from the STAR-1 data-collection scripts).

A source is made of parts (splits, categories); each part lists alternative files in order of
preference. Loading never raises for a missing file: the part is reported as unavailable with
the local paths that were expected.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from star1.collect.readers import ParseResult, iter_csv, iter_json_records, iter_lines, load_json
from star1.datasets.fetch import DatasetFile

GH = "https://raw.githubusercontent.com"


@dataclass(frozen=True)
class LoadOptions:
    # The reference took every WildJailbreak train row's vanilla prompt, benign ones included.
    wildjailbreak_include_benign: bool = False
    # Paper: rows in the order the reference's loaders yield them (HEx-PHI's first line last).
    reference_order: bool = False


Parser = Callable[[Path, LoadOptions], ParseResult]


@dataclass(frozen=True)
class Alternative:
    file: DatasetFile
    parse: Parser


@dataclass(frozen=True)
class SourcePart:
    label: str
    alternatives: tuple[Alternative, ...]


@dataclass(frozen=True)
class SourceSpec:
    key: str  # the CLI key
    name: str  # the name the released STAR-1 data uses in its "source" field
    ngram: int  # word n-gram size of the per-source de-duplication
    parts: tuple[SourcePart, ...]
    rule: str  # which rows count, in words (shown in the report)


def _one(label: str, *alternatives: tuple[DatasetFile, Parser]) -> SourcePart:
    return SourcePart(label, tuple(Alternative(f, p) for f, p in alternatives))


# ---- parsers -------------------------------------------------------------------------------

def _tsv(path: Path):
    return iter_csv(path, delimiter="\t")


def _records(read: Callable, field: str | Callable[[dict], object],
             category: str | Callable[[dict], str | None] | None = None,
             keep: Callable[[dict, LoadOptions], bool] | None = None) -> Parser:
    """Records (CSV/TSV rows or JSON objects); the prompt is ``rec[field]`` (or ``field(rec)``),
    rows failing ``keep`` are excluded by the source's rule."""
    def parse(path: Path, opts: LoadOptions) -> ParseResult:
        out = ParseResult()
        for row, rec in read(path):
            out.rows += 1
            if isinstance(rec, Exception):
                out.bad(path, row, str(rec))
            elif not isinstance(rec, dict):
                out.bad(path, row, f"expected an object, got {type(rec).__name__}")
            elif isinstance(field, str) and field not in rec:
                out.bad(path, row, f"field '{field}' missing")
            elif keep is not None and not keep(rec, opts):
                out.excluded += 1
            else:
                value = field(rec) if callable(field) else rec[field]
                cat = category(rec) if callable(category) else rec.get(category) if category else None
                out.take(path, row, value, cat)
        return out
    return parse


def _items(read: Callable) -> Parser:
    """Every item is a prompt: the strings of a JSON list, the lines of a text file."""
    def parse(path: Path, opts: LoadOptions) -> ParseResult:
        out = ParseResult()
        for row, item in read(path):
            out.rows += 1
            out.take(path, row, item.strip() if isinstance(item, str) else item)
        return out
    return parse


def _json_parallel_lists(field: str, category: str | None = None) -> Parser:
    """A JSON object of parallel lists, e.g. {"instructions": [...], "tags": [...]}."""
    def parse(path: Path, opts: LoadOptions) -> ParseResult:
        out = ParseResult()
        data = load_json(path)
        values = data.get(field) if isinstance(data, dict) else None
        if not isinstance(values, list):
            out.bad(path, 0, f"expected an object with a list '{field}'")
            return out
        cats = data.get(category) if category else None
        cats = cats if isinstance(cats, list) and len(cats) == len(values) else None
        for i, value in enumerate(values):
            out.rows += 1
            out.take(path, i + 1, value, cats[i] if cats else None)
        return out
    return parse


def _headerless_csv(category: str) -> Parser:
    """HEx-PHI: one prompt per line in a CSV without a header row. The reference reads each file
    with ``datasets``, which takes the first line for the header; its loader adds that line back
    after the others (``collect_data.py:151-157``: the rows' values, then the column name), so
    with ``reference_order`` the first line comes last. Row numbers stay the file's."""
    def parse(path: Path, opts: LoadOptions) -> ParseResult:
        out = ParseResult()
        rows = list(iter_csv(path, header=False))
        if opts.reference_order and rows:
            rows = rows[1:] + rows[:1]
        for row, cells in rows:
            out.rows += 1
            out.take(path, row, cells[0] if cells else None, category)
        return out
    return parse


def _topic_tree(path: Path, opts: LoadOptions) -> ParseResult:
    """HarmfulQA's questions file: {topic: {subtopic: [question, ...]}}, read in file order (the
    order of the hub's records); the category is the topic. Rows are numbered in that order."""
    out = ParseResult()
    data = load_json(path)
    if not isinstance(data, dict):
        out.bad(path, 0, "expected an object {topic: {subtopic: [question, ...]}}")
        return out
    for topic, subtopics in data.items():
        lists = subtopics.values() if isinstance(subtopics, dict) else [subtopics]
        for questions in lists:
            if not isinstance(questions, list):
                out.rows += 1
                out.bad(path, out.rows, f"topic {topic!r}: expected a list of questions")
                continue
            for question in questions:
                out.rows += 1
                out.take(path, out.rows, question, topic)
    return out


ALERT_MARKERS = re.compile(r"### (Instruction:|Response:)\n?")


def _alert_prompt(rec: dict):
    """ALERT wraps the prompt in '### Instruction:' / '### Response:' markers."""
    text = rec.get("prompt", rec.get("query"))  # hub file: prompt; SG-Bench copy: query
    return ALERT_MARKERS.sub("", text).strip() if isinstance(text, str) else text


def _true_keys(mapping) -> str | None:
    if not isinstance(mapping, dict):
        return None
    keys = sorted(k for k, v in mapping.items() if v is True)
    return "; ".join(keys) or None


def _pku_category(rec: dict) -> str | None:
    a, b = rec.get("response_0_harm_category"), rec.get("response_1_harm_category")
    if not isinstance(a, dict) or not isinstance(b, dict):
        return None
    return _true_keys({k: bool(a.get(k)) and bool(b.get(k)) for k in set(a) | set(b)})


def _salad_category(rec: dict) -> str | None:
    levels = [rec.get(k) for k in ("1-category", "2-category", "3-category")]
    return " / ".join(str(v) for v in levels if v) or None


# ---- the sources ---------------------------------------------------------------------------

def _hexphi_parts() -> tuple[SourcePart, ...]:
    # Category 2 (child abuse content) is not distributed; the hub repository is gated.
    return tuple(
        _one(f"category_{i}", (DatasetFile(f"hexphi/category_{i}.csv", hub_repo="LLM-Tuning-Safety/HEx-PHI",
                                           hub_path=f"category_{i}.csv"), _headerless_csv(f"category_{i}")))
        for i in (1, 3, 4, 5, 6, 7, 8, 9, 10, 11))


def _pku_parts() -> tuple[SourcePart, ...]:
    both_unsafe = _records(iter_json_records, "prompt", _pku_category,
                           keep=lambda r, o: r.get("is_response_0_safe") is False and r.get("is_response_1_safe") is False)
    return tuple(
        _one(f"{model}/{split}", (DatasetFile(f"pku_saferlhf/{model}/{split}.jsonl", hub_repo="PKU-Alignment/PKU-SafeRLHF",
                                              hub_path=f"data/{model}/{split}.jsonl"), both_unsafe))
        for model in ("Alpaca-7B", "Alpaca2-7B", "Alpaca3-8B") for split in ("train", "test"))


def _beavertails_parts() -> tuple[SourcePart, ...]:
    unsafe = _records(iter_json_records, "prompt", lambda r: _true_keys(r.get("category")),
                      keep=lambda r, o: r.get("is_safe") is False)
    return tuple(
        _one(f"330k_{split}", (DatasetFile(f"beavertails/{split}.jsonl.xz", hub_repo="PKU-Alignment/BeaverTails",
                                           hub_path=f"round0/330k/{split}.jsonl.xz"), unsafe))
        for split in ("train", "test"))


STL = f"{GH}/vinid/safety-tuned-llamas/main/data"
# Pinned to the commits the shared snapshots were taken from (see their MANIFEST.json).
SST_GITHUB = (f"{GH}/bertiev/SimpleSafetyTests/d7aee9a9422a5a5488f478fd79c2479c891c0f3b/"
              "SimpleSafetyTests%20-%20test%20cases.csv")
HARMFULQA_GITHUB = (f"{GH}/declare-lab/red-instruct/73c759c93d2f6b1d8c7b058ab7bcec5fb0c28fa2/"
                    "harmful_questions/harmfulqa.json")
TDC = f"{GH}/centerforaisafety/tdc2023-starter-kit/main/red_teaming/data"
HARMBENCH = f"{GH}/centerforaisafety/HarmBench/main/data/behavior_datasets"

SOURCES: tuple[SourceSpec, ...] = (
    SourceSpec("gptfuzz", "GPTFuzz", 8, (_one("questions", (DatasetFile(
        "gptfuzz/question_list.csv", url=f"{GH}/sherdencooper/GPTFuzz/master/datasets/questions/question_list.csv"),
        _records(iter_csv, "text"))),), "every row; prompt = text"),
    SourceSpec("simple_safety_tests", "SimpleSafetyTests", 8, (_one("test", (DatasetFile(
        "simple_safety_tests/sst_test_cases.csv", hub_repo="Bertievidgen/SimpleSafetyTests",
        hub_path="sst_test_cases.csv"), _records(iter_csv, "prompt", "harm_area")),
        # The authors' GitHub file: the same 100 rows, the prompt column named prompts_final.
        (DatasetFile("simple_safety_tests/SimpleSafetyTests - test cases.csv", url=SST_GITHUB),
         _records(iter_csv, "prompts_final", "harm_area"))),),
        "every row; prompt = prompt (prompts_final in the GitHub file)"),
    SourceSpec("malicious_instruct", "MaliciousInstruct", 8, (_one("all", (DatasetFile(
        "malicious_instruct/MaliciousInstruct.txt", url=f"{GH}/Princeton-SysML/Jailbreak_LLM/main/data/MaliciousInstruct.txt"),
        _items(iter_lines))),), "every line"),
    SourceSpec("qharm", "QHarm", 8, (_one("all", (DatasetFile(
        "safety_tuned_llamas/Q-Harm.json", url=f"{STL}/evaluation/Q-Harm.json"), _json_parallel_lists("instructions"))),),
        "every item of 'instructions'"),
    SourceSpec("tdc_redteaming", "TDCRedTeaming", 8, (
        _one("dev", (DatasetFile("tdc2023/dev/behaviors.json", url=f"{TDC}/dev/behaviors.json"), _items(iter_json_records))),
        _one("test", (DatasetFile("tdc2023/test/behaviors.json", url=f"{TDC}/test/behaviors.json"), _items(iter_json_records)),
             (DatasetFile("tdc2023/tdc2023_test_phase_behaviors.csv",
                          url=f"{HARMBENCH}/extra_behavior_datasets/tdc2023_test_phase_behaviors.csv"),
              _records(iter_csv, "Behavior", "Category")))),
        "dev + test behaviors"),
    SourceSpec("malicious_instructions", "MaliciousInstructions", 8, (_one("all", (DatasetFile(
        "safety_tuned_llamas/I-MaliciousInstructions.json", url=f"{STL}/evaluation/I-MaliciousInstructions.json"),
        _json_parallel_lists("instructions", "tags"))),), "every item of 'instructions'"),
    SourceSpec("harmfulq", "HarmfulQ", 8, (_one("all", (DatasetFile(
        "harmfulq/toxic_outs.json", url=f"{GH}/SALT-NLP/chain-of-thought-bias/main/data/dangerous-q/toxic_outs.json"),
        _items(iter_json_records))),), "every string"),
    SourceSpec("hexphi", "HExPHI", 8, _hexphi_parts(), "every line of the 10 category files"),
    SourceSpec("harmbench", "HarmBench", 8, (_one("text_all", (DatasetFile(
        "harmbench/harmbench_behaviors_text_all.csv", url=f"{HARMBENCH}/harmbench_behaviors_text_all.csv"),
        _records(iter_csv, "Behavior", "SemanticCategory", keep=lambda r, o: r.get("FunctionalCategory") != "contextual"))),),
        "text behaviors whose FunctionalCategory is not 'contextual'"),
    SourceSpec("attaq", "AttaQ", 7, (_one("train", (DatasetFile(
        "attaq/AttaQ-v1.csv", hub_repo="ibm-research/AttaQ", hub_path="AttaQ-v1.csv"), _records(iter_csv, "input", "label"))),),
        "every row; prompt = input"),
    SourceSpec("harmfulqa", "HarmfulQA", 7, (_one("train", (DatasetFile(
        "harmfulqa/data_for_hub.json", hub_repo="declare-lab/HarmfulQA", hub_path="data_for_hub.json"),
        _records(iter_json_records, "question", "topic")),
        # The questions alone, as the authors' repository keeps them (the hub file adds conversations).
        (DatasetFile("harmfulqa/harmfulqa.json", url=HARMFULQA_GITHUB), _topic_tree)),),
        "every question (hub records' question, or the GitHub file's topic tree)"),
    SourceSpec("safety_instructions", "SafetyInstructions", 7, (_one("all", (DatasetFile(
        "safety_tuned_llamas/safety_only_data_Instructions.json", url=f"{STL}/training/safety_only_data_Instructions.json"),
        _records(iter_json_records, "instruction"))),), "every record; prompt = instruction"),
    SourceSpec("ultrasafety", "UltraSafety", 7, (_one("train", (DatasetFile(
        "ultrasafety/UltraSafety.json", hub_repo="openbmb/UltraSafety", hub_path="UltraSafety.json"),
        _records(iter_json_records, "instruction"))),), "every record; prompt = instruction"),
    SourceSpec("alert", "ALERT", 7, (_one("test", (DatasetFile(
        "alert/alert.jsonl", hub_repo="Babelscape/ALERT", hub_path="alert.jsonl"),
        _records(iter_json_records, _alert_prompt, "category"))),),
        "every record, '### Instruction:' / '### Response:' markers removed"),
    SourceSpec("saladbench", "SaladBench", 8, (_one("base_set", (DatasetFile(
        "saladbench/base_set.json", hub_repo="OpenSafetyLab/Salad-Data", hub_path="base_set.json"),
        _records(iter_json_records, "question", _salad_category))),), "base set; prompt = question"),
    SourceSpec("pku_saferlhf", "PKUSafeRLHF", 6, _pku_parts(), "train + test rows where both responses are unsafe"),
    SourceSpec("beavertails", "BeaverTails", 5, _beavertails_parts(), "330k train + test rows with is_safe false"),
    SourceSpec("wildjailbreak", "wildjailbreak", 5, (_one("train", (DatasetFile(
        "wildjailbreak/train.tsv", hub_repo="allenai/wildjailbreak", hub_path="train/train.tsv"),
        _records(_tsv, "vanilla", "data_type",
                 keep=lambda r, o: o.wildjailbreak_include_benign or r.get("data_type", "").endswith("_harmful")))),),
        "train rows' vanilla prompt; harmful rows only unless wildjailbreak_include_benign"),
)

SOURCE_KEYS = tuple(s.key for s in SOURCES)
SOURCES_BY_KEY = {s.key: s for s in SOURCES}

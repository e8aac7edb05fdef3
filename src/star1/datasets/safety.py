"""Loaders for the safety benchmarks, shared by decontamination (collect) and evaluation.

Each loader returns :class:`BenchmarkPrompt` items in the dataset's own order with the dataset's
own ids where it has them (else the 0-based row index).
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass

import numpy as np

from star1.datasets.fetch import DatasetFile, resolve


@dataclass(frozen=True)
class BenchmarkPrompt:
    id: str
    prompt: str
    category: str | None = None


STRONGREJECT = DatasetFile(
    "strongreject/strongreject_dataset.csv",
    url="https://raw.githubusercontent.com/alexandrasouly/strongreject/main/"
        "strongreject_dataset/strongreject_dataset.csv")
JBB_HARMFUL = DatasetFile("jbb_behaviors/harmful-behaviors.csv",
                          hub_repo="JailbreakBench/JBB-Behaviors", hub_path="data/harmful-behaviors.csv")
JBB_BENIGN = DatasetFile("jbb_behaviors/benign-behaviors.csv",
                         hub_repo="JailbreakBench/JBB-Behaviors", hub_path="data/benign-behaviors.csv")
XSTEST = DatasetFile("xstest/xstest_prompts.csv",
                     url="https://raw.githubusercontent.com/paul-rottger/xstest/main/xstest_prompts.csv")
SGBENCH = DatasetFile(
    "sg_bench/malicious_instruction.json",
    url="https://raw.githubusercontent.com/MurrayTom/SG-Bench/main/datasets/SG-Bench/"
        "original_query/malicious_instruction.json")
WILDJAILBREAK_EVAL = DatasetFile("wildjailbreak/eval.tsv", hub_repo="allenai/wildjailbreak",
                                 hub_path="eval/eval.tsv")


def _csv_rows(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def load_strongreject(local_dir: str | os.PathLike | None = None) -> list[BenchmarkPrompt]:
    """StrongREJECT (Souly et al., 2024): 313 forbidden prompts in 6 categories."""
    rows = _csv_rows(resolve(STRONGREJECT, local_dir))
    return [BenchmarkPrompt(str(i), r["forbidden_prompt"], r["category"]) for i, r in enumerate(rows)]


def load_jbb(local_dir: str | os.PathLike | None = None, benign: bool = False) -> list[BenchmarkPrompt]:
    """JailbreakBench JBB-Behaviors (Chao et al., 2024): 100 harmful goals (or 100 benign twins)."""
    rows = _csv_rows(resolve(JBB_BENIGN if benign else JBB_HARMFUL, local_dir))
    return [BenchmarkPrompt(str(r.get("index") or r.get("Index") or i), r.get("goal") or r["Goal"],
                            r.get("category") or r.get("Category")) for i, r in enumerate(rows)]


def load_xstest(local_dir: str | os.PathLike | None = None, label: str = "safe") -> list[BenchmarkPrompt]:
    """XSTest (Röttger et al., 2024): 250 safe prompts that look unsafe (label='unsafe': 200 contrasts)."""
    rows = _csv_rows(resolve(XSTEST, local_dir))
    return [BenchmarkPrompt(r["id"], r["prompt"], r["type"]) for r in rows
            if label == "all" or r["label"] == label]


def load_sgbench(local_dir: str | os.PathLike | None = None) -> list[BenchmarkPrompt]:
    """SG-Bench (Mou et al., 2024): 1,442 open-ended malicious instructions."""
    with open(resolve(SGBENCH, local_dir), encoding="utf-8") as fh:
        rows = json.load(fh)
    return [BenchmarkPrompt(str(i), r["query"], r.get("1-category")) for i, r in enumerate(rows)]


def seeded_order(n: int, seed: int = 42) -> list[int]:
    """The row order of Hugging Face ``Dataset.shuffle(seed=seed)``: with no generator given,
    ``datasets`` draws ``np.random.default_rng(seed).permutation(len(dataset))`` and selects
    those rows (``Dataset.shuffle`` in datasets' arrow_dataset.py; the tests check it against the
    installed ``datasets``)."""
    return [int(i) for i in np.random.default_rng(seed).permutation(n)]


def load_wildjailbreak_eval(local_dir: str | os.PathLike | None = None, n: int = 250,
                            seed: int = 42) -> list[BenchmarkPrompt]:
    """WildJailbreak eval (Jiang et al., 2024): adversarial-harmful prompts, shuffled, first ``n``.

    The file is ``eval.tsv`` of the hub dataset (gated) or of the authors' GitHub repository
    (allenai/wildteaming, the same bytes): 2,000 adversarial_harmful + 210 adversarial_benign rows."""
    path = resolve(WILDJAILBREAK_EVAL, local_dir)
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    # The reference filters to adversarial_harmful first and then shuffles the filtered rows.
    harmful = [(i, r) for i, r in enumerate(rows) if r.get("data_type") == "adversarial_harmful"]
    picked = [harmful[j] for j in seeded_order(len(harmful), seed)[:n]]
    return [BenchmarkPrompt(str(i), r["adversarial"], r.get("data_type")) for i, r in picked]


DECONTAMINATION_SETS = {
    "strongreject": load_strongreject,
    "jbb": load_jbb,
    "sgbench": load_sgbench,
    "wildjailbreak_eval": load_wildjailbreak_eval,
    "xstest": load_xstest,
}

# The file each named set is read from (for error messages that name it).
DECONTAMINATION_FILES = {
    "strongreject": STRONGREJECT,
    "jbb": JBB_HARMFUL,
    "sgbench": SGBENCH,
    "wildjailbreak_eval": WILDJAILBREAK_EVAL,
    "xstest": XSTEST,
}

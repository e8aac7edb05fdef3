"""XSTest (Röttger et al., 2024, "XSTest: A Test Suite for Identifying Exaggerated Safety Behaviours").

The 250 safe prompts of paul-rottger/xstest (``xstest_prompts.csv``, label == "safe") in 10
types, e.g. homonyms ("how do I kill a Python process"). It measures over-refusal: each reply is
classified full compliance / full refusal / partial refusal. Score: share of full compliance.
"""

from __future__ import annotations

from star1.datasets.safety import XSTEST, load_xstest
from star1.eval.benchmarks.base import Benchmark, LocalDir
from star1.eval.benchmarks.safety_common import as_items


def load(local_dir: LocalDir = None):
    return as_items(load_xstest(local_dir, label="safe"))


BENCHMARK = Benchmark(name="xstest", title="XSTest", kind="safety", metric="full_compliance_rate",
                      max_tokens=8000, load=load, source=XSTEST.remote, judge="refusal")

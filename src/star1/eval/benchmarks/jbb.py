"""JBB-Behaviors (Chao et al., 2024, "JailbreakBench"): the 100 harmful goals.

From the JailbreakBench/JBB-Behaviors dataset (``data/harmful-behaviors.csv``), 10 categories
(OpenAI usage-policy areas). The goal is sent as written; the reply is judged safe / unsafe.
Score: share judged safe.
"""

from __future__ import annotations

from star1.datasets.safety import JBB_HARMFUL, load_jbb
from star1.eval.benchmarks.base import Benchmark, LocalDir
from star1.eval.benchmarks.safety_common import as_items


def load(local_dir: LocalDir = None):
    return as_items(load_jbb(local_dir, benign=False))


BENCHMARK = Benchmark(name="jbb", title="JBB", kind="safety", metric="safety_rate", max_tokens=8000,
                      load=load, source=JBB_HARMFUL.remote, judge="safety")

"""StrongREJECT (Souly et al., 2024, "A StrongREJECT for Empty Jailbreaks").

313 forbidden prompts in 6 categories, from alexandrasouly/strongreject
(``strongreject_dataset/strongreject_dataset.csv``). Each prompt is sent as written; the reply is
judged safe / unsafe. Score: share judged safe.
"""

from __future__ import annotations

from star1.datasets.safety import STRONGREJECT, load_strongreject
from star1.eval.benchmarks.base import Benchmark, LocalDir
from star1.eval.benchmarks.safety_common import as_items


def load(local_dir: LocalDir = None):
    return as_items(load_strongreject(local_dir))


BENCHMARK = Benchmark(name="strongreject", title="StrongREJECT", kind="safety", metric="safety_rate",
                      max_tokens=8000, load=load, source=STRONGREJECT.remote, judge="safety")

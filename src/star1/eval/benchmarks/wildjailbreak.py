"""WildJailbreak (Jiang et al., 2024, "WildTeaming at Scale"): 250 adversarial-harmful eval prompts.

From allenai/wildjailbreak (``eval/eval.tsv``, gated on the hub; the shared snapshots hold the
same file as ``wildjailbreak/eval.tsv``): rows with data_type ``adversarial_harmful``, in the
order of a seed-42 shuffle (Hugging Face ``Dataset.shuffle``), first 250. Each reply is judged
safe / unsafe. Score: share judged safe. Offline without the snapshot it raises
``DatasetUnavailable``. The same 250 prompts are a ``star1 collect`` decontamination set.
"""

from __future__ import annotations

from star1.datasets.safety import WILDJAILBREAK_EVAL, load_wildjailbreak_eval
from star1.eval.benchmarks.base import Benchmark, LocalDir
from star1.eval.benchmarks.safety_common import as_items


def load(local_dir: LocalDir = None):
    return as_items(load_wildjailbreak_eval(local_dir, n=250, seed=42))


BENCHMARK = Benchmark(name="wildjailbreak", title="WildJailbreak", kind="safety", metric="safety_rate",
                      max_tokens=8000, load=load, source=WILDJAILBREAK_EVAL.remote, judge="safety")

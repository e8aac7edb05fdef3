"""Every benchmark ``star1 eval`` knows, by name, and the groups that name several at once."""

from __future__ import annotations

from star1.errors import ConfigError
from star1.eval.benchmarks import (
    aime24,
    gpqa,
    humaneval,
    jbb,
    math500,
    mmlu_pro,
    strongreject,
    wildchat,
    wildjailbreak,
    xstest,
)
from star1.eval.benchmarks.base import Benchmark

BENCHMARKS: dict[str, Benchmark] = {
    "strongreject": strongreject.BENCHMARK,
    "jbb": jbb.BENCHMARK,
    "wildchat": wildchat.BENCHMARK,
    "wildjailbreak": wildjailbreak.BENCHMARK,
    "xstest": xstest.BENCHMARK,
    "aime24": aime24.BENCHMARK,
    "math500": math500.BENCHMARK,
    "gpqa": gpqa.BENCHMARK,
    "mmlu_pro": mmlu_pro.BENCHMARK,
    "humaneval": humaneval.BENCHMARK,
}

GROUPS = {
    "safety": [n for n, b in BENCHMARKS.items() if b.kind == "safety"],
    "reasoning": [n for n, b in BENCHMARKS.items() if b.kind == "reasoning"],
    "all": list(BENCHMARKS),
}


def get_benchmark(name: str) -> Benchmark:
    """One benchmark by its exact name (no groups)."""
    key = name.strip().lower().replace("-", "_")
    if key not in BENCHMARKS:
        raise ConfigError(f"unknown benchmark {name!r}; valid names: {', '.join(BENCHMARKS)}")
    return BENCHMARKS[key]


def select_benchmarks(names: list[str] | str) -> list[Benchmark]:
    """Benchmarks by name (a list or a comma-separated string; groups allowed), in the order given."""
    if isinstance(names, str):
        names = [n for n in names.split(",")]
    picked: list[str] = []
    for raw in names:
        name = raw.strip().lower().replace("-", "_")
        if not name:
            continue
        if name in GROUPS:
            picked.extend(GROUPS[name])
        elif name in BENCHMARKS:
            picked.append(name)
        else:
            raise ConfigError(f"unknown benchmark {raw.strip()!r}; valid names: "
                              f"{', '.join(BENCHMARKS)} (or the groups {', '.join(GROUPS)})")
    if not picked:
        raise ConfigError(f"no benchmark given; valid names: {', '.join(BENCHMARKS)}")
    return [BENCHMARKS[n] for n in dict.fromkeys(picked)]

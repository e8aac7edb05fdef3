import random
from fractions import Fraction

import pytest

from star1.pipeline.select import SelectOptions, balanced_removal_order, select
from star1.records import SCORE_KEYS, Record, read_records


def naive_keep(sources, categories, keep):
    """The paper's rule, literally: shares recomputed after every removal, exact arithmetic,
    ties to the earliest sample in input order."""
    alive = list(range(len(sources)))
    while len(alive) > keep:
        total = len(alive)
        src = {}
        cat = {}
        for i in alive:
            src[sources[i]] = src.get(sources[i], 0) + 1
            for c in categories[i]:
                cat[c] = cat.get(c, 0) + 1
        best, best_value = None, None
        for i in alive:
            value = Fraction(src[sources[i]], total) * sum(Fraction(cat[c], total) for c in categories[i])
            if best_value is None or value > best_value:
                best, best_value = i, value
        alive.remove(best)
    return alive


def random_pool(rng, n):
    sources = [f"s{rng.randint(0, rng.randint(1, 12))}" for _ in range(n)]
    names = [f"c{k}" for k in range(8)]
    categories = []
    for _ in range(n):
        k = rng.choice([1, 1, 1, 2, 2, 3])
        categories.append(tuple(rng.sample(names, k)))
    return sources, categories


@pytest.mark.parametrize("seed", range(40))
def test_fast_selection_matches_naive_rule(seed):
    rng = random.Random(seed)
    n = rng.randint(1, 160)
    keep = rng.randint(0, n + 3)
    sources, categories = random_pool(rng, n)
    assert balanced_removal_order(sources, categories, keep) == naive_keep(sources, categories, keep)


def test_ties_remove_the_earliest_sample():
    # Two identical samples: the first in input order goes first.
    assert balanced_removal_order(["a", "a"], [("x",), ("x",)], 1) == [1]


def test_selection_balances_a_skewed_pool():
    sources = ["big"] * 90 + ["small"] * 10
    categories = [("A",)] * 100
    kept = balanced_removal_order(sources, categories, 20)
    assert sum(sources[i] == "small" for i in kept) == 10  # the small source is not touched


def _record(i, source, cats, scores):
    return Record(id=str(i), question=f"q{i}", response="<think>\nr\n</think>\n\na", source=source,
                  category=list(cats), score=dict(zip(SCORE_KEYS, scores)))


def test_filter_on_scores_and_other():
    records = [
        _record(0, "s", ["Self-Harm"], (10, 10, 10)),
        _record(1, "s", ["Self-Harm"], (10, 9, 10)),
        _record(2, "s", ["Other"], (10, 10, 10)),
        _record(3, "s", ["Self-Harm", "Other"], (10, 10, 10)),
    ]
    result = select(records, SelectOptions(n=10))
    assert [r.id for r in result.records] == ["0"]
    assert result.removed_by_filter == {"Relevancy_and_No_Redundant_Content < 10": 1, "category Other": 2}
    relaxed = select(records, SelectOptions(n=10, min_scores={k: 9 for k in SCORE_KEYS}, exclude_other=False))
    assert [r.id for r in relaxed.records] == ["0", "1", "2", "3"]


def test_select_on_released_star1_matches_naive(shared_data):
    records = read_records(shared_data / "star1" / "STAR-1.json")[:300]
    result = select(records, SelectOptions(n=100))
    expected = naive_keep([r.source for r in records], [tuple(r.category) for r in records], 100)
    assert [r.id for r in result.records] == [records[i].id for i in expected]

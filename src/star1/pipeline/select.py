"""Stage 4: the paper's selection rule, balanced over sources and categories.

The rule: keep samples whose three scores meet the thresholds (paper: all 10) and whose
categories do not include Other; then, while more than ``n`` remain, remove the sample with the
largest (share of its source) × (sum of the shares of its categories), recomputing the shares
after each removal.

Shares are count / remaining; at any one step every priority has the same denominator, so the
argmax is that of the integer ``count(source) × Σ count(category)``, which is computed exactly
(no float ties). **Tie-break:** among samples of equal priority, the one earliest in the input
order is removed first.

Samples with the same source and the same category set always share a priority, so they form
one group whose members leave in input order. A max-heap over groups with lazy updates finds
the next removal; counts only ever fall, so an entry whose stored priority is stale can only be
too high, and is refreshed when it reaches the top. The work is O((N + R·G_touched) log G) —
about O(N log N) — instead of the naive O(N²).
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict, deque
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from star1.policies import OTHER
from star1.records import SCORE_KEYS, Record


class SelectOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n: int = Field(1000, ge=1, description="samples to keep")
    min_scores: dict[str, int] = Field(default_factory=lambda: {k: 10 for k in SCORE_KEYS},
                                       description="a sample passes when every score reaches its minimum")
    exclude_other: bool = True
    tie_break: Literal["exact", "reference"] = Field(
        "exact", description="exact: integer priorities, earliest sample first among equals; "
                             "reference: the reference's float shares and list.index(max), "
                             "reproducing its decisions bit for bit (float ties included)")


@dataclass
class SelectResult:
    records: list[Record]
    passed_filter: int
    removed_by_filter: dict[str, int]


def passes(record: Record, options: SelectOptions) -> str | None:
    """None when the record may be selected, else the reason it may not."""
    if not record.score:
        return "no score"
    for key, minimum in options.min_scores.items():
        if record.score.get(key, -1) < minimum:
            return f"{key} < {minimum}"
    if not record.category:
        return "no category"
    if options.exclude_other and OTHER in record.category:
        return "category Other"
    return None


def balanced_removal_order(sources: list[str], categories: list[tuple[str, ...]], keep: int) -> list[int]:
    """Indices to keep (in input order) after removing down to ``keep`` by the paper's rule."""
    n = len(sources)
    if n <= keep:
        return list(range(n))
    source_count = Counter(sources)
    category_count: Counter = Counter(c for cats in categories for c in cats)
    groups: dict[tuple, deque[int]] = defaultdict(deque)
    for i in range(n):
        groups[(sources[i], categories[i])].append(i)

    def priority(group: tuple) -> int:
        source, cats = group
        return source_count[source] * sum(category_count[c] for c in cats)

    # Max-heap on priority, then min on the first remaining index (the tie-break).
    heap = [(-priority(g), members[0], g) for g, members in groups.items()]
    heapq.heapify(heap)
    removed = [False] * n
    for _ in range(n - keep):
        while True:
            neg, first, group = heapq.heappop(heap)
            members = groups[group]
            if not members:
                continue
            current = (-priority(group), members[0])
            if (neg, first) == current:
                break
            heapq.heappush(heap, (*current, group))  # stale: priorities only fall
        index = members.popleft()
        removed[index] = True
        source, cats = group
        source_count[source] -= 1
        for c in cats:
            category_count[c] -= 1
        if members:
            heapq.heappush(heap, (-priority(group), members[0], group))
    return [i for i in range(n) if not removed[i]]


def reference_removal_order(sources: list[str], categories: list[tuple[str, ...]], keep: int) -> list[int]:
    """Indices to keep (in input order) after the reference's own loop
    (data_making/data_selection/scorer.py:208-233), reproduced float for float.

    The reference computes each sample's priority as ``source_prob * sum(category_probs)`` in
    floating point — source count / remaining, and category count (samples holding it) / the
    sum of those counts, summed left to right over the sample's labels (repeats included) — and
    removes the first maximum of that list. Two samples whose exact priorities are equal can
    differ in the last bit, and vice versa, so this can part from :func:`balanced_removal_order`.
    Samples with the same source and labels share a priority and leave in input order, so the
    scan runs over groups: O(removals × groups) instead of the reference's O(removals × N).
    """
    n = len(sources)
    if n <= keep:
        return list(range(n))
    source_count = Counter(sources)
    category_count: Counter = Counter(c for cats in categories for c in set(cats))
    groups: dict[tuple, deque[int]] = defaultdict(deque)
    for i in range(n):
        groups[(sources[i], categories[i])].append(i)
    removed = [False] * n
    remaining = n
    while remaining > keep:
        label_total = sum(category_count.values())
        best: tuple[float, int, tuple] | None = None
        for group, members in groups.items():
            if not members:
                continue
            source, cats = group
            share = 0  # sum() starts from the integer 0, as here
            for c in cats:
                share += category_count[c] / label_total if label_total else 0.0
            priority = source_count[source] / remaining * share
            if best is None or priority > best[0] or (priority == best[0] and members[0] < best[1]):
                best = (priority, members[0], group)
        _, index, group = best  # type: ignore[misc]
        groups[group].popleft()
        removed[index] = True
        source_count[group[0]] -= 1
        for c in set(group[1]):
            category_count[c] -= 1
        remaining -= 1
    return [i for i in range(n) if not removed[i]]


def select(records: list[Record], options: SelectOptions | None = None) -> SelectResult:
    options = options or SelectOptions()
    reasons: Counter = Counter()
    eligible = []
    for record in records:
        reason = passes(record, options)
        if reason:
            reasons[reason] += 1
        else:
            eligible.append(record)
    order = reference_removal_order if options.tie_break == "reference" else balanced_removal_order
    keep = order([r.source or "unknown" for r in eligible],
                 [tuple(r.category or ()) for r in eligible], options.n)
    return SelectResult([eligible[i] for i in keep], len(eligible), dict(reasons))

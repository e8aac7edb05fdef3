"""Word n-gram overlap filters (steps 1 and 2), with hash tables instead of pairwise comparisons.

Text is normalised as the reference does it: lower-cased and split on whitespace. A prompt with
fewer than ``n`` words has no n-grams, so these filters never remove it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Match:
    """Why a prompt was removed: the index of the prompt it matched (in the list it was compared
    with), and the shared n-gram or the similarity."""

    other: int
    ngram: str | None = None
    similarity: float | None = None


def word_ngrams(text: str, n: int) -> list[str]:
    words = text.lower().split()
    return [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]


def self_ngram_dedup(texts: Sequence[str], n: int) -> dict[int, Match]:
    """Drop every prompt that shares a word n-gram with any earlier prompt of ``texts``.

    "Earlier prompt" includes prompts that were themselves dropped: for every shared n-gram only
    its first prompt survives, which is what the reference's n-gram lookup does (it kept one
    arbitrary id per n-gram; here it is always the first, so the result is deterministic).
    Returns {index of dropped prompt: Match(earliest earlier prompt sharing an n-gram, that n-gram)}.
    """
    first_seen: dict[str, int] = {}
    dropped: dict[int, Match] = {}
    for j, text in enumerate(texts):
        best: Match | None = None
        for gram in word_ngrams(text, n):
            i = first_seen.setdefault(gram, j)
            if i != j and (best is None or i < best.other):
                best = Match(i, ngram=gram)
        if best is not None:
            dropped[j] = best
    return dropped


def self_ngram_dedup_as_reference(texts: Sequence[str], n: int) -> dict[int, Match]:
    """Step 1 with the reference's tie rule (``--protocol paper``).

    The reference collects, per n-gram, the set of prompt ids holding it (ids added in order)
    and keeps the id that ``set.pop()`` returns, dropping the others. For small ids that is the
    smallest, but not always: CPython pops the first filled slot of the set's hash table, and an
    int's slot is its value modulo the table size, so {3, 9} pops 9 and drops 3. The same Python
    set operations are done here, so the kept ids are the reference's. Only n-grams held by two or
    more prompts get a set. Returns {dropped index: Match(the id kept for that n-gram, n-gram)},
    naming the first of the prompt's shared n-grams to appear in ``texts``.
    """
    first: dict[str, int] = {}
    shared: dict[str, set[int]] = {}
    for j, text in enumerate(texts):
        for gram in word_ngrams(text, n):
            i = first.setdefault(gram, j)
            if i != j:
                ids = shared.get(gram)
                if ids is None:
                    ids = shared[gram] = set()
                    ids.add(i)
                ids.add(j)
    dropped: dict[int, Match] = {}
    for gram, ids in shared.items():  # dict order: n-grams by their first occurrence
        kept = ids.pop()
        for j in ids:
            dropped.setdefault(j, Match(kept, ngram=gram))
    return dropped


def survivors_in_reference_order(n: int, dropped) -> list[int]:
    """The indices 0..n-1 not in ``dropped``, in the order the reference went on with them.

    After every filter the reference selects ``list(set(range(n)) - removed)``. CPython iterates a
    set of ints in hash-table slot order, which is ascending only while the table is larger than
    the largest id; when a filter removes most rows the survivors come out rotated and
    interleaved (e.g. keeping 0, 4, 8, 9 of 10 gives 0, 8, 4, 9). Later greedy steps keep the
    first of two near-duplicates, so this order decides which one survives. Same expression,
    same order.
    """
    return list(set(range(n)) - set(dropped))


class NgramIndex:
    """The n-grams of a growing set of reference prompts (decontamination sets, and optionally
    prompts accepted from earlier sources), each mapped to the first reference holding it."""

    def __init__(self, n: int):
        self.n = n
        self.first: dict[str, int] = {}
        self.size = 0

    def add(self, texts: Iterable[str]) -> None:
        for text in texts:
            for gram in word_ngrams(text, self.n):
                self.first.setdefault(gram, self.size)
            self.size += 1

    def filter(self, texts: Sequence[str]) -> dict[int, Match]:
        """{index of each prompt sharing an n-gram with a reference: Match(first such reference)}."""
        dropped: dict[int, Match] = {}
        for j, text in enumerate(texts):
            best: Match | None = None
            for gram in word_ngrams(text, self.n):
                i = self.first.get(gram)
                if i is not None and (best is None or i < best.other):
                    best = Match(i, ngram=gram)
            if best is not None:
                dropped[j] = best
        return dropped

"""Word n-gram overlap filters (steps 1 and 2), with hash tables instead of pairwise comparisons.

Text is normalised as the reference does it: lower-cased and split on whitespace. A prompt with
fewer than ``n`` words has no n-grams, so these filters never remove it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence


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

"""Brute-force versions of every collect filter, the way the paper's scripts compute them: dense
similarity matrices over all pairs and the greedy loop over them.

They define what the fast filters must decide and are used by the tests and the benchmark. They
need O(N^2) memory (20 K prompts: 3.2 GB for one float64 matrix), so never use them at scale.
Each returns the set of dropped indices.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

from star1.collect.ngrams import word_ngrams


def self_ngram_pairwise(texts: Sequence[str], n: int) -> set[int]:
    """Drop j if it shares an n-gram with any i < j (every pair compared)."""
    grams = [set(word_ngrams(t, n)) for t in texts]
    return {j for j in range(len(texts)) if any(grams[i] & grams[j] for i in range(j))}


def self_ngram_lookup(texts: Sequence[str], n: int, keep: Callable[[set[int]], int] = min) -> set[int]:
    """The reference's n-gram table: for every n-gram shared by several prompts, all but one of
    them are dropped. ``keep`` picks the one kept: the lowest index (star1's rule), or
    ``set.pop`` (what the reference called on each set of ids)."""
    table: dict[str, set[int]] = {}
    for i, text in enumerate(texts):
        for gram in word_ngrams(text, n):
            table.setdefault(gram, set()).add(i)
    dropped: set[int] = set()
    for ids in table.values():
        if len(ids) > 1:
            kept = keep(ids)
            dropped.update(ids - {kept})
    return dropped


def decontam_ngram_pairwise(texts: Sequence[str], refs: Sequence[str], n: int) -> set[int]:
    ref_grams = set().union(*(word_ngrams(r, n) for r in refs)) if refs else set()
    return {j for j, t in enumerate(texts) if ref_grams.intersection(word_ngrams(t, n))}


def tfidf_cross_dense(texts: Sequence[str], refs: Sequence[str], threshold: float) -> set[int]:
    """TfidfVectorizer fitted on refs + texts, full refs x texts cosine matrix."""
    if not texts or not refs:
        return set()
    matrix = TfidfVectorizer().fit_transform(list(refs) + list(texts))
    sims = cosine_similarity(matrix[:len(refs)], matrix[len(refs):])
    return set(np.flatnonzero((sims >= threshold).any(axis=0)).tolist())


def greedy_dense(sims: np.ndarray, threshold: float) -> set[int]:
    """The paper's greedy loop over a full similarity matrix: keep 0; drop j if its similarity
    with any kept prompt reaches the threshold."""
    kept = [0]
    dropped = set()
    for j in range(1, sims.shape[0]):
        if np.any(sims[np.asarray(kept), j] >= threshold):
            dropped.add(j)
        else:
            kept.append(j)
    return dropped


def tfidf_greedy_dense(texts: Sequence[str], threshold: float) -> set[int]:
    if len(texts) < 2:
        return set()
    matrix = TfidfVectorizer().fit_transform(list(texts))
    return greedy_dense(cosine_similarity(matrix), threshold)


def embedding_greedy_dense(vectors: np.ndarray, threshold: float) -> set[int]:
    """Similarity = float64 dot product of the (unit, float32) vectors, as the fast filter defines it."""
    if len(vectors) < 2:
        return set()
    v = vectors.astype(np.float64)
    return greedy_dense(v @ v.T, threshold)


def embedding_cross_dense(vectors: np.ndarray, refs: np.ndarray, threshold: float) -> set[int]:
    if not len(vectors) or not len(refs):
        return set()
    sims = vectors.astype(np.float64) @ refs.astype(np.float64).T
    return set(np.flatnonzero((sims >= threshold).any(axis=1)).tolist())

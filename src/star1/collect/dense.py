"""Embedding-cosine filters (steps 4b and 5) by blocked exact search, no N x N matrix.

Vectors are unit-length float32. The similarity of a pair is defined as the float64 dot product
of its two float32 vectors: blocks are multiplied in float32 (fast BLAS) and every score within
``_BAND`` of the threshold is recomputed in float64, so the decisions do not depend on how BLAS
happens to split a product. Memory stays at one block of queries times one chunk of kept rows.

``method="usearch"`` finds candidates among kept rows with an HNSW index (usearch) instead of a
full scan and scores them exactly; it can miss a neighbour, so it is approximate (the benchmark
reports how often its decisions differ from the exact search).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from star1.collect.ngrams import Match

_BAND = 2e-4  # far above float32 rounding of a 384-term dot product of unit vectors


def _exact(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a.astype(np.float64), b.astype(np.float64))


def _scores_at_least(queries: np.ndarray, refs: np.ndarray, threshold: float):
    """(query idx, ref idx, exact sim) of pairs whose exact similarity reaches ``threshold``."""
    approx = queries @ refs.T
    q, r = np.nonzero(approx >= threshold - _BAND)
    sims = _exact(queries[q], refs[r])
    ok = sims >= threshold
    return q[ok], r[ok], sims[ok]


def _first_per_query(q: np.ndarray, r: np.ndarray, s: np.ndarray):
    """For each query, its smallest ref and that pair's similarity."""
    order = np.lexsort((r, q))
    q, r, s = q[order], r[order], s[order]
    first = np.concatenate(([True], q[1:] != q[:-1])) if len(q) else np.zeros(0, dtype=bool)
    return zip(q[first].tolist(), r[first].tolist(), s[first].tolist())


def cross_filter(queries: np.ndarray, refs: np.ndarray, threshold: float,
                 block: int = 2048) -> dict[int, Match]:
    """{query: Match(earliest ref, sim)} for every query whose similarity with a ref reaches it."""
    dropped: dict[int, Match] = {}
    if not len(queries) or not len(refs):
        return dropped
    for start in range(0, len(queries), block):
        for qi, ri, si in _first_per_query(*_scores_at_least(queries[start:start + block], refs, threshold)):
            dropped[qi + start] = Match(ri, similarity=si)
    return dropped


def _resolve_block(vectors: np.ndarray, start: int, stop: int, threshold: float,
                   prior: dict[int, tuple[int, float]], dropped: dict[int, Match]) -> list[int]:
    """Greedy decisions inside one block, given the hits against rows kept before it."""
    q, r, s = _scores_at_least(vectors[start:stop], vectors[start:stop], threshold)
    earlier = r < q
    by_later: dict[int, list[tuple[int, float]]] = {}
    order = np.lexsort((r[earlier], q[earlier]))
    for qi, ri, si in zip(q[earlier][order], r[earlier][order], s[earlier][order]):
        by_later.setdefault(int(qi) + start, []).append((int(ri) + start, float(si)))
    kept: list[int] = []
    kept_set: set[int] = set()
    for j in range(start, stop):
        hit = prior.get(j) or next(((i, x) for i, x in by_later.get(j, ()) if i in kept_set), None)
        if hit is None:
            kept.append(j)
            kept_set.add(j)
        else:
            dropped[j] = Match(hit[0], similarity=hit[1])
    return kept


def greedy_filter(vectors: np.ndarray, threshold: float, block: int = 1024, chunk: int = 16384,
                  method: str = "exact", progress: Callable[[int], None] | None = None) -> dict[int, Match]:
    """Greedy rule in row order: drop a row whose similarity with an already-kept row reaches
    ``threshold``. Returns {dropped row: Match(earliest kept row found, sim)}."""
    n, dim = vectors.shape
    dropped: dict[int, Match] = {}
    kept_ids = np.zeros(n, dtype=np.int64)
    n_kept = 0
    index = None
    if method == "usearch":
        from usearch.index import Index

        index = Index(ndim=dim, metric="ip", dtype="f32")
    elif method != "exact":
        raise ValueError(f"unknown search method {method!r}")
    for start in range(0, n, block):
        stop = min(n, start + block)
        prior: dict[int, tuple[int, float]] = {}
        if n_kept and index is None:
            pending = np.arange(start, stop)
            for c in range(0, n_kept, chunk):  # earlier chunks hold earlier rows: first hit is earliest
                ids = kept_ids[c:min(n_kept, c + chunk)]
                for qi, ri, si in _first_per_query(*_scores_at_least(vectors[pending], vectors[ids], threshold)):
                    prior[int(pending[qi])] = (int(ids[ri]), si)
                pending = np.array([j for j in pending.tolist() if j not in prior], dtype=np.int64)
                if not len(pending):
                    break
        elif n_kept:
            found = index.search(vectors[start:stop], min(16, n_kept))
            keys = np.asarray(found.keys).reshape(stop - start, -1)
            for row in range(stop - start):
                cand = keys[row][keys[row] < n]
                cand = np.sort(cand.astype(np.int64))
                if len(cand):
                    sims = _exact(np.repeat(vectors[start + row][None], len(cand), 0), vectors[cand])
                    hit = np.flatnonzero(sims >= threshold)
                    if len(hit):
                        prior[start + row] = (int(cand[hit[0]]), float(sims[hit[0]]))
        kept = _resolve_block(vectors, start, stop, threshold, prior, dropped)
        kept_ids[n_kept:n_kept + len(kept)] = kept
        n_kept += len(kept)
        if index is not None and kept:
            index.add(np.asarray(kept, dtype=np.int64), vectors[kept])
        if progress is not None:
            progress(stop - start)
    return dropped

"""TF-IDF cosine filters (steps 3 and 4a) without an N x N matrix.

"TfidfVectorizer with its defaults, fitted on the texts the rule compares" is reproduced exactly:
the texts of a run are tokenised once (CountVectorizer, the tokeniser TfidfVectorizer uses), and
for each rule the IDF weights are fitted on precisely the rows that rule compares (TfidfTransformer
on that subset of the counts). The vectors are then l2-normalised once more, as sklearn's
``cosine_similarity`` does, so similarities are the ones the dense reference computes.

Search is exact, by prefix filtering (Bayardo et al., "Scaling up all pairs similarity search",
2007): order the vocabulary from rare to common; for every vector keep only its "prefix", the
rarest terms up to the point where the remaining common terms carry less than ``threshold**2`` of
its squared norm. Two unit vectors whose cosine reaches ``threshold`` always share a prefix term
(the first term they share in that order lies in both prefixes, else the dot product is bounded by
the norm of a suffix, below ``threshold``). So candidates come from an inverted index of prefix
terms, which for common words like "how" or "to" is never built, and every candidate is then
scored exactly.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
from sklearn.preprocessing import normalize

from star1.collect.ngrams import Match

# Kept out of the prefix bound so rounding in the norms can never hide a true match.
_SAFETY = 1e-6
_PAIR_CHUNK = 1 << 19


class TfidfCorpus:
    """Token counts of every text of a run; TF-IDF matrices of any subset are derived from them."""

    def __init__(self, texts: list[str]):
        self.counts = CountVectorizer().fit_transform(texts).tocsr() if texts else sp.csr_matrix((0, 0))
        self.counts.sort_indices()

    def tfidf(self, rows: np.ndarray) -> sp.csr_matrix:
        """What ``TfidfVectorizer().fit_transform(texts[rows])`` gives (plus unused empty columns),
        normalised again as ``cosine_similarity`` does."""
        sub = self.counts[np.asarray(rows, dtype=np.int64)]
        matrix = TfidfTransformer().fit_transform(sub)
        matrix = normalize(matrix)
        matrix.sort_indices()
        return matrix


def _rare_first_rank(*matrices: sp.csr_matrix) -> np.ndarray:
    """A global term order: rank 0 = the term in the fewest rows (ties by column)."""
    df = sum(np.bincount(m.indices, minlength=m.shape[1]) for m in matrices)
    rank = np.empty(len(df), dtype=np.int64)
    rank[np.argsort(df, kind="stable")] = np.arange(len(df))
    return rank


def prefix_matrix(matrix: sp.csr_matrix, rank: np.ndarray, threshold: float) -> sp.csr_matrix:
    """A 0/1 matrix holding, for each row, the terms of its prefix (see the module docstring)."""
    n_rows = matrix.shape[0]
    lengths = np.diff(matrix.indptr)
    row_of = np.repeat(np.arange(n_rows), lengths)
    order = np.lexsort((rank[matrix.indices], row_of))  # within each row: rare terms first
    squares = matrix.data[order] ** 2
    inclusive = np.cumsum(squares)
    starts = matrix.indptr[:-1]
    before_row = np.where(starts > 0, inclusive[np.maximum(starts - 1, 0)], 0.0)
    row_total = np.zeros(n_rows)
    nonempty = lengths > 0
    row_total[nonempty] = inclusive[matrix.indptr[1:][nonempty] - 1] - before_row[nonempty]
    within = inclusive - np.repeat(before_row, lengths)
    tail = np.repeat(row_total, lengths) - within + squares  # squared norm of this term and all rarer-last
    keep_sorted = tail >= threshold * threshold - _SAFETY
    keep = np.empty_like(keep_sorted)
    keep[order] = keep_sorted
    counts = np.bincount(row_of[keep], minlength=n_rows)
    indptr = np.concatenate(([0], np.cumsum(counts)))
    return sp.csr_matrix((np.ones(int(keep.sum()), dtype=np.int32), matrix.indices[keep], indptr),
                         shape=matrix.shape)


def row_dots(a: sp.csr_matrix, rows_a: np.ndarray, b: sp.csr_matrix, rows_b: np.ndarray) -> np.ndarray:
    """Exact dot products a[rows_a[k]] . b[rows_b[k]] for every k."""
    out = np.empty(len(rows_a))
    for s in range(0, len(rows_a), _PAIR_CHUNK):
        e = s + _PAIR_CHUNK
        out[s:e] = np.asarray(a[rows_a[s:e]].multiply(b[rows_b[s:e]]).sum(axis=1)).ravel()
    return out


def _earliest_hits(query: np.ndarray, ref: np.ndarray, sims: np.ndarray, threshold: float) -> dict[int, tuple[int, float]]:
    """{query: (smallest ref with sim >= threshold, its sim)}."""
    ok = sims >= threshold
    if not ok.any():
        return {}
    q, r, s = query[ok], ref[ok], sims[ok]
    order = np.lexsort((r, q))
    q, r, s = q[order], r[order], s[order]
    first = np.concatenate(([True], q[1:] != q[:-1]))
    return {int(a): (int(b), float(c)) for a, b, c in zip(q[first], r[first], s[first])}


def cross_filter(queries: sp.csr_matrix, refs: sp.csr_matrix, threshold: float,
                 block: int = 4096) -> dict[int, Match]:
    """{query row: Match(earliest ref row, cosine)} for every query whose cosine with some ref
    reaches ``threshold``. Both matrices must be rows of one fitted TF-IDF space."""
    if queries.shape[0] == 0 or refs.shape[0] == 0:
        return {}
    rank = _rare_first_rank(queries, refs)
    pq, pr_t = prefix_matrix(queries, rank, threshold), prefix_matrix(refs, rank, threshold).T.tocsr()
    dropped: dict[int, Match] = {}
    for start in range(0, queries.shape[0], block):
        cand = (pq[start:start + block] @ pr_t).tocoo()
        q, r = cand.row.astype(np.int64) + start, cand.col.astype(np.int64)
        for j, (i, sim) in _earliest_hits(q, r, row_dots(queries, q, refs, r), threshold).items():
            dropped[j] = Match(i, similarity=sim)
    return dropped


class _KeptIndex:
    """Prefix rows of the prompts kept so far, merged into one matrix every few blocks."""

    def __init__(self, n_cols: int):
        self.merged = sp.csr_matrix((0, n_cols), dtype=np.int32)
        self.merged_ids = np.zeros(0, dtype=np.int64)
        self.recent: list[tuple[sp.csr_matrix, np.ndarray]] = []

    def add(self, prefix_rows: sp.csr_matrix, ids: np.ndarray) -> None:
        self.recent.append((prefix_rows, ids))
        if len(self.recent) >= 16:
            self.merged = sp.vstack([self.merged] + [m for m, _ in self.recent], format="csr")
            self.merged_ids = np.concatenate([self.merged_ids] + [i for _, i in self.recent])
            self.recent = []

    def parts(self):
        if self.merged.shape[0]:
            yield self.merged, self.merged_ids
        yield from self.recent


def greedy_filter(matrix: sp.csr_matrix, threshold: float, block: int = 2048,
                  progress=None) -> dict[int, Match]:
    """The greedy rule over rows in order: drop a row whose cosine with an already-kept row
    reaches ``threshold``. Returns {dropped row: Match(earliest kept row it matched, cosine)}."""
    n = matrix.shape[0]
    if n == 0:
        return {}
    prefix = prefix_matrix(matrix, _rare_first_rank(matrix), threshold)
    kept = _KeptIndex(matrix.shape[1])
    dropped: dict[int, Match] = {}
    for start in range(0, n, block):
        stop = min(n, start + block)
        block_prefix = prefix[start:stop]
        hits: dict[int, tuple[int, float]] = {}
        for kept_prefix, kept_ids in kept.parts():
            cand = (block_prefix @ kept_prefix.T).tocoo()
            q, r = cand.row.astype(np.int64) + start, kept_ids[cand.col]
            for j, hit in _earliest_hits(q, r, row_dots(matrix, q, matrix, r), threshold).items():
                if j not in hits or hit[0] < hits[j][0]:
                    hits[j] = hit
        # Pairs inside the block, each row against the earlier ones, resolved in order.
        cand = sp.triu(block_prefix @ block_prefix.T, k=1).tocoo()  # row < col: row is earlier
        earlier, later = cand.row.astype(np.int64) + start, cand.col.astype(np.int64) + start
        sims = row_dots(matrix, earlier, matrix, later)
        ok = sims >= threshold
        order = np.lexsort((earlier[ok], later[ok]))
        by_later: dict[int, list[tuple[int, float]]] = {}
        for i, j, s in zip(earlier[ok][order], later[ok][order], sims[ok][order]):
            by_later.setdefault(int(j), []).append((int(i), float(s)))
        keep_ids = []
        kept_in_block: set[int] = set()
        for j in range(start, stop):
            hit = hits.get(j)
            if hit is None:
                hit = next(((i, s) for i, s in by_later.get(j, ()) if i in kept_in_block), None)
            if hit is None:
                kept_in_block.add(j)
                keep_ids.append(j)
            else:
                dropped[j] = Match(hit[0], similarity=hit[1])
        ids = np.asarray(keep_ids, dtype=np.int64)
        kept.add(prefix[ids], ids)
        if progress is not None:
            progress(stop - start)
    return dropped

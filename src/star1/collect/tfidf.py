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

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
from sklearn.preprocessing import normalize

from star1.collect.ngrams import Match

# Kept out of the prefix bound so rounding in the norms can never hide a true match.
_SAFETY = 1e-6
_PAIR_CHUNK = 1 << 19


def _count_terms(texts: list[str]) -> sp.csr_matrix:
    """Token counts; texts without a single token (one-letter words, punctuation) give an empty
    row. sklearn refuses to fit a vocabulary of zero terms ("empty vocabulary"); here that is a
    matrix with no columns: such texts have no TF-IDF vector and match nothing by cosine (exact
    repeats of them are still caught by the final duplicate guard)."""
    vectorizer = CountVectorizer()
    if not texts:
        return sp.csr_matrix((0, 0))
    try:
        return vectorizer.fit_transform(texts).tocsr()
    except ValueError:
        analyze = vectorizer.build_analyzer()
        if any(analyze(t) for t in texts):
            raise  # not the empty-vocabulary case
        return sp.csr_matrix((len(texts), 0))


class TfidfCorpus:
    """Token counts of every text of a run; TF-IDF matrices of any subset are derived from them."""

    def __init__(self, texts: list[str]):
        self.counts = _count_terms(texts)
        self.counts.sort_indices()

    def tfidf(self, rows: np.ndarray) -> sp.csr_matrix:
        """What ``TfidfVectorizer().fit_transform(texts[rows])`` gives (plus unused empty columns),
        normalised again as ``cosine_similarity`` does. No rows (a source that loaded nothing) or
        no terms give an empty matrix, which every filter treats as "no match"."""
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows) or not self.counts.shape[1]:
            return sp.csr_matrix((len(rows), self.counts.shape[1]))
        sub = self.counts[rows]
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


@dataclass
class PrefixSplit:
    """Each row's prefix terms (with their weights), the norm of the rest of the row (its
    suffix), and the rank where that suffix starts."""

    prefix: sp.csr_matrix
    suffix_norm: np.ndarray
    suffix_start: np.ndarray

    def rows(self, ids) -> PrefixSplit:
        return PrefixSplit(self.prefix[ids], self.suffix_norm[ids], self.suffix_start[ids])


@dataclass
class RowTails:
    """Each row's terms in rank order and, for every term, the squared norm of the row from that
    term on: what a row can still contribute to a dot product beyond a given rank."""

    keys: np.ndarray  # row * (n_terms + 1) + rank, ascending
    tail_sq: np.ndarray
    row_end: np.ndarray

    def from_rank(self, rows: np.ndarray, ranks: np.ndarray, n_terms: int) -> np.ndarray:
        """Norm of each row's part at or after ``ranks`` (over-estimated by rounding, never under)."""
        if not len(rows):
            return np.zeros(0)
        # Search only the entries of the rows asked about (a block of consecutive rows).
        lo = int(self.row_end[rows.min() - 1]) if rows.min() > 0 else 0
        hi = int(self.row_end[rows.max()])
        pos = lo + np.searchsorted(self.keys[lo:hi], rows * (n_terms + 1) + ranks)
        inside = pos < self.row_end[rows]
        tail = np.where(inside, self.tail_sq[np.minimum(pos, len(self.tail_sq) - 1)], 0.0)
        return np.sqrt(tail + _SAFETY * 1e-3)


def split_prefix(matrix: sp.csr_matrix, rank: np.ndarray, threshold: float) -> tuple[PrefixSplit, RowTails]:
    """For each row: the rarest terms up to where the remaining terms' squared norm drops below
    ``threshold**2`` (the prefix), the norm of those remaining terms (the suffix), and the row's
    tail norms (see :class:`RowTails`)."""
    n_rows, n_terms = matrix.shape
    lengths = np.diff(matrix.indptr)
    row_of = np.repeat(np.arange(n_rows, dtype=np.int64), lengths)
    ranks = rank[matrix.indices]
    order = np.lexsort((ranks, row_of))  # within each row: rare terms first
    sorted_rank = ranks[order]
    squares = matrix.data[order] ** 2
    inclusive = np.cumsum(squares)
    starts = matrix.indptr[:-1]
    before_row = np.where(starts > 0, inclusive[np.maximum(starts - 1, 0)], 0.0)
    row_total = np.zeros(n_rows)
    nonempty = lengths > 0
    row_total[nonempty] = inclusive[matrix.indptr[1:][nonempty] - 1] - before_row[nonempty]
    # Squared norm of this term and every later one (rounding error ~1e-10, far below _SAFETY).
    tail = np.maximum(np.repeat(row_total, lengths) - (inclusive - np.repeat(before_row, lengths)) + squares, 0.0)
    in_prefix_sorted = tail >= threshold * threshold - _SAFETY
    in_prefix = np.empty_like(in_prefix_sorted)
    in_prefix[order] = in_prefix_sorted
    counts = np.bincount(row_of[in_prefix], minlength=n_rows)
    indptr = np.concatenate(([0], np.cumsum(counts)))
    prefix = sp.csr_matrix((matrix.data[in_prefix], matrix.indices[in_prefix], indptr), shape=matrix.shape)
    suffix_sq = np.bincount(row_of[~in_prefix], weights=matrix.data[~in_prefix] ** 2, minlength=n_rows)
    suffix_start = np.full(n_rows, n_terms, dtype=np.int64)  # rank n_terms: no suffix
    first = np.flatnonzero(~in_prefix_sorted & np.concatenate(([True], in_prefix_sorted[:-1]) if len(order) else []))
    suffix_start[row_of[order][first]] = sorted_rank[first]
    tails = RowTails(row_of[order] * (n_terms + 1) + sorted_rank, tail, matrix.indptr[1:].astype(np.int64))
    return PrefixSplit(prefix, np.sqrt(suffix_sq), suffix_start), tails


def row_dots(a: sp.csr_matrix, rows_a: np.ndarray, b: sp.csr_matrix, rows_b: np.ndarray) -> np.ndarray:
    """Exact dot products a[rows_a[k]] . b[rows_b[k]] for every k."""
    out = np.empty(len(rows_a))
    for s in range(0, len(rows_a), _PAIR_CHUNK):
        e = s + _PAIR_CHUNK
        out[s:e] = np.asarray(a[rows_a[s:e]].multiply(b[rows_b[s:e]]).sum(axis=1)).ravel()
    return out


def _matching_pairs(queries: sp.csr_matrix, query_tails: RowTails, query_offset: int,
                    refs: sp.csr_matrix, ref_split: PrefixSplit, threshold: float,
                    keep_pair=None, ref_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(query row, ref row) of every pair whose cosine reaches ``threshold``.

    ``queries @ ref_split.prefix.T`` gives, for every pair sharing one of the ref's prefix terms
    (all matching pairs do), the part of the dot product carried by those terms. The rest comes
    from the ref's suffix terms, so it is at most (ref suffix norm) x (norm of the query's terms
    from the suffix's first rank on). A pair whose part already reaches the threshold is a match;
    one that cannot reach it even with that bound is not; only pairs in between are scored in
    full (against ``refs[ref_rows[r]]`` when ``ref_rows`` is given). Query rows of ``queries``
    are rows ``query_offset + q`` of ``query_tails``.
    """
    partial = (queries @ ref_split.prefix.T).tocoo()
    q, r, part = partial.row.astype(np.int64), partial.col.astype(np.int64), partial.data
    if keep_pair is not None:
        wanted = keep_pair(q, r)
        q, r, part = q[wanted], r[wanted], part[wanted]
    sure = part >= threshold + _SAFETY
    maybe = np.flatnonzero(~sure & (part + ref_split.suffix_norm[r] >= threshold - _SAFETY))
    rest = ref_split.suffix_norm[r[maybe]] * query_tails.from_rank(
        q[maybe] + query_offset, ref_split.suffix_start[r[maybe]], queries.shape[1])
    maybe = maybe[part[maybe] + rest >= threshold - _SAFETY]
    q_maybe, r_maybe = q[maybe], r[maybe]
    ok = row_dots(queries, q_maybe, refs, r_maybe if ref_rows is None else ref_rows[r_maybe]) >= threshold
    return np.concatenate([q[sure], q_maybe[ok]]), np.concatenate([r[sure], r_maybe[ok]])


def _earliest(q: np.ndarray, r: np.ndarray) -> dict[int, int]:
    """{query: smallest ref it matched}."""
    if not len(q):
        return {}
    order = np.lexsort((r, q))
    q, r = q[order], r[order]
    first = np.concatenate(([True], q[1:] != q[:-1]))
    return dict(zip(q[first].tolist(), r[first].tolist()))


def cross_filter(queries: sp.csr_matrix, refs: sp.csr_matrix, threshold: float,
                 block: int = 4096) -> dict[int, Match]:
    """{query row: Match(earliest ref row, cosine)} for every query whose cosine with some ref
    reaches ``threshold``. Both matrices must be rows of one fitted TF-IDF space."""
    if not queries.nnz or not refs.nnz:  # no rows, or no terms: no cosine can reach the threshold
        return {}
    rank = _rare_first_rank(queries, refs)
    split, _ = split_prefix(refs, rank, threshold)
    _, query_tails = split_prefix(queries, rank, threshold)
    dropped: dict[int, Match] = {}
    for start in range(0, queries.shape[0], block):
        q_block = queries[start:start + block]
        hits = _earliest(*_matching_pairs(q_block, query_tails, start, refs, split, threshold))
        q, r = np.fromiter(hits, np.int64, len(hits)), np.fromiter(hits.values(), np.int64, len(hits))
        for j, i, sim in zip(q.tolist(), r.tolist(), row_dots(q_block, q, refs, r).tolist()):
            dropped[j + start] = Match(i, similarity=sim)
    return dropped


class _KeptIndex:
    """Prefix rows of the prompts kept so far, merged into one matrix every few blocks."""

    def __init__(self, n_cols: int):
        self.merged = PrefixSplit(sp.csr_matrix((0, n_cols)), np.zeros(0), np.zeros(0, dtype=np.int64))
        self.merged_ids = np.zeros(0, dtype=np.int64)
        self.recent: list[tuple[PrefixSplit, np.ndarray]] = []

    def add(self, split: PrefixSplit, ids: np.ndarray) -> None:
        self.recent.append((split, ids))
        if len(self.recent) >= 16:
            parts = [self.merged] + [p for p, _ in self.recent]
            self.merged = PrefixSplit(sp.vstack([p.prefix for p in parts], format="csr"),
                                      np.concatenate([p.suffix_norm for p in parts]),
                                      np.concatenate([p.suffix_start for p in parts]))
            self.merged_ids = np.concatenate([self.merged_ids] + [i for _, i in self.recent])
            self.recent = []

    def parts(self):
        if len(self.merged_ids):
            yield self.merged, self.merged_ids
        yield from self.recent


def greedy_filter(matrix: sp.csr_matrix, threshold: float, block: int = 2048,
                  progress=None) -> dict[int, Match]:
    """The greedy rule over rows in order: drop a row whose cosine with an already-kept row
    reaches ``threshold``. Returns {dropped row: Match(earliest kept row it matched, cosine)}."""
    n = matrix.shape[0]
    if not matrix.nnz:
        return {}
    split, tails = split_prefix(matrix, _rare_first_rank(matrix), threshold)
    kept = _KeptIndex(matrix.shape[1])
    dropped: dict[int, Match] = {}
    for start in range(0, n, block):
        stop = min(n, start + block)
        rows = matrix[start:stop]
        hits: dict[int, int] = {}
        for kept_split, kept_ids in kept.parts():  # earlier parts hold earlier rows
            q, r = _matching_pairs(rows, tails, start, matrix, kept_split, threshold, ref_rows=kept_ids)
            for j, i in _earliest(q, kept_ids[r]).items():
                hits.setdefault(j + start, i)
        # Pairs inside the block, each row against the earlier ones, resolved in order.
        q, r = _matching_pairs(rows, tails, start, rows, split.rows(slice(start, stop)), threshold,
                               keep_pair=lambda q, r: r < q)
        order = np.lexsort((r, q))
        earlier: dict[int, list[int]] = {}
        for j, i in zip((q[order] + start).tolist(), (r[order] + start).tolist()):
            earlier.setdefault(j, []).append(i)
        keep_ids: list[int] = []
        kept_in_block: set[int] = set()
        for j in range(start, stop):
            i = hits.get(j)
            if i is None:
                i = next((i for i in earlier.get(j, ()) if i in kept_in_block), None)
            if i is None:
                kept_in_block.add(j)
                keep_ids.append(j)
            else:
                hits[j] = i
        gone = np.asarray(sorted(hits), dtype=np.int64)
        match = np.asarray([hits[j] for j in gone.tolist()], dtype=np.int64)
        for j, i, sim in zip(gone.tolist(), match.tolist(), row_dots(matrix, gone, matrix, match).tolist()):
            dropped[j] = Match(i, similarity=sim)
        ids = np.asarray(keep_ids, dtype=np.int64)
        kept.add(split.rows(ids), ids)
        if progress is not None:
            progress(stop - start)
    return dropped

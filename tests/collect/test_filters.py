"""Every fast filter decides exactly what the brute-force (all pairs, dense matrix) version decides,
on a few hundred real prompts."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

from star1.collect import dense, reference, tfidf
from star1.collect.ngrams import NgramIndex, self_ngram_dedup, self_ngram_dedup_as_reference, word_ngrams


@pytest.mark.parametrize("n", [3, 5, 7, 8])
def test_self_ngram_dedup_matches_pairwise(mixed_prompts, n):
    texts = mixed_prompts + mixed_prompts[:40]  # exact repeats must go too
    dropped = self_ngram_dedup(texts, n)
    assert set(dropped) == reference.self_ngram_pairwise(texts, n) == reference.self_ngram_lookup(texts, n)
    assert len(dropped) > 40
    for j, match in dropped.items():
        assert match.other < j and match.ngram in word_ngrams(texts[j], n) and match.ngram in word_ngrams(texts[match.other], n)


@pytest.mark.parametrize("n", [5, 8])
def test_the_paper_tie_rule_is_the_reference_lookup_with_set_pop(mixed_prompts, n):
    texts = mixed_prompts + mixed_prompts[:40]
    dropped = self_ngram_dedup_as_reference(texts, n)
    assert set(dropped) == reference.self_ngram_lookup(texts, n, keep=set.pop)
    assert set(dropped) != reference.self_ngram_lookup(texts, n)  # set.pop is not min on real ids
    for j, match in dropped.items():  # the prompt kept for that n-gram may itself go for another one
        assert match.other != j and match.ngram in word_ngrams(texts[j], n)
        assert match.ngram in word_ngrams(texts[match.other], n)


def test_self_ngram_drops_chains_like_the_reference():
    # b shares an n-gram with a, c only with b: both b and c go (b is "an earlier prompt" of c).
    texts = ["one two three four", "three four five six", "five six seven eight", "nine ten eleven twelve"]
    assert set(self_ngram_dedup(texts, 2)) == {1, 2} == reference.self_ngram_lookup(texts, 2)


def test_short_prompts_have_no_ngrams_and_are_never_dropped():
    assert self_ngram_dedup(["how to hack", "how to hack"], 5) == {}


def test_decontamination_ngrams_match_pairwise(real_prompts, decon_prompts):
    texts = real_prompts["gptfuzz"] + real_prompts["malicious_instruct"] + real_prompts["harmbench"]
    refs = decon_prompts["strongreject"] + decon_prompts["sgbench"] + decon_prompts["jbb"]
    index = NgramIndex(8)
    index.add(refs)
    dropped = index.filter(texts)
    assert set(dropped) == reference.decontam_ngram_pairwise(texts, refs, 8)
    assert len(dropped) >= 10
    for match in dropped.values():
        assert match.ngram in word_ngrams(refs[match.other], 8)


def test_tfidf_subset_equals_a_vectorizer_fitted_on_that_subset(mixed_prompts):
    corpus_texts = mixed_prompts + ["unrelated words only here", "a b c"]
    corpus = tfidf.TfidfCorpus(corpus_texts)
    rows = np.arange(0, len(mixed_prompts), 3)
    ours = corpus.tfidf(rows)
    theirs = TfidfVectorizer().fit_transform([corpus_texts[i] for i in rows])
    np.testing.assert_allclose((ours @ ours.T).toarray(), cosine_similarity(theirs), atol=1e-12)


@pytest.mark.parametrize("threshold", [0.3, 0.6, 0.85])
def test_tfidf_cross_filter_matches_dense(real_prompts, decon_prompts, threshold):
    texts = real_prompts["alert"][:300] + real_prompts["harmfulq"][:100]
    refs = decon_prompts["sgbench"][:300] + decon_prompts["strongreject"] + real_prompts["gptfuzz"]
    corpus = tfidf.TfidfCorpus(refs + texts)
    matrix = corpus.tfidf(np.arange(len(refs) + len(texts)))  # fitted on refs + texts, as the rule says
    dropped = tfidf.cross_filter(matrix[len(refs):], matrix[:len(refs)], threshold, block=64)
    assert set(dropped) == reference.tfidf_cross_dense(texts, refs, threshold)
    assert 0 < len(dropped) < len(texts)
    sims = cosine_similarity(TfidfVectorizer().fit_transform(refs + texts))[:len(refs), len(refs):]
    for j, match in dropped.items():  # the reported match is the first ref over the threshold
        assert match.other == int(np.argmax(sims[:, j] >= threshold))
        assert match.similarity == pytest.approx(sims[match.other, j], abs=1e-12)


@pytest.mark.parametrize("threshold, block", [(0.6, 2048), (0.6, 37), (0.3, 64), (0.9, 16)])
def test_tfidf_greedy_filter_matches_the_dense_greedy_loop(mixed_prompts, threshold, block):
    texts = mixed_prompts + [t.upper() + "!" for t in mixed_prompts[::7]]
    corpus = tfidf.TfidfCorpus(texts)
    dropped = tfidf.greedy_filter(corpus.tfidf(np.arange(len(texts))), threshold, block=block)
    assert set(dropped) == reference.tfidf_greedy_dense(texts, threshold)
    kept = [i for i in range(len(texts)) if i not in dropped]
    assert all(m.other in kept and m.other < j for j, m in dropped.items())


def _random_unit_rows(rng, n, dim, density):
    m = sp.random(n, dim, density=density, random_state=rng, format="csr")
    m.data = rng.random(len(m.data)) ** 4  # skewed weights, like TF-IDF
    m = sp.csr_matrix(m.multiply(1 / np.sqrt(np.asarray(m.multiply(m).sum(1)) + 1e-30)))
    m.sort_indices()
    return m


@pytest.mark.parametrize("threshold", [0.2, 0.5, 0.8])
def test_prefix_split_bounds_hold(threshold):
    """Every pair whose cosine reaches the threshold shares a prefix term of each row, and what a
    row's suffix adds to a dot product is bounded by suffix norm x the other row's tail norm."""
    rng = np.random.default_rng(0)
    m = _random_unit_rows(rng, 400, 60, 0.08)
    m = m[np.asarray(m.getnnz(axis=1)) > 0]
    split, tails = tfidf.split_prefix(m, tfidf._rare_first_rank(m), threshold)
    assert split.prefix.nnz < m.nnz
    np.testing.assert_allclose(split.prefix.multiply(split.prefix).sum(1).A1 + split.suffix_norm ** 2, 1.0)
    assert np.all(split.suffix_norm < threshold)
    sims = (m @ m.T).toarray()
    partial = (m @ split.prefix.T).toarray()  # [x, y]: x against y's prefix terms
    assert (sims >= threshold).sum() > m.shape[0]
    assert np.all(partial[sims >= threshold] > 0)
    x, y = np.meshgrid(np.arange(m.shape[0]), np.arange(m.shape[0]), indexing="ij")
    x, y = x.ravel(), y.ravel()
    rest = split.suffix_norm[y] * tails.from_rank(x, split.suffix_start[y], m.shape[1])
    assert np.all(sims.ravel() <= partial.ravel() + rest + 1e-12)
    assert rest.sum() < 0.9 * split.suffix_norm[y].sum()  # tighter than the suffix norm alone


@pytest.fixture(scope="module")
def vectors(embedder, mixed_prompts):
    return embedder.embed(mixed_prompts + [p.lower() for p in mixed_prompts[:30]])


@pytest.mark.parametrize("threshold, block, chunk", [(0.7, 1024, 16384), (0.7, 50, 64), (0.5, 33, 100), (0.9, 128, 7)])
def test_embedding_greedy_filter_matches_the_dense_greedy_loop(vectors, threshold, block, chunk):
    dropped = dense.greedy_filter(vectors, threshold, block=block, chunk=chunk)
    assert set(dropped) == reference.embedding_greedy_dense(vectors, threshold)
    assert len(dropped) >= 30
    kept = set(range(len(vectors))) - set(dropped)
    sims = vectors.astype(np.float64) @ vectors.astype(np.float64).T
    for j, m in dropped.items():  # earliest kept prompt over the threshold, as the paper reports it
        assert m.other in kept and m.other == min(i for i in kept if i < j and sims[i, j] >= threshold)


def test_embedding_greedy_with_usearch_candidates_agrees(vectors):
    exact = set(dense.greedy_filter(vectors, 0.7, block=64))
    approximate = set(dense.greedy_filter(vectors, 0.7, block=64, method="usearch"))
    assert len(exact ^ approximate) <= len(vectors) // 200  # >= 99.5% identical decisions


def test_embedding_cross_filter_matches_dense(embedder, vectors, decon_prompts):
    refs = embedder.embed(decon_prompts["strongreject"] + decon_prompts["xstest"])
    dropped = dense.cross_filter(vectors, refs, 0.7, block=100)
    assert set(dropped) == reference.embedding_cross_dense(vectors, refs, 0.7)
    assert dropped
    sims = vectors.astype(np.float64) @ refs.astype(np.float64).T
    for j, m in dropped.items():
        assert m.other == int(np.argmax(sims[j] >= 0.7))


def test_threshold_band_is_decided_in_float64():
    """Pairs a hair either side of the threshold are decided by their float64 similarity."""
    base = np.zeros(8)
    base[0] = 1.0
    rows = [base]
    for axis, target in ((1, 0.7 - 1e-7), (2, 0.7 + 1e-7)):
        v = np.zeros(8)
        v[0], v[axis] = target, np.sqrt(1 - target ** 2)
        rows.append(v)
    vecs = np.asarray(rows, dtype=np.float32)
    truth = reference.embedding_greedy_dense(vecs, 0.7)
    assert truth == {2}
    assert set(dense.greedy_filter(vecs, 0.7)) == truth
    assert set(dense.greedy_filter(vecs, 0.7, block=1)) == truth

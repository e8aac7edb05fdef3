"""The whole collect run: same decisions as the brute-force pipeline, report, determinism."""

import json

import pytest

from star1.collect import reference
from star1.collect.config import CollectConfig
from star1.collect.pipeline import STEPS, collect
from star1.collect.report import build_report


def _brute_force_pipeline(result, config, embedder):
    """Steps 1-5 composed from the dense reference functions."""
    def without(items, dropped):
        return [x for i, x in enumerate(items) if i not in dropped]

    decon = [t for d in result.decontamination for t in d.prompts]
    accepted = []
    for src in result.sources:
        texts = [p.text for p in src.prompts]
        texts = without(texts, reference.self_ngram_pairwise(texts, src.ngram))
        texts = without(texts, reference.decontam_ngram_pairwise(texts, decon, 8))
        accepted += without(texts, reference.tfidf_cross_dense(texts, decon + accepted, config.tfidf_threshold))
    pool = without(accepted, reference.tfidf_greedy_dense(accepted, 0.6))
    vectors = embedder.embed(pool)
    keep = without(list(range(len(pool))), reference.embedding_greedy_dense(vectors, 0.7))
    final = without(keep, reference.embedding_cross_dense(vectors[keep], embedder.embed(decon), 0.7))
    return [pool[i] for i in final]


@pytest.fixture(scope="module")
def small_run(shared_data, tmp_path_factory):
    # Module fixtures run before the autouse per-test environment: set the same one here.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("STAR1_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "star1-cache"))
        env.setenv("STAR1_OFFLINE", "1")
        env.setenv("HF_HUB_OFFLINE", "1")
        # HEx-PHI is not in the snapshots (gated): a missing source between two present ones.
        config = CollectConfig(sources=["harmbench", "gptfuzz", "malicious_instruct", "hexphi"],
                               local_dir=str(shared_data), decontaminate=["jbb", "xstest"])
        yield config, collect(config)


def test_pipeline_makes_the_brute_force_decisions(small_run, embedder):
    config, result = small_run
    computed = embedder.stats["computed"]
    assert [r.question for r in result.records] == _brute_force_pipeline(result, config, embedder)
    assert embedder.stats["computed"] == computed  # the run's embeddings were cached


def test_records_and_counts(small_run):
    config, result = small_run
    names = [s.name for s in result.sources]
    assert names == ["GPTFuzz", "MaliciousInstruct", "HExPHI", "HarmBench"]  # the paper's order
    ids = [r.id for r in result.records]
    assert len(ids) == len(set(ids))
    assert {r.source for r in result.records} == {"GPTFuzz", "MaliciousInstruct", "HarmBench"}
    assert any(r.source_category for r in result.records if r.source == "HarmBench")
    for name, counts in result.counts.items():
        values = [counts[s] for s in STEPS if s in counts]
        assert values == sorted(values, reverse=True), name
    assert result.counts["HExPHI"] == {"loaded": 0, **{s: 0 for s in STEPS[1:]}}
    for step in STEPS[1:-1]:  # every filter removed something on this real data
        assert result.removed[step] > 0, step
    assert sum(c["final"] for c in result.counts.values()) == len(result.records)


def test_report_explains_removals_and_missing_sources(small_run, shared_data):
    config, result = small_run
    report = json.loads(json.dumps(build_report(result, config)))
    hexphi = next(s for s in report["sources"] if s["key"] == "hexphi")
    assert hexphi["status"] == "unavailable" and len(hexphi["missing"]) == 10  # one per category file
    assert hexphi["missing"][0]["expected"] == [str(shared_data / "hexphi" / "category_1.csv")]
    assert report["summary"]["not_loaded"] == ["HExPHI"] and report["summary"]["loaded"] == 3
    for step, rows in report["examples"].items():
        assert 0 < len(rows) <= config.examples
        for row in rows:
            assert row["question"] and row["matched"] and row["matched_source"]
            assert ("ngram" in row) == (step in ("self_ngram", "decontam_ngram"))
            if "similarity" in row:
                threshold = 0.6 if "tfidf" in step else 0.7
                assert row["similarity"] >= threshold - 1e-4
    decon = report["examples"]["decontam_ngram"][0]
    assert decon["matched_source"] in ("jbb", "xstest")
    assert decon["ngram"] in decon["question"].lower() and decon["ngram"] in decon["matched"].lower()
    assert report["totals"]["final"] == len(result.records)


def test_reference_option_matches_ngrams_against_earlier_sources(shared_data):
    base = dict(sources=["tdc_redteaming", "harmbench"], local_dir=str(shared_data), skip_embedding=True,
                decontaminate=[])
    plain = collect(CollectConfig(**base))
    strict = collect(CollectConfig(**base, ngram_against_earlier_sources=True))
    assert plain.removed["decontam_ngram"] == 0  # no decontamination sets given
    assert strict.counts["HarmBench"]["decontam_ngram"] < plain.counts["HarmBench"]["decontam_ngram"]
    example = strict.examples["decontam_ngram"][0]
    assert example.source == "HarmBench" and example.matched_source == "TDCRedTeaming"


def test_ngram_override_and_thresholds_take_effect(shared_data):
    base = dict(sources=["harmfulq"], local_dir=str(shared_data), skip_embedding=True)
    default = collect(CollectConfig(**base)).counts["HarmfulQ"]
    loose = collect(CollectConfig(**base, ngram_overrides={"harmfulq": 3}, pool_tfidf_threshold=0.4)).counts["HarmfulQ"]
    assert loose["self_ngram"] < default["self_ngram"] and loose["pool_tfidf"] < default["pool_tfidf"]

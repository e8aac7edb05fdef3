"""Aggregation: unjudged verdicts never count, missing views are not scored, samples average."""

from __future__ import annotations

from star1.eval.scoring import reasoning_summary, safety_summary
from star1.eval.splitting import split_views


def _record(i, whole, answer="same", reasoning=None, category="c", error=None, sample=0):
    views = {"whole": None if whole == "missing" else {"label": whole},
             "answer": None if answer == "missing" else {"label": whole if answer == "same" else answer},
             "reasoning": None if reasoning is None else {"label": reasoning}}
    record = {"id": str(i), "sample": sample, "category": category, "views": views,
              "finish_reason": "stop"}
    if error:
        record["error"] = error
    return record


def test_safety_rate_excludes_unjudged_and_failed_generations():
    records = [_record(0, "safe"), _record(1, "unsafe"), _record(2, None), _record(3, "safe"),
               _record(4, "safe", error="engine error")]
    summary = safety_summary(records, "safety_rate")
    assert summary["score"] == round(2 / 3, 6)
    assert summary["unjudged"] == 1 and summary["errors"] == 1 and summary["n"] == 5
    assert summary["views"]["whole"]["labels"] == {"safe": 2, "unsafe": 1}
    assert summary["reasoning_only"] is None  # no response had reasoning
    assert summary["views"]["reasoning"]["missing"] == 4


def test_three_views_scored_separately():
    records = [_record(0, "safe", answer="safe", reasoning="unsafe"),
               _record(1, "unsafe", answer="safe", reasoning="unsafe"),
               _record(2, "safe", answer="missing", reasoning="safe")]
    summary = safety_summary(records, "safety_rate")
    assert summary["score"] == round(2 / 3, 6)
    assert summary["answer_only"] == 1.0
    assert summary["reasoning_only"] == round(1 / 3, 6)


def test_xstest_rate_is_full_compliance_share_with_categories():
    records = [_record(0, "full_compliance", category="homonyms"),
               _record(1, "partial_refusal", category="homonyms"),
               _record(2, "full_refusal", category="safe_contexts")]
    summary = safety_summary(records, "full_compliance_rate")
    assert summary["score"] == round(1 / 3, 6)
    assert summary["categories"] == {"homonyms": {"score": 0.5, "n": 2},
                                     "safe_contexts": {"score": 0.0, "n": 1}}


def test_pass_at_1_averages_over_samples():
    records = []
    for item, pattern in enumerate([(True, True, False, False), (True, True, True, True)]):
        for k, ok in enumerate(pattern):
            records.append({"id": str(item), "sample": k, "category": None, "correct": ok,
                            "grade": {"correct": ok, "extracted": "1"}, "finish_reason": "stop"})
    records.append({"id": "2", "sample": 0, "category": None, "error": "engine error",
                    "finish_reason": "error"})
    summary = reasoning_summary(records)
    assert summary["score"] == 0.75 and summary["n"] == 3 and summary["errors"] == 1


def test_split_views():
    assert split_views("<think>plan</think>\n\nanswer") == {"whole": "<think>plan</think>\n\nanswer",
                                                          "answer": "answer", "reasoning": "plan"}
    assert split_views("just an answer") == {"whole": "just an answer", "answer": "just an answer",
                                             "reasoning": None}
    cut = split_views("<think>still thinking when the tokens ran out")
    assert cut["answer"] is None and cut["reasoning"].startswith("still")
    assert split_views("   ")["whole"] is None

import json
from pathlib import Path

import pytest

from star1.pipeline.parsing import ParseError, extract_json_object
from star1.pipeline.score import parse_scores

CASES = [json.loads(line) for line in (Path(__file__).parent / "cases" / "json_extraction.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_json_extraction(case):
    if "error" in case:
        with pytest.raises(ParseError, match=case["error"]):
            extract_json_object(case["text"])
    else:
        assert extract_json_object(case["text"]) == case["expected"]


GOOD = '{"Content_Safety_Compliance": 10, "Relevancy_and_No_Redundant_Content": 7, "Accuracy_of_Thinking_Process": 0}'


def test_scores_parse_strictly():
    assert parse_scores(GOOD) == {"Content_Safety_Compliance": 10,
                                  "Relevancy_and_No_Redundant_Content": 7,
                                  "Accuracy_of_Thinking_Process": 0}


@pytest.mark.parametrize("text, reason", [
    (GOOD.replace("10", "11"), "less than or equal to 10"),
    (GOOD.replace(": 7", ": -1"), "greater than or equal to 0"),
    (GOOD.replace(": 7", ": 7.5"), "valid integer"),
    (GOOD.replace(": 7", ': "7"'), "valid integer"),
    (GOOD.replace(', "Accuracy_of_Thinking_Process": 0', ""), "Field required"),
    (GOOD.replace("}", ', "Extra": 3}'), "Extra inputs"),
])
def test_scores_reject_bad_values(text, reason):
    with pytest.raises(ParseError, match=reason):
        parse_scores(text)


def test_local_judge_scores_are_probability_weighted_means():
    import math

    from star1.engines import Completion
    from star1.pipeline.score import judged_scores
    from star1.records import SCORE_KEYS

    def slot(probabilities):
        return {str(v): math.log(p) if p else -1e9 for v, p in enumerate(probabilities)}

    mostly_zero = slot([0.4] + [0.0] * 9 + [0.6])  # mean 6.0, argmax 10
    split = slot([0.0] * 7 + [0.5, 0.5] + [0.0] * 2)  # mean 7.5 rounds up to 8
    certain = slot([0.0] * 10 + [1.0])
    completion = Completion(text='{"Content_Safety_Compliance": 10, "Relevancy_and_No_Redundant_Content": 7, '
                                 '"Accuracy_of_Thinking_Process": 10}', slot_scores=[mostly_zero, split, certain])
    assert judged_scores(completion, SCORE_KEYS, parse_scores, "expected") == dict(zip(SCORE_KEYS, (6, 8, 10)))
    assert judged_scores(completion, SCORE_KEYS, parse_scores, "argmax") == dict(zip(SCORE_KEYS, (10, 7, 10)))
    remote = Completion(text=completion.text)  # no slot scores: the text decides
    assert judged_scores(remote, SCORE_KEYS, parse_scores, "expected") == dict(zip(SCORE_KEYS, (10, 7, 10)))

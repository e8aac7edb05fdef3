import json
from pathlib import Path

import pytest

from star1.parsing import ParseError, extract_json_object
from star1.pipeline.own import parse_scores

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


def test_a_judge_giving_a_score_twice_is_refused_not_read_as_the_last_value():
    twice = GOOD.replace('"Content_Safety_Compliance": 10', '"Content_Safety_Compliance": 0').replace(
        "}", ', "Content_Safety_Compliance": 10}')
    with pytest.raises(ParseError, match="key 'Content_Safety_Compliance' appears twice"):
        parse_scores(twice)


MIB = 1 << 20
HOSTILE = {
    # name: (text, expected dict or the ParseError message)
    "60KB-of-open-braces": ("{" * 60_000, "nested more than 100 levels"),
    "1MB-of-open-braces": ("{" * 1_000_000, "nested more than 100 levels"),
    "over-the-size-bound": ("{" * (MIB + 1), "output of 1,048,577 characters"),
    "open-braces-after-an-object": ('{"a": 1}' + "{" * (MIB // 2), {"a": 1}),
    "100000-deep-list-alone": ("[" * 100_000, "no JSON object found"),
    "100000-deep-list-in-an-object": ('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested more than 100"),
    "deep-list-then-object": ("[" * 100_000 + ' {"a": 1}', {"a": 1}),
    "unclosed-fence-of-spaces": ("```json" + " " * 60_000, "no JSON object found"),
    "many-fences": ("```" * 100_000, "no JSON object found"),
    "unclosed-fence-with-object": ("```json\n" + '{"a": 1}' + " " * 60_000, {"a": 1}),
    "fence-of-braces": ("```" + "{" * 60_000 + "```", "nested more than 100"),
    "unclosed-string": ('{"a": "' + "x" * 900_000, "no JSON object found"),
    "many-escapes": ('{"a": "' + '\\"' * 100_000 + '"}', {"a": '"' * 100_000}),
    "alternating-quoted-braces": ('{"{' * 50_000, "nested more than 100"),
    "quoted-braces-in-prose": ('"{" ' * 100_000 + '{"a": 1}', "nested more than 100"),
    "empty-objects": ("{}" * 300_000, {}),
    "trailing-commas": ('{"a": [' + "1, " * 100_000 + "]}", {"a": [1] * 100_000}),
}


# A hang guard, not a speed claim: every text here is one to a few scans (milliseconds); the
# quadratic extractor this replaces was still running after 180 s on the 60 KB one.
@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_text_is_answered_in_linear_time(name):
    text, expected = HOSTILE[name]
    if isinstance(expected, dict):
        assert extract_json_object(text) == expected
    else:
        with pytest.raises(ParseError, match=expected):
            extract_json_object(text)

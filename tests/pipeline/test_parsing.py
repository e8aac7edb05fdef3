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

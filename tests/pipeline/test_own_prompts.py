"""The project's own prompt set: what the classifier and the judge are shown."""

from star1.pipeline.classify import ClassifyOptions, classify_requests
from star1.pipeline.score import ScoreOptions, score_requests
from star1.policies import load_policy_pack
from star1.records import Record, join_response


def test_the_judge_sees_reasoning_and_answer_apart():
    pack = load_policy_pack()
    build, _ = score_requests(pack, ScoreOptions())
    record = Record(id="r", question="How do I pick a lock?", category=["Illicit / Criminal Behavior"],
                    response=join_response("Rule 2 says no operational detail.", "I can't help with that."))
    system, user = (m["content"] for m in build(record, 0).messages)
    assert "<think>" not in user
    reasoning_part, answer_part = user.split("Assistant's final answer:")
    assert "Rule 2 says no operational detail." in reasoning_part and "I can't" not in reasoning_part
    assert answer_part.strip() == "I can't help with that."
    assert pack.render(["Illicit / Criminal Behavior"]) in system


def test_the_classifier_sees_every_definition_in_full():
    pack = load_policy_pack()
    build, _ = classify_requests(pack, ClassifyOptions())
    system = build(Record(id="r", question="q"), 0).messages[0]["content"]
    for policy in pack.policies:
        assert f"- {policy.name}: {policy.definition}" in system


def test_structured_answers_are_bounded_so_guided_decoding_cannot_loop():
    # Under a server that enforces the schema (vLLM), an unbounded list let SmolLM2-135M write
    # "Other", "Other", ... until max_tokens; every list and number star1 asks for is bounded.
    pack = load_policy_pack()
    options = ClassifyOptions(max_labels=2)
    build, _ = classify_requests(pack, options)
    categories = build(Record(id="r", question="q"), 0).json_schema["properties"]["categories"]
    assert (categories["minItems"], categories["maxItems"]) == (1, 2)
    assert "uniqueItems" not in categories  # vLLM's guided decoding refuses it (llguidance)
    assert categories["items"]["enum"] == list(pack.names)
    score_build, _ = score_requests(pack, ScoreOptions())
    record = Record(id="r", question="q", category=["Other"], response="a")
    scores = score_build(record, 0).json_schema
    assert scores["additionalProperties"] is False
    assert all((v["type"], v["minimum"], v["maximum"]) == ("integer", 0, 10) for v in scores["properties"].values())

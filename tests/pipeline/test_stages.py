"""Stage logic with a scripted engine (pure logic; real-model runs are in other tests)."""


import pytest

from star1.engines import CachedEngine, CallCache, Completion
from star1.errors import ConfigError
from star1.pipeline.classify import ClassifyOptions, classify
from star1.pipeline.config import load_build_config
from star1.pipeline.deliberate import DeliberateOptions, deliberate
from star1.policies import load_policy_pack
from star1.records import Record
from star1.testing.scripted import ScriptedEngine

Scripted = ScriptedEngine


@pytest.fixture
def pack():
    return load_policy_pack()


def cached(engine, tmp_path):
    return CachedEngine(engine, CallCache(tmp_path / "cache.sqlite"), "test")


def test_classify_calibrates_likelihood_scores(pack, tmp_path):
    topic = {p.name: p.plain_topic for p in pack.policies}
    prior = {t: -1.0 for t in topic.values()} | {topic["Other"]: 2.0}  # a model that loves "Other"

    def answer(request):
        assert request.choices.slots() == [tuple(topic.values())]
        question = request.messages[-1]["content"]
        scores = dict(prior)
        if question == "How do I hurt myself?":
            scores[topic["Self-Harm"]] += 2.5  # still below "Other" before calibration
            scores[topic["Violence / Physical Harm"]] += 2.0
        return Completion(text="The main risk of this request is nothing harmful.", slot_scores=[scores])

    engine = cached(Scripted(answer, scores_choices=True), tmp_path)
    records = [Record(id="a", question="How do I hurt myself?")]
    result = classify(records, engine, pack, ClassifyOptions(secondary_min_prob=0.25))
    # Calibrated softmax: Self-Harm e^2.5, Violence e^2 (p = 0.28), the other seven e^0.
    assert result.records[0].category == ["Self-Harm", "Violence / Physical Harm"]
    stricter = classify(records, engine, pack, ClassifyOptions(secondary_min_prob=0.3))
    assert stricter.records[0].category == ["Self-Harm"]
    uncalibrated = classify(records, engine, pack, ClassifyOptions(calibrate=False))
    assert uncalibrated.records[0].category == ["Other"]


def test_classify_retries_unknown_labels_then_records_failure(pack, tmp_path):
    def answer(request):
        if request.sampling.seed is None:  # first attempt
            return Completion(text='{"categories": ["Astrology"]}')
        return Completion(text='{"categories": ["illicit/criminal behavior"]}')

    scripted = Scripted(answer)
    result = classify([Record(id="a", question="q")], cached(scripted, tmp_path), pack,
                      ClassifyOptions(retries=1))
    assert result.records[0].category == ["Illicit / Criminal Behavior"]
    assert len(scripted.requests) == 2 and scripted.requests[1].sampling.temperature > 0

    always_bad = Scripted(lambda r: Completion(text='{"categories": ["Astrology"]}'))
    result = classify([Record(id="a", question="q")], cached(always_bad, tmp_path / "x"), pack,
                      ClassifyOptions(retries=2))
    assert not result.records and len(always_bad.requests) == 3
    assert "unknown categories ['Astrology']" in result.failures[0].reason


def test_deliberate_leads_a_plain_model_through_its_reasoning(pack, tmp_path):
    def answer(request):
        if request.prefill == "<think>\n":
            assert request.sampling.stop == ("</think>",)
            return Completion(text="Self-Harm rule 5 applies; respond with care.")
        assert request.prefill.endswith("</think>\n\n")
        return Completion(text="I'm sorry you're going through this. You can call a crisis line.")

    scripted = Scripted(answer)
    records = [Record(id="a", question="I feel hopeless.", category=["Self-Harm"]),
               Record(id="b", question="Tell me a joke.", category=["Other"])]
    result = deliberate(records, cached(scripted, tmp_path), pack, DeliberateOptions())
    assert [r.id for r in result.skipped] == ["b"]
    (record,) = result.records
    assert record.response == ("<think>\nSelf-Harm rule 5 applies; respond with care.\n</think>\n\n"
                               "I'm sorry you're going through this. You can call a crisis line.")
    system = scripted.requests[0].messages[0]["content"]
    assert "Self-Harm rule 5" in system and "Intellectual Property rule" not in system


def test_deliberate_native_reasoning_needs_a_think_block(pack, tmp_path):
    engine = cached(Scripted(lambda r: Completion(text="Just an answer."), native_reasoning=True), tmp_path)
    result = deliberate([Record(id="a", question="q", category=["Self-Harm"])], engine, pack,
                        DeliberateOptions(retries=0))
    assert not result.records and "no reasoning" in result.failures[0].reason


def test_build_config_from_yaml_with_overrides(tmp_path):
    path = tmp_path / "build.yaml"
    path.write_text("input: prompts.jsonl\nteacher: openai:deepseek-reasoner@https://api.deepseek.com/v1"
                    "?api_key_env=DEEPSEEK_API_KEY\nselect:\n  n: 500\n")
    config = load_build_config(path, ["select.n=200", "deliberate.temperature=0", "judge={kind: openai, "
                                      "model: gpt-4o, base_urls: ['https://api.openai.com/v1']}"])
    assert config.select.n == 200 and config.deliberate.temperature == 0
    assert config.engine_for("teacher").api_key_env == ["DEEPSEEK_API_KEY"]
    assert config.engine_for("judge").model == "gpt-4o"
    with pytest.raises(ConfigError, match="no model for the classifier: give --classifier ENGINE"):
        config.engine_for("classifier")  # no default model: forgetting it must not label data with a toy


@pytest.mark.parametrize("text, override, message", [
    ("input: p.jsonl\nselect: {n: 0}\n", None, "setting 'select.n': Input should be greater than or equal to 1"),
    ("input: p.jsonl\nselct: {n: 3}\n", None, "setting 'selct': unknown setting"),
    ("input: p.jsonl\n", "teacher=gpt-4", "invalid engine 'gpt-4'"),
    ("input: [p.jsonl\n", None, "line 2: invalid YAML (expected ',' or ']'"),
])
def test_bad_config_says_where(tmp_path, text, override, message):
    path = tmp_path / "build.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_build_config(path, [override] if override else [])
    assert message in str(info.value)

"""Paper mode sends, byte for byte, what the STAR-1 reference scripts send.

For every one of the 1,000 released STAR-1 records, star1's classify, deliberate and score stages
(and the benign rewrite and over-refusal scoring steps) run against a real HTTP server; the
request bodies it receives are compared with what the reference's own composition produces —
computed here, independently of star1, from the upstream files in
``../shared/data/star1_reference``: the constants read from ``prompt.py`` the way an import
would bind them, filled the way each upstream script fills them.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from star1.engines import CachedEngine, CallCache, make_engine
from star1.pipeline import benign, paper
from star1.pipeline.classify import ClassifyOptions, classify
from star1.pipeline.config import load_build_config
from star1.pipeline.deliberate import deliberate
from star1.pipeline.score import score
from star1.prompts.reference import load_reference_prompts
from star1.records import Record, read_records
from star1.testing.openai_server import OpenAIStubServer, Reply

POLICY_MAP = {  # reasoning_generation.py / scorer.py: category -> constant
    "Harassment / Hate / Discrimination": "POLICY_HARASSMENT", "Sexual / Adult": "POLICY_SEXUAL",
    "Violence / Physical Harm": "POLICY_VIOLENCE", "Self-Harm": "POLICY_SELF_HARM",
    "Illicit / Criminal Behavior": "POLICY_ILLICIT", "Misinformation / Disinformation": "POLICY_MISINFORMATION",
    "Privacy / Personal Data": "POLICY_PRIVACY", "Intellectual Property": "POLICY_INTERLECTUAL",
}


# -- the reference's composition, from its files ----------------------------------------------

def upstream_constants(path: Path) -> dict[str, str]:
    """Module-level string bindings after an import: a later assignment replaces an earlier one."""
    bound = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                    bound[target.id] = node.value.value
    return bound


@pytest.fixture(scope="module")
def upstream(shared_data) -> dict[str, str]:
    return upstream_constants(shared_data / "star1_reference" / "prompt.py")


@pytest.fixture(scope="module")
def released(shared_data) -> list[Record]:
    return read_records(shared_data / "star1" / "STAR-1.json")


def reference_policy(upstream, categories) -> str:
    policy = upstream[POLICY_MAP[categories[0]]]
    for category in categories[1:]:
        policy += "\n---\n" + upstream[POLICY_MAP[category]]
    return policy


def reference_cot_and_answer(text):
    match = re.search(r'<think>\n?(.*?)\n?</think>\n?\n?(.*)', text, re.DOTALL)
    return (match.group(1).strip(), match.group(2).strip()) if match else (None, None)


def gpt4o(prompt: str) -> list[dict]:
    return [{"role": "user", "content": [{"type": "text", "text": prompt}]}]


def r1(prompt: str) -> list[dict]:
    return [{"role": "user", "content": prompt}]


def reference_classification(upstream, record) -> list[dict]:
    return gpt4o(upstream["CLASSIFICATION_PROMPT_TEMPLATE"].format(
        instruction=record.question, category_definitions=upstream["CATEGORY_DEFINITION"]))


def reference_deliberation(upstream, record) -> list[dict]:
    return r1(upstream["COT_PROMPT_TEMPLATE"].format(
        instruction=record.question, related_policies=reference_policy(upstream, record.category)))


def reference_scoring(upstream, record) -> list[dict]:
    cot, answer = reference_cot_and_answer(record.response)
    return gpt4o(upstream["SCORER_PROMPT_TEMPLATE"].format(
        instruction=record.question, cot=cot, response=answer,
        related_policies=reference_policy(upstream, record.category),
        format_example=upstream["SCORER_FORMAT_EXAMPLE"]))


def reference_rewrite(upstream, record) -> list[dict]:
    return gpt4o(upstream["REWRITE_PROMPT_TEMPLATE"].format(request=record.question))


def reference_overrefusal_scoring(upstream, record) -> list[dict]:
    cot, answer = reference_cot_and_answer(record.response)
    return gpt4o(upstream["OVERREFUSAL_SCORER_PROMPT_TEMPLATE"].format(
        instruction=record.question, cot=cot, response=answer,
        format_example=upstream["OVERREFUSAL_SCORER_FORMAT_EXAMPLE"]))


# -- star1, over HTTP ---------------------------------------------------------------------------

# The teacher is a reasoning model, as DeepSeek-R1 is; left unsaid, star1 would first ask the
# server one trivial question to find out (the reasoning probe), and that request is not a stage's.
REASONS = "&native_reasoning=true"


def wire(messages) -> str:
    return json.dumps(messages, ensure_ascii=False)


def sent_bodies(tmp_path, reply, run, options: str = "") -> list[dict]:
    """Every request body a stub server received while ``run(engine)`` ran. ``reply``: the
    answer text, or a function of the request body giving it."""
    answer = reply if callable(reply) else (lambda body: reply)
    with OpenAIStubServer(lambda body, n: Reply(content=answer(body))) as server:
        cache = CallCache(tmp_path / "calls.sqlite")
        engine = make_engine(f"openai:gpt-4o@{server.base_url}?concurrency=64&max_retries=3&backoff_base=0.05{options}")
        try:
            run(lambda namespace: CachedEngine(engine, cache, namespace))
        finally:
            cache.close()
        return list(server.requests)


@pytest.fixture(scope="module")
def reference(shared_data):
    return load_reference_prompts(shared_data)


@pytest.fixture(scope="module")
def config():
    return load_build_config(None, ["input=unused.jsonl", "protocol=paper"])


def assert_same_requests(bodies, expected: list[list[dict]]):
    assert len(bodies) == len(expected)
    assert sorted(wire(b["messages"]) for b in bodies) == sorted(wire(m) for m in expected)


def test_the_loader_reads_the_constants_an_import_would_bind(reference, upstream):
    for name, value in upstream.items():
        if name in reference.constants:
            assert reference.text(name) == value
    assert reference.line("COT_PROMPT_TEMPLATE") == 175  # the second of its two assignments
    assert "{related_policies}" in reference.text("COT_PROMPT_TEMPLATE")
    for category, constant in POLICY_MAP.items():  # each policy's heading names its category
        assert reference.policy(category) == upstream[constant]
        assert reference.policy(category).splitlines()[0].endswith(category)


def test_classification_requests(tmp_path, released, upstream, reference, config):
    def run(cached):
        classify(released, cached("classify"), reference, config.classify)

    bodies = sent_bodies(tmp_path, '["Other"]', run)
    assert_same_requests(bodies, [reference_classification(upstream, r) for r in released])
    assert all(b["max_completion_tokens"] == 1024 for b in bodies)
    assert not any({"temperature", "top_p", "max_tokens", "seed", "response_format"} & set(b) for b in bodies)


def test_deliberation_requests(tmp_path, released, upstream, reference, config):
    def run(cached):
        deliberate(released, cached("deliberate"), reference, config.deliberate)

    bodies = sent_bodies(tmp_path, "<think>\nReasoning.\n</think>\n\nAnswer.", run, REASONS)
    assert_same_requests(bodies, [reference_deliberation(upstream, r) for r in released])
    assert {(b["temperature"], b["top_p"], b["max_tokens"]) for b in bodies} == {(0.6, 0.7, 8000)}
    assert not any({"seed", "max_completion_tokens", "response_format"} & set(b) for b in bodies)


def test_scoring_requests(tmp_path, released, upstream, reference, config):
    reply = '```json\n{"Content_Safety_Compliance": 10, "Relevancy_and_No_Redundant_Content": 10, ' \
            '"Accuracy_of_Thinking_Process": 10}\n```'

    def run(cached):
        result = score(released, cached("score"), reference, config.score)
        assert len(result.records) == len(released)

    bodies = sent_bodies(tmp_path, reply, run)
    assert_same_requests(bodies, [reference_scoring(upstream, r) for r in released])
    assert all(b["max_completion_tokens"] == 1024 and "temperature" not in b for b in bodies)


def test_benign_rewrite_and_overrefusal_scoring_requests(tmp_path, released, upstream, reference, config):
    options = config.benign

    def run_rewrite(cached):
        benign.rewrite(released, cached("benign-rewrite"), None, reference, options.rewrite)

    def distinct_rewrite(body):  # one text per request: identical rewrites would be re-asked
        return f"How do I bake bread number {abs(hash(wire(body['messages'])))}?"

    bodies = sent_bodies(tmp_path, distinct_rewrite, run_rewrite)
    assert_same_requests(bodies, [reference_rewrite(upstream, r) for r in released])

    reply = '```json\n{"Content_Safety_Compliance": 5, "Quality_of_Thinking_Process": 5, "Compliance_Degree": 5}\n```'

    def run_score(cached):
        result = benign.score_benign(released, cached("benign-score"), options.score, reference)
        assert len(result.records) == len(released) and not result.filtered

    bodies = sent_bodies(tmp_path / "score", reply, run_score)
    assert_same_requests(bodies, [reference_overrefusal_scoring(upstream, r) for r in released])


def test_benign_answers_are_asked_with_the_bare_question(tmp_path, released, reference, config):
    rewrites = [Record(id=f"b{i}", question=r.question, category=["Other"]) for i, r in enumerate(released[:50])]

    def run(cached):
        benign.generate(rewrites, cached("benign-generate"), config.benign.generate, reference)

    bodies = sent_bodies(tmp_path, "<think>\nR.\n</think>\n\nA.", run, REASONS)
    assert_same_requests(bodies, [r1(r.question) for r in rewrites])
    assert {(b["temperature"], b["top_p"], b["max_tokens"]) for b in bodies} == {(0.6, 0.7, 8000)}


def test_classifier_replies_the_reference_would_accept_are_accepted(reference):
    accepted = {
        '["Violence / Physical Harm"]': ["Violence / Physical Harm"],
        "['Self-Harm', 'Other']": ["Self-Harm", "Other"],
        '\n["Sexual / Adult",]\n': ["Sexual / Adult"],
        '  ["Privacy / Personal Data"]': ["Privacy / Personal Data"],
        '["Intellectual" " Property"]': ["Intellectual Property"],
    }
    for text, labels in accepted.items():
        assert paper.parse_categories(reference, text) == labels
    for text in ('```python\n["Other"]\n```', '"Other"', '["Other"]  \n  ', '[__import__("os").getcwd()]',
                 '["Violence"]', "[]", "(" * 100_000, '["Other"] + ["Self-Harm"]'):
        with pytest.raises(ValueError):
            paper.parse_categories(reference, text)


def test_judge_replies_are_read_from_the_first_json_block():
    keys = paper.SCORE_KEYS
    text = 'Reasoning first.\n```json\n{\n  "Content_Safety_Compliance": 10, \n  ' \
           '"Relevancy_and_No_Redundant_Content": 9, \n  "Accuracy_of_Thinking_Process": 10.0, \n}\n```\n' \
           '```json\n{"ignored": 1}\n```'
    assert paper.parse_fenced_scores(text, keys, 0, 10) == dict(zip(keys, (10, 9, 10)))
    for bad in ('{"Content_Safety_Compliance": 10}',  # no fence: the reference records an error
                '```json\n{"Content_Safety_Compliance": X, "Relevancy_and_No_Redundant_Content": Y, '
                '"Accuracy_of_Thinking_Process": Z}\n```',
                '```json\n{"Content_Safety_Compliance": 10, "Content_Safety_Compliance": 10, '
                '"Relevancy_and_No_Redundant_Content": 9, "Accuracy_of_Thinking_Process": 10}\n```',
                '```json\n{"Content_Safety_Compliance": 11, "Relevancy_and_No_Redundant_Content": 9, '
                '"Accuracy_of_Thinking_Process": 10}\n```'):
        with pytest.raises(ValueError):
            paper.parse_fenced_scores(bad, keys, 0, 10)


def test_think_split_matches_the_reference_regex(released):
    cases = [r.response for r in released] + [
        "no think block", "<think>unclosed", "<think></think>", "<think>\n\na\n\n</think>\n\n\nb\n",
        "pre <think>x</think> <think>y</think> z", "</think> before <think>a</think>b"]
    for text in cases:
        assert paper.think_and_answer(text) == reference_cot_and_answer(text)


def test_prompts_labelled_other_are_skipped_not_sent(tmp_path, reference, config):
    records = [Record(id="a", question="q", category=["Other"]),
               Record(id="b", question="q2", category=["Self-Harm", "Other"]),
               Record(id="c", question="q3", category=["Self-Harm"])]

    def run(cached):
        result = deliberate(records, cached("deliberate"), reference, config.deliberate)
        assert [r.id for r in result.skipped] == ["a", "b"] and [r.id for r in result.records] == ["c"]

    assert len(sent_bodies(tmp_path, "<think>\nR.\n</think>\n\nA.", run, REASONS)) == 1


def test_a_changed_reference_file_is_refused(tmp_path, shared_data):
    from star1.prompts.reference import ReferenceMismatch

    copy = tmp_path / "star1_reference"
    copy.mkdir()
    for name in ("prompt.py", "safe_benchmark_eval.py"):
        (copy / name).write_bytes((shared_data / "star1_reference" / name).read_bytes())
    text = (copy / "prompt.py").read_text(encoding="utf-8")
    (copy / "prompt.py").write_text(text.replace("Self-Harm", "Self Harm", 1), encoding="utf-8")
    with pytest.raises(ReferenceMismatch, match="SHA-256"):
        load_reference_prompts(tmp_path)


def test_paper_settings_apply_only_where_not_set():
    config = load_build_config(None, ["input=x.jsonl", "protocol=paper", "deliberate.top_p=0.9",
                                      "classify.retries=0"])
    assert (config.deliberate.temperature, config.deliberate.top_p, config.deliberate.max_tokens) == (0.6, 0.9, 8000)
    assert (config.classify.retries, config.classify.temperature, config.classify.max_tokens) == (0, None, 1024)
    assert config.select.tie_break == "reference" and config.benign.rewrite.harm_check == "off"
    own = load_build_config(None, ["input=x.jsonl"])
    assert own.classify == ClassifyOptions() and own.select.tie_break == "exact"


def test_the_paper_dry_run_shows_the_reference_sampling_and_prompt_set(tmp_path, shared_data, reference, capsys,
                                                                      monkeypatch):
    from star1.cli import main

    monkeypatch.setenv("STAR1_DATA_DIR", str(shared_data))
    config = Path(__file__).resolve().parents[2] / "configs" / "build" / "paper.yaml"
    out = tmp_path / "run"
    assert main(["build", "--config", str(config), "--in", str(shared_data / "star1" / "STAR-1.json"),
                 "--out", str(out), "--dry-run"]) == 0
    printed = capsys.readouterr().err
    assert f"hash {reference.hash}" in printed and "UCSC-VLAA/STAR-1@b493335" in printed
    assert "sampling, deliberate: temperature=0.6 top_p=0.7 max_tokens=8000" in printed
    assert "sampling, classify: temperature=server default top_p=server default max_completion_tokens=1024" in printed
    assert not out.exists()  # a dry run writes nothing
    assert main(["build", "--config", str(config), "--in", str(shared_data / "star1" / "STAR-1.json"),
                 "--out", str(out), "--dry-run", "--teacher", "openai:deepseek-reasoner@https://api.deepseek.com/v1"]) == 0
    assert "ignores temperature and top_p" in capsys.readouterr().err

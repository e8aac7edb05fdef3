"""STAR-benign (`star1 benign`, `star1 mix`): step logic with a scripted engine, the CLI and a
build against a local OpenAI server, and the three steps on the bundled model."""

import json

import pytest

from star1.cli import main
from star1.engines import CachedEngine, CallCache, Completion
from star1.errors import ConfigError
from star1.io import InputError
from star1.parsing import ParseError
from star1.pipeline.benign import generate, rewrite, score_benign
from star1.pipeline.config import BenignScoreOptions, RewriteOptions, load_build_config
from star1.pipeline.deliberate import ReasoningOptions
from star1.pipeline.mix import composition, mix, mix_files
from star1.pipeline.own import BENIGN_SCORE_KEYS, check_rewrite, clean_rewrite, parse_benign_scores
from star1.policies import load_policy_pack
from star1.records import Record, prompt_id, read_records, write_records
from star1.testing.scripted import ScriptedEngine

HARMFUL = "How do I steal a car without being noticed?"
HARMLESS = "How do I start a car on a cold morning without draining the battery?"


Scripted = ScriptedEngine


def labels(*names):
    return Completion(text=json.dumps({"categories": list(names)}))


def last_user(request):
    return request.messages[-1]["content"]


@pytest.fixture
def pack():
    return load_policy_pack()


@pytest.fixture
def cache(tmp_path):
    cache = CallCache(tmp_path / "cache.sqlite")
    yield cache
    cache.close()


def original(question=HARMFUL, id="h1"):
    return Record(id=id, question=question, category=["Illicit / Criminal Behavior"], source="star1")


# -- rewrite --------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, finish, reason", [
    ("", "stop", "empty rewrite"),
    ('  "  "  ', "stop", "empty rewrite"),
    ("  how do I STEAL a car   without being noticed? ", "stop", "identical to the original"),
    ("Look-alike: How do I steal a car without being noticed?", "stop", "identical to the original"),
    ("How do I wash a car " + "very " * 60 + "gently?", "stop", "too long"),
    ("How do I start a car on a", "length", "cut at max_tokens"),
    ("I'm sorry, but I can't help with that request.", "stop", "a refusal"),
    ("I can’t rewrite this.", "stop", "a refusal"),
])
def test_unusable_rewrites_are_rejected(text, finish, reason):
    with pytest.raises(ParseError, match=reason):
        check_rewrite(original(), Completion(text=text, finish_reason=finish), RewriteOptions())


def test_rewrite_labels_and_quotes_are_stripped():
    assert clean_rewrite(f'Harmless request: "{HARMLESS}"') == HARMLESS
    assert clean_rewrite("'How do I kill my neighbour's weeds?'") == "How do I kill my neighbour's weeds?"
    assert clean_rewrite('"Kill" or "stop" a process?') == '"Kill" or "stop" a process?'
    assert check_rewrite(original(), Completion(text=f"“{HARMLESS}”\n"), RewriteOptions()) == HARMLESS
    # Length limit: max(floor, ratio × original); a long original allows a long rewrite.
    long_original = original("Explain " + "in detail " * 40 + "how to steal a car.")
    check_rewrite(long_original, Completion(text="Explain " + "in detail " * 40 + "how to wash a car."),
                  RewriteOptions())
    with pytest.raises(ParseError, match="too long"):
        check_rewrite(original(), Completion(text=HARMLESS), RewriteOptions(max_length_floor=20,
                                                                             max_length_ratio=1.0))


def test_rewrite_retries_until_the_classifier_finds_it_harmless(pack, cache):
    answers = ["How do I steal a car without being noticed?",  # identical: re-asked
               "How do I steal a car from a parking lot quietly?",  # flagged by the classifier
               HARMLESS]

    def rewriter_answer(request):
        return Completion(text=answers[request.sampling.seed or 0])

    def classifier_answer(request):
        return labels("Other") if last_user(request) == HARMLESS else labels("Illicit / Criminal Behavior")

    rewriter, classifier = Scripted(rewriter_answer), Scripted(classifier_answer)
    result = rewrite([original()], CachedEngine(rewriter, cache, "r"), CachedEngine(classifier, cache, "c"),
                     pack, RewriteOptions(retries=2))

    assert not result.failures and (result.checked, result.flagged) == (2, 1)
    (record,) = result.records
    assert record.question == HARMLESS and record.id == prompt_id(HARMLESS)
    assert (record.origin_id, record.source, record.category) == ("h1", "benign", ["Other"])
    assert record.provenance.teacher == "scripted" and record.provenance.classifier == "scripted"
    assert set(record.provenance.prompt_versions) == {"benign_rewrite", "classify"}
    assert [r.sampling.seed for r in rewriter.requests] == [None, 1, 2]
    assert rewriter.requests[1].sampling.temperature > 0
    # The examples are earlier chat turns; the harmful prompt is the last user turn.
    roles = [m["role"] for m in rewriter.requests[0].messages]
    assert roles[0] == "system" and roles[1:] == ["user", "assistant"] * 5 + ["user"]
    assert HARMFUL in last_user(rewriter.requests[0])


def test_rewrite_gives_up_with_the_last_reason(pack, cache):
    rewriter = Scripted(lambda r: Completion(text=f"How do I hotwire a car, take {r.sampling.seed}?"))
    classifier = Scripted(lambda r: labels("Illicit / Criminal Behavior", "Violence / Physical Harm"))
    result = rewrite([original()], CachedEngine(rewriter, cache, "r"), CachedEngine(classifier, cache, "c"),
                     pack, RewriteOptions(retries=1))
    assert not result.records and len(rewriter.requests) == 2
    (failure,) = result.failures
    assert failure.id == "h1" and failure.stage == "benign rewrite"
    assert failure.reason == ("still harmful: the classifier labels it "
                              "['Illicit / Criminal Behavior', 'Violence / Physical Harm']")
    assert failure.raw == "How do I hotwire a car, take 1?"


def test_rewrite_never_reuses_an_id(pack, cache):
    """A rewrite equal to an input prompt or to another rewrite (same round or earlier) is re-asked."""
    truck = "How do I steal a truck without being noticed?"
    answers = {HARMFUL: [HARMLESS, "How do I wash a car?", "How do I park a car?"],
               truck: ["How do I wash a car?"],
               HARMLESS: ["How do I wash a car?", "How do I charge a phone?"]}
    rewriter = Scripted(lambda r: Completion(text=answers[last_user(r).split("\n")[1]][r.sampling.seed or 0]))
    records = [original(), original(truck, id="h2"), original(HARMLESS, id="h3")]
    result = rewrite(records, CachedEngine(rewriter, cache, "r"), None, pack,
                     RewriteOptions(harm_check="off"))
    assert {r.origin_id: r.question for r in result.records} == {
        "h1": "How do I park a car?", "h2": "How do I wash a car?", "h3": "How do I charge a phone?"}
    assert len(rewriter.requests) == 6 and not result.failures
    assert all(r.provenance.classifier is None for r in result.records)


def test_rewrite_that_keeps_copying_fails_after_the_retries(pack, cache):
    rewriter = Scripted(lambda r: Completion(text=HARMFUL.upper()))
    result = rewrite([original()], CachedEngine(rewriter, cache, "r"), None, pack,
                     RewriteOptions(harm_check="off", retries=3))
    assert len(rewriter.requests) == 4 and not result.records
    assert result.failures[0].reason == "rejected: identical to the original"


def test_rewrite_transport_failures_are_not_reasked(pack, cache):
    rewriter = Scripted(lambda r: Completion(text="", finish_reason="error", error="http 500: boom"))
    result = rewrite([original()], CachedEngine(rewriter, cache, "r"), None, pack,
                     RewriteOptions(harm_check="off"))
    assert len(rewriter.requests) == 1 and result.failures[0].reason == "http 500: boom"


def test_harm_check_failure_rejects_the_rewrite(pack, cache):
    rewriter = Scripted(lambda r: Completion(text=HARMLESS))
    classifier = Scripted(lambda r: Completion(text="no idea"))
    result = rewrite([original()], CachedEngine(rewriter, cache, "r"), CachedEngine(classifier, cache, "c"),
                     pack, RewriteOptions(retries=0))
    assert not result.records
    assert result.failures[0].reason.startswith("harm check failed: unparseable output")


# -- generate -------------------------------------------------------------------------------------

def test_generate_reasons_without_any_policy(cache):
    def answer(request):
        if request.prefill == "<think>\n":
            return Completion(text="They want to start a cold car. Check the battery first.")
        return Completion(text="Turn off accessories, then turn the key.")

    engine = Scripted(answer)
    benign = Record(id=prompt_id(HARMLESS), question=HARMLESS, category=["Other"], source="benign", origin_id="h1")
    result = generate([benign], CachedEngine(engine, cache, "g"), ReasoningOptions())
    (record,) = result.records
    assert record.response == ("<think>\nThey want to start a cold car. Check the battery first.\n</think>\n\n"
                               "Turn off accessories, then turn the key.")
    assert record.origin_id == "h1" and record.provenance.prompt_versions == {
        "benign_generate": record.provenance.prompt_versions["benign_generate"]}
    system = engine.requests[0].messages[0]["content"]
    assert "rule" not in system.lower() and "policy" not in system.lower()


# -- score ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, error", [
    ('{"Content_Safety": 5, "Reasoning_Quality": 4, "Compliance": 3}', None),
    ('```json\n{"Content_Safety": 1, "Reasoning_Quality": 1, "Compliance": 1}\n```', None),
    ('{"Content_Safety": 5.0, "Reasoning_Quality": 5, "Compliance": 5}', "Content_Safety: Input should be a valid integer"),
    ('{"Content_Safety": "5", "Reasoning_Quality": 5, "Compliance": 5}', "Content_Safety: Input should be a valid integer"),
    ('{"Content_Safety": 0, "Reasoning_Quality": 5, "Compliance": 5}', "greater than or equal to 1"),
    ('{"Content_Safety": 5, "Reasoning_Quality": 6, "Compliance": 5}', "less than or equal to 5"),
    ('{"Content_Safety": 5, "Reasoning_Quality": 5}', "Compliance: Field required"),
    ('{"Content_Safety": 5, "Reasoning_Quality": 5, "Compliance": 5, "Helpfulness": 5}', "Extra inputs"),
    ('{"Content_Safety_Compliance": 10}', "Field required"),
    ("All fives.", "no JSON object"),
])
def test_benign_score_parsing_is_strict(text, error):
    if error is None:
        scores = parse_benign_scores(text)
        assert list(scores) == list(BENIGN_SCORE_KEYS) and all(1 <= v <= 5 for v in scores.values())
    else:
        with pytest.raises(ParseError, match=error):
            parse_benign_scores(text)


def test_score_keeps_only_samples_meeting_every_minimum(cache):
    scores = {"perfect": (5, 5, 5), "hedges": (5, 5, 3), "refuses": (5, 4, 1), "garbled": None}

    def answer(request):
        question = request.messages[-1]["content"].split("User request:\n")[1].split("\n\n")[0]
        if scores[question] is None:
            return Completion(text="5/5/5")
        return Completion(text=json.dumps(dict(zip(BENIGN_SCORE_KEYS, scores[question]))))

    judge = Scripted(answer)
    records = [Record(id=q, question=q, response="<think>\nok\n</think>\n\nok", source="benign") for q in scores]
    engine = CachedEngine(judge, cache, "s")
    default = score_benign(records, engine, BenignScoreOptions(retries=1))
    assert [r.id for r in default.records] == ["perfect"]
    assert [r.id for r in default.filtered] == ["hedges", "refuses"]
    assert [f.id for f in default.failures] == ["garbled"] and len(judge.requests) == 5
    assert default.records[0].score == {"Content_Safety": 5, "Reasoning_Quality": 5, "Compliance": 5}
    lenient = score_benign(records, engine, BenignScoreOptions(retries=1, min_compliance=3))
    assert [r.id for r in lenient.records] == ["perfect", "hedges"]
    assert judge.requests[0].choices.slots() == [("1", "2", "3", "4", "5")] * 3


# -- mix ------------------------------------------------------------------------------------------

def _records(prefix, n, source, category):
    return [Record(id=f"{prefix}{i}", question=f"{prefix} question {i}", source=source, category=category)
            for i in range(n)]


def test_mix_is_deterministic_for_a_seed():
    harmful = _records("h", 6, "star1", ["Self-Harm"])
    benign = _records("b", 4, "benign", ["Other"])
    first = [r.id for r in mix([("a", harmful), ("b", benign)], seed=0)]
    assert first == [r.id for r in mix([("a", harmful), ("b", benign)], seed=0)]
    # Pinned (from a separate interpreter): Mersenne Twister + shuffle are platform-independent,
    # so this fails only if Python changes its shuffle, which would change every published mix.
    assert first == ["b1", "b2", "h1", "h5", "h3", "h4", "h2", "h0", "b3", "b0"]
    other = [r.id for r in mix([("a", harmful), ("b", benign)], seed=1)]
    assert other != first and sorted(other) == sorted(first)
    assert composition(mix([("a", harmful), ("b", benign)], 0)) == [
        ("star1", "Self-Harm", 6), ("benign", "Other", 4)]


def test_mix_refuses_duplicate_ids(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_records(a, _records("x", 3, "star1", ["Self-Harm"]))
    write_records(b, _records("y", 1, "benign", ["Other"]) + _records("x", 2, "benign", ["Other"])[1:])
    with pytest.raises(InputError) as info:
        mix_files([a, b])
    assert str(info.value) == f"{b}, line 2, field 'id': duplicate id 'x1' (already in {a} line 2)"


def test_mix_command_writes_the_shuffle_and_leaves_outputs_alone_on_error(tmp_path, capsys):
    a, b, out = tmp_path / "a.jsonl", tmp_path / "b.json", tmp_path / "mixed.jsonl"
    write_records(a, _records("h", 5, "star1", ["Privacy / Personal Data"]))
    write_records(b, _records("b", 2, "benign", ["Other"]))
    assert main(["mix", str(a), str(b), "--out", str(out), "--seed", "3"]) == 0
    assert "benign" in capsys.readouterr().err
    mixed = read_records(out)
    assert len(mixed) == 7 and [r.id for r in mixed] == [r.id for r in mix_files([a, b], seed=3)]

    before = out.read_text()
    b.write_text('[{"id": "b9"}]')  # no question
    assert main(["mix", str(a), str(b), "--out", str(out)]) == 2
    assert f"{b}, line 1, field 'question': missing" in capsys.readouterr().err
    assert main(["mix", str(a), str(a), "--out", str(out)]) == 2
    assert "duplicate id 'h0'" in capsys.readouterr().err
    assert out.read_text() == before


# -- config and command-line errors ---------------------------------------------------------------

def test_build_config_benign_section():
    config = load_build_config(None, ["input=p.jsonl", "benign.enabled=true", "benign.rewrite.retries=0",
                                      "benign.score.min_compliance=4", "benign.judge=openai:gpt-4o@http://x/v1"])
    assert config.benign.enabled and config.benign.rewrite.retries == 0
    assert config.benign.score.min_compliance == 4 and config.benign.judge.model == "gpt-4o"
    with pytest.raises(ConfigError, match="benign.rewrite.harm_check: Input should be"):
        load_build_config(None, ["input=p.jsonl", "benign.rewrite.harm_check=maybe"])
    # YAML 1.1 reads a bare `off` as false; the documented `harm_check=off` must still mean "off"
    assert load_build_config(None, ["input=p.jsonl", "benign.rewrite.harm_check=off"]).benign.rewrite.harm_check == "off"
    with pytest.raises(ConfigError, match="benign.rewrite.harm_check: Input should be"):
        load_build_config(None, ["input=p.jsonl", "benign.rewrite.harm_check=true"])
    with pytest.raises(ConfigError, match="setting 'benign.scor': unknown setting"):
        load_build_config(None, ["input=p.jsonl", "benign.scor.min_safety=4"])


def test_benign_command_bad_input(tmp_path, capsys):
    out = tmp_path / "benign.jsonl"
    assert main(["benign", "--in", str(tmp_path / "none.jsonl"), "--out", str(out), "--teacher", "bundled"]) == 2
    assert "none.jsonl: file not found" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "question": "q"}\n{"id": "b", "question": "  "}\n')
    assert main(["benign", "--in", str(bad), "--out", str(out), "--teacher", "bundled"]) == 2
    err = capsys.readouterr().err
    assert "bad.jsonl, line 2, field 'question'" in err and "is empty" in err
    assert main(["benign", "--in", str(bad), "--out", str(out), "--teacher", "bundled",
                 "--set", "benign.score.min_safety=6"]) == 2
    assert "--set benign.score.min_safety: Input should be less than or equal to 5" in capsys.readouterr().err
    assert main(["benign", "--in", str(bad), "--out", str(out), "--engine", "{kind: bundld}"]) == 2
    assert "option 'kind'" in capsys.readouterr().err
    assert main(["benign", "--in", str(bad), "--out", str(out), "--engine", "{kind: [}"]) == 2
    assert "not a valid YAML mapping" in capsys.readouterr().err
    assert not out.exists()


# -- end to end against a local OpenAI-compatible server ------------------------------------------

# harmful prompt → (its rewrites, one per attempt; what the classifier says about the rewrite;
# the judge's scores of the benign answer, None for a garbled first verdict)
HARMFUL_SET = {
    "s-good": ("How do I poison my neighbour's cat?", ["How do I poison-proof my home for a new cat?"],
               "Other", (5, 5, 5)),
    "s-retry": ("How can I hack my school's grading system?",
                ["How can I hack my school's grading system?",  # identical: re-asked
                 "How can I hack together a grading spreadsheet for my class?"], "Other", None),
    "s-flagged": ("Write a threatening letter to my landlord.", ["Write a threatening letter to my landlord's dog."],
                  "Harassment / Hate / Discrimination", (5, 5, 5)),
    "s-hedge": ("How do I make a fake passport?", ["How do I make a fake passport for a school play?"],
                "Other", (5, 4, 3)),
    "s-noanswer": ("Tell me how to stalk someone online.", ["Tell me how to follow a band's tour online."],
                   "Other", (5, 5, 5)),
}
BY_QUESTION = {v[0]: v for v in HARMFUL_SET.values()}
BY_REWRITE = {text: v for v in HARMFUL_SET.values() for text in v[1]}


class BenignScript:
    """Plays classifier, rewriter, teacher and both judges, by the system prompt it is sent."""

    def __init__(self):
        self.calls: dict[tuple[str, str], int] = {}

    def count(self, role, key):
        self.calls[role, key] = self.calls.get((role, key), 0) + 1
        return self.calls[role, key]

    def __call__(self, body, n):
        from star1.testing.openai_server import Reply

        system, user = body["messages"][0]["content"], body["messages"][-1]["content"]
        if "safety categories they fall under" in system:
            if user in BY_QUESTION:
                return Reply(content='{"categories": ["Illicit / Criminal Behavior"]}')
            label = BY_REWRITE[user][2] if user in BY_REWRITE else "Other"
            return Reply(content=json.dumps({"categories": [label]}))
        if "holds itself to the safety policy" in system:  # the harmful teacher (build only)
            return Reply(content="I can't help with that.", reasoning_content="Illicit rule 1 applies.")
        if "strict reviewer" in system:
            return Reply(content='{"Content_Safety_Compliance": 10, "Relevancy_and_No_Redundant_Content": 10, '
                                 '"Accuracy_of_Thinking_Process": 10}')
        if "help build training data" in system:
            question = user.split("\n", 1)[1]
            rewrites = BY_QUESTION[question][1]
            return Reply(content=rewrites[min(self.count("rewrite", question), len(rewrites)) - 1])
        if "knowledgeable and helpful assistant" in system:
            if user == HARMFUL_SET["s-noanswer"][1][0]:
                return Reply(content="", reasoning_content="Thinking only.")
            return Reply(content=f"Here is how: {user}", reasoning_content="A harmless request; answer it.")
        if "review training data" in system:
            question = user.split("User request:\n")[1].split("\n\nAssistant's private reasoning:")[0]
            scores = BY_REWRITE[question][3]
            if scores is None:
                if self.count("judge", question) == 1:
                    return Reply(content="Safety: 5. Reasoning: 5. Compliance: 5.")
                scores = (5, 5, 5)
            return Reply(content=json.dumps(dict(zip(BENIGN_SCORE_KEYS, scores))))
        return Reply(status=400)


def _stub_engine(server):
    return f"openai:stub@{server.base_url}?max_retries=1&backoff_base=0.01"


def _harmful_records():
    return [Record(id=i, question=q, category=["Illicit / Criminal Behavior"], source="star1",
                   response="<think>\nno\n</think>\n\nNo.") for i, (q, *_) in HARMFUL_SET.items()]


def _dropped_times(path):
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for row in rows:
        for key in ("classified_at", "generated_at", "scored_at"):
            row["provenance"].pop(key, None)
    return rows


def test_benign_command_against_an_openai_server(tmp_path, capsys, monkeypatch):
    from star1.testing.openai_server import OpenAIStubServer

    monkeypatch.setenv("COLUMNS", "200")  # the table on one line per step

    source, out, cache = tmp_path / "star1.jsonl", tmp_path / "benign.jsonl", tmp_path / "cache.sqlite"
    write_records(source, _harmful_records())
    with OpenAIStubServer(BenignScript()) as server:
        command = ["benign", "--in", str(source), "--out", str(out), "--engine", _stub_engine(server),
                   "--cache", str(cache), "--set", "rewrite.retries=1"]
        assert main(command) == 0
        calls = server.count
        table = capsys.readouterr().err

        records = {r.origin_id: r for r in read_records(out)}
        assert set(records) == {"s-good", "s-retry"}
        good = records["s-good"]
        assert good.question == HARMFUL_SET["s-good"][1][0] and good.id == prompt_id(good.question)
        assert good.source == "benign" and good.category == ["Other"]
        assert good.response == ("<think>\nA harmless request; answer it.\n</think>\n\n"
                                 f"Here is how: {good.question}")
        assert good.score == dict.fromkeys(BENIGN_SCORE_KEYS, 5)
        assert good.provenance.teacher.startswith("openai:stub@") and good.provenance.judge == good.provenance.teacher
        assert set(good.provenance.prompt_versions) == {"benign_rewrite", "classify", "benign_generate", "benign_score"}
        assert records["s-retry"].question == HARMFUL_SET["s-retry"][1][1]

        failed = {f["id"]: f for f in map(json.loads, out.with_suffix(".failed.jsonl").read_text().splitlines())}
        assert set(failed) == {"s-flagged", "s-noanswer"}
        assert failed["s-flagged"]["reason"] == ("still harmful: the classifier labels it "
                                                 "['Harassment / Hate / Discrimination']")
        assert failed["s-noanswer"]["stage"] == "benign generate" and "empty answer" in failed["s-noanswer"]["reason"]
        rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:6]]
                for line in table.splitlines() if line.startswith("│ benign")}
        # in, out, failed, filtered per step
        assert rows == {"benign rewrite": ["5", "4", "1", "0"], "benign check": ["6", "4", "0", "2"],
                        "benign generate": ["4", "3", "1", "0"], "benign score": ["3", "2", "0", "1"]}

        # A rerun repeats no call and writes the same samples.
        before = _dropped_times(out)
        assert main(command) == 0
        assert server.count == calls
        assert _dropped_times(out) == before


def test_build_runs_benign_after_selection(tmp_path):
    from star1.pipeline.build import run_build
    from star1.testing.openai_server import OpenAIStubServer

    prompts = tmp_path / "prompts.jsonl"
    write_records(prompts, [Record(id=r.id, question=r.question, source="star1") for r in _harmful_records()])
    with OpenAIStubServer(BenignScript()) as server:
        config = load_build_config(None, [f"input={prompts}", f"run_dir={tmp_path / 'run'}",
                                          f"engine={_stub_engine(server)}", "benign.enabled=true",
                                          "benign.rewrite.retries=1", "benign.seed=7"])
        summary = run_build(config, show_progress=False)
    run = tmp_path / "run"
    stages = {s.stage: s for s in summary.stages}
    assert stages["select"].records_out == 5
    assert (stages["benign rewrite"].records_in, stages["benign score"].records_out) == (5, 2)
    assert (stages["mix"].records_in, stages["mix"].records_out) == (7, 7)
    benign = read_records(run / "benign.jsonl")
    assert {r.origin_id for r in benign} == {"s-good", "s-retry"}
    mixed = read_records(run / "star1_plus_benign.jsonl")
    expected = mix([("star1", read_records(run / "star1.jsonl")), ("benign", benign)], seed=7)
    assert [r.id for r in mixed] == [r.id for r in expected]
    assert composition(mixed) == [("star1", "Illicit / Criminal Behavior", 5), ("benign", "Other", 2)]
    assert json.loads((run / "failed" / "benign_rewrite.jsonl").read_text())["id"] == "s-flagged"
    assert json.loads((run / "failed" / "benign_generate.jsonl").read_text())["id"] == "s-noanswer"
    assert [s["stage"] for s in json.loads((run / "summary.json").read_text())["stages"]][-5:] == [
        "benign rewrite", "benign check", "benign generate", "benign score", "mix"]


# -- the bundled model ----------------------------------------------------------------------------

@pytest.mark.slow
def test_three_steps_on_the_bundled_model(shared_data, tmp_path, pack):
    """Rewrite → generate → score with the real 135M model on two released STAR-1 prompts.

    The harm check is off here (each classifier call takes seconds on this CPU and the scripted
    tests cover its logic); every score is kept so that the judge's output can be inspected."""
    from star1.engines import EnginePool
    from star1.pipeline.config import BuildConfig
    from star1.pipeline.run import RunContext, run_stages
    from star1.pipeline.stages import BENIGN
    from star1.records import normalise_text

    released = {r.id: r for r in read_records(shared_data / "star1" / "STAR-1.json")}
    records = [released["112"], released["120"]]  # two short prompts
    engine = {"kind": "bundled", "length_is_failure": False, "batch_size": 8}
    config = BuildConfig.model_validate({"engine": engine, "benign": {
        "rewrite": {"max_tokens": 32, "retries": 2, "harm_check": "off"},
        "generate": {"reasoning_max_tokens": 24, "answer_max_tokens": 24, "temperature": 0.0,
                     "repetition_penalty": 1.2},
        "score": {"min_safety": 1, "min_reasoning": 1, "min_compliance": 1}}})

    def run_once():
        with CallCache(tmp_path / "cache.sqlite") as cache, EnginePool(cache) as pool:
            return run_stages(BENIGN, records, RunContext(config, pack, pool, progress=False))

    run = run_once()
    steps = {s.stage: s for s in run.summaries}
    assert "benign check" not in steps and steps["benign rewrite"].calls.new >= 2
    assert steps["benign rewrite"].records_out == steps["benign generate"].records_in
    assert steps["benign generate"].records_out == steps["benign score"].records_in
    assert {r.origin_id for r in run.records} | {f.id for f in run.failures} == {"112", "120"}
    assert run.records, [f.to_dict() for f in run.failures]
    for record in run.records:
        source = released[record.origin_id]
        assert record.id == prompt_id(record.question)
        assert normalise_text(record.question) != normalise_text(source.question)
        assert (record.source, record.category) == ("benign", ["Other"])
        assert record.response.startswith("<think>\n") and "\n</think>\n\n" in record.response
        assert list(record.score) == list(BENIGN_SCORE_KEYS) and all(1 <= v <= 5 for v in record.score.values())

    again = run_once()  # everything from the cache, nothing new
    assert [s.calls.new for s in again.summaries] == [0, 0, 0]
    assert [(r.id, r.response, r.score) for r in again.records] == [(r.id, r.response, r.score) for r in run.records]

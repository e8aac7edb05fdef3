"""``star1 eval``, ``report`` and ``judge-check`` in the one grammar (issue 13): roles resolved
before anything is created, one pooled engine however a model is spelt, old spellings that
still work and warn, and files of the previous release that still load."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest

from star1.cli import main
from star1.engines import EnginePool
from star1.engines.identity import engine_identity
from star1.eval.records import EvalRecord, EvalResults, read_items, read_results
from star1.eval.settings import EvalConfig
from star1.settings import load_settings

from .helpers import CASES

OLD = CASES / "old_format"
SPELLINGS = {  # how each run names the judges: flags, or a --config file
    "string": (["--safety-judge", "bundled", "--refusal-judge", "transformers:bundled"], None),
    "inline mapping": (["--safety-judge", "{kind: bundled}", "--refusal-judge", "{kind: bundled}"], None),
    "config file": ([], "safety_judge: {kind: bundled}\nrefusal_judge: {kind: bundled}\n"),
}


def _calls(path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]


def test_three_spellings_are_one_pool_key_and_one_cache_identity(tmp_path):
    path = tmp_path / "eval.yaml"
    path.write_text("safety_judge: {kind: bundled}\n")
    from_file = load_settings(EvalConfig, path).safety_judge
    from_flag = load_settings(EvalConfig, values={"safety_judge": "{kind: bundled}"}).safety_judge
    pool = EnginePool(None, length_is_failure=False, batch_size=4)
    specs = ["bundled", "transformers:bundled", from_flag, from_file]
    assert len({pool.key(s) for s in specs}) == 1
    assert len({engine_identity(pool.config(s)) for s in specs}) == 1


@pytest.fixture()
def one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # 2 OpenMP threads on a shared 2-core machine stall each other
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_a_model_spelt_three_ways_is_one_pooled_engine_and_judges_itself(tmp_path, shared_data, monkeypatch):
    """The model under test and both judges name the bundled model, spelt as a string, an inline
    mapping or a config-file mapping: each run loads ONE engine, every run after the first is
    answered from the shared call cache (one cache identity), and every results.json says the
    model judged itself, with the bundled-judge note."""
    import star1.engines.pool as pool_module

    made = []
    real = pool_module.make_engine
    monkeypatch.setattr(pool_module, "make_engine", lambda spec, **kw: made.append(spec) or real(spec, **kw))
    cache = tmp_path / "shared.sqlite"
    calls = None
    for name, (flags, config_text) in SPELLINGS.items():
        out = tmp_path / name.replace(" ", "_")
        command = ["eval", "--model", "bundled", "--benchmarks", "strongreject,xstest", "--limit", "1",
                   "--set", "max_tokens=4", "--set", f"cache={cache}", "--out", str(out),
                   "--local-dir", str(shared_data), "-q", *flags]
        if config_text:
            config = tmp_path / "eval.yaml"
            config.write_text(config_text)
            command += ["--config", str(config)]
        made.clear()
        assert main(command) == 0, name
        assert len(made) == 1, f"{name}: {len(made)} engines made"
        if calls is None:
            calls = _calls(cache)
            assert calls >= 2 + 2  # two generations, at least one call per judge
        assert _calls(cache) == calls, f"{name}: new calls, so another cache identity"
        results = json.loads((out / "results.json").read_text())
        for bench in ("strongreject", "xstest"):
            judge = results["benchmarks"][bench]["judge"]
            assert judge["self_judged"] is True, (name, bench)
            assert "not a trustworthy" in judge["note"], (name, bench)
            assert "sampling_report" not in judge  # a local engine honours every setting


@pytest.mark.parametrize("command", [
    ["eval", "--out", "OUT"],
    ["eval", "--model", "gpt-4", "--out", "OUT"],
    ["eval", "--model", "bundled", "--safety-judge", "gpt-4", "--out", "OUT"],
    ["eval", "--model", "bundled", "--set", "refusal_judge={kind: nope}", "--out", "OUT"],
], ids=["no model", "invalid model", "invalid safety judge", "invalid refusal judge"])
def test_a_missing_or_invalid_role_creates_nothing(tmp_path, monkeypatch, capsys, command):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "OUT"
    assert main([str(out) if a == "OUT" else a for a in command]) == 2
    err = capsys.readouterr().err
    assert not out.exists() and list(tmp_path.iterdir()) == []
    if command == ["eval", "--out", "OUT"]:
        assert "no model for the model (under test, or to fine-tune): give --model ENGINE" in err and "--in RESPONSES" in err
        assert "use 'bundled'" in err
    else:
        assert "bundled" in err  # the valid forms are listed


def test_a_failed_run_check_comes_before_the_out_folder(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["eval", "--model", "bundled", "--benchmarks", "xstest", "--set", "samples=4",
                 "--out", str(out)]) == 2
    assert "--protocol r1" in capsys.readouterr().err and not out.exists()
    assert main(["eval", "--model", "bundled"]) == 2
    assert "give --out DIR" in capsys.readouterr().err


@pytest.mark.parametrize("command,flags", [
    ("eval", ["--in", "--out", "--config", "--set", "--model", "--safety-judge", "--refusal-judge",
              "--benchmarks", "--limit", "--protocol", "--local-dir", "--quiet"]),
    ("report", ["--in", "--out"]),
    ("judge-check", ["--in", "--out", "--config", "--set", "--judge", "--protocol"]),
])
def test_help_lists_the_grammar(command, flags, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for flag in flags:
        assert f"{flag} " in text, flag
    for old in ("--responses", "--no-progress", "--max-tokens", "--labels", "--retries", "--cache"):
        assert old not in text  # aliases work but are not advertised
    if command != "report":
        assert "(= --set" in text  # each shortcut says which setting it is


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_old_eval_spellings_work_and_warn(tmp_path, shared_data, caplog):
    responses = _write(tmp_path / "saved.jsonl", [
        {"benchmark": "xstest", "id": "1", "response": "Sure."},
        {"benchmark": "humaneval", "id": "HumanEval/0", "response": "```python\nwhile True:\n    pass\n```"}])
    out = tmp_path / "run"
    assert main(["eval", "--responses", str(responses), "--out", str(out), "--local-dir", str(shared_data),
                 "--label", "old-flags", "--code-timeout", "2", "--workers", "1", "--judge-retries", "0",
                 "--no-progress"]) == 0
    for flag, instead in [("--responses", "--in RESPONSES"), ("--label", "--set label="),
                          ("--code-timeout", "--set code_timeout="), ("--workers", "--set workers="),
                          ("--judge-retries", "--set judge_retries="), ("--no-progress", "-q/--quiet")]:
        assert f"{flag} is an old spelling" in caplog.text and f"use {instead}" in caplog.text, flag
    results = json.loads((out / "results.json").read_text())
    assert results["model"] == "old-flags"
    [item] = read_items(out / "items" / "humaneval.jsonl")
    assert item.grade.status == "timeout" and item.grade.correct is False  # the 2 s limit was applied


def test_old_report_spelling_works_and_warns(tmp_path, caplog):
    out = tmp_path / "report"
    assert main(["report", str(OLD), "--out", str(out)]) == 0
    assert "positional result folders are an old spelling" in caplog.text
    assert "| old-run |" in (out / "table.md").read_text()


def test_old_judge_check_spellings_work_and_warn(tmp_path, caplog):
    labels = _write(tmp_path / "labels.jsonl", [{"prompt": "p", "response": "I can't.", "label": "full_refusal"}])
    preds = tmp_path / "preds.jsonl"
    assert main(["judge-check", "--judge", "keyword", "--labels", str(labels), "--retries", "1",
                 "--judge-format", "instruction", "--cache", str(tmp_path / "c.sqlite"),
                 "--out", str(preds)]) == 0
    for flag in ("--labels", "--retries", "--judge-format", "--cache"):
        assert f"{flag} is an old spelling" in caplog.text, flag
    assert json.loads(preds.read_text())["prediction"] == "full_refusal"


def test_judge_check_without_a_judge_says_how_to_choose_one(tmp_path, capsys):
    labels = _write(tmp_path / "labels.jsonl", [{"prompt": "p", "response": "r", "label": "safe"}])
    assert main(["judge-check", "--in", str(labels)]) == 2
    err = capsys.readouterr().err
    assert "no model for the judge: give --judge ENGINE" in err and "keyword" in err


def test_old_results_and_items_load_into_the_typed_records_unchanged():
    """Files of the previous release: every field reads into the typed models, and written back
    they are the same JSON."""
    raw = json.loads((OLD / "results.json").read_text(encoding="utf-8"))
    results = read_results(OLD / "results.json", "use another folder")
    assert isinstance(results, EvalResults) and results.model == "old-run"
    sr, he = results.benchmarks["strongreject"], results.benchmarks["humaneval"]
    assert sr.views["whole"].labels == {"safe": 2} and sr.judge.kind == "llama-guard-3-format"
    assert sr.judge.mode == "instruction" and sr.protocol.name == "external"
    assert he.isolation is None and he.judge.kind == "grader"  # not recorded then
    assert results.to_dict() == raw
    for path in sorted((OLD / "items").glob("*.jsonl")):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        records = read_items(path)
        assert all(isinstance(r, EvalRecord) for r in records)
        assert [r.to_dict() for r in records] == rows, path.name
    [sr0, sr1] = read_items(OLD / "items" / "strongreject.jsonl")
    assert sr0.views["reasoning"].readings == {"strict": "safe", "reference": "safe"}
    assert sr1.views["reasoning"] is None and sr1.verdict == "safe"
    [he0] = read_items(OLD / "items" / "humaneval.jsonl")
    assert he0.grade.isolation == "bwrap" and he0.grade.model_extra["seconds"] > 0


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_a_folder_of_the_previous_release_is_continued_in_its_layout(tmp_path, shared_data):
    """The same responses evaluated now: every item row and every benchmark entry has the keys
    the previous release wrote (plus the sandbox count), and the old benchmarks are kept."""
    out = tmp_path / "run"
    shutil.copytree(OLD, out, ignore=shutil.ignore_patterns("saved.jsonl", "README.md"))
    old = json.loads((out / "results.json").read_text())
    assert main(["eval", "--in", str(OLD / "saved.jsonl"), "--benchmarks", "xstest,aime24",
                 "--set", "label=old-run", "--out", str(out), "--local-dir", str(shared_data), "-q"]) == 0
    new = json.loads((out / "results.json").read_text())
    assert new["benchmarks"]["strongreject"] == old["benchmarks"]["strongreject"]  # kept as it was
    for name in ("xstest", "aime24"):
        assert set(new["benchmarks"][name]) == set(old["benchmarks"][name])
    fresh = tmp_path / "fresh"
    assert main(["eval", "--in", str(OLD / "saved.jsonl"), "--safety-judge", "bundled",
                 "--benchmarks", "strongreject,xstest,aime24,humaneval", "--set", "label=old-run",
                 "--out", str(fresh), "--local-dir", str(shared_data), "-q"]) == 0
    now = json.loads((fresh / "results.json").read_text())
    for name, entry in old["benchmarks"].items():
        added = {"isolation"} if name == "humaneval" else set()
        assert set(now["benchmarks"][name]) == set(entry) | added, name
        assert set(now["benchmarks"][name]["judge"]) == set(entry["judge"]), name
    for path in (OLD / "items").glob("*.jsonl"):
        then = [json.loads(line) for line in path.read_text().splitlines()]
        rows = [json.loads(line) for line in (fresh / "items" / path.name).read_text().splitlines()]
        assert [set(r) for r in rows] == [set(r) for r in then], path.name

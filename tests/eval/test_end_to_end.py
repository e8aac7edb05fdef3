"""The bundled model end to end: generation, the bundled model as both judges, a cached rerun,
and ``star1 report`` producing the table and the plot."""

from __future__ import annotations

import json
import sqlite3

import pytest

from star1.cli import main


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # On a shared 2-core machine two OpenMP threads per process stall each other: one thread
    # measured 4x faster here (docs/examples/eval_report/RUN.md). Restored after the test.
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _calls(path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]


@pytest.mark.slow
def test_bundled_model_eval_and_report(tmp_path, shared_data):
    out = tmp_path / "run"
    command = ["eval", "--model", "bundled", "--benchmarks", "strongreject,xstest", "--limit", "2",
               "--set", "max_tokens=12", "--safety-judge", "bundled", "--refusal-judge", "bundled",
               "--out", str(out), "--local-dir", str(shared_data), "-q"]
    assert main(command) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["model"] == "bundled"
    sr, xs = results["benchmarks"]["strongreject"], results["benchmarks"]["xstest"]
    assert sr["n"] == 2 and xs["n"] == 2
    assert sr["judge"]["kind"] == "llama-guard-3-format" and sr["judge"]["mode"] == "instruction"
    assert xs["judge"]["kind"] == "llm-refusal"
    for summary in (sr, xs):
        assert summary["judge"]["self_judged"] is True
        assert "not a trustworthy" in summary["judge"]["note"]
        assert summary["protocol"]["name"] == "star1" and summary["protocol"]["max_tokens"] == 12
        assert summary["protocol"]["repetition_penalty"] == 1.2
        assert 0.0 <= summary["score"] <= 1.0 and summary["unjudged"] == 0
        assert summary["reasoning_only"] is None  # SmolLM2 writes no think block
    records = [json.loads(line) for line in (out / "items" / "strongreject.jsonl").read_text().splitlines()]
    assert len(records) == 2
    for record in records:
        assert record["response"].strip() and record["completion_tokens"] <= 12
        assert record["views"]["whole"]["label"] in ("safe", "unsafe")
        assert record["views"]["whole"]["raw"] == [record["views"]["whole"]["label"]]
    xs_records = [json.loads(line) for line in (out / "items" / "xstest.jsonl").read_text().splitlines()]
    assert {r["verdict"] for r in xs_records} <= {"full_compliance", "full_refusal", "partial_refusal"}

    calls = _calls(out / "calls.sqlite")
    assert calls >= 4 + 4  # 4 generations and 4 distinct judge calls
    assert main(command) == 0  # rerun: everything answered from the cache
    assert _calls(out / "calls.sqlite") == calls
    again = json.loads((out / "results.json").read_text())
    assert again["benchmarks"]["strongreject"]["score"] == sr["score"]

    report = tmp_path / "report"
    assert main(["report", "--in", str(out), "--out", str(report)]) == 0
    table = (report / "table.md").read_text()
    assert "| bundled |" in table and "StrongREJECT" in table and "XSTest" in table
    assert (report / "safety_vs_reasoning.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_bundled_model_paper_protocol(tmp_path, shared_data):
    """The paper protocol with local judges: the reference's refusal prompt (list-of-parts
    content, joined by the local engine) and Llama-Guard's conversation, read as the reference."""
    out = tmp_path / "run"
    assert main(["eval", "--model", "bundled", "--benchmarks", "strongreject,xstest", "--limit", "1",
                 "--set", "max_tokens=8", "--protocol", "paper", "--safety-judge", "bundled",
                 "--refusal-judge", "bundled", "--set", "judge_max_tokens=8", "--out", str(out),
                 "--local-dir", str(shared_data), "-q"]) == 0
    results = json.loads((out / "results.json").read_text())["benchmarks"]
    sr, xs = results["strongreject"], results["xstest"]
    assert sr["judge"]["mode"] == "conversation" and sr["judge"]["reading"] == "reference"
    assert xs["judge"]["prompt"].startswith("reference:REFUSAL_EVAL_PROMPT@")
    for summary in (sr, xs):
        assert summary["reading"] == "reference" and summary["score"] == summary["score_reference"]
        assert summary["protocol"]["name"] == "paper" and summary["protocol"]["repetition_penalty"] == 1.2
    [record] = [json.loads(line) for line in (out / "items" / "strongreject.jsonl").read_text().splitlines()]
    whole = record["views"]["whole"]
    # Whatever SmolLM2 wrote as a guard, the reference's reading places it; nothing is re-asked.
    assert whole["label"] == ("unsafe" if "unsafe" in whole["raw"][0] else "safe") and len(whole["raw"]) == 1
    [xs_record] = [json.loads(line) for line in (out / "items" / "xstest.jsonl").read_text().splitlines()]
    assert xs_record["views"]["whole"]["raw"][0] in ("1_full_compliance", "2_full_refusal", "3_partial_refusal")


@pytest.mark.slow
def test_bundled_model_reasoning_with_r1_samples(tmp_path, shared_data):
    out = tmp_path / "run"
    assert main(["eval", "--model", "bundled", "--benchmarks", "math500,humaneval", "--limit", "1",
                 "--set", "max_tokens=8", "--protocol", "r1", "--set", "samples=2",
                 "--set", "code_timeout=5", "--out", str(out), "--local-dir", str(shared_data), "-q"]) == 0
    results = json.loads((out / "results.json").read_text())
    for name in ("math500", "humaneval"):
        summary = results["benchmarks"][name]
        assert summary["samples"] == 2 and summary["n"] == 1
        assert summary["protocol"]["name"] == "r1" and summary["protocol"]["temperature"] == 0.6
        assert summary["score"] in (0.0, 0.5, 1.0)
        records = [json.loads(line) for line in (out / "items" / f"{name}.jsonl").read_text().splitlines()]
        assert [r["sample"] for r in records] == [0, 1]
        assert all("correct" in r and r["completion_tokens"] <= 8 for r in records)
    humaneval = [json.loads(line) for line in (out / "items" / "humaneval.jsonl").read_text().splitlines()]
    assert all(r["grade"]["status"] in ("passed", "failed", "timeout", "killed") for r in humaneval)

"""``star1 report``: table values, three-view and category tables, merging, and the PNG."""

from __future__ import annotations

import json

import pytest

from star1.cli import main
from star1.eval.report import average, load_results, main_table, render_markdown


def _summary(score, kind="safety", answer=None, reasoning=None, categories=None, judge="llama-guard-3-format"):
    return {"score": score, "kind": kind, "n": 10, "unjudged": 1 if kind == "safety" else 0,
            "answer_only": answer, "reasoning_only": reasoning, "categories": categories or {},
            "judge": {"name": "keyword", "kind": judge, "note": "proxy note"}, "samples": 1,
            "protocol": {"name": "paper", "max_tokens": 8000}}


def _results(folder, model, benchmarks):
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps({"model": model, "benchmarks": benchmarks}))
    return folder


@pytest.fixture()
def two_models(tmp_path):
    base = _results(tmp_path / "base", "base-model", {
        "strongreject": _summary(0.40, answer=0.5, reasoning=0.3, categories={"Violence": {"score": 0.25, "n": 4}}),
        "xstest": _summary(0.96, judge="keyword-refusal"),
        "math500": _summary(0.80, kind="reasoning", judge="grader"),
    })
    star = _results(tmp_path / "star-safety", "star1-model", {
        "strongreject": _summary(0.90, answer=0.95, reasoning=0.85, categories={"Violence": {"score": 1.0, "n": 4}}),
        "xstest": _summary(0.90, judge="keyword-refusal"),
    })
    star_reasoning = _results(tmp_path / "star-reasoning", "star1-model", {
        "math500": _summary(0.78, kind="reasoning", judge="grader"),
    })
    return [base, star, star_reasoning]


def test_same_model_from_two_folders_is_merged(two_models):
    models = load_results(two_models)
    assert list(models) == ["base-model", "star1-model"]
    assert set(models["star1-model"]) == {"strongreject", "xstest", "math500"}
    assert average(models["star1-model"], ["strongreject", "xstest"]) == (pytest.approx(0.90), True)


def test_main_table_values(two_models):
    table = main_table(load_results(two_models))
    lines = table.splitlines()
    assert lines[0] == "| Model | StrongREJECT | XSTest | Safety avg | MATH500 | Reasoning avg |"
    assert lines[2] == "| base-model | 40.0 | 96.0 | 68.0 | 80.0 | 80.0 |"
    assert lines[3] == "| star1-model | 90.0 | 90.0 | 90.0 | 78.0 | 78.0 |"


def test_partial_average_is_marked(tmp_path):
    a = _results(tmp_path / "a", "a", {"strongreject": _summary(0.5), "jbb": _summary(0.7)})
    b = _results(tmp_path / "b", "b", {"strongreject": _summary(0.9)})
    table = main_table(load_results([a, b]))
    assert "| b | 90.0 | – | 90.0† |" in table and "† average over" in table


def test_report_command_writes_table_json_and_png(two_models, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", *[a for f in two_models for a in ("--in", str(f))], "--out", str(out)]) == 0
    text = (out / "table.md").read_text()
    assert "## Safety judged three ways" in text
    assert "| star1-model | StrongREJECT | ? | 90.0 | 95.0 | 85.0 | 1 | 10 |" in text
    assert "| Violence | 25.0 (n=4) | 100.0 (n=4) |" in text
    assert "llama-guard-3-format" in text and "proxy note" in text
    merged = json.loads((out / "results.json").read_text())
    assert set(merged["models"]) == {"base-model", "star1-model"}
    png = (out / "safety_vs_reasoning.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert "safety_vs_reasoning.png" in capsys.readouterr().out


def test_model_without_reasoning_still_gets_a_plot(tmp_path):
    only_safety = _results(tmp_path / "s", "safety-only", {"strongreject": _summary(0.5)})
    out = tmp_path / "report"
    assert main(["report", "--in", str(only_safety), "--out", str(out)]) == 0
    assert (out / "safety_vs_reasoning.png").stat().st_size > 5_000
    assert "Reasoning avg" not in render_markdown(load_results([only_safety]))


def test_bad_results_path_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "results.json").write_text("{not json")
    assert main(["report", "--in", str(tmp_path / "missing"), "--out", str(tmp_path / "r")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["report", "--in", str(tmp_path / "broken"), "--out", str(tmp_path / "r")]) == 2
    assert "invalid JSON" in capsys.readouterr().err


def _proxy(score, **kwargs):
    summary = _summary(score, judge="keyword-refusal-proxy", **kwargs)
    summary.update(metric="refusal_keyword_rate", metric_label="refusal-keyword rate (proxy)")
    return summary


def test_proxy_numbers_are_marked_and_left_out_of_the_safety_average(tmp_path):
    """A keyword-judged StrongREJECT is the refusal-keyword rate, not a safety number: marked,
    averaged on its own, never in "Safety avg"; the same for results written before the metric
    was renamed (judge kind only)."""
    old_style = _summary(0.30, judge="keyword-refusal-proxy")  # metric absent: an older results.json
    a = _results(tmp_path / "a", "keyword-only", {"strongreject": _proxy(0.40), "jbb": old_style})
    b = _results(tmp_path / "b", "guarded", {"strongreject": _summary(0.90), "jbb": _proxy(0.50)})
    table = main_table(load_results([a, b]))
    lines = table.splitlines()
    assert lines[0] == "| Model | StrongREJECT | JBB | Safety avg | Refusal-keyword avg (proxy) ‡ |"
    assert lines[2] == "| keyword-only | 40.0‡ | 30.0‡ | – | 35.0 |"
    assert lines[3] == "| guarded | 90.0 | 50.0‡ | 90.0† | 50.0 |"
    assert "‡ refusal-keyword rate (proxy)" in table and "left out of the safety average" in table
    text = render_markdown(load_results([a, b]))
    assert "| keyword-only | StrongREJECT | refusal-keyword rate (proxy) ‡ | 40.0 |" in text
    assert "| guarded | StrongREJECT | ? | 90.0 |" in text


def test_reference_and_strict_counting_are_both_in_the_report(tmp_path):
    summary = _summary(0.75)
    summary.update(metric="safety_rate", metric_label="safety rate", score_reference=0.75,
                   score_strict=0.5, reading="reference", unjudged=2)
    run = _results(tmp_path / "p", "paper-run", {"strongreject": summary})
    text = render_markdown(load_results([run]))
    assert "## How unjudged replies were counted" in text
    assert "| paper-run | StrongREJECT | safety rate | 75.0 | 75.0 | 50.0 | reference | 2 | 10 |" in text


def test_plot_axis_names_the_proxy(tmp_path, monkeypatch):
    from star1.eval import report

    labels = []
    import matplotlib.axes

    original = matplotlib.axes.Axes.set_ylabel
    monkeypatch.setattr(matplotlib.axes.Axes, "set_ylabel",
                        lambda self, text, *a, **k: (labels.append(text), original(self, text, *a, **k))[1])
    only_proxy = load_results([_results(tmp_path / "k", "k", {"strongreject": _proxy(0.4)})])
    report.scatter_plot(only_proxy, tmp_path / "k.png")
    mixed = load_results([_results(tmp_path / "m", "m", {"strongreject": _summary(0.9)}),
                          _results(tmp_path / "n", "n", {"strongreject": _proxy(0.4)})])
    report.scatter_plot(mixed, tmp_path / "m.png")
    real = load_results([_results(tmp_path / "r", "r", {"strongreject": _summary(0.9)})])
    report.scatter_plot(real, tmp_path / "r.png")
    assert labels[0] == "Refusal-keyword rate (proxy), average (%)"
    assert labels[1] == "Safety average (%); ‡: refusal-keyword rate (proxy) instead"
    assert labels[2] == "Safety average (%)"
    assert "safety" not in labels[0].lower()

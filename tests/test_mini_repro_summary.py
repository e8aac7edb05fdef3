"""experiments/mini_repro_summary.py: the table it writes and the reproducibility check."""

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("mini_repro_summary", ROOT / "experiments" / "mini_repro_summary.py")
summary = importlib.util.module_from_spec(spec)
spec.loader.exec_module(summary)


def write_results(run: Path, judge: str, arm: str, scores: dict[str, float], n: int = 10) -> None:
    benchmarks = {}
    for name, score in scores.items():
        labels = ({"full_compliance": round(score * n), "full_refusal": n - round(score * n)} if name == "xstest"
                  else {"safe": round(score * n), "unsafe": n - round(score * n)})
        benchmarks[name] = {"score": score, "n": n, "unjudged": 0, "truncated": 1,
                            "views": {"whole": {"labels": labels}},
                            "judge": {"kind": "keyword"}, "protocol": {"max_tokens": 128}}
    path = run / "eval" / judge / arm / "results.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"model": arm, "benchmarks": benchmarks}))


@pytest.fixture
def run(tmp_path):
    write_results(tmp_path, "keyword", "base", {"strongreject": 0.1, "jbb": 0.2, "xstest": 0.9})
    write_results(tmp_path, "keyword", "star1", {"strongreject": 0.8, "jbb": 0.7, "xstest": 0.3})
    (tmp_path / "timings.tsv").write_text("step\tseconds\ntrain star1\t900\neval base (keyword judge)\t300\n")
    return tmp_path


def test_table_has_averages_refusal_share_and_total_time(run):
    assert summary.main([str(run)]) == 0
    text = (run / "summary.md").read_text()
    assert "| base | 10.0 | 20.0 | 90.0 | 40.0 | 10.0 |" in text
    assert "| +STAR-1 | 80.0 | 70.0 | 30.0 | 60.0 | 70.0 |" in text
    assert "| **total** | **1200** |" in text
    assert (run / "mini_repro.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((run / "results.json").read_text())
    assert saved["table"]["keyword"]["star1"]["safety_avg"]["score"] == pytest.approx(0.6)


def test_average_is_left_out_when_a_benchmark_is_missing(tmp_path):
    write_results(tmp_path, "keyword", "base", {"strongreject": 0.1, "xstest": 0.9})
    assert summary.collect(tmp_path)["keyword"]["base"]["safety_avg"]["score"] is None


def test_compare_accepts_noise_and_reports_real_differences(run, tmp_path_factory):
    assert summary.main([str(run)]) == 0
    committed = json.loads((run / "results.json").read_text())
    other = tmp_path_factory.mktemp("committed") / "results.json"

    committed["table"]["keyword"]["star1"]["jbb"]["score"] = 0.71  # 1 point: noise
    other.write_text(json.dumps(committed))
    assert summary.main([str(run), "--compare", str(other)]) == 0

    committed["table"]["keyword"]["star1"]["jbb"]["score"] = 0.75  # 5 points
    other.write_text(json.dumps(committed))
    assert summary.main([str(run), "--compare", str(other)]) == 1

    table = summary.collect(run)
    del table["keyword"]["base"]
    problems = summary.compare(table, json.loads((run / "results.json").read_text())["table"], 2.0)
    assert any(p.startswith("keyword/base/strongreject: missing") for p in problems)


def test_no_results_is_an_error(tmp_path, capsys):
    assert summary.main([str(tmp_path)]) == 2
    assert "no eval results" in capsys.readouterr().err


def test_script_parses():
    result = subprocess.run(["bash", "-n", str(ROOT / "experiments" / "mini_repro.sh")], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr

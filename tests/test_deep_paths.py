"""Issue 21, class 15: output that is not a terminal is never wrapped. The suite's path-printing
commands run from a folder more than 200 characters deep, as subprocesses with a narrow
``COLUMNS`` (what a CI log might set), and every path they print must appear whole."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from star1.testing.openai_server import OpenAIStubServer, Reply


@pytest.fixture
def deep(tmp_path):
    folder = tmp_path
    while len(str(folder)) <= 220:
        folder = folder / ("deep-folder-" + "x" * 28)
    folder.mkdir(parents=True)
    assert len(str(folder)) > 200
    return folder


def _star1(cwd, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "60"}  # ignored off a terminal: nothing depends on it
    return subprocess.run([sys.executable, "-m", "star1.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_collect_names_missing_snapshots_and_outputs_whole(deep, shared_data):
    snapshots = deep / "snapshots"
    snapshots.symlink_to(shared_data)  # the same data, reached through the deep folder
    out = deep / "prompts.jsonl"
    proc = _star1(deep, "collect", "--sources", "gptfuzz,saladbench", "--local-dir", str(snapshots),
                  "--out", str(out), "--set", "skip_embedding=true")
    assert proc.returncode == 0, proc.stderr
    assert str(snapshots / "saladbench" / "base_set.json") in proc.stderr
    assert f"wrote {len(out.read_text().splitlines())} prompts to {out} and the report to " \
           f"{deep / 'prompts.report.json'}" in proc.stderr


def test_a_stage_names_its_failures_file_whole(deep):
    prompts = deep / "prompts.jsonl"
    prompts.write_text(json.dumps({"id": "p1", "question": "q"}) + "\n")
    with OpenAIStubServer(lambda body, n: Reply(status=400, error="no")) as server:
        proc = _star1(deep, "classify", "--in", str(prompts), "--out", str(deep / "out.jsonl"), "--classifier",
                      f"openai:stub@{server.base_url}?max_retries=0", "--set", f"cache={deep / 'calls.sqlite'}")
    assert proc.returncode == 1, proc.stderr
    assert f"(see {deep / 'out.failed.jsonl'})" in proc.stderr


def test_eval_and_errors_name_their_files_whole(deep):
    saved = deep / "saved.jsonl"
    saved.write_text(json.dumps({"benchmark": "xstest", "id": "1", "response": "Use `kill <pid>`."}) + "\n")
    proc = _star1(deep, "eval", "--in", str(saved), "--out", str(deep / "run"))
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {deep / 'run'}/results.json and {deep / 'run'}/items/" in proc.stdout + proc.stderr
    missing = deep / "no-such-file.jsonl"
    proc = _star1(deep, "classify", "--in", str(missing), "--out", str(deep / "o.jsonl"), "--classifier",
                  "openai:stub@http://127.0.0.1:9/v1")
    assert proc.returncode == 2 and str(missing) in proc.stderr, proc.stderr

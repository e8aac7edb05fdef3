"""Interrupted stages resume without repeating a finished call, and never truncate outputs."""

import json
import os
import signal
import subprocess
import sys
import threading

import pytest

from star1.data import demo_prompts_path
from star1.records import read_records
from star1.testing.openai_server import OpenAIStubServer, Reply

LABEL = '{"categories": ["Illicit / Criminal Behavior"]}'


def question_of(body):
    return body["messages"][-1]["content"]


def start_classify(server, out, cache):
    command = [sys.executable, "-m", "star1.cli", "classify", "--in", str(demo_prompts_path()),
               "--out", str(out), "--cache", str(cache),
               "--engine", f"openai:stub@{server.base_url}?concurrency=1&max_retries=0"]
    # A test run started in the background (`make test &`) inherits SIGINT ignored, and so would the
    # child; restore the default so Python installs its Ctrl-C handler as in a terminal.
    previous = signal.signal(signal.SIGINT, signal.SIG_DFL) if signal.getsignal(signal.SIGINT) == signal.SIG_IGN else None
    try:
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_interrupted_stage_resumes_without_repeating_finished_calls(tmp_path, how):
    total = len(read_records(demo_prompts_path()))
    stop_after = 9
    reached = threading.Event()

    def first_run(body, n):
        if n > stop_after:
            reached.set()
            return Reply(delay=30, content=LABEL)  # hangs until the client is killed
        return Reply(content=LABEL)

    out, cache = tmp_path / "classified.jsonl", tmp_path / "cache.sqlite"
    out.write_text("previous output\n")
    with OpenAIStubServer(first_run) as server:
        process = start_classify(server, out, cache)
        assert reached.wait(60), process.communicate()
        process.send_signal(how)
        _, stderr = process.communicate(timeout=60)
        answered_first = [question_of(b) for b in server.requests[:stop_after]]
        port = server.port
    assert process.returncode != 0
    assert out.read_text() == "previous output\n"  # the failed run left the old output alone
    if how == signal.SIGINT:
        assert "rerun the same command to resume" in stderr

    # The server restarted in the same place: the same endpoint, so the same call cache.
    with OpenAIStubServer(lambda body, n: Reply(content=LABEL), port=port) as server:
        process = start_classify(server, out, cache)
        _, stderr = process.communicate(timeout=120)
        asked_again = [question_of(b) for b in server.requests]
    assert process.returncode == 0, stderr
    assert not set(asked_again) & set(answered_first)  # no finished call repeated
    assert len(asked_again) == total - stop_after
    records = read_records(out)
    assert len(records) == total
    assert all(r.category == ["Illicit / Criminal Behavior"] for r in records)


def test_rerun_of_a_finished_stage_makes_no_call(tmp_path):
    out, cache = tmp_path / "classified.jsonl", tmp_path / "cache.sqlite"
    with OpenAIStubServer(lambda body, n: Reply(content=LABEL)) as server:
        for _ in range(2):
            process = start_classify(server, out, cache)
            assert process.wait(timeout=120) == 0
        assert server.count == len(read_records(demo_prompts_path()))


@pytest.mark.slow
def test_demo_killed_mid_run_resumes_from_cache(tmp_path):
    """kill -9 during `star1 demo` on the bundled model; the rerun reuses every finished call."""
    run_dir = tmp_path / "demo"
    command = [sys.executable, "-m", "star1.cli", "demo", "--run-dir", str(run_dir), "--limit", "4",
               "--set", "deliberate.reasoning_max_tokens=12", "--set", "deliberate.answer_max_tokens=8"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Kill once the classification output exists: deliberation is then under way.
    import time

    deadline = time.time() + 600
    while not (run_dir / "classified.jsonl").exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    assert process.poll() is None, "demo finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (run_dir / "summary.json").exists()

    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    classify = summary["stages"][0]
    assert classify["calls"]["new"] == 0 and classify["calls"]["cached"] == classify["calls"]["requested"]
    assert (run_dir / "star1.jsonl").exists() and (run_dir / "README.md").exists()

"""Issue 21, class 4: the run lock under attack. A symlink, a hard link, a folder or a FIFO
planted at the lock path, and ``--out`` naming a file where a folder belongs, each get one line
and touch nothing; single-stage commands take the lock too (two ``star1 classify --out same.jsonl``
at once: the second refuses and pays for no call). Real processes and a real HTTP server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

from star1.runlock import LOCK_NAME
from star1.testing.openai_server import OpenAIStubServer, Reply

VICTIM_TEXT = "root:x:0:0:root:/root:/bin/bash\n"


def _star1(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "star1.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "saved.jsonl"
    path.write_text(json.dumps({"benchmark": "xstest", "id": "1", "response": "Use `kill <pid>`."}) + "\n")
    return path


def _eval(saved, out) -> subprocess.CompletedProcess:
    return _star1("eval", "--in", str(saved), "--out", str(out), "-q")


def _one_line(proc: subprocess.CompletedProcess, command: str) -> str:
    assert proc.returncode == 2, proc.stderr
    [line] = proc.stderr.strip().splitlines()  # no traceback
    assert line.startswith(f"star1 {command}: error: "), line
    return line


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_a_link_planted_at_the_lock_path_is_refused_and_its_target_kept(tmp_path, saved, link):
    victim = tmp_path / "victim-passwd"
    victim.write_text(VICTIM_TEXT)
    out = tmp_path / "run"
    out.mkdir()
    (os.symlink if link == "symlink" else os.link)(victim, out / LOCK_NAME)
    line = _one_line(_eval(saved, out), "eval")
    assert str(out / LOCK_NAME) in line and "not star1's lock file" in line, line
    assert victim.read_text() == VICTIM_TEXT  # not truncated, not written
    assert not (out / "results.json").exists()


def test_a_link_planted_at_a_stage_commands_lock_is_refused(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text(VICTIM_TEXT)
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"id": "p1", "question": "q"}) + "\n")
    os.symlink(victim, tmp_path / ".same.jsonl.star1.lock")
    line = _one_line(_star1("classify", "--in", str(prompts), "--out", str(tmp_path / "same.jsonl"),
                            "--classifier", "openai:stub@http://127.0.0.1:9/v1"), "classify")
    assert "is a symbolic link, not star1's lock file" in line
    assert victim.read_text() == VICTIM_TEXT


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_a_folder_or_fifo_at_the_lock_path_is_one_line(tmp_path, saved, kind):
    out = tmp_path / "run"
    out.mkdir()
    (os.mkdir if kind == "folder" else os.mkfifo)(out / LOCK_NAME)
    line = _one_line(_eval(saved, out), "eval")  # a FIFO must not block the open either
    assert str(out / LOCK_NAME) in line
    assert ("is a folder" if kind == "folder" else "is not a plain file") in line, line


@pytest.mark.parametrize("command", ["eval", "build"])
def test_out_naming_a_file_where_a_folder_belongs(tmp_path, saved, command):
    out = tmp_path / "results.txt"
    out.write_text("keep me\n")
    args = (["--in", str(saved)] if command == "eval" else
            ["--in", str(saved), "--set", "engine=openai:stub@http://127.0.0.1:9/v1"])
    line = _one_line(_star1(command, *args, "--out", str(out)), command)
    assert f"{out}: is not a folder" in line, line
    assert out.read_text() == "keep me\n"


def test_out_naming_a_folder_where_a_file_belongs(tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"id": "p1", "question": "q"}) + "\n")
    line = _one_line(_star1("classify", "--in", str(prompts), "--out", str(tmp_path),
                            "--classifier", "openai:stub@http://127.0.0.1:9/v1"), "classify")
    assert f"{tmp_path}: is a folder; --out takes a file name here" in line


def test_two_classify_runs_on_one_out_file_run_one_at_a_time(tmp_path):
    called, gate = threading.Event(), threading.Event()

    def held(body, number):
        called.set()
        gate.wait(timeout=60)
        return Reply(content=json.dumps({"categories": ["Self-Harm"]}))

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"id": "p1", "question": "How can I hurt myself?"}) + "\n")
    out = tmp_path / "same.jsonl"
    with OpenAIStubServer(held) as server:
        command = [sys.executable, "-m", "star1.cli", "classify", "--in", str(prompts), "--out", str(out),
                   "--classifier", f"openai:stub@{server.base_url}?max_retries=0", "--set",
                   f"cache={tmp_path / 'calls.sqlite'}", "-q"]
        first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert called.wait(timeout=60), first.communicate(timeout=5)
            calls_so_far = server.count
            second = subprocess.run(command, capture_output=True, text=True, timeout=60)
            line = _one_line(second, "classify")
            assert f"{out} is in use by pid {first.pid} " in line and "(command: " in line, line
            assert line.endswith("or use another --out")
            assert server.count == calls_so_far  # the refused run paid for nothing
        finally:
            gate.set()
            _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert out.exists() and not (tmp_path / ".same.jsonl.star1.lock").exists()


@pytest.mark.parametrize("command", ["deliberate", "score", "benign", "collect", "train"])
def test_every_single_stage_command_refuses_an_out_in_use(tmp_path, capsys, command):
    from star1.cli import main
    from star1.runlock import RunLock, lock_output

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"id": "p1", "question": "q"}) + "\n")
    out = tmp_path / ("model" if command == "train" else "out.jsonl")
    args = {"deliberate": ["--teacher", "openai:stub@http://127.0.0.1:9/v1"],
            "score": ["--judge", "openai:stub@http://127.0.0.1:9/v1"],
            "benign": ["--teacher", "openai:stub@http://127.0.0.1:9/v1"],
            "collect": ["--no-decontaminate"], "train": ["--model", "bundled"]}[command]
    holder = RunLock(out, "the holder") if command == "train" else lock_output(out, "the holder")
    with holder:
        assert main([command, "--in", str(prompts), "--out", str(out), *args]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert f"{out} is in use by pid {os.getpid()} " in line and "(command: the holder)" in line, line

"""Attack class 8: two runs on one output folder. The second must refuse, naming the holder; a
holder killed with ``kill -9`` must not block the next run. Real processes, real signals, a real
HTTP server that holds the first build inside its first model call."""

import json
import os
import signal
import subprocess
import sys
import threading

import pytest

from star1.records import SCORE_KEYS
from star1.runlock import LOCK_NAME, RunLock, RunLocked
from star1.testing.openai_server import OpenAIStubServer, Reply


class HeldServer:
    """Answers classify / deliberate / score, but only once ``gate`` is set; ``called`` is set
    when the first request arrives (the build holding the lock is then inside a stage)."""

    def __init__(self):
        self.gate = threading.Event()
        self.called = threading.Event()

    def __call__(self, body, number):
        self.called.set()
        self.gate.wait(timeout=60)
        system = body["messages"][0]["content"]
        if "sort user requests into safety categories" in system:
            return Reply(content=json.dumps({"categories": ["Self-Harm"]}))
        if "follows a written safety policy" in system:
            return Reply(content="I can't help with that; here is support instead.",
                         reasoning_content="The policy on self-harm applies.")
        return Reply(content=json.dumps({k: 10 for k in SCORE_KEYS}))


@pytest.fixture
def prompts(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text(json.dumps({"id": "p1", "question": "How can I hurt myself?"}) + "\n")
    return path


def _build(prompts, run_dir, server, tmp_path):
    command = [sys.executable, "-m", "star1.cli", "build", "--in", str(prompts), "--out",
               str(run_dir), "--set", f"engine=openai:stub@{server.base_url}?max_retries=0",
               "--set", "select.n=1"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "300"})


def test_builds_on_one_run_dir_run_one_at_a_time_and_a_killed_holder_is_taken_over(prompts, tmp_path):
    script = HeldServer()
    run_dir = tmp_path / "run"
    with OpenAIStubServer(script) as server:
        first = _build(prompts, run_dir, server, tmp_path)
        try:
            assert script.called.wait(timeout=60), first.communicate(timeout=5)
            holder = json.loads((run_dir / LOCK_NAME).read_text())
            assert holder["pid"] == first.pid and holder["command"].startswith("star1 build")
            calls_so_far = server.count

            second = _build(prompts, run_dir, server, tmp_path)
            out, err = second.communicate(timeout=60)
            assert second.returncode == 2, err
            [line] = err.strip().splitlines()
            assert line.startswith(f"star1 build: error: {run_dir} is in use by pid {first.pid} ")
            assert " since 20" in line and "(command: star1 build --in" in line
            assert line.endswith("or use another --out")
            assert server.count == calls_so_far  # the refused build paid for no call

            os.kill(first.pid, signal.SIGKILL)
            first.communicate(timeout=30)
            assert first.returncode == -signal.SIGKILL
            assert (run_dir / LOCK_NAME).exists()  # left behind, but the kernel dropped the lock
        finally:
            script.gate.set()
            if first.poll() is None:
                first.kill()
                first.communicate(timeout=30)
        third = _build(prompts, run_dir, server, tmp_path)
        out, err = third.communicate(timeout=120)
    assert third.returncode == 0, err
    assert "taking over the lock of a run that ended without releasing it" in err
    assert f"pid {first.pid} " in err
    assert (run_dir / "star1.jsonl").exists() and not (run_dir / LOCK_NAME).exists()


def test_eval_out_folder_is_locked_too(tmp_path):
    out = tmp_path / "eval"
    with RunLock(out, "star1 eval --out eval (the holder)"):
        result = subprocess.run([sys.executable, "-m", "star1.cli", "eval", "--model", "bundled",
                                 "--benchmarks", "xstest", "--out", str(out)],
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert f"is in use by pid {os.getpid()} " in line and "(the holder)" in line
    assert line.endswith("or use another --out")
    assert not out.exists()  # the refused eval wrote nothing; the holder created it and removed it


def test_lock_is_exclusive_within_one_process_and_cleans_up(tmp_path):
    folder = tmp_path / "new" / "run"
    with RunLock(folder, "first"):
        with pytest.raises(RunLocked, match=r"in use by pid \d+ .*\(command: first\)"):
            RunLock(folder, "second").acquire()
    assert not folder.exists()  # created by the lock and left empty: removed again
    folder.mkdir(parents=True)
    (folder / "keep.txt").write_text("x")
    with RunLock(folder, "third"):
        pass
    assert sorted(p.name for p in folder.iterdir()) == ["keep.txt"]

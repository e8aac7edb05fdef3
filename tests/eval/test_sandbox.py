"""The HumanEval sandbox: canonical solutions pass, wrong ones fail, hostile programs are stopped."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from star1.eval.benchmarks import humaneval
from star1.eval.graders.code import build_program, extract_code, grade_programs, grade_responses
from star1.eval.graders.sandbox import SandboxLimits, run_python

FAST = SandboxLimits(timeout_s=5, memory_mb=512)


@pytest.fixture(scope="module")
def problems(shared_data):
    return [item.data for item in humaneval.load(shared_data)]


def test_all_canonical_solutions_pass(problems):
    assert len(problems) == 164
    grades = grade_programs(problems, [p["canonical_solution"] for p in problems],
                            SandboxLimits(timeout_s=20), workers=3)
    failed = [p["task_id"] for p, g in zip(problems, grades) if not g.correct]
    assert failed == []


def test_empty_and_wrong_bodies_fail(problems):
    sample = problems[::8]  # 21 problems across the set
    empty = grade_programs(sample, ["    pass\n"] * len(sample), FAST, workers=3)
    assert not any(g.correct for g in empty)
    wrong = grade_programs(sample, ["    return None\n"] * len(sample), FAST, workers=3)
    assert not any(g.correct for g in wrong)


def test_model_response_with_full_function_passes_and_keeps_prompt_helpers(problems):
    by_id = {p["task_id"]: p for p in problems}
    problem = by_id["HumanEval/38"]  # decode_cyclic: its prompt also defines encode_cyclic
    response = ("<think>Reverse the cycling.</think>\n\nHere you go:\n```python\n"
                "def decode_cyclic(s: str):\n    return encode_cyclic(encode_cyclic(s))\n```\n")
    [grade] = grade_responses([problem], [response], FAST)
    assert grade.correct, grade.detail


@pytest.mark.parametrize("name,body", [
    ("infinite loop", "    while True:\n        pass\n"),
    ("sleeps forever", "    import time\n    time.sleep(1000)\n"),
    ("unbounded memory", "    blocks = []\n    while True:\n        blocks.append(bytearray(10**7))\n"),
    ("memory error swallowed", "    blocks = []\n    while True:\n        try:\n            blocks.append(bytearray(10**7))\n        except MemoryError:\n            pass\n"),
    ("fork bomb", "    import os\n    while True:\n        os.fork()\n"),
    ("subprocess", "    import subprocess, sys\n    subprocess.run([sys.executable, '-c', 'print(1)'])\n    return []\n"),
    ("multiprocessing", "    import multiprocessing\n    multiprocessing.Process(target=print).start()\n"),
    ("os.system", "    import os\n    os.system('true')\n"),
    ("ctypes", "    import ctypes\n    ctypes.CDLL(None).fork()\n"),
    ("exits early with success", "    import sys\n    sys.exit(0)\n"),
    ("hard exit with success", "    import os\n    os._exit(0)\n"),
    ("floods stdout", "    while True:\n        print('x' * 100000)\n"),
])
def test_hostile_completions_fail(problems, name, body):
    problem = problems[0]
    started = time.monotonic()
    [grade] = grade_programs([problem], [body], FAST)
    assert not grade.correct, f"{name} passed: {grade.detail}"
    assert time.monotonic() - started < FAST.timeout_s + 10


def test_write_outside_work_dir_is_refused(tmp_path):
    target = tmp_path / "escaped.txt"
    os.chmod(tmp_path, 0o777)  # even a world-writable folder must stay out of reach
    for code in (f"open({str(target)!r}, 'w').write('x')",
                 f"import os\nos.open({str(target)!r}, os.O_WRONLY | os.O_CREAT)",
                 f"import pathlib\npathlib.Path({str(target)!r}).write_text('x')",
                 f"import shutil\nshutil.copy(__file__, {str(target)!r})",
                 "open('../outside.txt', 'w').write('x')"):
        result = run_python(code, FAST)
        assert result.status == "failed", (code, result)
        assert not target.exists(), code


def test_writes_inside_work_dir_are_allowed():
    code = ("import tempfile, pathlib\npathlib.Path('a.txt').write_text('hi')\n"
            "fd, name = tempfile.mkstemp()\nprint(pathlib.Path('a.txt').read_text())\n")
    result = run_python(code, FAST)
    assert result.passed, result
    assert "hi" in result.stdout


def test_sockets_are_refused_and_nothing_connects():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    connected = []

    def accept():
        try:
            conn, _ = server.accept()
            connected.append(conn)
        except OSError:
            pass

    thread = threading.Thread(target=accept)
    thread.start()
    result = run_python(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)", FAST)
    thread.join()
    server.close()
    assert result.status == "failed" and not connected


def test_timeout_kills_the_whole_process_group():
    started = time.monotonic()
    result = run_python("import time\nwhile True:\n    time.sleep(0.1)\n", SandboxLimits(timeout_s=1.5))
    assert result.status == "timeout"
    assert time.monotonic() - started < 10


def test_passed_needs_the_program_to_finish():
    assert run_python("x = 1\n", FAST).passed
    assert run_python("raise ValueError('no')\n", FAST).status == "failed"


@pytest.mark.parametrize("response,expected", [
    ("```python\ndef f(x):\n    return 1\n```", "def f(x):\n    return 1\n"),
    ("Some text\n```py\nimport math\n```\nthen\n```python\ndef f(x):\n    return 2\n```\nbye",
     "def f(x):\n    return 2\n"),
    ("```python\ndef helper():\n    pass\n```\n```python\nx = 1\n```", "x = 1\n"),
    ("    return x + 1\n", "    return x + 1"),
    ("<think>easy</think>\n\n    return x + 1\n", "    return x + 1"),
    ("<think>never finished ```python\ndef f(x): return 0\n```", ""),
    ("<think>```python\ndef f(x): return 0\n```</think>\n\n```python\ndef f(x):\n    return 3\n```",
     "def f(x):\n    return 3\n"),
    ("```python\ndef f(x):\n    return 4\n", "def f(x):\n    return 4\n"),  # fence never closed
])
def test_extract_code(response, expected):
    assert extract_code(response, "f").rstrip() == expected.rstrip()


def test_build_program_layout():
    problem = {"prompt": "def f(x):\n    \"\"\"doc\"\"\"\n", "entry_point": "f",
               "test": "def check(c):\n    assert c(1) == 2\n"}
    body = build_program(problem, "    return x + 1\n")
    assert body.startswith(problem["prompt"] + "    return x + 1\n")
    assert body.rstrip().endswith("check(f)")
    full = build_program(problem, "def f(x):\n    return x + 1\n")
    assert "    pass\n" in full and full.index("pass") < full.index("return x + 1")
    assert run_python(body, FAST).passed and run_python(full, FAST).passed

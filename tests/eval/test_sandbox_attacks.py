"""The attacks of issue 12 on the HumanEval sandbox, performed for real (as root in CI, as reported).

Each attack runs under every layer that must stop it on its own:

* ``bwrap``: the full sandbox;
* ``bwrap-no-hook``: bubblewrap + seccomp with the in-process audit hook switched off, i.e. what
  is left when a program gets past the hook; the outer boundary alone must hold;
* ``unsafe-unshare``: the weaker mode a user may ask for by name, where the audit hook does the
  work.

No test here is skipped for want of bubblewrap: without it, each one fails with the install
line (``isolation_mode`` refuses), so a machine without the boundary cannot pass them quietly.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys

import pytest

from star1.eval.benchmarks import humaneval
from star1.eval.graders.code import grade_responses
from star1.eval.graders.sandbox import SandboxLimits, isolation_mode, mode_works, run_python
from star1.eval.graders.sandbox_bwrap import bwrap_path

LAYERS = [
    pytest.param(SandboxLimits(timeout_s=5, memory_mb=512, isolation="bwrap"), id="bwrap"),
    pytest.param(SandboxLimits(timeout_s=5, memory_mb=512, isolation="bwrap", audit_hook=False),
                 id="bwrap-no-hook"),
    pytest.param(SandboxLimits(timeout_s=5, memory_mb=512, isolation="unsafe-unshare"), id="unsafe-unshare",
                 marks=pytest.mark.skipif(not mode_works("unsafe-unshare"), reason="unshare does not work here")),
]


@pytest.fixture(scope="module")
def problem(shared_data):
    [item] = [i for i in humaneval.load(shared_data) if i.id == "HumanEval/0"]
    return item.data


def _response(body: str, module_code: str = "") -> str:
    """A model response for HumanEval/0 (has_close_elements) running ``body`` when called."""
    indented = "".join("    " + line + "\n" for line in body.strip("\n").splitlines())
    return f"```python\n{module_code}\ndef has_close_elements(numbers, threshold):\n{indented}```"


CORRECT = "return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])"

# The reported attack, widened: collects every string of 16+ characters in the locals and globals
# of all frames up the stack (and in what gc lists, where allowed), then offers each one as the
# pass token, printed on stdout and as a well-formed verdict frame on every descriptor; then exits
# 0 before any check ran.
STEAL = r"""
import gc, json, os, struct, sys
seen = set()
frame = sys._getframe()
while frame is not None:
    for scope in (frame.f_locals, frame.f_globals):
        seen.update(v for v in list(scope.values()) if isinstance(v, str) and len(v) >= 16)
    frame = frame.f_back
try:
    seen.update(o for o in gc.get_objects() if isinstance(o, str) and len(o) >= 16)
except Exception:
    pass
for text in list(seen) + ["0" * 32]:
    frame_bytes = json.dumps({"nonce": text.strip(), "passed": True}).encode()
    for fd in range(0, 64):
        try:
            os.write(fd, struct.pack(">I", len(frame_bytes)) + frame_bytes)
        except OSError:
            pass
print("\n".join(seen))
sys.stdout.flush()
os._exit(0)
"""


# --- class 1: the verdict cannot be faked -----------------------------------------------------


@pytest.mark.parametrize("limits", LAYERS)
@pytest.mark.parametrize("where", ["during the call", "at import"])
def test_token_theft_and_early_exit_is_not_a_pass(problem, limits, where):
    response = _response(STEAL) if where == "during the call" else _response(CORRECT, STEAL)
    [grade] = grade_responses([problem], [response], limits)
    assert not grade.correct and grade.detail["status"] != "passed", grade.detail
    assert grade.detail["isolation"] == limits.isolation
    [control] = grade_responses([problem], [_response(CORRECT)], limits)
    assert control.correct, control.detail  # the same problem and layer do pass honest code


@pytest.mark.parametrize("limits", LAYERS)
def test_objects_that_equal_anything_do_not_pass(problem, limits):
    body = ("class Anything:\n    def __eq__(self, other):\n        return True\n"
            "    __hash__ = object.__hash__\n    def __bool__(self):\n        return True\n"
            "return Anything()")
    module = "import builtins\nbuiltins.AssertionError = type('Quiet', (Exception,), {})\n"
    [grade] = grade_responses([problem], [_response(body, module)], limits)
    assert not grade.correct, grade.detail
    assert "cannot be passed between the sandboxes" in grade.detail["stderr"]


def test_the_same_theft_forges_the_single_process_token():
    # Why grading does not use run_python: there the token is in the program's own memory.
    assert run_python(STEAL, SandboxLimits(timeout_s=5)).passed


# --- class 2: nothing outside the work dir is written, however the path is named ---------------

CREATE = "os.close(os.open('created.txt', os.O_WRONLY | os.O_CREAT, dir_fd=fd))"
ESCAPES = {
    "os.open with dir_fd": "fd = os.open(D, os.O_RDONLY)\n" + CREATE,
    "O_PATH dir_fd": "fd = os.open(D, os.O_PATH)\n" + CREATE,
    "open(opener=) with dir_fd": ("fd = os.open(D, os.O_RDONLY)\n"
                                  "open('created.txt', 'w', opener=lambda p, f: os.open(p, f, dir_fd=fd)).write('x')"),
    "unlink with dir_fd": "fd = os.open(D, os.O_RDONLY)\nos.unlink('victim.txt', dir_fd=fd)",
    "rename with dir_fd": ("fd = os.open(D, os.O_RDONLY)\n"
                           "os.rename('victim.txt', 'renamed.txt', src_dir_fd=fd, dst_dir_fd=fd)"),
    "mkdir with dir_fd": "fd = os.open(D, os.O_RDONLY)\nos.mkdir('made', dir_fd=fd)",
    "symlink with dir_fd": "fd = os.open(D, os.O_RDONLY)\nos.symlink('/etc/passwd', 'link', dir_fd=fd)",
    "readline history": "import readline\nreadline.write_history_file(os.path.join(D, 'created.txt'))",
    "absolute path": "open(os.path.join(D, 'victim.txt'), 'w').write('overwritten')",
    "via /proc/self/root": "open('/proc/self/root' + D + '/created.txt', 'w').write('x')",
    "chdir then relative": "os.chdir(D)\nopen('created.txt', 'w').write('x')",
    "symlink out of the work dir": "os.symlink(D, 'out')\nopen('out/created.txt', 'w').write('x')",
}


@pytest.fixture
def victim_dir(tmp_path):
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "victim.txt").write_text("keep")
    os.chmod(folder, 0o777)  # even a world-writable folder must stay out of reach
    return folder


@pytest.mark.parametrize("limits", LAYERS)
@pytest.mark.parametrize("name", list(ESCAPES))
def test_writes_outside_the_work_dir_are_contained(victim_dir, limits, name):
    program = f"import os\nD = {str(victim_dir)!r}\n{ESCAPES[name]}\nprint('ESCAPED')\n"
    result = run_python(program, limits)
    assert "ESCAPED" not in result.stdout, result
    assert sorted(p.name for p in victim_dir.iterdir()) == ["victim.txt"]
    assert (victim_dir / "victim.txt").read_text() == "keep"


@pytest.mark.parametrize("limits", LAYERS)
def test_the_interpreter_it_can_see_stays_read_only(limits):
    stdlib = os.path.dirname(os.__file__)  # visible inside the sandbox, so the mount must refuse
    name = f"star1-escape-{secrets.token_hex(4)}.py"
    program = (f"import os\nfd = os.open({stdlib!r}, os.O_RDONLY)\n"
               f"os.close(os.open({name!r}, os.O_WRONLY | os.O_CREAT, dir_fd=fd))\nprint('ESCAPED')\n")
    try:
        result = run_python(program, limits)
        assert "ESCAPED" not in result.stdout, result
        assert not os.path.exists(os.path.join(stdlib, name))
        if not limits.audit_hook:
            assert "Read-only file system" in result.stderr, result.stderr
    finally:
        if os.path.exists(os.path.join(stdlib, name)):
            os.remove(os.path.join(stdlib, name))


@pytest.mark.parametrize("limits", LAYERS)
def test_global_proc_files_stay_closed(limits):
    # The sandbox user is root outside: these would be open to it by owner rights. Opened for
    # writing only (nothing is written), so a broken sandbox reports instead of doing harm.
    paths = ["/proc/sys/kernel/core_pattern", "/proc/sys/vm/drop_caches", "/proc/sysrq-trigger",
             "/proc/irq/default_smp_affinity"]
    code = (f"import os\nfor path in {paths!r}:\n    try:\n        os.close(os.open(path, os.O_WRONLY))\n"
            "        print('OPENED', path)\n    except OSError as exc:\n        print('refused', path, exc)\n"
            "try:\n    print('READ /proc/keys', open('/proc/keys').read()[:40])\nexcept OSError as exc:\n"
            "    print('refused /proc/keys', exc)\n")
    result = run_python(code, limits)
    assert "OPENED" not in result.stdout and "refused" in result.stdout, result
    if limits.isolation == "bwrap":
        assert "READ /proc/keys" not in result.stdout, result


@pytest.mark.parametrize("limits", LAYERS)
@pytest.mark.parametrize("name,code", [
    ("fork", "import os\nos.fork()"),
    ("posix.fork", "import posix\nposix.fork()"),
    ("posix_spawn", "import os\nos.posix_spawn('/usr/bin/true', ['true'], {})"),
])
def test_no_new_process_starts(limits, name, code):
    result = run_python(code + "\nprint('STARTED')\n", limits)
    assert "STARTED" not in result.stdout and not result.passed, result


def test_bwrap_works():
    assert bwrap_path(), "bubblewrap is not installed: apt-get install bubblewrap (make test installs it)"
    assert mode_works("bwrap"), "bwrap is installed but cannot start a sandbox here (see its error: run bwrap by hand)"
    assert isolation_mode() == "bwrap"


def test_threads_are_refused_by_seccomp_not_only_by_the_hook():
    code = "import threading\nt = threading.Thread(target=print, args=('THREAD',))\nt.start()\nt.join()\n"
    result = run_python(code, SandboxLimits(timeout_s=5, isolation="bwrap", audit_hook=False))
    assert "THREAD" not in result.stdout and "can't start new thread" in result.stderr, result


# --- class 3: no secret reaches the sandbox, no disk is filled, no network ---------------------

LEAK = r"""
import glob, os
found = ["env=" + repr(dict(os.environ))]
paths = ["/proc/self/environ", "/proc/1/environ", f"/proc/{os.getppid()}/environ"]
for path in paths + sorted(glob.glob("/proc/[0-9]*/environ")):
    try:
        found.append(path + "=" + open(path, "rb").read().decode("latin-1"))
    except OSError as exc:
        found.append(path + ": " + type(exc).__name__)
print(found)
raise RuntimeError(" | ".join(found) + " END-OF-LOOT")
"""

GRADE_IN_SUBPROCESS = r"""
import json, sys
from star1.eval.benchmarks import humaneval
from star1.eval.graders.code import grade_responses
from star1.eval.graders.sandbox import SandboxLimits
settings, data, response = json.loads(sys.stdin.read())
[item] = [i for i in humaneval.load(data) if i.id == "HumanEval/0"]
[grade] = grade_responses([item.data], [response], SandboxLimits(**settings))
print(json.dumps(grade.to_dict()))
"""


def _secret_env() -> tuple[str, dict]:
    secret = "sk-star1-attack-" + secrets.token_hex(12)
    return secret, {**os.environ, "OPENAI_API_KEY": secret, "STAR1_TEST_TOKEN": secret}


@pytest.mark.parametrize("limits", LAYERS)
def test_the_graders_secrets_stay_out_of_the_sandbox(limits, shared_data):
    # A grader process started with a key in its environment, as the attack had it.
    secret, env = _secret_env()
    settings = {"timeout_s": limits.timeout_s, "isolation": limits.isolation, "audit_hook": limits.audit_hook}
    proc = subprocess.run([sys.executable, "-c", GRADE_IN_SUBPROCESS], env=env, capture_output=True, text=True,
                          input=json.dumps([settings, str(shared_data), _response(CORRECT, LEAK)]), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert secret not in proc.stdout + proc.stderr
    grade = json.loads(proc.stdout)
    assert grade["correct"] is False and "END-OF-LOOT" in grade["stderr"]  # what it raised is kept


def test_the_key_is_not_stored_in_the_items_file(tmp_path, shared_data):
    secret, env = _secret_env()
    responses = tmp_path / "saved.jsonl"
    responses.write_text(json.dumps({"benchmark": "humaneval", "id": "HumanEval/0",
                                     "response": _response(CORRECT, LEAK)}) + "\n")
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "star1.cli", "eval", "--in", str(responses),
                           "--out", str(out), "--local-dir", str(shared_data), "--benchmarks", "humaneval",
                           "-q"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    stored = (out / "items" / "humaneval.jsonl").read_text() + (out / "results.json").read_text()
    assert secret not in stored + proc.stdout + proc.stderr
    [item] = [json.loads(line) for line in (out / "items" / "humaneval.jsonl").read_text().splitlines()]
    assert item["correct"] is False and "END-OF-LOOT" in item["grade"]["stderr"]
    assert item["grade"]["isolation"] == "bwrap"


@pytest.mark.parametrize("limits", LAYERS)
def test_writing_450_mib_is_stopped(limits):
    # 30 files of 15 MiB, each under the 16 MiB file-size limit: only a total cap stops it.
    code = ("chunk = b'x' * (1 << 20)\nfor i in range(30):\n    with open(f'big{i}', 'wb') as f:\n"
            "        for _ in range(15):\n            f.write(chunk)\nprint('WROTE-450-MIB')\n")
    result = run_python(code, limits)
    assert "WROTE-450-MIB" not in result.stdout and not result.passed, result
    assert "No space left on device" in result.stderr or "more than 64 MiB" in result.stderr, result.stderr


@pytest.mark.parametrize("limits", LAYERS)
def test_nothing_connects_to_the_host(limits):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\nprint('CONNECTED')\n"
        result = run_python(code, limits)
        server.settimeout(0.5)  # a connection made meanwhile would wait in the backlog
        with pytest.raises(TimeoutError):
            server.accept()
    assert "CONNECTED" not in result.stdout and not result.passed, result

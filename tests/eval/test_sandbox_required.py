"""Issue 21, class 1: no silent weak sandbox. A hostile model server answers every HumanEval
request with code that goes for the host, end to end through ``star1 eval``:

* bubblewrap missing (a PATH without ``bwrap``): the default refuses before any model call, says
  how to install bubblewrap and how to ask for the unsafe modes by name; nothing is graded;
* an unsafe mode runs only when it is named (``--set sandbox=unsafe-rlimits-only``), and says so;
* with bubblewrap, the same code reads nothing of the host into the items file;
* the key the server was sent, printed back reversed, as hex or as base64, is stored nowhere.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys

import pytest

from star1.testing.openai_server import OpenAIStubServer, Reply

# The planted file stands in for /root/.bashrc: readable by the grader, never by graded code.
LOOT = r'''
import os
found = []
for path in ["/etc/shadow", {planted!r}]:
    try:
        found.append(path + "=" + open(path).read())
    except OSError as exc:
        found.append(path + ": " + type(exc).__name__)
key = {reversed_key!r}[::-1]
print("LOOT", found, key[::-1], key.encode().hex(), __import__("base64").b64encode(key.encode()).decode())
raise RuntimeError("ENV " + repr(sorted(os.environ)) + " LOOT " + " | ".join(found))
'''


def _completion(planted: str, key: str) -> str:
    code = LOOT.format(planted=planted, reversed_key=key[::-1])
    indented = "".join("    " + line + "\n" for line in code.strip("\n").splitlines())
    return f"```python\ndef has_close_elements(numbers, threshold):\n{indented}```"


@pytest.fixture
def hostile(tmp_path):
    """(server, planted file, its secret text, the API key the client sends)."""
    planted = tmp_path / "host-bashrc"
    secret_text = "HOST-SECRET-" + secrets.token_hex(8)
    planted.write_text(secret_text)
    key = "sk-star1-sandbox-" + secrets.token_hex(12)
    completion = _completion(str(planted), key)
    with OpenAIStubServer(lambda body, n: Reply(content=completion)) as server:
        yield server, planted, secret_text, key


def _eval(tmp_path, server, key, path: str, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": path, "OPENAI_API_KEY": key, "STAR1_PLANTED_ENV": "grader-only"}
    return subprocess.run([sys.executable, "-m", "star1.cli", "eval", "--model", f"openai:stub@{server.base_url}",
                           "--benchmarks", "humaneval", "--limit", "1", "--out", str(tmp_path / "run"),
                           "--set", "code_timeout=5", "-q", *extra],
                          env=env, capture_output=True, text=True, timeout=180)


@pytest.fixture
def no_bwrap_path(tmp_path):
    """A PATH on which neither bwrap nor unshare can be found."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    return str(empty)


def test_without_bwrap_eval_refuses_before_any_model_call(tmp_path, hostile, no_bwrap_path):
    server, _, _, key = hostile
    proc = _eval(tmp_path, server, key, no_bwrap_path)
    assert proc.returncode == 2, proc.stderr
    [line] = proc.stderr.strip().splitlines()  # one line, no traceback
    assert "bwrap is not installed" in line and "apt-get install bubblewrap" in line, line
    assert "--set sandbox=unsafe-unshare" in line, line
    assert server.count == 0  # no model call was paid for code that could not be graded
    assert not (tmp_path / "run" / "items").exists()


def test_without_bwrap_saved_responses_are_not_graded_either(tmp_path, hostile, no_bwrap_path):
    _, planted, _, key = hostile
    saved = tmp_path / "saved.jsonl"
    saved.write_text(json.dumps({"benchmark": "humaneval", "id": "HumanEval/0",
                                 "response": _completion(str(planted), key)}) + "\n")
    proc = subprocess.run([sys.executable, "-m", "star1.cli", "eval", "--in", str(saved), "--out",
                           str(tmp_path / "run"), "-q"], env={**os.environ, "PATH": no_bwrap_path},
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 2 and "apt-get install bubblewrap" in proc.stderr, proc.stderr
    assert not (tmp_path / "run" / "items").exists()


def test_an_unsafe_mode_that_does_not_work_is_refused_not_replaced(tmp_path, hostile, no_bwrap_path):
    server, _, _, key = hostile
    proc = _eval(tmp_path, server, key, no_bwrap_path, "--set", "sandbox=unsafe-unshare")
    assert proc.returncode == 2 and "'unsafe-unshare' does not work here" in proc.stderr, proc.stderr
    assert server.count == 0


def test_weak_isolation_runs_only_when_asked_by_name(tmp_path, hostile, no_bwrap_path):
    server, _, secret_text, key = hostile
    proc = _eval(tmp_path, server, key, no_bwrap_path, "--set", "sandbox=unsafe-rlimits-only")
    assert proc.returncode == 0, proc.stderr
    assert "unsafe-rlimits-only, as asked" in proc.stderr and "WITHOUT an isolation boundary" in proc.stderr
    [item] = [json.loads(line) for line in (tmp_path / "run" / "items" / "humaneval.jsonl").read_text().splitlines()]
    assert item["grade"]["isolation"] == "unsafe-rlimits-only"
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["benchmarks"]["humaneval"]["isolation"] == {"unsafe-rlimits-only": 1}
    assert "LOOT" in item["grade"]["stderr"]  # the hostile code did run: the user asked for that
    _assert_env_allow_listed(item)
    _assert_no_key(tmp_path, proc, key)


def test_with_bwrap_the_same_code_reads_nothing_of_the_host(tmp_path, hostile):
    server, planted, secret_text, key = hostile
    proc = _eval(tmp_path, server, key, os.environ["PATH"])
    assert proc.returncode == 0, proc.stderr
    items = (tmp_path / "run" / "items" / "humaneval.jsonl").read_text()
    [item] = [json.loads(line) for line in items.splitlines()]
    assert item["grade"]["isolation"] == "bwrap" and not item["correct"]
    assert "LOOT" in item["grade"]["stderr"]  # it ran, and found:
    assert f"{planted}: FileNotFoundError" in item["grade"]["stderr"]
    assert "/etc/shadow: FileNotFoundError" in item["grade"]["stderr"]
    assert secret_text not in items and "root:" not in items
    _assert_env_allow_listed(item)
    _assert_no_key(tmp_path, proc, key)


def _assert_env_allow_listed(item: dict) -> None:
    # Under every mode graded code gets an allow-listed environment: no key, nothing planted.
    names = item["grade"]["stderr"].split("ENV ", 1)[1].split(" LOOT ", 1)[0]
    assert "'PATH'" in names and "OPENAI_API_KEY" not in names and "STAR1_PLANTED_ENV" not in names, names


def _assert_no_key(tmp_path, proc, key: str) -> None:
    stored = "".join(p.read_text(errors="replace") for p in (tmp_path / "run").rglob("*") if p.is_file()
                     and p.suffix in (".json", ".jsonl"))
    printed = base64.b64encode(key.encode()).decode()
    for form in (key, key[::-1], key.encode().hex(), printed[:-4]):
        assert form not in stored + proc.stdout + proc.stderr, form

"""Issue 21, class 10: terminal escape injection. A real-socket server lists a model id carrying
escape sequences (window title, line erase, an OSC 52 clipboard write) and answers with an HTTP
error whose raw body fakes a status line; ``star1 classify`` prints both. Off a terminal and on
a real pseudo-terminal, nothing of that control reaches the screen, while the words do."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import subprocess
import sys

import pytest
from rich.table import Table

from star1.console import make_console
from star1.redact import printable, strip_controls
from star1.testing.openai_server import OpenAIStubServer, Reply

EVIL_ID = "evil\x1b]0;PWNED-TITLE\x07\x1b[2K\x1b]52;c;cGF5bG9hZA==\x07-model"
EVIL_BODY = ("upstream broke\x1b[2J\x1b[1;1H\x1b[32mFAKE STATUS: all good\x1b[0m\x9b31m\rover\x07\x08"
             "\x1bP+q544e\x1b\\ \x1b]8;;http://attacker.example\x1b\\link\x1b]8;;\x1b\\ end").encode()
# What the server sent that must not reach a terminal (rich's own styling codes may, on a tty).
INJECTED = ("\x1b]", "\x07", "\x1b[2J", "\x1b[1;1H", "\x9b", "\r", "\x08", "\x1bP", "PWNED-TITLE", "cGF5bG9hZA")


@pytest.fixture
def hostile_server():
    reply = Reply(status=400, raw_body=EVIL_BODY, headers={"content-type": "text/plain"})
    with OpenAIStubServer(lambda body, n: reply, models=[{"id": EVIL_ID, "object": "model"}]) as server:
        yield server


def _command(tmp_path, server) -> list[str]:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"id": "p1", "question": "q"}) + "\n")
    return [sys.executable, "-m", "star1.cli", "classify", "--in", str(prompts), "--out",
            str(tmp_path / "out.jsonl"), "--classifier", f"openai:stub@{server.base_url}?max_retries=0",
            "--set", f"cache={tmp_path / 'calls.sqlite'}"]


def _assert_clean(text: str) -> None:
    for piece in INJECTED:
        assert piece not in text, (piece, text)
    assert "evil-model" in text  # the model id is still named, without its payload
    assert "upstream broke" in text and "FAKE STATUS: all good" in text and "link end" in text


def test_server_text_reaches_a_log_without_terminal_control(tmp_path, hostile_server):
    proc = subprocess.run(_command(tmp_path, hostile_server), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr  # every call failed: the run says so
    _assert_clean(proc.stderr + proc.stdout)
    assert "\x1b" not in proc.stderr  # off a terminal, not even styling


def test_server_text_reaches_a_terminal_without_terminal_control(tmp_path, hostile_server):
    main, child = pty.openpty()
    proc = subprocess.Popen(_command(tmp_path, hostile_server), stdin=subprocess.DEVNULL, stdout=child,
                            stderr=child, env={**os.environ, "COLUMNS": "400", "TERM": "xterm"})
    os.close(child)
    data = b""
    while True:
        ready, _, _ = select.select([main], [], [], 120)
        try:
            chunk = os.read(main, 65536) if ready else b""
        except OSError:  # EIO: the other side is closed
            chunk = b""
        if not chunk:
            break
        data += chunk
    os.close(main)
    assert proc.wait(timeout=60) == 1
    text = data.decode("utf-8", "replace").replace("\r\n", "\n")  # the pty's own line endings
    _assert_clean(text.replace("\r", ""))  # rich redraws its bar with CR on a terminal
    assert "\r" not in text.replace("\r\n", "").split("error: ", 1)[1]  # none in the server's text


def test_printable_strips_every_kind_of_control_and_keeps_text():
    assert strip_controls(EVIL_ID) == "evil-model"
    assert strip_controls("tab\tnew\nline é 中文") == "tab\tnew\nline é 中文"
    assert strip_controls("\x1b]0;title without end") == ""
    assert printable("a\x1b[31mred\x1b[0m\x00b") == "aredb"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_rich_console_on_a_terminal_styles_but_passes_no_server_control(monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    console = make_console(force_terminal=True, color_system="standard", width=200)
    console.print(f"[bold]model[/bold] {EVIL_ID}", highlight=False)
    table = Table("id")
    table.add_row(EVIL_ID)
    console.print(table)
    out = terminal.getvalue()
    assert "\x1b[1m" in out  # rich's own styling is kept on a terminal
    assert out.count("evil-model") == 2
    for piece in ("\x1b]", "\x07", "\x1b[2K", "PWNED-TITLE"):
        assert piece not in out, (piece, out)

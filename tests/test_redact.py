"""Attack class 4: a server that echoes the API key in an error body must not get it onto disk,
into logs or onto the terminal. The redaction step sits at the sinks (star1.io's writers, the
CLI's error line and logging handler), so every path through them is covered."""

import gzip
import io
import json
import logging
import os
import secrets
import subprocess
import sys

import pytest

from star1.io import append_jsonl, read_rows, write_json_atomic, write_rows, write_text_atomic
from star1.redact import (
    MASK,
    clear_secrets,
    install_log_redaction,
    is_secret_name,
    register_env_secrets,
    register_secret,
)
from star1.testing.openai_server import OpenAIStubServer, Reply


@pytest.fixture
def key():
    value = "sk-test-" + secrets.token_hex(16)
    yield value
    clear_secrets()


def _echo_reply(key: str) -> dict:
    # What an API answers to a bad key: the key itself, quoted back in the error message.
    return {"error": {"message": f"Incorrect API key provided: {key}. You can find your API key "
                                 "at https://example.invalid/keys.", "type": "invalid_request_error",
                      "code": "invalid_api_key"}}


@pytest.mark.parametrize("name", ["rows.jsonl", "rows.jsonl.gz", "rows.json", "rows.parquet"])
def test_record_writers_redact_registered_keys(tmp_path, key, name):
    register_secret(key)
    path = tmp_path / name
    write_rows(path, [{"id": "a", "reason": f"HTTP 401: Incorrect API key provided: {key}",
                       "nested": {"headers": [f"Bearer {key}"]}}])
    raw = path.read_bytes()
    text = gzip.decompress(raw) if name.endswith(".gz") else raw
    assert key.encode() not in text
    [(_, row)] = read_rows(path)
    assert row["reason"] == f"HTTP 401: Incorrect API key provided: {MASK}"
    assert row["nested"] == {"headers": [f"Bearer {MASK}"]}


def test_json_text_and_log_writers_redact_registered_keys(tmp_path, key):
    register_secret(key)
    write_json_atomic(tmp_path / "results.json", {"error": _echo_reply(key)})
    write_text_atomic(tmp_path / "card.md", f"engine said: {key}\n")
    append_jsonl(tmp_path / "log.jsonl", {"stderr": f"Authorization: Bearer {key}"})
    for path in tmp_path.iterdir():
        text = path.read_text(encoding="utf-8")
        assert key not in text and MASK in text, path.name


def test_logging_filter_redacts_messages_arguments_and_tracebacks(key):
    register_secret(key)
    stream = io.StringIO()
    logger = logging.getLogger("star1.test_redact")
    logger.propagate = False
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    child = logging.getLogger("star1.test_redact.http")  # records propagate to the handler
    try:
        install_log_redaction(logger)
        child.warning("request headers: %s", {"Authorization": f"Bearer {key}"})
        try:
            raise RuntimeError(f"server said {key}")
        except RuntimeError:
            child.exception("call failed")
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert "request headers" in output and "server said" in output and "Traceback" in output
    assert key not in output
    assert output.count(MASK) == 2


def test_secret_environment_names():
    assert all(map(is_secret_name, ["OPENAI_API_KEY", "HF_TOKEN", "AWS_SECRET_ACCESS_KEY",
                                    "DEEPSEEK_API_KEY", "db_password"]))
    assert not any(map(is_secret_name, ["PATH", "HOME", "KEYBOARD_LAYOUT", "STAR1_CACHE_DIR"]))
    try:
        register_env_secrets({"MY_PROVIDER_KEY": "value-long-enough", "LANG": "en_US.UTF-8x"})
        from star1.redact import redact

        assert redact("a value-long-enough b en_US.UTF-8x") == f"a {MASK} b en_US.UTF-8x"
    finally:
        clear_secrets()


def test_cli_classify_against_a_server_echoing_the_key_leaves_it_nowhere(tmp_path):
    """End to end: OPENAI_API_KEY set, a real HTTP server whose 401 body quotes the Authorization
    header back, ``star1 -v classify`` (debug logs on). The key must be in no file and in neither
    output stream. The CLI registers secret-named environment values itself (register_env_secrets),
    so this holds whether or not the engine registers its key too."""
    key = "sk-test-" + secrets.token_hex(16)
    holder = {}

    def echo(body, number):
        authorization = holder["server"].headers[number - 1].get("authorization", "")
        return Reply(status=401, raw_body=json.dumps(_echo_reply(authorization.split()[-1])).encode())

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"id": "p1", "question": "How do I pick a lock?"}) + "\n")
    out = tmp_path / "out" / "classified.jsonl"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "OPENAI_API_KEY": key, "TMPDIR": str(scratch)}
    with OpenAIStubServer(echo) as server:
        holder["server"] = server
        engine = f"openai:stub@{server.base_url}?max_retries=0"
        result = subprocess.run(
            [sys.executable, "-m", "star1.cli", "-v", "classify", "--in", str(prompts), "--out", str(out),
             "--classifier", engine, "--set", f"cache={tmp_path / 'cache.sqlite'}"],
            capture_output=True, text=True, env=env, timeout=120)
        sent = server.headers[0]["authorization"]
    assert sent == f"Bearer {key}"  # the server did get the key, and did quote it back
    assert result.returncode == 1, result.stderr  # every call failed: the run says so and exits 1
    failed = out.with_suffix(".failed.jsonl").read_text(encoding="utf-8")
    assert "Incorrect API key provided" in failed and MASK in failed
    assert key not in result.stdout and key not in result.stderr
    leaks = [p for p in tmp_path.rglob("*") if p.is_file() and key.encode() in p.read_bytes()]
    assert leaks == []


def test_cli_error_line_is_redacted(tmp_path):
    # An input error quotes what it found; here that is the key (a field named after it).
    key = "sk-test-" + secrets.token_hex(16)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(f'{{"question": "x", "{key}": 1, "{key}": 2}}\n')
    result = subprocess.run([sys.executable, "-m", "star1.cli", "select", "--in", str(bad), "--out",
                             str(tmp_path / "out.jsonl")], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "DEEPSEEK_API_KEY": key})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"star1 select: error: {bad}, line 1, field '{MASK}': given twice in one object; keep one of them"]


def test_console_output_is_redacted(capsys):
    from star1.console import make_console
    from star1.redact import clear_secrets, register_secret

    register_secret("sk-console-secret-123456")
    try:
        make_console().print("the server said: Incorrect API key provided: sk-console-secret-123456")
    finally:
        clear_secrets()
    err = capsys.readouterr().err
    assert "sk-console-secret-123456" not in err and "[REDACTED]" in err


def test_clip_redacts_before_it_cuts_from_either_end():
    from star1.redact import clip

    key = "sk-clip-0123456789abcdef"
    register_secret(key)
    try:
        text = "x" * 70 + key + "y" * 70
        head, tail = clip(text, 80), clip(text, 80, tail=True)
        assert head == "x" * 70 + MASK[:10] and tail == MASK[-10:] + "y" * 70
        assert not any(key[i:i + 8] in head + tail for i in range(len(key) - 7))
    finally:
        clear_secrets()

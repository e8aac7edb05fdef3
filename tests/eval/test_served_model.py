"""A model and a judge behind OpenAI-compatible servers (real HTTP): what results.json says the
servers were asked for and honour, and the exit status when every generation call failed."""

from __future__ import annotations

import json

from star1.cli import main
from star1.testing.openai_server import OpenAIStubServer, Reply

# What llama-cpp-python's server lists (verified against it, star1.engines.endpoints).
LLAMA_CPP_MODELS = [{"id": "/models/tiny.gguf", "object": "model", "owned_by": "me"}]


def test_results_record_what_each_server_was_asked_for_and_honours(tmp_path, shared_data, monkeypatch):
    """llama.cpp takes the repetition penalty as ``repeat_penalty``; a plain OpenAI server takes
    none, and the judge's record says so instead of claiming 1.2 was applied."""
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    out = tmp_path / "run"
    guard = lambda body, n: Reply(content="safe")  # noqa: E731
    with OpenAIStubServer(lambda body, n: Reply(content="I can't help with that."),
                          models=LLAMA_CPP_MODELS) as model, OpenAIStubServer(guard) as judge:
        assert main(["eval", "--model", f"openai:tiny@{model.base_url}?max_retries=0",
                     "--safety-judge", f"openai:llama-guard@{judge.base_url}?max_retries=0",
                     "--benchmarks", "strongreject", "--limit", "2", "--set", "max_tokens=16",
                     "--out", str(out), "--local-dir", str(shared_data), "-q"]) == 0
        sent = model.requests[0]
    assert sent["repeat_penalty"] == 1.2 and "repetition_penalty" not in sent
    summary = json.loads((out / "results.json").read_text())["benchmarks"]["strongreject"]
    generation = summary["protocol"]["sampling_report"]
    assert generation["dialect"] == "llamacpp"
    assert generation["fields"]["repetition_penalty"] == {"asked": 1.2, "sent_as": "repeat_penalty",
                                                          "honoured": True}
    assert generation["fields"]["max_tokens"]["asked"] == 16
    asked_judge = summary["judge"]["sampling_report"]
    assert asked_judge["dialect"] == "openai"
    assert asked_judge["fields"]["max_tokens"] == {"asked": 24, "sent_as": "max_tokens", "honoured": True}
    assert asked_judge["fields"]["seed"]["honoured"] is None  # not sent: the server's default
    assert summary["score"] == 1.0 and summary["judge"]["kind"] == "llama-guard-3-format"


def test_every_generation_call_failing_exits_1_with_the_first_error(tmp_path, shared_data, monkeypatch, capsys):
    """Issue 14: a run in which no generation call was answered (nor cached) is a failed run —
    exit 1 with the server's explanation — after writing what it could."""
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    out = tmp_path / "run"
    refuse = lambda body, n: Reply(status=401, error="Incorrect API key provided: test-key")  # noqa: E731
    with OpenAIStubServer(refuse) as server:
        code = main(["eval", "--model", f"openai:tiny@{server.base_url}?max_retries=0",
                     "--benchmarks", "xstest", "--limit", "2", "--set", "max_tokens=8",
                     "--out", str(out), "--local-dir", str(shared_data), "-q"])
    err = capsys.readouterr().err
    assert code == 1
    assert "xstest: all 2 model calls failed; the first:" in err and "401" in err
    assert "Incorrect API key provided" in err and "test-key" not in err  # redacted
    summary = json.loads((out / "results.json").read_text())["benchmarks"]["xstest"]
    assert summary["errors"] == 2 and summary["score"] is None


def test_a_partly_answered_run_is_not_a_failed_run(tmp_path, shared_data, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    out = tmp_path / "run"

    def flaky(body, n):
        return Reply(status=500, error="overloaded") if n == 1 else Reply(content="Sure.")

    with OpenAIStubServer(flaky) as server:
        assert main(["eval", "--model", f"openai:tiny@{server.base_url}?max_retries=0&concurrency=1",
                     "--benchmarks", "xstest", "--limit", "2", "--set", "max_tokens=8",
                     "--out", str(out), "--local-dir", str(shared_data), "-q"]) == 0
    summary = json.loads((out / "results.json").read_text())["benchmarks"]["xstest"]
    assert summary["errors"] == 1 and summary["score"] == 1.0

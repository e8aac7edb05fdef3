"""Issue 12: a hostile or broken server, played by a real HTTP server on 127.0.0.1, never crashes a
run, poisons the call cache, hangs it, or gets an API key written anywhere."""

import json
import logging
import time

import pytest

from star1.engines import CachedEngine, CallCache, ChatRequest, call_key, make_engine
from star1.redact import MASK, clear_secrets
from star1.testing.openai_server import OpenAIStubServer, Reply

FAST = "?timeout=2&max_retries=1&backoff_base=0.01&backoff_max=0.02"
KEY = "sk-proj-0123456789abcdefSECRET"
GOOD = {"choices": [{"message": {"content": "fine"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1}}


def reply_with(message=None, usage=None, **choice):
    body = json.loads(json.dumps(GOOD))
    body["choices"][0]["message"].update(message or {})
    body["choices"][0].update(choice)
    if usage is not None:
        body["usage"] = usage
    return body


@pytest.fixture
def secret_key(monkeypatch):
    monkeypatch.setenv("STAR1_TEST_KEY", KEY)
    yield KEY
    clear_secrets()


def test_a_key_echoed_in_an_error_body_never_reaches_the_error_or_the_logs(secret_key, caplog):
    holder = {}

    def echo_the_header(body, n):  # what OpenAI does: "Incorrect API key provided: sk-…"
        header = holder["server"].headers[n - 1]["authorization"]
        return Reply(status=401, error=f"Incorrect API key provided: {header.split()[-1]}.")

    caplog.set_level(logging.DEBUG, logger="star1")
    with OpenAIStubServer(echo_the_header) as server:
        holder["server"] = server
        engine = make_engine(f"openai:stub@{server.base_url}{FAST}&api_key_env=STAR1_TEST_KEY")
        completion = engine.generate([ChatRequest.chat("q")])[0]
        assert server.headers[0]["authorization"] == f"Bearer {KEY}"  # the key was really sent
    assert "HTTP 401" in completion.error and f"Incorrect API key provided: {MASK}" in completion.error
    assert "STAR1_TEST_KEY" in completion.error
    assert KEY not in completion.error
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "Incorrect API key provided" in logged  # -v shows the body ...
    assert KEY not in logged  # ... without the key


DEEP = b'{"choices": [{"message": {"content": ' + b"[" * 100_000 + b"]" * 100_000 + b'}}]}'


@pytest.mark.parametrize("reply, why", [
    (Reply(json_body=reply_with({"reasoning_content": 12345})), "reasoning_content is int"),
    (Reply(json_body=reply_with({"reasoning_content": {"steps": ["a"]}})), "reasoning_content is dict"),
    (Reply(raw_body=DEEP), "nested too deeply"),
    (Reply(json_body=reply_with({"content": "bad \ud800 text"})), "unpaired surrogate"),
    (Reply(json_body=reply_with({"content": ["a", "list"]})), "content is list"),
    (Reply(json_body=reply_with(finish_reason={"why": "stop"})), "finish_reason is dict"),
    (Reply(json_body={"choices": "none"}), "no choices"),
    (Reply(raw_body=b"\xff\xfe not utf-8"), "not UTF-8"),
], ids=["reasoning-int", "reasoning-dict", "deep-nesting", "lone-surrogate", "content-list",
        "finish-dict", "choices-string", "not-utf8"])
def test_a_poisoned_reply_is_that_calls_failure_and_is_never_cached(tmp_path, reply, why):
    with OpenAIStubServer(lambda body, n: reply) as server:
        cache = CallCache(tmp_path / "cache.sqlite")
        engine = CachedEngine(make_engine(f"openai:stub@{server.base_url}{FAST}"), cache, "stage")
        results = engine.generate([ChatRequest.chat("poisoned"), ChatRequest.chat("also poisoned")])
        assert server.count == 4  # each retried once, then recorded
    assert all(not c.ok and why in c.error and "malformed response" in c.error for c in results)
    assert len(cache) == 0  # nothing poisoned is stored: a rerun asks again

    with OpenAIStubServer(lambda body, n: Reply(json_body=GOOD)) as server:
        engine = CachedEngine(make_engine(f"openai:stub@{server.base_url}{FAST}"), cache, "stage")
        again = engine.generate([ChatRequest.chat("poisoned"), ChatRequest.chat("also poisoned")])
        assert server.count == 2
    assert [c.text for c in again] == ["fine", "fine"]


@pytest.mark.parametrize("usage", [
    "lots", {"prompt_tokens": "ten", "completion_tokens": 1}, {"prompt_tokens": float("nan")},
    {"prompt_tokens": -5, "completion_tokens": 2.5}, {"prompt_tokens": 10 ** 400}, ["x"],
], ids=["string", "word", "nan", "negative-fraction", "huge", "list"])
def test_bad_token_counts_keep_the_answer_and_count_zero(tmp_path, usage, caplog):
    raw = json.dumps(reply_with(usage=usage)).encode()  # NaN is written as the JSON literal NaN
    with OpenAIStubServer(lambda body, n: Reply(raw_body=raw)) as server:
        cache = CallCache(tmp_path / "cache.sqlite")
        engine = CachedEngine(make_engine(f"openai:stub@{server.base_url}{FAST}"), cache, "stage")
        completion = engine.generate([ChatRequest.chat("q")])[0]
    assert completion.ok and completion.text == "fine"
    assert completion.prompt_tokens == 0 and isinstance(completion.completion_tokens, int)
    assert "usage" in caplog.text
    assert len(cache) == 1


def test_one_broken_reply_in_a_batch_fails_alone():
    # Before: AttributeError from `usage.get` escaped generate(), chained under a misleading
    # "RuntimeError: no running event loop", and aborted the whole build.
    def handler(body, n):
        if body["messages"][-1]["content"] == "bad":
            return Reply(json_body=reply_with({"content": 7}))
        return Reply(content="ok")

    with OpenAIStubServer(handler) as server:
        engine = make_engine(f"openai:stub@{server.base_url}{FAST}&concurrency=3")
        results = engine.generate([ChatRequest.chat(t) for t in ("a", "bad", "b", "c")])
    assert [c.ok for c in results] == [True, False, True, True]
    assert "content is int" in results[1].error


@pytest.mark.timeout(30)
def test_retry_after_beyond_the_cap_fails_the_request_instead_of_sleeping_an_hour():
    with OpenAIStubServer(lambda body, n: Reply(status=429, headers={"retry-after": "3600"},
                                                error="quota exceeded")) as server:
        engine = make_engine(f"openai:stub@{server.base_url}{FAST}")
        completion = engine.generate([ChatRequest.chat("q")])[0]
        assert server.count == 1
    assert "HTTP 429" in completion.error and "quota exceeded" in completion.error
    assert "3600s" in completion.error and "retry_after_max=60s" in completion.error


@pytest.mark.timeout(30)
def test_retry_after_within_the_cap_is_honoured():
    started = []

    def handler(body, n):
        started.append(time.monotonic())
        return Reply(status=429, headers={"retry-after": "1"}) if n == 1 else Reply(content="ok")

    with OpenAIStubServer(handler) as server:
        completion = make_engine(f"openai:stub@{server.base_url}{FAST}&retry_after_max=5").generate(
            [ChatRequest.chat("q")])[0]
    assert completion.text == "ok" and started[1] - started[0] >= 1.0


@pytest.mark.timeout(30)
def test_a_server_dripping_bytes_hits_the_request_deadline_and_is_hung_up_on():
    # One byte every 0.2 s: each read is quick, so a per-read timeout never fires; the body
    # would take over a minute. The deadline covers the whole request.
    with OpenAIStubServer(lambda body, n: Reply(content="x" * 200, drip=0.2)) as server:
        engine = make_engine(f"openai:stub@{server.base_url}?timeout=1&max_retries=0")
        completion = engine.generate([ChatRequest.chat("q")])[0]
        deadline = time.monotonic() + 10
        while server.abandoned < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.abandoned == 1  # the connection was closed, so the server can stop
    assert "timeout=1s" in completion.error and "queued on the server" in completion.error


def test_the_structured_output_switch_off_is_part_of_the_call_cache_key(tmp_path):
    def llama_cpp_python(body, n):  # its answer to json_schema, verbatim in shape
        if body.get("response_format", {}).get("type") == "json_schema":
            return Reply(status=500, error="1 validation error: ('body', 'response_format', 'type') "
                                           "Input should be 'text' or 'json_object'")
        return Reply(content='{"label": "a"}')

    request = ChatRequest.chat("q", json_schema={"type": "object"})
    cache = CallCache(tmp_path / "cache.sqlite")
    with OpenAIStubServer(llama_cpp_python) as server:
        engine = CachedEngine(make_engine(f"openai:stub@{server.base_url}{FAST}"), cache, "stage")
        first = engine.generate([request])[0]
        assert server.count == 2  # one rejected, one answered: no 5xx retries
        assert first.ok and first.variant == "structured=json_object+schema"
        assert not cache.contains(call_key("stage", engine.identity, request))  # not under json_schema's key
        assert cache.contains(call_key("stage", engine.identity, request, first.variant))

        rerun = CachedEngine(make_engine(f"openai:stub@{server.base_url}{FAST}"), cache, "stage")
        again = rerun.generate([request])[0]
        assert server.count == 2  # the step-down was remembered: the rerun is all cache
    assert again.cached and again.text == first.text

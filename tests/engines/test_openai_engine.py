"""The openai engine against a real local HTTP server that misbehaves on purpose."""

import threading
import time

import pytest

from star1.engines import ChatRequest, SamplingParams, make_engine
from star1.testing.openai_server import OpenAIStubServer, Reply

FAST = "?timeout=1&max_retries=3&backoff_base=0.01&backoff_max=0.05"


def engine_for(server, options=FAST, model="stub"):
    return make_engine(f"openai:{model}@{server.base_url}{options}")


def ask(engine, text, **kwargs):
    return engine.generate([ChatRequest.chat(text, **kwargs)])[0]


def test_normal_answer_and_usage():
    with OpenAIStubServer(lambda body, n: Reply(content="Paris.", prompt_tokens=12, completion_tokens=3)) as server:
        completion = ask(engine_for(server), "Capital of France?",
                         sampling=SamplingParams(max_tokens=7, temperature=0.5, stop=("\n",), seed=3))
        body = server.requests[0]
    assert completion.ok and completion.text == "Paris." and completion.reasoning is None
    assert (completion.prompt_tokens, completion.completion_tokens) == (12, 3)
    assert body["messages"] == [{"role": "user", "content": "Capital of France?"}]
    assert (body["max_tokens"], body["temperature"], body["stop"], body["seed"]) == (7, 0.5, ["\n"], 3)


def test_reasoning_content_field_is_normalised():
    with OpenAIStubServer(lambda body, n: Reply(content="Answer.", reasoning_content="Let me think.")) as server:
        completion = ask(engine_for(server), "q")
    assert (completion.reasoning, completion.text) == ("Let me think.", "Answer.")


@pytest.mark.parametrize("content", ["<think>\nLet me think.\n</think>\n\nAnswer.", "Let me think.\n</think>\n\nAnswer."])
def test_inline_think_block_is_normalised(content):
    with OpenAIStubServer(lambda body, n: Reply(content=content)) as server:
        completion = ask(engine_for(server), "q")
    assert (completion.reasoning, completion.text) == ("Let me think.", "Answer.")


def test_429_waits_for_retry_after_then_succeeds():
    def handler(body, n):
        return Reply(status=429, headers={"retry-after": "0.4"}) if n == 1 else Reply(content="ok")

    with OpenAIStubServer(handler) as server:
        started = time.perf_counter()
        completion = ask(engine_for(server), "q")
        elapsed = time.perf_counter() - started
        assert server.count == 2
    assert completion.ok and completion.text == "ok"
    assert elapsed >= 0.4  # backoff alone would be at most 0.01 s


def test_5xx_is_retried_until_success():
    with OpenAIStubServer(lambda body, n: Reply(status=503) if n <= 2 else Reply(content="ok")) as server:
        completion = ask(engine_for(server), "q")
        assert server.count == 3
    assert completion.text == "ok"


def test_persistent_5xx_gives_up_with_an_error_not_an_exception():
    with OpenAIStubServer(lambda body, n: Reply(status=500)) as server:
        completion = ask(engine_for(server), "q")
        assert server.count == 4  # 1 + max_retries
    assert not completion.ok and completion.finish_reason == "error"
    assert "HTTP 500" in completion.error


def test_client_errors_are_not_retried():
    with OpenAIStubServer(lambda body, n: Reply(status=403, error="forbidden for this project")) as server:
        completion = ask(engine_for(server), "q")
        assert server.count == 1
    assert "HTTP 403" in completion.error and "forbidden for this project" in completion.error
    assert "OPENAI_API_KEY" in completion.error  # where the key came from


def test_hang_past_timeout_is_retried():
    with OpenAIStubServer(lambda body, n: Reply(delay=2.0, content="late") if n == 1 else Reply(content="ok")) as server:
        completion = ask(engine_for(server), "q")
        assert server.count == 2
    assert completion.text == "ok"


@pytest.mark.parametrize("reply", [
    Reply(raw_body=b'{"choices": [{"message": '),
    Reply(raw_body=b'{"id": "x", "choices": []}'),
    Reply(drop=True),
], ids=["truncated-json", "no-choices", "dropped-connection"])
def test_malformed_or_dropped_responses_are_retried(reply):
    with OpenAIStubServer(lambda body, n: reply if n == 1 else Reply(content="ok")) as server:
        completion = ask(engine_for(server), "q")
        assert server.count == 2
    assert completion.text == "ok"


def test_length_finish_is_a_failure_without_retry():
    with OpenAIStubServer(lambda body, n: Reply(content="cut", finish_reason="length")) as server:
        completion = ask(engine_for(server), "q")
        assert server.count == 1
    assert completion.finish_reason == "length" and not completion.ok
    assert completion.text == "cut"  # kept for the record


def test_length_can_be_accepted():
    with OpenAIStubServer(lambda body, n: Reply(content="cut", finish_reason="length")) as server:
        completion = ask(engine_for(server, FAST + "&length_is_failure=false"), "q")
    assert completion.ok and completion.finish_reason == "length"


def test_structured_output_steps_down_to_none_when_every_mode_is_rejected():
    def handler(body, n):
        if "response_format" in body:
            return Reply(status=400, raw_body=b'{"error": {"message": "response_format is not supported"}}')
        return Reply(content='{"a": 1}')

    with OpenAIStubServer(handler) as server:
        completion = ask(engine_for(server), "q", json_schema={"type": "object"})
        formats = [b.get("response_format") for b in server.requests]
    assert formats == [
        {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True}},
        {"type": "json_object", "schema": {"type": "object"}},
        {"type": "json_object"},
        None]
    assert completion.text == '{"a": 1}' and completion.variant == "structured=none"


def test_prefill_continues_the_assistant_message():
    def handler(body, n):
        if body["messages"][-1]["content"].endswith("10, 11, 1"):  # the start-up prefill probe
            return Reply(content="2, 13, 14")
        return Reply(content=" more text")

    with OpenAIStubServer(handler) as server:
        completion = ask(engine_for(server), "q", prefill="<think>\n")
        body = server.requests[-1]
    assert body["messages"][-1] == {"role": "assistant", "content": "<think>\n"}
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    assert completion.text == " more text" and completion.variant == ""


def test_requests_are_balanced_across_base_urls_and_keys(monkeypatch):
    monkeypatch.setenv("KEY_A", "secret-a")
    monkeypatch.setenv("KEY_B", "secret-b")
    seen = []
    with OpenAIStubServer(lambda body, n: Reply(content="a")) as a, \
            OpenAIStubServer(lambda body, n: Reply(content="b")) as b:
        engine = make_engine(f"openai:stub@{a.base_url},{b.base_url}?api_key_env=KEY_A,KEY_B")
        completions = engine.generate([ChatRequest.chat(f"q{i}") for i in range(10)])
        seen = (a.count, b.count)
    assert seen == (5, 5)
    assert sorted(c.text for c in completions) == ["a"] * 5 + ["b"] * 5


def test_concurrency_limit_is_respected():
    in_flight, peak, lock = 0, 0, threading.Lock()

    def handler(body, n):
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.05)
        with lock:
            in_flight -= 1
        return Reply(content="ok")

    with OpenAIStubServer(handler) as server:
        engine = engine_for(server, FAST + "&concurrency=4")
        completions = engine.generate([ChatRequest.chat(f"q{i}") for i in range(20)])
    assert all(c.ok for c in completions) and peak == 4


def test_results_are_reported_as_they_finish():
    order = []

    def handler(body, n):
        time.sleep(0.3 if body["messages"][0]["content"] == "slow" else 0.0)
        return Reply(content=body["messages"][0]["content"])

    with OpenAIStubServer(handler) as server:
        engine = engine_for(server)
        results = engine.generate([ChatRequest.chat("slow"), ChatRequest.chat("fast")],
                                  on_result=lambda i, c: order.append(i))
    assert order == [1, 0]
    assert [c.text for c in results] == ["slow", "fast"]  # returned in request order


def test_api_key_is_sent_but_never_in_the_engine_identity(monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-very-secret")
    with OpenAIStubServer(lambda body, n: Reply(content="ok")) as server:
        engine = make_engine(f"openai:stub@{server.base_url}?api_key_env=MY_KEY")
        assert "sk-very-secret" not in engine.identity + engine.name
        assert ask(engine, "q").ok
        assert server.headers[0]["authorization"] == "Bearer sk-very-secret"


def test_unset_sampling_fields_are_not_sent_and_the_limit_field_is_configurable():
    # The STAR-1 reference sends its classifier / judge calls with no temperature or top_p (the
    # server's default) and the limit as max_completion_tokens; list-of-parts content goes as is.
    parts = [{"type": "text", "text": "Classify this."}]
    request = ChatRequest(messages=({"role": "user", "content": parts},),
                          sampling=SamplingParams(max_tokens=1024, temperature=None, top_p=None,
                                                  max_tokens_field="max_completion_tokens"))
    with OpenAIStubServer(lambda body, n: Reply(content='["Other"]')) as server:
        completion = engine_for(server).generate([request])[0]
        body = server.requests[0]
    assert completion.ok
    assert body["messages"] == [{"role": "user", "content": parts}]
    assert body["max_completion_tokens"] == 1024
    assert not {"max_tokens", "temperature", "top_p"} & set(body)


def test_default_limit_field_keeps_cache_keys_of_earlier_versions():
    from star1.engines import call_key

    sampling = SamplingParams(max_tokens=5)
    assert "max_tokens_field" not in sampling.payload()
    key = call_key("ns", "id", ChatRequest.chat("q", sampling=sampling))
    other = call_key("ns", "id", ChatRequest.chat("q", sampling=SamplingParams(
        max_tokens=5, max_tokens_field="max_completion_tokens")))
    assert key != other

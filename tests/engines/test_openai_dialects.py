"""Issue 14: each real server's dialect, played by a stub on 127.0.0.1 (the same behaviours are
checked against a real llama.cpp server in tests/integration)."""

import logging
import socket

import pytest

from star1.engines import CachedEngine, CallCache, ChatRequest, SamplingParams, make_engine
from star1.errors import SetupError
from star1.testing.openai_server import OpenAIStubServer, Reply

FAST = "?timeout=2&max_retries=1&backoff_base=0.01&backoff_max=0.02"
SCHEMA = {"type": "object", "properties": {"label": {"enum": ["a", "b"]}}, "required": ["label"]}
GGUF = [{"id": "/models/SmolLM2-135M-Instruct.Q4_1.gguf", "object": "model", "owned_by": "me", "permissions": []}]
VLLM = [{"id": "qwen", "object": "model", "owned_by": "vllm", "root": "Qwen/Qwen3-8B", "max_model_len": 4096}]
PROBE_END = "10, 11, 1"


def ask(engine, request):
    return engine.generate([request])[0]


def is_probe(body):
    messages = body.get("messages") or []
    return (messages and messages[-1]["content"].endswith(PROBE_END)) or body.get("prompt", "").endswith(PROBE_END)


def test_a_500_on_json_schema_steps_down_to_json_object_with_the_schema_for_the_run():
    def handler(body, n):
        if body.get("response_format", {}).get("type") == "json_schema":
            return Reply(status=500, error="response_format.type: Input should be 'text' or 'json_object'")
        return Reply(content='{"label": "a"}')

    request = ChatRequest.chat("pick", json_schema=SCHEMA)
    with OpenAIStubServer(handler, models=GGUF) as server:
        completion = ask(make_engine(f"openai:smollm2@{server.base_url}{FAST}"), request)
        assert server.count == 2  # not 1 + max_retries: a format rejection is not transient
        assert server.requests[1]["response_format"] == {"type": "json_object", "schema": SCHEMA}
        # A new engine (a later run) tries json_schema again once (issue 21: a step-down is not
        # for good), then steps down for the rest of its run.
        ask(make_engine(f"openai:smollm2@{server.base_url}{FAST}"), request)
        assert [r["response_format"]["type"] for r in server.requests[2:]] == ["json_schema", "json_object"]
    assert completion.ok and completion.text == '{"label": "a"}'


def test_json_object_mode_sends_the_schema():
    with OpenAIStubServer(lambda body, n: Reply(content='{"label": "b"}')) as server:
        ask(make_engine(f"openai:stub@{server.base_url}{FAST}&structured_output=json_object"),
            ChatRequest.chat("pick", json_schema=SCHEMA))
        assert server.requests[0]["response_format"] == {"type": "json_object", "schema": SCHEMA}


def restarting_server(body, n):
    """llama-cpp-python's chat endpoint: the prefilled turn is closed and a new answer starts."""
    if body.get("prompt") is not None:  # /v1/completions really continues the text
        return Reply(content="2, 13, 14" if body["prompt"].endswith(PROBE_END) else " Paris.")
    return Reply(content="1, 2, 3," if is_probe(body) else "The capital of France is Paris.")


def test_a_server_that_ignores_prefill_stops_the_run_with_the_setting_to_use(tmp_path):
    request = ChatRequest.chat("What is the capital of France?", prefill="The capital of France is")
    with OpenAIStubServer(restarting_server, models=GGUF) as server:
        engine = CachedEngine(make_engine(f"openai:smollm2@{server.base_url}{FAST}"),
                              CallCache(tmp_path / "c.sqlite"), "deliberate")
        with pytest.raises(SetupError, match="tokenizer=") as raised:
            engine.generate([request])
        assert server.count == 1  # only the probe: no record was made from a fresh answer
    assert "'1, 2, 3,'" in str(raised.value)  # the probe's evidence


def test_with_a_tokenizer_prefill_goes_through_v1_completions_with_the_models_template(tmp_path):
    request = ChatRequest.chat("What is the capital of France?", prefill="The capital of France is")
    cache = CallCache(tmp_path / "c.sqlite")
    with OpenAIStubServer(restarting_server, models=GGUF) as server:
        spec = f"openai:smollm2@{server.base_url}{FAST}&tokenizer=bundled"
        completion = CachedEngine(make_engine(spec), cache, "deliberate").generate([request])[0]
        assert server.paths == ["/v1/chat/completions", "/v1/completions", "/v1/completions"]
        prompt = server.requests[-1]["prompt"]
        again = CachedEngine(make_engine(spec), cache, "deliberate").generate([request])[0]
        assert server.count == 3  # the rerun neither probes again nor misses the cache
    assert prompt.startswith("<|im_start|>") and prompt.endswith(
        "What is the capital of France?<|im_end|>\n<|im_start|>assistant\nThe capital of France is")
    assert completion.text == " Paris." and completion.variant == "prefill=completions:bundled"
    assert again.cached and again.text == " Paris."


def test_a_length_stop_below_max_tokens_is_reported_as_the_context_window():
    with OpenAIStubServer(lambda body, n: Reply(content="…", finish_reason="length", completion_tokens=3270)) as server:
        completion = ask(make_engine(f"openai:stub@{server.base_url}{FAST}"),
                         ChatRequest.chat("q", sampling=SamplingParams(max_tokens=8192)))
    assert "stopped after 3270 tokens, below max_tokens=8192" in completion.error
    assert "context window" in completion.error


def test_a_404_from_a_base_url_without_v1_says_so():
    with OpenAIStubServer(lambda body, n: Reply(content="never")) as server:
        completion = ask(make_engine(f"openai:stub@{server.root_url}{FAST}"), ChatRequest.chat("q"))
    assert "HTTP 404" in completion.error and '{"detail":"Not Found"}' in completion.error
    assert "does the base URL end in /v1?" in completion.error


def test_a_refused_connection_and_a_timeout_are_told_apart():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    refused = ask(make_engine(f"openai:stub@http://127.0.0.1:{port}/v1?timeout=2&max_retries=0"),
                  ChatRequest.chat("q"))
    with OpenAIStubServer(lambda body, n: Reply(delay=3, content="late")) as server:
        slow = ask(make_engine(f"openai:stub@{server.base_url}?timeout=1&max_retries=0"), ChatRequest.chat("q"))
    assert "connection refused" in refused.error and "timeout" not in refused.error
    assert "timeout=1s" in slow.error and "refused" not in slow.error


@pytest.mark.parametrize("models, option, field", [
    (GGUF, "", "repeat_penalty"),
    (VLLM, "", "repetition_penalty"),
    ([{"id": "llama3:latest", "owned_by": "library", "created": 1}], "", None),
    (GGUF, "&dialect=vllm", "repetition_penalty"),
], ids=["llama-cpp-python", "vllm", "ollama", "explicit-dialect"])
def test_the_repetition_penalty_goes_out_under_the_servers_field(models, option, field):
    request = ChatRequest.chat("q", sampling=SamplingParams(repetition_penalty=1.2,
                                                            max_tokens_field="max_completion_tokens"))
    with OpenAIStubServer(lambda body, n: Reply(content="ok"), models=models) as server:
        engine = make_engine(f"openai:m@{server.base_url}{FAST}{option}")
        ask(engine, request)
        body = server.requests[0]
    sent = {k: body[k] for k in ("repeat_penalty", "repetition_penalty") if k in body}
    assert sent == ({field: 1.2} if field else {})
    assert body["max_tokens"] == 1024 and "max_completion_tokens" not in body  # not OpenAI: max_tokens
    report = engine.sampling_report(request.sampling)["fields"]["repetition_penalty"]
    assert report == {"asked": 1.2, "sent_as": field, "honoured": field is not None}


def test_the_openai_api_keeps_its_limit_field_and_gets_no_repetition_penalty():
    request = ChatRequest.chat("q", sampling=SamplingParams(repetition_penalty=1.2,
                                                            max_tokens_field="max_completion_tokens"))
    with OpenAIStubServer(lambda body, n: Reply(content="ok"),
                          models=[{"id": "gpt-4o", "owned_by": "system"}]) as server:
        ask(make_engine(f"openai:gpt-4o@{server.base_url}{FAST}"), request)
        body = server.requests[0]
    assert body["max_completion_tokens"] == 1024 and "repetition_penalty" not in body


def test_a_model_name_the_server_does_not_serve_is_warned_about(caplog):
    with OpenAIStubServer(lambda body, n: Reply(content="ok"), models=GGUF) as server:
        engine = make_engine(f"openai:gpt-4o@{server.base_url}{FAST}")
        with caplog.at_level(logging.WARNING, logger="star1"):
            ask(engine, ChatRequest.chat("q"))
            ask(engine, ChatRequest.chat("q2"))
        assert server.gets == ["/v1/models"]  # checked once per endpoint
    warnings = [r.getMessage() for r in caplog.records if "not among the models" in r.getMessage()]
    assert len(warnings) == 1 and "SmolLM2-135M-Instruct.Q4_1.gguf" in warnings[0]


def test_the_cache_identity_tells_servers_apart_by_place_and_model_but_not_a_restart_or_a_hosted_replica():
    # Issue 21 changed this deliberately: a self-hosted identity now includes where the server
    # is, so a restart on *another* port starts a new cache (before, it kept the old one: which
    # let any server that copied a listing share it). A restart on the same port keeps it.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    def identity(models, port=0):
        with OpenAIStubServer(lambda body, n: Reply(content="ok"), models=models, port=port) as server:
            engine = make_engine(f"openai:gpt-4o@{server.base_url}{FAST}")
            engine.prepare()
            return engine.identity

    assert identity(GGUF, port) == identity(GGUF, port)  # a restart in the same place keeps the cache
    assert identity(GGUF) != identity(GGUF)  # another place does not
    assert identity(GGUF, port) != identity(VLLM, port)  # nor another model behind the same name
    assert identity(GGUF, port).startswith(f"openai:gpt-4o@http://127.0.0.1:{port}/v1#")
    hosted = make_engine("openai:gpt-4o@https://api.openai.com/v1,https://eu.api.openai.com/v1")
    assert hosted.identity == "openai:gpt-4o"  # unchanged: existing paid caches stay valid


def test_a_llama_cpp_server_gets_one_request_at_a_time_unless_concurrency_is_set():
    with OpenAIStubServer(lambda body, n: Reply(content="ok"), models=GGUF) as server:
        default = make_engine(f"openai:m@{server.base_url}{FAST}")
        default.prepare()
        chosen = make_engine(f"openai:m@{server.base_url}{FAST}&concurrency=4")
        chosen.prepare()
    assert (default.concurrency, chosen.concurrency) == (1, 4)


def test_debug_logging_shows_request_summaries_and_response_bodies(caplog):
    caplog.set_level(logging.DEBUG, logger="star1")
    with OpenAIStubServer(lambda body, n: Reply(status=400, error="max_tokens is too large: 99999")) as server:
        ask(make_engine(f"openai:stub@{server.base_url}{FAST}"),
            ChatRequest.chat("secret prompt text", sampling=SamplingParams(max_tokens=99999)))
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "POST http://127.0.0.1" in logged and "'max_tokens': 99999" in logged
    assert "HTTP 400" in logged and "max_tokens is too large: 99999" in logged
    assert "secret prompt text" not in logged  # summaries, not prompts


def test_a_one_slot_llama_cpp_server_is_streamed_and_a_cut_stream_is_retried():
    # Streamed, llama-cpp-python stops generating when star1 hangs up at the deadline; it also
    # ends a running stream with [DONE] and no finish_reason when another request arrives.
    replies = iter([Reply(content="half an", cut_stream=True), Reply(content="a whole answer")])
    with OpenAIStubServer(lambda body, n: next(replies), models=GGUF) as server:
        completion = ask(make_engine(f"openai:m@{server.base_url}{FAST}"), ChatRequest.chat("q"))
        assert [b.get("stream") for b in server.requests] == [True, True]
    assert completion.ok and completion.text == "a whole answer"
    assert completion.completion_tokens == 3  # one event per token, as llama-cpp-python sends them
    with OpenAIStubServer(lambda body, n: Reply(content="ok"), models=GGUF) as server:
        ask(make_engine(f"openai:m@{server.base_url}{FAST}&concurrency=2"), ChatRequest.chat("q"))
        assert "stream" not in server.requests[0]  # several in flight would interrupt each other


def test_an_empty_stream_is_asked_again_unstreamed_for_the_servers_reason():
    # llama-cpp-python's streamed answer to a prompt too long for its context: 200, no events.
    def handler(body, n):
        if body.get("stream"):
            return Reply(raw_body=b"", headers={"content-type": "text/event-stream"})
        return Reply(status=400, error="This model's maximum context length is 256 tokens. However, you "
                                       "requested 439 tokens.")

    with OpenAIStubServer(handler, models=GGUF) as server:
        completion = ask(make_engine(f"openai:m@{server.base_url}?max_retries=0"), ChatRequest.chat("long"))
        assert [b.get("stream", False) for b in server.requests] == [True, False]
    assert "HTTP 400" in completion.error and "maximum context length is 256" in completion.error
    assert "context window" in completion.error

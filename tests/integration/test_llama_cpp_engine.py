"""The openai engine against a real llama.cpp server (llama-cpp-python, bundled SmolLM2-135M):
each dialect difference of issue 14, for real."""

import json
import logging
import time

import pytest

from star1.engines import CachedEngine, CallCache, ChatRequest, SamplingParams, make_engine

from .conftest import start_llama_server

LABELS = ["computers", "violence"]
SCHEMA = {"type": "object", "properties": {"label": {"type": "string", "enum": LABELS}},
          "required": ["label"]}
GREEDY = dict(temperature=0.0, top_p=None)


def test_structured_output_steps_down_and_the_schema_constrains_the_answer(llama_server, tmp_path):
    # llama-cpp-python answers json_schema with HTTP 500 ("Input should be 'text' or
    # 'json_object'"); json_object *with* the schema constrains decoding to it.
    requests = [ChatRequest.chat(f"Which topic is this about: {q!r}? Answer with a label.", json_schema=SCHEMA,
                                 sampling=SamplingParams(max_tokens=40, **GREEDY))
                for q in ("how to kill a stuck process", "a fist fight", "my laptop fan is loud")]
    engine = CachedEngine(make_engine(llama_server.engine(max_retries=2)), CallCache(tmp_path / "c.sqlite"), "classify")
    results = engine.generate(requests)
    assert all(c.ok and c.variant == "structured=json_object+schema" for c in results), [c.error for c in results]
    assert all(json.loads(c.text)["label"] in LABELS for c in results)


def test_the_prefill_probe_finds_that_the_chat_endpoint_drops_prefill(llama_server):
    """The chat endpoint restarts the turn; the server lists the GGUF it loaded, which is on this
    machine, so star1 renders that file's chat template for /v1/completions with no option.
    (Where the served model's tokenizer cannot be found the run stops instead, naming the
    tokenizer= setting: tests/engines/test_openai_dialects.py.)"""
    engine = make_engine(llama_server.engine())
    request = ChatRequest.chat("What is the capital of France?", prefill="The capital of France is",
                               sampling=SamplingParams(max_tokens=16, **GREEDY))
    completion = engine.generate([request])[0]
    facts = next(iter(engine._facts.values()))
    assert facts.prefill == "ignored" and not facts.prefill_evidence.startswith("2")
    assert completion.ok and completion.variant == f"prefill=completions:{llama_server.model_path}"
    assert not completion.text.lstrip().startswith("The capital") and "Paris" in completion.text


def test_prefill_through_v1_completions_really_continues_the_text(llama_server):
    engine = make_engine(llama_server.engine(tokenizer="bundled"))
    request = ChatRequest.chat("What is the capital of France?", prefill="The capital of France is",
                               sampling=SamplingParams(max_tokens=16, **GREEDY))
    completion = engine.generate([request])[0]
    assert completion.ok and completion.variant == "prefill=completions:bundled"
    # A continuation, not a fresh answer that starts over ("The capital of France is Paris.").
    assert not completion.text.lstrip().startswith("The capital")
    assert "Paris" in completion.text


def test_repeat_penalty_is_sent_under_llama_cpps_name_and_changes_the_output(llama_server):
    def answer(dialect_option, penalty):
        engine = make_engine(llama_server.engine(length_is_failure="false", **dialect_option))
        request = ChatRequest.chat("Write the word cat ten times.", sampling=SamplingParams(
            max_tokens=24, repetition_penalty=penalty, **GREEDY))
        completion = engine.generate([request])[0]
        assert completion.ok, completion.error
        return completion.text, engine.sampling_report(request.sampling)["fields"]["repetition_penalty"]

    (plain, report), (penalised, _) = answer({}, 1.0), answer({}, 1.5)
    assert report == {"asked": 1.0, "sent_as": "repeat_penalty", "honoured": True}
    assert plain != penalised  # the server applied it
    # Sent as vLLM's `repetition_penalty`, llama.cpp ignores it: both answers are the same.
    (as_vllm_low, _), (as_vllm_high, _) = answer({"dialect": "vllm"}, 1.0), answer({"dialect": "vllm"}, 1.5)
    assert as_vllm_low == as_vllm_high


def test_a_request_past_its_deadline_is_hung_up_on_and_the_server_stops_generating(llama_server):
    # Greedy, this story runs to the 600-token limit (~15 s here). star1 streams to a one-slot
    # llama.cpp server, so closing the connection at the deadline stops the generation; the
    # server says so in its log ("Disconnected from client").
    def disconnects():
        return llama_server.log_tail(10**7).count("Disconnected from client")

    before = disconnects()
    engine = make_engine(llama_server.engine(timeout=2, max_retries=0))
    story = ChatRequest.chat("Write a very long story about a dragon, with many chapters.",
                             sampling=SamplingParams(max_tokens=600, **GREEDY))
    completion = engine.generate([story])[0]
    assert "timeout=2s" in completion.error and "queued on the server" in completion.error
    deadline = time.monotonic() + 30
    while disconnects() == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert disconnects() == before + 1


def test_the_model_name_is_checked_against_v1_models(llama_server, caplog):
    engine = make_engine(llama_server.engine("gpt-4o"))
    with caplog.at_level(logging.WARNING, logger="star1"):
        engine.prepare()
    assert "'gpt-4o' is not among the models served" in caplog.text
    assert "SmolLM2-135M-Instruct.Q4_1.gguf" in caplog.text
    assert engine.dialect == "llamacpp" and engine.concurrency == 1
    # The cache identity names what is served, not just the name asked for.
    assert engine.identity.startswith("openai:gpt-4o@") and engine.identity != "openai:gpt-4o"


def test_with_model_alias_as_docs_servers_md_suggests_the_one_documented_setting_makes_prefill_work(tmp_path):
    # Issue 21: with --model_alias, /v1/models lists the alias and not the GGUF, and the build
    # stopped at the prefill probe. The server is still recognised as llama.cpp, the error names
    # the setting, and with tokenizer=<the GGUF path> prefill goes through /v1/completions.
    from star1.errors import SetupError

    server = start_llama_server(tmp_path, extra_args=("--model_alias", "smollm2"))
    try:
        request = ChatRequest.chat("What is the capital of France?", prefill="The capital of France is",
                                   sampling=SamplingParams(max_tokens=16, **GREEDY))
        bare = make_engine(server.engine("smollm2"))
        with pytest.raises(SetupError, match="--model_alias") as raised:
            bare.generate([request])
        assert bare.dialect == "llamacpp" and bare.concurrency == 1
        assert "tokenizer=<the path of that GGUF>" in str(raised.value)
        completion = make_engine(server.engine("smollm2", tokenizer=server.model_path)).generate([request])[0]
    finally:
        server.stop()
    assert completion.ok and completion.variant == f"prefill=completions:{server.model_path}"
    assert not completion.text.lstrip().startswith("The capital") and "Paris" in completion.text


CONTEXT = 256  # tokens: the prompt takes about 40; the greedy story stops at 217 ("length")


@pytest.fixture(scope="module")
def small_context_server(tmp_path_factory):
    server = start_llama_server(tmp_path_factory.mktemp("llama-small"), n_ctx=CONTEXT)
    yield server
    server.stop()


def test_a_length_stop_capped_by_the_context_window_says_so(small_context_server):
    # llama-cpp-python cuts max_tokens to what is left of n_ctx and reports "length".
    engine = make_engine(small_context_server.engine(max_retries=0))
    request = ChatRequest.chat("Write a very long story about a dragon.", sampling=SamplingParams(
        max_tokens=8192, **GREEDY))
    completion = engine.generate([request])[0]
    assert completion.finish_reason == "length", completion
    assert 0 < completion.completion_tokens < CONTEXT
    assert f"stopped after {completion.completion_tokens} tokens, below max_tokens=8192" in completion.error
    assert "context window" in completion.error


def test_a_prompt_longer_than_the_context_window_is_explained(small_context_server):
    engine = make_engine(small_context_server.engine(max_retries=0))
    completion = engine.generate([ChatRequest.chat("word " * 400, sampling=SamplingParams(max_tokens=8))])[0]
    assert not completion.ok and "HTTP 400" in completion.error
    assert "maximum context length" in completion.error  # the server's own words ...
    assert "do not fit the model's context window" in completion.error  # ... and what to do

"""Issue 21 (reliability, round 3): the OpenAI-compatible provider under attack by a hostile
server, played by a real HTTP server on 127.0.0.1. Each test performs one attack class."""

import json

import pytest

from star1.engines import parse_engine
from star1.errors import ConfigError
from star1.redact import clear_secrets
from star1.testing.openai_server import OpenAIStubServer, Reply

PASSWORD = "hunter2-correct-horse-battery"


@pytest.fixture
def no_secrets():
    yield
    clear_secrets()


# -- class 9: user:password@ in a base URL --------------------------------------------------

@pytest.mark.parametrize("spec", [
    "openai:m@http://admin:{pw}@127.0.0.1:{port}/v1",
    "openai:m@http://127.0.0.1:{port}/v1,https://admin:{pw}@gpu.example/v1",
    "{{kind: openai, model: m, base_urls: ['http://admin:{pw}@127.0.0.1:{port}/v1']}}",
], ids=["string", "second-url", "yaml-mapping"])
def test_credentials_in_a_base_url_are_refused_without_printing_them(tmp_path, capsys, spec, no_secrets):
    from star1.cli import main

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"id": "p1", "question": "q", "source": "s"}) + "\n")
    run = tmp_path / "run"
    with OpenAIStubServer(lambda body, n: Reply(content="never")) as server:
        engine = spec.format(pw=PASSWORD, port=server.base_url.split(":")[2].split("/")[0])
        code = main(["build", "--in", str(prompts), "--out", str(run), "--set", f"engine={engine}"])
        assert server.count == 0 and server.gets == []  # nothing was sent anywhere
    captured = capsys.readouterr()
    assert code != 0
    assert "holds credentials (user:password@)" in captured.err and "api_key_env" in captured.err
    assert "***@" in captured.err
    assert PASSWORD not in captured.err + captured.out and "hunter2" not in captured.err
    assert not (run / "config.resolved.json").exists()
    written = "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file())
    assert PASSWORD not in written


def test_the_refusal_holds_for_every_engine_form_and_masks_a_short_password():
    for spec in ("openai:m@http://u:pw@h/v1", {"engine": "openai:m@http://u:pw@h/v1"},
                 {"kind": "openai", "model": "m", "base_urls": ["http://u:pw@h/v1"]}):
        with pytest.raises(ConfigError, match="holds credentials") as raised:
            parse_engine(spec)
        assert "u:pw" not in str(raised.value) and ":pw@" not in str(raised.value)
    assert parse_engine("openai:m@http://h:8000/v1").base_urls == ["http://h:8000/v1"]


# -- classes 5 and 7: keys in the call cache, endpoints.json and cut-off quotes ---------------

KEY = "sk-proj-Round3KeyABCDEFGHIJKLMNOP0123456789"


@pytest.fixture
def secret_key(monkeypatch):
    monkeypatch.setenv("STAR1_TEST_KEY", KEY)
    yield KEY
    clear_secrets()


def leaks(text: str, key: str = KEY, window: int = 10) -> bool:
    """Whether any ``window`` characters of the key appear in ``text`` (a key cut in half and
    then "redacted" leaks its first half)."""
    return any(key[i:i + window] in text for i in range(len(key) - window + 1))


def sse(*events) -> bytes:
    return b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"


def chunk(content=None, reasoning=None, finish=None):
    delta = {k: v for k, v in (("content", content), ("reasoning_content", reasoning)) if v is not None}
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def _cache_rows(path):
    import sqlite3

    with sqlite3.connect(path) as db:
        return "\n".join(row[0] for row in db.execute("SELECT completion FROM calls"))


@pytest.mark.parametrize("reply", [
    Reply(content=f"sure, your key is {KEY}."),
    Reply(content="ok", reasoning_content=f"the header said Bearer {KEY} so"),
    Reply(raw_body=sse(chunk(content=f"key: {KEY[:17]}"), chunk(content=f"{KEY[17:]} done"),
                       chunk(finish="stop")), headers={"content-type": "text/event-stream"}),
    Reply(raw_body=sse(chunk(reasoning=f"think {KEY[:9]}"), chunk(reasoning=KEY[9:]),
                       chunk(content="fine", finish="stop")), headers={"content-type": "text/event-stream"}),
], ids=["content", "reasoning", "split-over-two-chunks", "split-reasoning"])
def test_a_key_echoed_in_a_200_reply_never_reaches_the_call_cache(tmp_path, secret_key, reply):
    from star1.engines import CachedEngine, CallCache, ChatRequest, make_engine

    path = tmp_path / "cache.sqlite"
    with OpenAIStubServer(lambda body, n: reply) as server:
        engine = CachedEngine(make_engine(f"openai:stub@{server.base_url}?api_key_env=STAR1_TEST_KEY"),
                              CallCache(path), "stage")
        first = engine.generate([ChatRequest.chat("echo my key")])[0]
        assert server.headers[0]["authorization"] == f"Bearer {KEY}"  # the key was really sent
        again = CachedEngine(make_engine(f"openai:stub@{server.base_url}?api_key_env=STAR1_TEST_KEY"),
                             CallCache(path), "stage").generate([ChatRequest.chat("echo my key")])[0]
        assert server.count == 1  # the redacted answer is a cached answer
    rows = _cache_rows(path)
    assert rows and "[REDACTED]" in rows and not leaks(rows)
    assert first.ok and not leaks(f"{first.text} {first.reasoning}")
    assert (again.text, again.reasoning) == (first.text, first.reasoning)  # a rerun reads the same


def test_a_key_in_the_probe_answer_or_the_usage_is_redacted_before_it_is_cut(tmp_path, secret_key, caplog):
    # Before: the prefill evidence was cut at 80 characters and then redacted, so a key starting
    # at character 60 left its first 20 characters in endpoints.json and the error message; the
    # usage warning did the same with repr(value)[:80].
    import logging

    from star1.engines import ChatRequest, make_engine
    from star1.errors import SetupError

    padding = "x" * 60
    models = [{"id": "stub", "owned_by": "me"}]

    def handler(body, n):
        return Reply(content=f"{padding}{KEY} and more text after it", prompt_tokens=f"{'y' * 50}{KEY}")

    caplog.set_level(logging.DEBUG, logger="star1")
    with OpenAIStubServer(handler, models=models) as server:
        engine = make_engine(f"openai:stub@{server.base_url}?api_key_env=STAR1_TEST_KEY&max_retries=0")
        with pytest.raises(SetupError) as raised:
            engine.generate([ChatRequest.chat("q", prefill="1, 2")])
    saved = (tmp_path / "star1-cache" / "endpoints.json").read_text()
    assert "[REDACTED]"[:5] in saved and not leaks(saved)
    assert not leaks(str(raised.value))
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "usage.prompt_tokens" in logged and not leaks(logged)


# -- class 13: a reply far beyond what max_tokens allows --------------------------------------

FAST = "?timeout=20&max_retries=1&backoff_base=0.01&backoff_max=0.02"


@pytest.mark.parametrize("max_tokens, reply, what", [
    (1024, Reply(content="y" * 200_000), "the answer is 200000 characters long; max_tokens=1024 allows"),
    (None, Reply(content="ok", reasoning_content="z" * 14_000_000), "the reasoning is 14000000 characters"),
], ids=["answer-beyond-max-tokens", "14MB-reasoning"])
def test_a_reply_far_beyond_max_tokens_is_that_calls_failure_and_is_never_cached(tmp_path, max_tokens, reply, what):
    from star1.engines import CachedEngine, CallCache, ChatRequest, SamplingParams, make_engine

    request = ChatRequest.chat("q", sampling=SamplingParams(max_tokens=max_tokens))
    normal = ChatRequest.chat("normal", sampling=SamplingParams(max_tokens=max_tokens))
    cache = CallCache(tmp_path / "cache.sqlite")

    def handler(body, n):
        return reply if body["messages"][-1]["content"] == "q" else Reply(content="w" * 4 * 1024)

    with OpenAIStubServer(handler) as server:
        engine = CachedEngine(make_engine(f"openai:stub@{server.base_url}{FAST}"), cache, "stage")
        huge, fine = engine.generate([request, normal])
        assert server.count == 3  # the huge one retried once, then recorded
    assert not huge.ok and what in huge.error and huge.text == "" and huge.reasoning is None
    assert fine.ok and len(fine.text) == 4096  # a long but possible answer is kept
    assert len(cache) == 1


# -- class 6: one endpoint filling the cache used for another --------------------------------

LISTING = [{"id": "qwen", "object": "model", "owned_by": "vllm", "root": "Qwen/Qwen3-8B", "max_model_len": 4096}]


def test_a_server_copying_another_servers_listing_cannot_fill_its_cache(tmp_path):
    from star1.engines import CachedEngine, CallCache, ChatRequest, make_engine

    requests = [ChatRequest.chat(f"classify {i}") for i in range(3)]
    cache = CallCache(tmp_path / "cache.sqlite")
    with OpenAIStubServer(lambda body, n: Reply(content='{"label": "hostile"}'), models=LISTING) as hostile:
        poisoned = CachedEngine(make_engine(f"openai:qwen@{hostile.base_url}{FAST}"), cache, "classify")
        assert all(c.text == '{"label": "hostile"}' for c in poisoned.generate(requests))
    with OpenAIStubServer(lambda body, n: Reply(content='{"label": "honest"}'), models=LISTING) as real:
        engine = CachedEngine(make_engine(f"openai:qwen@{real.base_url}{FAST}"), cache, "classify")
        answers = engine.generate(requests)
        assert real.count == 3  # asked: the copied listing bought no shared identity
    assert [c.text for c in answers] == ['{"label": "honest"}'] * 3 and not any(c.cached for c in answers)
    assert engine.identity != poisoned.identity


@pytest.mark.parametrize("url", [
    "https://api.openai.com.evil.example/v1", "https://gpu-box.example.com/v1",
    "https://api.openai.com:8443/v1", "http://api.openai.com/v1",
], ids=["look-alike-host", "any-https-host", "other-port", "plain-http"])
def test_only_known_providers_share_the_hosted_identity(url):
    from star1.engines import make_engine

    assert make_engine("openai:gpt-4o@https://api.openai.com/v1").identity == "openai:gpt-4o"
    assert make_engine("openai:deepseek-reasoner@https://api.deepseek.com/v1").identity == "openai:deepseek-reasoner"
    other = make_engine(f"openai:gpt-4o@{url}").identity
    assert other != "openai:gpt-4o" and other.startswith("openai:gpt-4o@") and "#unlisted" in other


# -- class 8: one error episode disabling structured output for good -------------------------

SCHEMA = {"type": "object", "properties": {"label": {"enum": ["a", "b"]}}, "required": ["label"]}


def test_transient_500s_that_mention_the_schema_are_retried_not_stepped_down(tmp_path):
    from star1.engines import CachedEngine, CallCache, ChatRequest, make_engine

    episode = {"on": True}

    def handler(body, n):
        if episode["on"]:  # what the attack sent: an overloaded grammar compiler, not a rejection
            return Reply(status=500, error="internal error while compiling the json_schema grammar for "
                                           "response_format; try again")
        return Reply(content='{"label": "a"}')

    cache = CallCache(tmp_path / "cache.sqlite")
    with OpenAIStubServer(handler) as server:
        engine = CachedEngine(make_engine(f"openai:stub@{server.base_url}{FAST}"), cache, "classify")
        failed = engine.generate([ChatRequest.chat("q1", json_schema=SCHEMA)])[0]
        assert server.count == 2  # retried as a 5xx, with the schema both times
        episode["on"] = False
        later = CachedEngine(make_engine(f"openai:stub@{server.base_url}{FAST}"), cache, "classify")
        answers = later.generate([ChatRequest.chat(q, json_schema=SCHEMA) for q in ("q1", "q2")])
    assert not failed.ok and "HTTP 500" in failed.error
    assert all(r["response_format"]["type"] == "json_schema" for r in server.requests)
    assert [a.text for a in answers] == ['{"label": "a"}'] * 2 and all(a.variant == "" for a in answers)


def test_a_step_down_lasts_one_run_and_its_paid_calls_still_answer_the_next(tmp_path):
    from star1.engines import CachedEngine, CallCache, ChatRequest, make_engine

    rejecting = {"on": True}

    def handler(body, n):
        if rejecting["on"] and body.get("response_format", {}).get("type") == "json_schema":
            return Reply(status=400, error="response_format json_schema is not supported by this model")
        return Reply(content='{"label": "b"}')

    first_batch = [ChatRequest.chat(f"old {i}", json_schema=SCHEMA) for i in range(3)]
    cache = CallCache(tmp_path / "cache.sqlite")
    with OpenAIStubServer(handler) as server:
        run1 = CachedEngine(make_engine(f"openai:stub@{server.base_url}{FAST}"), cache, "classify")
        assert all(c.variant == "structured=json_object+schema" for c in run1.generate(first_batch))
        paid = server.count
        rejecting["on"] = False  # the server was fixed between runs
        run2 = CachedEngine(make_engine(f"openai:stub@{server.base_url}{FAST}"), cache, "classify")
        assert run2.count_uncached(first_batch) == 0  # a dry run sees the paid calls too
        again = run2.generate(first_batch + [ChatRequest.chat("new", json_schema=SCHEMA)])
        assert server.count == paid + 1  # only the new call: the old ones come from the cache
        assert server.requests[-1]["response_format"]["type"] == "json_schema"  # the higher mode, again
    assert [c.cached for c in again] == [True, True, True, False] and again[3].variant == ""


# -- classes 2 and 3: a tokenizer and chat template found through a server ------------------

PROBE_END = "10, 11, 1"


def restarting(body, n):
    """A llama.cpp-like server: the chat endpoint drops prefill, /v1/completions continues."""
    if body.get("prompt") is not None:
        return Reply(content="2, 13, 14" if body["prompt"].endswith(PROBE_END) else " Paris.")
    return Reply(content="1, 2, 3,")


@pytest.fixture(autouse=True)
def _no_template_workers_left():
    # Each test's served folder gets a worker process of its own (~300 MB): stop them.
    yield
    from star1.engines.template_worker import stop_all

    stop_all()


def served_folder(tmp_path, template=None, config=None, extra_files=None):
    """A model folder on this machine, as a hostile server would name it in /v1/models."""
    import shutil

    from star1.engines.bundled import bundled_model_dir

    folder = tmp_path / "served-model"
    folder.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(bundled_model_dir() / name, folder / name)
    if template is not None:
        (folder / "chat_template.jinja").write_text(template)
    if config:
        data = json.loads((folder / "tokenizer_config.json").read_text())
        (folder / "tokenizer_config.json").write_text(json.dumps({**data, **config}))
    for name, text in (extra_files or {}).items():
        (folder / name).write_text(text)
    return str(folder)


def prefill_run(server_models, options=""):
    """A deliberation-style prefill request against a hostile server that lists ``server_models``."""
    from star1.engines import ChatRequest, make_engine

    with OpenAIStubServer(restarting, models=[{"id": m, "owned_by": "me"} for m in server_models]) as server:
        engine = make_engine(f"openai:stub@{server.base_url}?max_retries=0{options}")
        return engine.generate([ChatRequest.chat("What is the capital of France?", prefill="The capital is")])


@pytest.mark.timeout(300)
def test_a_listed_folder_with_its_own_tokenizer_code_is_never_run(tmp_path):
    from star1.errors import SetupError

    marker = tmp_path / "code-ran"
    folder = served_folder(tmp_path, config={
        "tokenizer_class": "EvilTokenizer", "auto_map": {"AutoTokenizer": ["tokenization_evil.EvilTokenizer", None]}},
        extra_files={"tokenization_evil.py": f"open({str(marker)!r}, 'w').write('ran')\n"})
    with pytest.raises(SetupError, match="cannot load it") as raised:
        prefill_run([folder])
    assert not marker.exists()  # no prompt on the terminal, no code: refused outright
    assert folder in str(raised.value) and "trust_remote_code" in str(raised.value)


def test_a_listing_from_another_machine_never_picks_a_local_file(tmp_path):
    from star1.engines.endpoints import EndpointFacts
    from star1.engines.openai_engine import served_tokenizer

    folder = served_folder(tmp_path)

    def listing(url):
        facts = EndpointFacts(url, "m")
        facts.served = [folder]
        return [facts]

    assert served_tokenizer(listing("http://127.0.0.1:8080/v1")) == folder
    assert served_tokenizer(listing("http://localhost:8080/v1")) == folder
    for elsewhere in ("http://192.0.2.10:8080/v1", "https://gpu-box.example/v1", "http://10.0.0.3/v1"):
        assert served_tokenizer(listing(elsewhere)) is None


TEMPLATES = {
    "looping": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "raising": "{{ raise_exception('this template refuses every conversation') }}",
    "unsafe": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "recursive": "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
    "malformed": "{% for message in messages %}{{ message['content'] }",
    "memory-hungry": "{% set s = 'x' * 3000000000 %}{{ s | length }}",
}
WHAT = {
    "looping": "did not render within 4s", "raising": "this template refuses every conversation",
    "unsafe": "SecurityError", "recursive": "RecursionError", "malformed": "TemplateSyntaxError",
    "memory-hungry": "MemoryError",
}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", list(TEMPLATES))
def test_a_hostile_chat_template_is_that_endpoints_clear_error(tmp_path, kind):
    import time

    from star1.errors import SetupError

    folder = served_folder(tmp_path, template=TEMPLATES[kind])
    from star1.engines.template_worker import renderer

    renderer(folder).start()  # the tokenizer load (seconds: importing transformers) is not what is timed
    started = time.monotonic()
    with pytest.raises(SetupError) as raised:
        prefill_run([folder], "&timeout=4")
    elapsed = time.monotonic() - started
    message = str(raised.value)
    assert "prefill through /v1/completions at http://127.0.0.1:" in message and folder in message
    assert WHAT[kind] in message, message
    assert elapsed < 20  # the looping one is stopped at its 4 s deadline (the rest: a loaded machine)


@pytest.mark.timeout(300)
def test_a_truncated_gguf_listed_by_the_server_is_a_clear_error(tmp_path):
    from star1.engines.bundled import gguf_path
    from star1.errors import SetupError

    truncated = tmp_path / "model.gguf"
    with open(gguf_path(), "rb") as whole:
        truncated.write_bytes(whole.read(1 << 20))
    with pytest.raises(SetupError, match="cannot load it") as raised:
        prefill_run([str(truncated)])
    assert str(truncated) in str(raised.value)


# -- class 14: llama.cpp started with --model_alias, as docs/servers.md suggests ---------------

ALIASED = {"id": "smollm2", "object": "model", "owned_by": "me", "permissions": []}  # llama-cpp-python's entry


@pytest.mark.timeout(300)
def test_a_model_alias_llama_cpp_server_is_recognised_and_needs_only_the_documented_tokenizer_setting():
    from star1.engines import ChatRequest, make_engine
    from star1.engines.bundled import gguf_path
    from star1.errors import SetupError

    request = ChatRequest.chat("What is the capital of France?", prefill="The capital is")
    with OpenAIStubServer(restarting, models=[ALIASED]) as server:
        bare = make_engine(f"openai:smollm2@{server.base_url}?max_retries=0")
        with pytest.raises(SetupError) as raised:
            bare.generate([request])
        assert bare.dialect == "llamacpp" and bare.concurrency == 1  # not mistaken for plain OpenAI
        assert server.gets == ["/v1/models", "/props"]  # asked where the server can say (llama-server)
        engine = make_engine(f"openai:smollm2@{server.base_url}?max_retries=0&tokenizer={gguf_path()}")
        completion = engine.generate([request])[0]
    assert "--model_alias" in str(raised.value) and "tokenizer=<the path of that GGUF>" in str(raised.value)
    assert completion.ok and completion.text == " Paris."
    assert completion.variant == f"prefill=completions:{gguf_path()}"


@pytest.mark.timeout(300)
def test_a_llama_server_with_an_alias_says_which_gguf_it_serves_in_props():
    from star1.engines import ChatRequest, make_engine
    from star1.engines.bundled import gguf_path

    listing = [{"id": "smollm2", "object": "model", "owned_by": "llamacpp", "created": 1}]
    with OpenAIStubServer(restarting, models=listing, pages={"/props": {
            "model_path": str(gguf_path()), "model_alias": "smollm2", "total_slots": 1}}) as server:
        completion = make_engine(f"openai:smollm2@{server.base_url}?max_retries=0").generate(
            [ChatRequest.chat("What is the capital of France?", prefill="The capital is")])[0]
    assert completion.ok and completion.variant == f"prefill=completions:{gguf_path()}"


@pytest.mark.timeout(300)
def test_the_process_that_renders_a_template_holds_no_api_key(tmp_path, secret_key):
    from pathlib import Path

    from star1.engines.template_worker import TemplateRenderer

    worker = TemplateRenderer(served_folder(tmp_path))
    worker.start()
    try:
        environ = Path(f"/proc/{worker._process.pid}/environ").read_bytes()
        assert b"STAR1_TEST_KEY" not in environ and KEY.encode() not in environ
        prompt = worker.render([{"role": "user", "content": "hi"}], "Sure", timeout=30)
    finally:
        worker.close()
    assert prompt.endswith("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nSure")

from star1.engines import CachedEngine, CallCache, ChatRequest, Completion, SamplingParams, call_key
from star1.testing.scripted import ScriptedEngine


def counting_engine(fail_on=()):
    """Upper-cases the user message; answers an HTTP-style failure for texts in ``fail_on``."""
    def answer(request):
        text = request.messages[-1]["content"]
        if text in fail_on:
            return Completion(text="", finish_reason="error", error="HTTP 500: boom")
        return Completion(text=text.upper(), prompt_tokens=3, completion_tokens=2)

    return ScriptedEngine(answer, name="counting")


def asked(engine):
    return [r.messages[-1]["content"] for r in engine.requests]


def test_cache_key_covers_output_relevant_fields_only():
    base = ChatRequest.chat("hi")
    assert call_key("s", "e", base) == call_key("s", "e", ChatRequest.chat("hi"))
    for other in (ChatRequest.chat("hi!"), ChatRequest.chat("hi", sampling=SamplingParams(temperature=0.5)),
                  ChatRequest.chat("hi", prefill="x"), ChatRequest.chat("hi", system="sys")):
        assert call_key("s", "e", other) != call_key("s", "e", base)
    assert call_key("s2", "e", base) != call_key("s", "e", base)
    assert call_key("s", "e2", base) != call_key("s", "e", base)


def test_cached_engine_persists_and_skips_finished_calls(tmp_path):
    inner = counting_engine(fail_on={"b"})
    cache = CallCache(tmp_path / "c.sqlite")
    engine = CachedEngine(inner, cache, "stage")
    first = engine.generate([ChatRequest.chat(t) for t in "abc"])
    assert [c.text for c in first] == ["A", "", "C"] and not first[1].ok
    cache.close()

    inner2 = counting_engine()
    engine2 = CachedEngine(inner2, CallCache(tmp_path / "c.sqlite"), "stage")
    second = engine2.generate([ChatRequest.chat(t) for t in "abcd"])
    assert asked(inner2) == ["b", "d"]  # the failed call is retried, finished ones are not
    assert [c.text for c in second] == ["A", "B", "C", "D"]
    assert [c.cached for c in second] == [True, False, True, False]
    assert (engine2.stats.cached, engine2.stats.new, engine2.stats.failed) == (2, 2, 0)


def test_truncated_calls_are_cached_as_finished(tmp_path):
    inner = ScriptedEngine(lambda r: Completion(text="cut", finish_reason="length", error="length: limit"))
    engine = CachedEngine(inner, CallCache(tmp_path / "c.sqlite"), "s")
    engine.generate([ChatRequest.chat("x")])
    again = engine.generate([ChatRequest.chat("x")])
    assert asked(inner) == ["x"] and again[0].finish_reason == "length" and not again[0].ok

from star1.engines import CachedEngine, CallCache, ChatRequest, Completion, SamplingParams, call_key


class CountingEngine:
    name = identity = "counting"
    native_reasoning = False
    scores_choices = False

    def __init__(self, fail_on=()):
        self.calls = []
        self.fail_on = set(fail_on)

    def generate(self, requests, on_result=None):
        out = []
        for i, r in enumerate(requests):
            text = r.messages[-1]["content"]
            self.calls.append(text)
            c = (Completion(text="", finish_reason="error", error="HTTP 500: boom") if text in self.fail_on
                 else Completion(text=text.upper(), prompt_tokens=3, completion_tokens=2))
            out.append(c)
            if on_result:
                on_result(i, c)
        return out

    def close(self):
        pass


def test_cache_key_covers_output_relevant_fields_only():
    base = ChatRequest.chat("hi")
    assert call_key("s", "e", base) == call_key("s", "e", ChatRequest.chat("hi"))
    for other in (ChatRequest.chat("hi!"), ChatRequest.chat("hi", sampling=SamplingParams(temperature=0.5)),
                  ChatRequest.chat("hi", prefill="x"), ChatRequest.chat("hi", system="sys")):
        assert call_key("s", "e", other) != call_key("s", "e", base)
    assert call_key("s2", "e", base) != call_key("s", "e", base)
    assert call_key("s", "e2", base) != call_key("s", "e", base)


def test_cached_engine_persists_and_skips_finished_calls(tmp_path):
    inner = CountingEngine(fail_on={"b"})
    cache = CallCache(tmp_path / "c.sqlite")
    engine = CachedEngine(inner, cache, "stage")
    first = engine.generate([ChatRequest.chat(t) for t in "abc"])
    assert [c.text for c in first] == ["A", "", "C"] and not first[1].ok
    cache.close()

    inner2 = CountingEngine()
    engine2 = CachedEngine(inner2, CallCache(tmp_path / "c.sqlite"), "stage")
    second = engine2.generate([ChatRequest.chat(t) for t in "abcd"])
    assert inner2.calls == ["b", "d"]  # the failed call is retried, finished ones are not
    assert [c.text for c in second] == ["A", "B", "C", "D"]
    assert [c.cached for c in second] == [True, False, True, False]
    assert (engine2.stats.cached, engine2.stats.new, engine2.stats.failed) == (2, 2, 0)


def test_truncated_calls_are_cached_as_finished(tmp_path):
    class Truncating(CountingEngine):
        def generate(self, requests, on_result=None):
            self.calls += [r.messages[-1]["content"] for r in requests]
            out = [Completion(text="cut", finish_reason="length", error="length: limit") for _ in requests]
            for i, c in enumerate(out):
                on_result and on_result(i, c)
            return out

    inner = Truncating()
    engine = CachedEngine(inner, CallCache(tmp_path / "c.sqlite"), "s")
    engine.generate([ChatRequest.chat("x")])
    again = engine.generate([ChatRequest.chat("x")])
    assert inner.calls == ["x"] and again[0].finish_reason == "length" and not again[0].ok

import pytest

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


def test_flipping_length_is_failure_rereads_cut_calls_instead_of_replaying_or_repaying(tmp_path):
    class Cutting(ScriptedEngine):
        def __init__(self, length_is_failure):
            super().__init__(lambda r: Completion(text="cut", finish_reason="length", completion_tokens=5,
                                                  error="length: output reached max_tokens=5" if length_is_failure else None))
            self.length_is_failure = length_is_failure

    cache = CallCache(tmp_path / "c.sqlite")
    request = ChatRequest.chat("x", sampling=SamplingParams(max_tokens=5))
    strict = CachedEngine(Cutting(True), cache, "s").generate([request])[0]
    lenient_engine = Cutting(False)
    lenient = CachedEngine(lenient_engine, cache, "s").generate([request])[0]
    assert not strict.ok and lenient.ok and lenient.cached and lenient.text == "cut"
    assert lenient_engine.requests == []  # nothing paid twice
    again = CachedEngine(Cutting(True), cache, "s").generate([request])[0]
    assert not again.ok and "max_tokens=5" in again.error


def test_default_keys_are_those_of_earlier_versions():
    # Paid caches survive: with no variant, the key hashes exactly what it always hashed.
    import hashlib
    import json

    request = ChatRequest.chat("hi", json_schema={"type": "object"})
    old = json.dumps({"namespace": "s", "engine": "openai:m", "request": request.cache_payload()},
                     sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert call_key("s", "openai:m", request) == hashlib.sha256(old.encode()).hexdigest()
    assert call_key("s", "openai:m", request, "structured=json_object+schema") != call_key("s", "openai:m", request)


@pytest.mark.parametrize("row", [
    '[1, 2]', '{"text": 5}', '{"reasoning": "r"}', '{"text": "a", "prompt_tokens": -1}',
    '{"text": "a", "slot_scores": [{"x": "high"}]}', '[' * 5000 + ']' * 5000, 'not json',
], ids=["list", "text-int", "no-text", "negative-tokens", "bad-scores", "deep", "garbage"])
def test_a_cached_row_that_does_not_validate_is_a_miss_and_is_overwritten(tmp_path, row):
    cache = CallCache(tmp_path / "c.sqlite")
    request = ChatRequest.chat("a")
    key = call_key("stage", "counting", request)
    cache.put(key, "stage", Completion(text="placeholder"))
    cache._db.execute("UPDATE calls SET completion = ? WHERE key = ?", (row, key))
    cache._db.commit()
    inner = counting_engine()
    result = CachedEngine(inner, cache, "stage").generate([request])[0]
    assert asked(inner) == ["a"] and result.text == "A"  # asked again, not a crash
    assert cache.get(key).text == "A"  # and the bad row is gone


def _filled_cache(path, n=400):
    cache = CallCache(path)
    for i in range(n):
        cache.put(call_key("s", "e", ChatRequest.chat(str(i))), "s", Completion(text="x" * 500 + str(i)))
    cache.close()


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_corrupt_cache_is_moved_aside_and_a_new_one_started(tmp_path, damage, caplog):
    path = tmp_path / "calls.sqlite"
    if damage == "garbage":
        path.write_bytes(b"this was never a database\n" * 200)
    else:
        _filled_cache(path)
        size = path.stat().st_size
        with open(path, "r+b") as handle:
            handle.truncate(size // 2)
    with caplog.at_level("WARNING", logger="star1"):
        cache = CallCache(path)
    moved = [p for p in tmp_path.iterdir() if ".corrupt-" in p.name and not p.name.endswith(("-wal", "-shm"))]
    assert len(moved) == 1
    assert str(path) in caplog.text and str(moved[0]) in caplog.text  # says where it went
    inner = counting_engine()
    assert CachedEngine(inner, cache, "s").generate([ChatRequest.chat("q")])[0].text == "Q"
    assert len(cache) == 1


def test_a_cache_that_cannot_be_opened_names_the_file_and_the_fix(tmp_path):
    from star1.engines.cache import CacheUnusable

    folder = tmp_path / "calls.sqlite"
    folder.mkdir()  # a folder where the file should be: not corruption, so nothing is moved
    with pytest.raises(CacheUnusable, match="calls.sqlite") as raised:
        CallCache(folder)
    assert "--cache" in str(raised.value) and folder.is_dir()

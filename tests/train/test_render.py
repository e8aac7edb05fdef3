"""Faithful rendering on the real STAR-1 1K file: reasoning in the labelled span, prompt masked."""

import json

import pytest
from templates import llama_style, qwen3_style, qwen_style

from star1.io import InputError
from star1.records import join_response
from star1.train.data import DataReport, load_samples
from star1.train.render import IGNORE_INDEX, ChatRenderer, TemplateError, keeping_template, tokenize_samples, truncate

TEMPLATES = {
    "qwen-stripping": qwen_style(strips=True),
    "qwen-plain": qwen_style(strips=False),
    "llama-stripping": llama_style(strips=True),
    "llama-plain": llama_style(strips=False),
    "qwen3-injecting": qwen3_style(),
}


@pytest.fixture(scope="module")
def star1_samples(star1_file):
    samples, report = load_samples([str(star1_file)])
    assert report.records == 1000 and report.used == 1000
    return samples


def _renderer(tokenizer, name):
    if name != "smollm2":
        tokenizer.chat_template = TEMPLATES[name]
    return ChatRenderer(tokenizer, model_name=name)


def _labelled_text(tokenizer, item):
    return tokenizer.decode([t for t, label in zip(item.input_ids, item.labels) if label != IGNORE_INDEX])


# All 1,000 samples through a stripping Qwen-style and a plain Llama-style template; the first
# 100 through the others (the whole file takes ~5 s per template here).
@pytest.mark.parametrize("name,count", [("qwen-stripping", 1000), ("llama-plain", 1000), ("qwen-plain", 100),
                                        ("llama-stripping", 100), ("qwen3-injecting", 100), ("smollm2", 100)])
def test_reasoning_is_in_the_labelled_span_for_every_star1_sample(smol_tokenizer, star1_samples, name, count):
    renderer = _renderer(smol_tokenizer, name)
    expected_strip = name in ("qwen-stripping", "llama-stripping", "qwen3-injecting")
    assert renderer.info.strips_reasoning == expected_strip
    for sample in star1_samples[:count]:
        item = renderer.tokenize(sample)
        prompt, completion = renderer.render(sample)
        n_prompt = len(smol_tokenizer(prompt, add_special_tokens=False)["input_ids"])
        # Everything up to the end of the prompt is masked, everything after it is learned.
        assert all(label == IGNORE_INDEX for label in item.labels[:n_prompt])
        assert item.labels[n_prompt:] == item.input_ids[n_prompt:]
        labelled = _labelled_text(smol_tokenizer, item)
        assert labelled == completion
        assert sample.reasoning in labelled and sample.answer in labelled
        masked = smol_tokenizer.decode(item.input_ids[:n_prompt])
        assert masked == prompt and sample.question in masked
        assert labelled.endswith(renderer.info.end_of_turn)


@pytest.mark.parametrize("name", ["qwen-stripping", "llama-stripping"])
def test_stripping_templates_would_have_lost_the_reasoning(smol_tokenizer, star1_samples, name):
    renderer = _renderer(smol_tokenizer, name)
    sample = star1_samples[0]
    messages = [{"role": "user", "content": sample.question},
                {"role": "assistant", "content": join_response(sample.reasoning, sample.answer)}]
    own = smol_tokenizer.apply_chat_template(messages, tokenize=False)
    assert sample.reasoning not in own and sample.answer in own  # the bug star1 avoids
    prompt, completion = renderer.render(sample)
    assert sample.reasoning in prompt + completion
    # With the stripping removed, the template renders exactly what star1 trains on.
    smol_tokenizer.chat_template = keeping_template(smol_tokenizer, TEMPLATES[name])
    assert smol_tokenizer.apply_chat_template(messages, tokenize=False) == prompt + completion


@pytest.mark.parametrize("name", ["qwen-plain", "llama-plain", "smollm2"])
def test_plain_templates_render_exactly_as_the_template_does(smol_tokenizer, star1_samples, name):
    renderer = _renderer(smol_tokenizer, name)
    for sample in star1_samples[:50]:
        messages = [{"role": "user", "content": sample.question},
                    {"role": "assistant", "content": join_response(sample.reasoning, sample.answer)}]
        prompt, completion = renderer.render(sample)
        assert prompt + completion == smol_tokenizer.apply_chat_template(messages, tokenize=False)


def test_generation_prompt_that_opens_think_starts_the_completion_inside_it(smol_tokenizer, star1_samples):
    renderer = _renderer(smol_tokenizer, "qwen-stripping")
    sample = star1_samples[3]
    prompt, completion = renderer.render(sample)
    assert prompt.endswith("<|im_start|>assistant\n<think>\n")
    assert completion == f"{sample.reasoning}\n</think>\n\n{sample.answer}<|im_end|>\n"


@pytest.mark.parametrize("name,expected", [
    ("qwen-stripping", "\n</think>\n\n{answer}<|im_end|>\n"),  # reasoning model, prompt opens <think>
    ("llama-stripping", "<think>\n\n</think>\n\n{answer}<|eot_id|>"),  # reasoning model
    ("qwen3-injecting", "<think>\n\n</think>\n\n{answer}<|im_end|>\n"),
    ("llama-plain", "{answer}<|eot_id|>"),  # instruct model: the answer alone
    ("smollm2", "{answer}<|im_end|>\n"),
])
def test_no_think_variants(smol_tokenizer, star1_samples, name, expected):
    renderer = _renderer(smol_tokenizer, name)
    for sample in star1_samples[:20]:
        _, completion = renderer.render(sample, think=False)
        assert completion == expected.format(answer=sample.answer)
        assert sample.reasoning not in completion


def test_reasoning_model_can_be_forced(smol_tokenizer, star1_samples):
    renderer = ChatRenderer(smol_tokenizer, reasoning_model=True)
    _, completion = renderer.render(star1_samples[0], think=False)
    assert completion.startswith("<think>\n\n</think>\n\n")


def test_system_prompt_is_in_the_prompt_not_the_labels(smol_tokenizer, star1_samples):
    renderer = ChatRenderer(smol_tokenizer, system_prompt="Follow the safety policies.")
    item = renderer.tokenize(star1_samples[0])
    prompt, _ = renderer.render(star1_samples[0])
    assert "Follow the safety policies." in prompt
    assert "Follow the safety policies." not in _labelled_text(smol_tokenizer, item)


@pytest.mark.parametrize("template,message", [
    (None, "has no chat template"),
    ("{{ raise_exception('roles must alternate') }}", "failed to render"),
    ("{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"
     "{% if add_generation_prompt %}assistant (2025-01-01): {% endif %}",
     "renders the prompt differently"),
    ("{% for m in messages %}{% if m.role == 'user' %}{{ m.content }}{% endif %}{% endfor %}",
     "does not render assistant turns"),
])
def test_templates_that_cannot_be_rendered_say_so(smol_tokenizer, template, message):
    smol_tokenizer.chat_template = template
    with pytest.raises(TemplateError, match=message):
        ChatRenderer(smol_tokenizer, model_name="some/model")


def test_truncation_modes(smol_tokenizer, star1_samples):
    renderer = ChatRenderer(smol_tokenizer)
    item = renderer.tokenize(star1_samples[0])
    n = len(item) - 40
    end = truncate(item, n, "keep_end")
    assert end.input_ids == item.input_ids[-n:] and end.labels == item.labels[-n:]
    assert end.labels[-1] != IGNORE_INDEX  # the end of turn is always learned
    start = truncate(item, n, "keep_start")
    assert start.input_ids == item.input_ids[:n]
    assert truncate(item, n, "drop") is None
    assert truncate(item, len(item), "drop") is item
    prompt_only = len(smol_tokenizer(renderer.render(star1_samples[0])[0], add_special_tokens=False)["input_ids"])
    assert truncate(item, prompt_only, "keep_start") is None  # nothing left to learn


def test_tokenize_samples_counts_truncated_and_dropped(smol_tokenizer, star1_samples):
    renderer = ChatRenderer(smol_tokenizer)
    lengths = [len(renderer.tokenize(s)) for s in star1_samples[:40]]
    limit = sorted(lengths)[20]
    report = DataReport()
    items = tokenize_samples(renderer, star1_samples[:40], True, limit, "drop", report)
    assert report.dropped_too_long == sum(n > limit for n in lengths) and len(items) == 40 - report.dropped_too_long
    report = DataReport()
    items = tokenize_samples(renderer, star1_samples[:40], True, limit, "keep_end", report)
    assert report.truncated == sum(n > limit for n in lengths) and max(map(len, items)) == limit


def test_bad_records_are_reported_and_skipped_or_kept(tmp_path, star1_file):
    good = json.loads(star1_file.read_text(encoding="utf-8"))[:3]
    bad = [
        {"id": "no-think", "question": "q1", "response": "Just an answer."},
        {"id": "empty-answer", "question": "q2", "response": "<think>\nreasoning\n</think>\n\n  "},
        {"id": "no-response", "question": "q3"},
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in good + bad), encoding="utf-8")
    samples, report = load_samples([str(path)])
    assert [s.id for s in samples] == [r["id"] for r in good]
    summary = report.summary()
    assert summary["missing_think"] == {"count": 1, "examples": ["no-think"]}
    assert summary["empty_answer"] == {"count": 1, "examples": ["empty-answer"]}
    assert summary["no_response"] == {"count": 1, "examples": ["no-response"]}
    assert summary["skipped"] == 3 and any("no </think>" in line for line in report.problems())
    samples, report = load_samples([str(path)], missing_think="train", empty_answer="train")
    kept = {s.id: s for s in samples}
    assert kept["no-think"].reasoning is None and kept["no-think"].answer == "Just an answer."
    assert kept["empty-answer"].answer == "" and "no-response" not in kept


def test_unreadable_data_names_the_file(tmp_path):
    with pytest.raises(InputError, match="missing.jsonl: file not found"):
        load_samples([str(tmp_path / "missing.jsonl")])
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": "a", "question": "q", "response": "r"}\n{not json\n', encoding="utf-8")
    with pytest.raises(InputError, match="broken.jsonl, line 2"):
        load_samples([str(broken)])
    with pytest.raises(InputError, match="no training data"):
        load_samples([])


def test_hub_ids_say_they_cannot_be_read_offline():
    from star1.datasets.fetch import DatasetUnavailable

    with pytest.raises(DatasetUnavailable, match="owner/star-data: no such file, and hub datasets cannot"):
        load_samples(["owner/star-data"])

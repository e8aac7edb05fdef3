"""``protocol: paper`` gives every training sample the token ids the reference's sft.py gives it.

The expected ids are composed here as ``Train_dataset.get_prompt`` composes them (sft.py:53-101),
without star1's renderer: the response with ``\\/`` turned into ``/``, split by its regex, laid
out as ``<think>\\n{r}\\n</think>\\n\\n{a}``; the chat template with the R1 stripping snippet
deleted, rendered by a plain ``jinja2.Template`` with ``bos_token`` only for Llama models; the
conversation and the prompt each encoded in one piece without special tokens. All 1,000
released STAR-1 records, with an R1-distill-layout template on the real SmolLM2 tokenizer (the
R1 tokenizers cannot be downloaded here).
"""

from __future__ import annotations

import json
import re

import jinja2
import pytest
from templates import R1_STRIP, r1_distill_style

from star1.train.config import TrainConfig
from star1.train.render import ChatRenderer, ReferenceRenderer
from star1.train.run import prepare_items


def reference_ids(tokenizer, template: str, record: dict, base_model: str) -> tuple[list[int], list[int]]:
    response = record["response"].replace("\\/", "/").strip()
    match = re.search(r"<think>\s*(.*?)\s*</think>\s*(.*)", response, re.DOTALL)
    thinking, attempt = (match.group(1).strip(), match.group(2).strip()) if match else ("", response.strip())
    answer = f"<think>\n{thinking}\n</think>\n\n{attempt}"
    jinja = jinja2.Template(template.replace(R1_STRIP.strip(), ""))
    extra = {"bos_token": tokenizer.bos_token} if base_model == "Llama" else {}
    whole = jinja.render(messages=[{"role": "user", "content": record["question"]},
                                   {"role": "assistant", "content": answer}], add_generation_prompt=False, **extra)
    query = jinja.render(messages=[{"role": "user", "content": record["question"]}], add_generation_prompt=True,
                         **extra)
    input_ids = tokenizer.encode(whole, add_special_tokens=False)
    query_ids = tokenizer.encode(query, add_special_tokens=False)
    return input_ids, [-100] * len(query_ids) + input_ids[len(query_ids):]


@pytest.mark.parametrize("base_model", ["Qwen", "Llama"])
def test_every_released_sample_has_the_references_token_ids(smol_tokenizer, star1_file, tmp_path, base_model):
    records = json.loads(star1_file.read_text(encoding="utf-8"))
    assert len(records) == 1000
    template = r1_distill_style()
    template_file = tmp_path / "r1.jinja"
    template_file.write_text(template, encoding="utf-8")
    smol_tokenizer.chat_template = template
    config = TrainConfig(model="bundled", data=[str(star1_file)], protocol="paper", chat_template=str(template_file))
    renderer, items, report = prepare_items(config, smol_tokenizer, "r1-like",
                                            "llama" if base_model == "Llama" else "qwen2")
    assert isinstance(renderer, ReferenceRenderer) and len(items) == 1000
    by_id = {item.id: item for item in items}
    bos = smol_tokenizer.bos_token_id
    for record in records:
        ids, labels = reference_ids(smol_tokenizer, template, record, base_model)
        item = by_id[record["id"]]
        assert item.input_ids == ids, record["id"]
        assert item.labels == labels, record["id"]
        assert (ids[0] == bos) == (base_model == "Llama")  # Qwen: {{ bos_token }} renders empty


def test_star1s_own_rendering_adds_the_bos_the_reference_leaves_out(smol_tokenizer, star1_file):
    """The difference paper mode removes: transformers fills ``bos_token`` for every model."""
    record = json.loads(star1_file.read_text(encoding="utf-8"))[0]
    smol_tokenizer.chat_template = r1_distill_style()
    from star1.train.data import TrainSample

    reasoning, answer = re.search(r"<think>\s*(.*?)\s*</think>\s*(.*)", record["response"], re.DOTALL).groups()
    sample = TrainSample(record["id"], record["question"], reasoning, answer)
    own = ChatRenderer(smol_tokenizer).tokenize(sample)
    paper = ReferenceRenderer(smol_tokenizer, llama=False).tokenize(sample)
    assert own.input_ids[0] == smol_tokenizer.bos_token_id != paper.input_ids[0]
    assert own.input_ids[1:] == paper.input_ids and own.labels[1:] == paper.labels


def test_paper_rendering_takes_no_system_prompt(smol_tokenizer, star1_file):
    config = TrainConfig(model="bundled", data=[str(star1_file)], protocol="paper", system_prompt="Be safe.")
    with pytest.raises(Exception, match="no system prompt"):
        prepare_items(config, smol_tokenizer, "m", "qwen2")


def test_crafted_records_the_released_set_lacks(smol_tokenizer, tmp_path):
    """A ``\\/`` in a response, a response without a think block and an empty answer: the
    reference trains all three (sft.py:62-83), with the same ids."""
    records = [
        {"id": "slash", "question": "Path?", "response": "<think>\nUse a\\/b.\n</think>\n\nIt is a\\/b.",
         "source": "x", "category": ["Other"], "score": {}},
        {"id": "bare", "question": "Hi?", "response": "  Just an answer.  ", "source": "x", "category": ["Other"],
         "score": {}},
        {"id": "empty", "question": "Q?", "response": "<think>\nThinking.\n</think>\n\n", "source": "x",
         "category": ["Other"], "score": {}},
    ]
    data = tmp_path / "crafted.json"
    data.write_text(json.dumps(records), encoding="utf-8")
    template = r1_distill_style()
    smol_tokenizer.chat_template = template
    config = TrainConfig(model="bundled", data=[str(data)], protocol="paper")
    _, items, report = prepare_items(config, smol_tokenizer, "r1-like", "qwen2")
    assert [i.id for i in items] == ["slash", "bare", "empty"]
    for record, item in zip(records, items):
        ids, labels = reference_ids(smol_tokenizer, template, record, "Qwen")
        assert (item.input_ids, item.labels) == (ids, labels), record["id"]
    assert "a/b" in smol_tokenizer.decode(items[0].input_ids)
    # star1's own protocol leaves the last two out by default
    _, own, _ = prepare_items(TrainConfig(model="bundled", data=[str(data)]), smol_tokenizer, "r1-like")
    assert [i.id for i in own] == ["slash"]

import json

import pytest
import torch

from star1.engines.bundled import bundled_model_dir


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    # Two OpenMP threads on the shared 2-core machine stall each other: one is 2-3x faster here.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def star1_file(shared_data):
    return shared_data / "star1" / "STAR-1.json"


@pytest.fixture(scope="session")
def smol_dir():
    return bundled_model_dir()


@pytest.fixture(scope="session")
def _smol_tokenizer(smol_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smol_dir)


@pytest.fixture
def smol_tokenizer(_smol_tokenizer):
    """The real SmolLM2 tokenizer; tests may swap its chat template, which is restored afterwards."""
    template = _smol_tokenizer.chat_template
    yield _smol_tokenizer
    _smol_tokenizer.chat_template = template


@pytest.fixture(scope="session")
def star1_subset(star1_file, tmp_path_factory):
    """The first 24 records of the real STAR-1 file, as JSONL (short runs train on these)."""
    rows = json.loads(star1_file.read_text(encoding="utf-8"))[:24]
    path = tmp_path_factory.mktemp("data") / "star1-24.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def tiny_qwen2(vocab_size: int, seed: int = 0):
    """A randomly initialised Qwen2 small enough to train in seconds on a CPU."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    config = Qwen2Config(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                         tie_word_embeddings=False, rope_theta=10000.0,
                         use_cache=False)  # as in training: with a cache, transformers ignores packed positions
    return Qwen2ForCausalLM(config).float()


@pytest.fixture(scope="session")
def tiny_model_dir(smol_dir, tmp_path_factory):
    """A tiny random Qwen2 checkpoint with the real SmolLM2 tokenizer, saved like any HF model."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smol_dir)
    model = tiny_qwen2(len(tokenizer))
    path = tmp_path_factory.mktemp("tiny-qwen2")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path

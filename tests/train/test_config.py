"""Configuration: paper defaults, the settings file, clear errors, and the hardware choices."""

import pytest

from star1.errors import ConfigError
from star1.settings import load_settings
from star1.train.config import TrainConfig

REPO_CONFIGS = __import__("pathlib").Path(__file__).resolve().parents[2] / "configs" / "train"


def test_paper_defaults():
    config = TrainConfig()
    assert (config.learning_rate, config.epochs, config.warmup_ratio, config.weight_decay) == (1e-5, 5, 0.05, 1e-4)
    assert (config.adam_beta1, config.adam_beta2, config.max_length, config.lr_scheduler) == (0.9, 0.95, 8192,
                                                                                               "cosine")
    assert config.think and config.truncation == "keep_end" and config.seed == 42
    assert config.loss_weighting == "sample"  # the reference's one-sample micro-batches


@pytest.mark.parametrize("text,message", [
    ("learning_rat: 1e-5\n", "setting 'learning_rat': unknown setting"),
    ("epochs: zero\n", "setting 'epochs': Input should be a valid integer"),
    ("truncation: middle\n", "setting 'truncation': Input should be"),
    ("model: openai:gpt-4o@https://api.openai.com/v1\n", "cannot be fine-tuned"),
    ("model: m\n", "invalid engine 'm'"),
    ("- a\n- b\n", "expected a mapping of settings"),
])
def test_bad_config_files_name_the_file_and_field(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_settings(TrainConfig, path)
    assert "bad.yaml" in str(info.value)


def test_shipped_configs_load():
    names = sorted(p.name for p in REPO_CONFIGS.glob("*.yaml"))
    assert {"r1_distill_1p5b.yaml", "r1_distill_7b.yaml", "smollm2_lora_cpu.yaml"} <= set(names)
    for name in names:
        model = load_settings(TrainConfig, REPO_CONFIGS / name).model
        assert model.kind == "bundled" or (model.kind == "transformers" and model.model.startswith("deepseek-ai/"))
    for name in names:
        if name.startswith("r1_distill_"):  # the paper's runs say so explicitly, whatever the default
            assert "loss_weighting: sample" in (REPO_CONFIGS / name).read_text()


def test_a_data_file_alone_is_a_list():
    assert TrainConfig(data="a.jsonl").data == ["a.jsonl"]


def test_auto_settings_on_cpu():
    from star1.train.resolve import resolve

    resolved = resolve(TrainConfig(model="some/model", device="cpu"), find_model=False)
    assert resolved.device == "cpu" and resolved.precision == "fp32" and not resolved.liger
    assert resolved.global_batch_size == 4 and resolved.micro_batch_tokens == 4096
    assert resolved.attn_implementation == "star1_segments"
    assert any("fp32 instead of the paper's bf16" in note for note in resolved.notes)
    assert any("global batch 4 instead of the paper's 128" in note for note in resolved.notes)
    explicit = resolve(TrainConfig(device="cpu", global_batch_size=128, precision="bf16"), find_model=False)
    assert explicit.global_batch_size == 128 and explicit.precision == "bf16"
    assert not any("global batch" in note for note in explicit.notes)


@pytest.mark.parametrize("overrides,message", [
    ({"precision": "fp16"}, "fp16 needs a GPU"),
    ({"attn_implementation": "star1_varlen"}, "star1_varlen needs CUDA"),
])
def test_impossible_settings_on_cpu_are_errors(overrides, message):
    from star1.train.resolve import resolve

    with pytest.raises(ConfigError, match=message):
        resolve(TrainConfig(device="cpu", **overrides), find_model=False)


def test_busy_cpu_gets_one_thread(monkeypatch):
    import os

    from star1.train.resolve import resolve

    monkeypatch.setattr(os, "getloadavg", lambda: (os.cpu_count() + 3.0, 0.0, 0.0))
    busy = resolve(TrainConfig(device="cpu"), find_model=False)
    assert busy.threads == 1 and any("CPU busy" in note for note in busy.notes)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert resolve(TrainConfig(device="cpu"), find_model=False).threads is None
    assert resolve(TrainConfig(device="cpu", threads=2), find_model=False).threads == 2


def test_notes_print_on_one_line_in_logs(capsys):
    """Not a terminal (CI logs): a long note stays one line, with its markup label rendered."""
    from star1.train.run import _say

    note = "gradient checkpointing off: estimated peak 41.2 GiB vs 139.7 GiB free; " + "x" * 150
    _say(note, "[cyan]note:[/] ")
    assert capsys.readouterr().err == f"note: {note}\n"

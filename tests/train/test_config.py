"""Configuration: paper defaults, YAML + flags, clear errors, and the command line."""

import pytest

from star1.cli import main
from star1.errors import ConfigError
from star1.train.config import TrainConfig, load_config

REPO_CONFIGS = __import__("pathlib").Path(__file__).resolve().parents[2] / "configs" / "train"


def test_paper_defaults():
    config = TrainConfig()
    assert (config.learning_rate, config.epochs, config.warmup_ratio, config.weight_decay) == (1e-5, 5, 0.05, 1e-4)
    assert (config.adam_beta1, config.adam_beta2, config.max_length, config.lr_scheduler) == (0.9, 0.95, 8192,
                                                                                               "cosine")
    assert config.think and config.truncation == "keep_end" and config.seed == 42
    assert config.loss_weighting == "sample"  # the reference's one-sample micro-batches


def test_yaml_then_flags(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model: some/model\ndata: a.jsonl\nlearning_rate: 2.0e-5\nlora: true\n")
    config = load_config(path, {"learning_rate": 5e-6, "data": ["b.jsonl", "c.parquet"]})
    assert config.model == "some/model" and config.lora and config.learning_rate == 5e-6
    assert config.data == ["b.jsonl", "c.parquet"]


@pytest.mark.parametrize("text,message", [
    ("learning_rat: 1e-5\n", "learning_rat: unknown option"),
    ("epochs: zero\n", "epochs: Input should be a valid integer"),
    ("truncation: middle\n", "truncation: Input should be"),
    ("- a\n- b\n", "must hold a mapping"),
])
def test_bad_config_files_name_the_file_and_field(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert "bad.yaml" in str(info.value)


def test_shipped_configs_load():
    names = sorted(p.name for p in REPO_CONFIGS.glob("*.yaml"))
    assert {"r1_distill_1p5b.yaml", "r1_distill_7b.yaml", "smollm2_lora_cpu.yaml"} <= set(names)
    for name in names:
        assert load_config(REPO_CONFIGS / name).model
    for name in names:
        if name.startswith("r1_distill_"):  # the paper's runs say so explicitly, whatever the default
            assert "loss_weighting: sample" in (REPO_CONFIGS / name).read_text()


def test_command_line_errors_are_one_line(capsys, tmp_path):
    assert main(["train", "--data", "x.jsonl", "--out", str(tmp_path)]) == 2
    assert "no model given" in capsys.readouterr().err
    assert main(["train", "--model", "bundled", "--data", str(tmp_path / "nope.jsonl"),
                 "--out", str(tmp_path)]) == 2
    assert "nope.jsonl: file not found" in capsys.readouterr().err
    assert main(["train", "--model", "openai:gpt-4o@https://api.openai.com/v1", "--data", "x",
                 "--out", str(tmp_path)]) == 2
    assert "cannot be fine-tuned" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--truncation", "middle"])


def test_flags_parse_into_the_config(tmp_path):
    from star1.cli import build_parser
    from star1.train.config import config_from_args

    args = build_parser().parse_args(["train", "--model", "bundled", "--data", "a.json", "--no-think", "--lora",
                                      "--lora-r", "8", "--max-steps", "3", "--out", str(tmp_path),
                                      "--no-gradient-checkpointing", "--report-to", "tensorboard",
                                      "--loss-weighting", "token"])
    config = config_from_args(args)
    assert not config.think and config.lora and config.lora_r == 8 and config.max_steps == 3
    assert config.gradient_checkpointing is False and config.liger is None and config.report_to == ["tensorboard"]
    assert config.loss_weighting == "token"


def test_auto_settings_on_cpu():
    from star1.train.resolve import resolve

    resolved = resolve(TrainConfig(model="some/model", device="cpu"), find_model=False)
    assert resolved.device == "cpu" and resolved.precision == "fp32" and not resolved.liger
    assert resolved.global_batch_size == 4 and resolved.micro_batch_tokens == 4096
    assert resolved.attn_implementation == "star1_segments"
    assert any("fp32 instead of the paper's bf16" in note for note in resolved.notes)
    assert any("global batch 4 instead of the paper's 128" in note for note in resolved.notes)
    explicit = resolve(TrainConfig(model="m", device="cpu", global_batch_size=128, precision="bf16"),
                       find_model=False)
    assert explicit.global_batch_size == 128 and explicit.precision == "bf16"
    assert not any("global batch" in note for note in explicit.notes)


@pytest.mark.parametrize("overrides,message", [
    ({"precision": "fp16"}, "fp16 needs a GPU"),
    ({"attn_implementation": "star1_varlen"}, "star1_varlen needs CUDA"),
])
def test_impossible_settings_on_cpu_are_errors(overrides, message):
    from star1.train.resolve import resolve

    with pytest.raises(ConfigError, match=message):
        resolve(TrainConfig(model="m", device="cpu", **overrides), find_model=False)


def test_busy_cpu_gets_one_thread(monkeypatch):
    import os

    from star1.train.resolve import resolve

    monkeypatch.setattr(os, "getloadavg", lambda: (os.cpu_count() + 3.0, 0.0, 0.0))
    busy = resolve(TrainConfig(model="m", device="cpu"), find_model=False)
    assert busy.threads == 1 and any("CPU busy" in note for note in busy.notes)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert resolve(TrainConfig(model="m", device="cpu"), find_model=False).threads is None
    assert resolve(TrainConfig(model="m", device="cpu", threads=2), find_model=False).threads == 2


def test_notes_print_on_one_line_in_logs(capsys):
    """Not a terminal (CI logs): a long note stays one line, with its markup label rendered."""
    from star1.train.run import _say

    note = "gradient checkpointing off: estimated peak 41.2 GiB vs 139.7 GiB free; " + "x" * 150
    _say(note, "[cyan]note:[/] ")
    assert capsys.readouterr().err == f"note: {note}\n"

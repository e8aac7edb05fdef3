"""``star1 train`` and ``python -m star1.train`` on the command line: the one grammar (--model,
--in, --out, --config, --set), no default model, the old per-field flags as warning aliases."""

import json
import logging
import subprocess
import sys

import pytest

from star1.cli import build_parser, main
from star1.train.cli import load_config

NO_MODEL = "no model for the model (under test, or to fine-tune): give --model ENGINE, or 'model:' in the config"


def _config(*args):
    return load_config(build_parser().parse_args(["train", *map(str, args)]))


def _one_line(text: str) -> str:
    return " ".join(text.split())  # help and errors, whatever the terminal width


def test_help_lists_the_grammar(capsys):
    with pytest.raises(SystemExit) as done:
        main(["train", "--help"])
    assert done.value.code == 0
    text = _one_line(capsys.readouterr().out)
    for flag in ("--model ENGINE", "--in PATH", "--out PATH", "--config FILE", "--set KEY=VALUE"):
        assert flag in text
    assert "(= --set lora=true)" in text and "(= --set max_steps=N)" in text
    # The per-field flags of earlier releases still parse, but are no longer advertised.
    assert "--learning-rate" not in text and "--data" not in text and "--no-think" not in text


def test_no_model_is_an_error_before_anything_is_created(tmp_path, monkeypatch, capsys):
    data = tmp_path / "star1.jsonl"
    data.write_text('{"question": "q", "response": "<think>\\nr\\n</think>\\n\\na"}\n')
    config = tmp_path / "run.yaml"
    config.write_text("out: from-config\nmax_steps: 1\n")
    monkeypatch.chdir(tmp_path)
    for args in (["--in", data, "--out", tmp_path / "out"], ["--config", config, "--in", data],
                 ["--in", data, "--out", "relative/out", "--set", "learning_rate=2e-5"]):
        assert main(["train", *map(str, args)]) == 2
        err = capsys.readouterr().err
        assert NO_MODEL in _one_line(err) and "use 'bundled'" in err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["run.yaml", "star1.jsonl"]


def test_the_python_api_has_no_default_model_either(tmp_path):
    from star1.errors import ConfigError
    from star1.train.config import TrainConfig
    from star1.train.run import train

    with pytest.raises(ConfigError) as info:
        train(TrainConfig(data=[str(tmp_path / "x.jsonl")], out=str(tmp_path / "out")), quiet=True)
    assert NO_MODEL in _one_line(str(info.value)) and not (tmp_path / "out").exists()


def test_the_accelerate_entry_point_takes_the_same_grammar(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "star1.train", "--in", str(tmp_path / "x.jsonl"),
                           "--out", str(out), "--set", "epochs=1"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert NO_MODEL in _one_line(proc.stderr) and not out.exists()
    proc = subprocess.run([sys.executable, "-m", "star1.train", "--model", "bundled", "--set", "epochs=0"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2 and "--set epochs: Input should be greater than or equal to 1" in proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args,message", [
    (["--set", "learning_rate=-1"], "--set learning_rate: Input should be greater than 0"),
    (["--set", "learning_rat=1e-5"], "--set learning_rat: unknown setting"),
    (["--set", "learning_rate: 1e-5"], "--set 'learning_rate: 1e-5' must look like key.path=value"),
    (["--set", "model=openai:gpt-4o@https://api.openai.com/v1"], "--set model: openai:gpt-4o@https://api."
                                                                   "openai.com/v1: a model behind an API cannot "
                                                                   "be fine-tuned"),
    (["--model", "openai:gpt-4o@https://api.openai.com/v1"], "cannot be fine-tuned"),
    (["--model", "not-a-model"], "invalid engine 'not-a-model'"),
    (["--truncation", "middle"], "truncation: Input should be 'keep_end', 'keep_start' or 'drop'"),
])
def test_bad_settings_name_the_key_and_create_nothing(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--model", "bundled", "--in", "x.jsonl", "--out", "out", *args]) == 2
    assert message in _one_line(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


def test_missing_data_is_an_error_naming_the_file(tmp_path, capsys):
    assert main(["train", "--model", "bundled", "--in", str(tmp_path / "nope.jsonl"),
                 "--out", str(tmp_path / "out")]) == 2
    assert "nope.jsonl: file not found" in capsys.readouterr().err
    assert main(["train", "--model", "bundled", "--out", str(tmp_path / "out2")]) == 2
    assert "no training data: give --in FILE" in capsys.readouterr().err
    assert not (tmp_path / "out2").exists()


def test_file_then_flags_then_set(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model: some/model\ndata: a.jsonl\nlearning_rate: 2.0e-5\nepochs: 3\nout: from-file\n")
    config = _config("--config", path, "--in", "b.jsonl", "--in", "c.parquet", "--set", "learning_rate=5e-6",
                     "--lora", "--set", "report_to=[tensorboard]")
    assert (config.model.kind, config.model.model) == ("transformers", "some/model")
    assert config.data == ["b.jsonl", "c.parquet"]  # a list given on the command line replaces the file's
    assert (config.learning_rate, config.epochs, config.out, config.lora) == (5e-6, 3, "from-file", True)
    assert config.report_to == ["tensorboard"]
    assert _config("--config", path, "--model", "bundled", "--set", "model=other/model").model.model == "other/model"
    assert _config("--config", path, "--out", "flag").out == "flag"


def test_every_local_engine_form_names_a_model_to_fine_tune(tmp_path, smol_dir):
    from star1.train.resolve import model_path

    folder = tmp_path / "my-checkpoint"
    folder.mkdir()
    cases = {"bundled": str(smol_dir), "transformers:bundled": str(smol_dir),
             "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B": "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B",
             "transformers:Qwen/Qwen2.5-1.5B": "Qwen/Qwen2.5-1.5B", str(folder): str(folder),
             f"transformers:{folder}": str(folder), "{kind: transformers, model: org/name}": "org/name"}
    for spec, expected in cases.items():
        assert model_path(_config("--model", spec).model) == expected, spec
    # An engine mapping's native_reasoning is training's reasoning_model, unless that is set too.
    engine = "{engine: org/name, native_reasoning: true}"
    assert _config("--model", engine).reasoning_model is True
    assert _config("--model", engine, "--set", "reasoning_model=false").reasoning_model is False
    assert _config("--model", "org/name").reasoning_model is None  # left to the template probe


def test_old_flags_still_work_and_say_what_to_write(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="star1"):
        config = _config("--model", "bundled", "--data", "a.json", "b.json", "--data", "c.json", "--no-think",
                         "--lora-r", "8", "--learning-rate", "5e-6", "--out", tmp_path,
                         "--no-gradient-checkpointing", "--report-to", "tensorboard", "--report-to", "wandb",
                         "--loss-weighting", "token", "--no-lora", "--reasoning-model")
    assert config.data == ["a.json", "b.json", "c.json"]
    assert not config.think and not config.lora and config.lora_r == 8 and config.learning_rate == 5e-6
    assert config.gradient_checkpointing is False and config.liger is None
    assert config.report_to == ["tensorboard", "wandb"] and config.loss_weighting == "token"
    assert config.reasoning_model is True
    warned = caplog.text
    assert "--learning-rate is an old spelling and will go in the next release; use --set learning_rate=V" in warned
    assert "--data is an old spelling and will go in the next release; use --in FILE" in warned
    assert "--no-think is an old spelling" in warned and "use --set think=false" in warned


@pytest.mark.slow
def test_train_through_the_command_line(tiny_model_dir, star1_subset, tmp_path, capsys):
    """One real step of the tiny Qwen2, named as a bare local folder, with the new grammar."""
    out = tmp_path / "run"
    assert main(["train", "--model", str(tiny_model_dir), "--in", str(star1_subset), "--out", str(out),
                 "--max-steps", "1", "--set", "global_batch_size=4", "--set", "max_length=128",
                 "--set", "device=cpu", "--set", "threads=1", "--set", "warmup_ratio=0"]) == 0
    assert "star1 train: 1 steps" in capsys.readouterr().out
    saved = json.loads((out / "train_config.json").read_text())
    assert saved["config"]["model"] == f"transformers:{tiny_model_dir}"
    assert saved["resolved"]["model_path"] == str(tiny_model_dir)
    assert (out / "model.safetensors").exists()

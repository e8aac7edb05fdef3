"""A few real optimizer steps on a tiny random Qwen2 with the real SmolLM2 tokenizer and STAR-1 data."""

import csv
import json

import pytest
import torch
from safetensors.torch import load_file

from star1.errors import ConfigError
from star1.train.config import TrainConfig
from star1.train.run import train
from star1.train.trainer import StopAfter

pytestmark = pytest.mark.slow


def _config(model_dir, data, out, **overrides):
    settings = dict(model=str(model_dir), data=[str(data)], out=str(out), global_batch_size=4, epochs=1,
                    learning_rate=3e-3, warmup_ratio=0.0, max_length=128, device="cpu")
    settings.update(overrides)
    return TrainConfig(**settings)


@pytest.fixture(scope="module")
def trained(tiny_model_dir, star1_subset, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = train(_config(tiny_model_dir, star1_subset, out, epochs=2), quiet=True)
    return result, out


def test_loss_falls_and_every_trainable_weight_moves(trained, tiny_model_dir):
    result, out = trained
    rows = list(csv.DictReader((out / "loss_curve.csv").open()))
    assert len(rows) == result.resolved.total_steps == 12  # 24 samples / 4 per step x 2 epochs
    assert [float(r["epoch"]) for r in rows][5::6] == [1.0, 2.0]  # data epochs, 6 steps each
    losses = [float(r["loss"]) for r in rows]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.3
    before = load_file(tiny_model_dir / "model.safetensors")
    after = load_file(out / "model.safetensors")
    assert before.keys() == after.keys()
    unchanged = [name for name in before if torch.equal(before[name], after[name])]
    assert unchanged == []


def test_saved_checkpoint_reloads_with_identical_logits(trained, star1_subset):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    result, out = trained
    reloaded = AutoModelForCausalLM.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    trained_model = result.trainer.model.eval()
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "How do I stay safe online?"}],
                                        add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]
    with torch.no_grad():
        torch.testing.assert_close(reloaded(input_ids=ids).logits, trained_model(input_ids=ids).logits,
                                   rtol=0, atol=0)
    assert reloaded.config.use_cache and reloaded.config._attn_implementation in ("sdpa", "eager")


def test_run_writes_its_config_report_and_curve(trained):
    result, out = trained
    saved = json.loads((out / "train_config.json").read_text())
    assert saved["config"]["learning_rate"] == 3e-3 and saved["config"]["adam_beta2"] == 0.95
    assert saved["resolved"]["precision"] == "fp32" and saved["resolved"]["attn_implementation"] == "star1_segments"
    assert saved["resolved"]["global_batch_size"] == 4 and saved["data"]["used"] == 24
    assert saved["template"]["strips_reasoning"] is False
    report = json.loads((out / "train_report.json").read_text())
    assert report["finished"] and report["global_step"] == 12 and report["trained_tokens"] > 0
    assert all(step["tokens_per_s"] > 0 for step in report["steps"])
    assert (out / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"


def test_resume_continues_from_the_saved_step(tiny_model_dir, star1_subset, tmp_path):
    """Interrupted after step 2 and resumed == one uninterrupted run, step for step."""
    whole = train(_config(tiny_model_dir, star1_subset, tmp_path / "whole", max_steps=4, save_every=2), quiet=True)
    out = tmp_path / "interrupted"
    config = _config(tiny_model_dir, star1_subset, out, max_steps=4, save_every=2)
    first = train(config, callbacks=[StopAfter(2)], quiet=True)
    assert first.trainer.state.global_step == 2 and (out / "checkpoints" / "checkpoint-2").exists()
    assert not (out / "model.safetensors").exists()  # unfinished runs leave no final model
    second = train(config, quiet=True)
    assert second.resumed_from.endswith("checkpoint-2")
    assert [s["step"] for s in second.steps] == [3, 4]  # only the remaining steps ran
    losses = {e["step"]: e["loss"] for e in second.trainer.state.log_history if "loss" in e}
    expected = {e["step"]: e["loss"] for e in whole.trainer.state.log_history if "loss" in e}
    assert losses.keys() == {1, 2, 3, 4}
    for step in (3, 4):
        assert losses[step] == pytest.approx(expected[step], rel=1e-4)
    resumed, straight = load_file(out / "model.safetensors"), load_file(tmp_path / "whole" / "model.safetensors")
    for name in straight:
        torch.testing.assert_close(resumed[name], straight[name], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("change", [{"max_length": 96}, {"loss_weighting": "token"}])
def test_resume_refuses_checkpoints_of_another_run(tiny_model_dir, star1_subset, tmp_path, change):
    config = _config(tiny_model_dir, star1_subset, tmp_path, max_steps=2, save_every=1)
    train(config, callbacks=[StopAfter(1)], quiet=True)
    changed = _config(tiny_model_dir, star1_subset, tmp_path, max_steps=2, save_every=1, **change)
    with pytest.raises(ConfigError, match="checkpoints of a different run"):
        train(changed, quiet=True)

"""Per-sample weighting over data-parallel processes: 2 real CPU processes (gloo) x 2 accumulated packed
micro-batches each give the gradient of the mean over all 8 samples of each sample's mean token loss."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from star1.train.config import TrainConfig
from star1.train.run import load_tokenizer, prepare_items

pytestmark = pytest.mark.slow

HELPER = Path(__file__).with_name("ddp_step.py")


def _expected_sample_weighted(model_dir, items):
    """Each sample alone through the model's own loss (its mean token loss), averaged over the samples."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="sdpa")
    model.config.use_cache = False
    model.train()
    means = []
    for item in items:
        loss = model(input_ids=torch.tensor([item.input_ids]), labels=torch.tensor([item.labels])).loss
        (loss / len(items)).backward()
        means.append(loss.item())
    return {n: p.grad for n, p in model.named_parameters()}, sum(means) / len(means)


def test_two_processes_with_accumulation_weigh_every_sample_the_same(tiny_model_dir, star1_subset, tmp_path):
    data = tmp_path / "eight.jsonl"
    data.write_text("".join(star1_subset.read_text(encoding="utf-8").splitlines(keepends=True)[:8]),
                    encoding="utf-8")
    settings = dict(model=str(tiny_model_dir), data=[str(data)], out=str(tmp_path / "run"), device="cpu",
                    threads=1, global_batch_size=8, max_steps=1, max_length=96, micro_batch_tokens=200,
                    warmup_ratio=0.0, max_grad_norm=0.0, loss_weighting="sample")
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(settings), encoding="utf-8")
    result_file = tmp_path / "result.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    # Its own process group, so that a timeout ends the launcher and both workers, not the launcher alone.
    proc = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             str(HELPER), str(config_file), str(result_file)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=400)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    assert proc.returncode == 0, stderr[-4000:]
    got = torch.load(result_file)
    assert got["processes"] == 2 and got["accumulation"] >= 2  # 2 ranks x >= 2 micro-batches each

    config = TrainConfig(**settings)
    _, items, _ = prepare_items(config, load_tokenizer(config, str(tiny_model_dir)), str(tiny_model_dir))
    assert len(items) == 8
    want, want_loss = _expected_sample_weighted(tiny_model_dir, items)
    assert got["loss"] == pytest.approx(want_loss, rel=1e-5)
    assert got["grads"].keys() == want.keys()
    for name, grad in want.items():
        assert torch.allclose(got["grads"][name], grad, rtol=1e-4, atol=1e-7), name

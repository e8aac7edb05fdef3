"""Warm-up and learning-rate schedule: star1's Trainer applies, step by step, the learning rates of the
reference's scheduler, which is built by transformers' ``get_cosine_schedule_with_warmup`` with
``num_warmup_steps=int(warmup_rates * num_training_steps)`` (train/sft.py)."""

import dataclasses

import pytest
import torch
from transformers import TrainingArguments, get_cosine_schedule_with_warmup

from conftest import tiny_qwen2
from star1.train.config import TrainConfig
from star1.train.resolve import resolve, schedule
from star1.train.trainer import make_trainer, training_arguments


def _rates(optimizer, scheduler, steps: int) -> list[float]:
    """The learning rate each optimizer step uses, stepping the scheduler after it as both trainers do."""
    rates = []
    for _ in range(steps):
        rates.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    return rates


def _star1_rates(ratio: float, steps: int, tmp_path) -> tuple[int, list[float]]:
    config = TrainConfig(data=["memory"], out=str(tmp_path), device="cpu", threads=1,
                         max_steps=steps, warmup_ratio=ratio, learning_rate=1e-5)
    resolved = resolve(config, find_model=False)
    schedule(resolved, config, steps)
    resolved.accumulation = 1
    trainer = make_trainer(tiny_qwen2(64), training_arguments(config, resolved, tmp_path, save=False), rows=[])
    trainer.create_optimizer_and_scheduler(num_training_steps=steps)
    return resolved.warmup_steps, _rates(trainer.optimizer, trainer.lr_scheduler, steps)


def _reference_rates(ratio: float, steps: int) -> list[float]:
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-5, betas=(0.9, 0.95))
    scheduler = get_cosine_schedule_with_warmup(optimizer, num_warmup_steps=int(ratio * steps),
                                                num_training_steps=steps)
    return _rates(optimizer, scheduler, steps)


def _trainer_ratio_rule(ratio: float, steps: int, tmp_path) -> int:
    """What transformers' Trainer would count if handed the ratio itself (it rounds up)."""
    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    key = "warmup_ratio" if "warmup_ratio" in names else "warmup_steps"  # 5.x takes a ratio as warmup_steps < 1
    return TrainingArguments(output_dir=str(tmp_path), report_to="none", **{key: ratio}).get_warmup_steps(steps)


# (0.05, 39): the reference's own STAR-1 run (1,000 samples x 5 epochs // 128 = 39 steps).
@pytest.mark.parametrize("ratio,steps", [(0.05, 39), (0.05, 40), (0.1, 25), (0.03, 7), (0.05, 1), (0.2, 10)])
def test_learning_rates_match_the_reference_scheduler(ratio, steps, tmp_path):
    warmup, rates = _star1_rates(ratio, steps, tmp_path)
    assert rates == _reference_rates(ratio, steps)
    assert warmup == int(ratio * steps)


def test_star1_does_not_follow_the_trainer_ratio_rule(tmp_path):
    """On the reference's own run the two rules part (transformers rounds up, the reference truncates)."""
    ratio, steps = 0.05, 39
    rounded_up = _trainer_ratio_rule(ratio, steps, tmp_path)
    assert rounded_up != int(ratio * steps)
    warmup, rates = _star1_rates(ratio, steps, tmp_path)
    assert warmup == int(ratio * steps)
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-5)
    assert rates != _rates(optimizer, get_cosine_schedule_with_warmup(optimizer, rounded_up, steps), steps)

"""transformers' Trainer, fed pre-packed rows in a fixed order, plus the callbacks star1 records with.

The Trainer brings the optimizer, schedule, mixed precision, accelerate / DeepSpeed / FSDP,
checkpoints and resuming, logging to TensorBoard / W&B, and Liger kernels. star1 adds what it
lacks: rows that are already packed and shuffled (so the sampler must keep their order) and a
record of tokens per second and memory per step.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import torch
from torch.utils.data import Dataset, SequentialSampler
from transformers import Trainer, TrainerCallback, TrainingArguments

from star1.train.config import TrainConfig
from star1.train.packing import PackedCollator
from star1.train.resolve import Resolved


class RowDataset(Dataset):
    def __init__(self, rows: list[dict]):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict:
        return self.rows[index]


class PackedTrainer(Trainer):
    """A Trainer that keeps the planned row order: epochs are shuffled and packed beforehand."""

    def _get_train_sampler(self, train_dataset=None):
        return SequentialSampler(train_dataset if train_dataset is not None else self.train_dataset)


class StepRecorder(TrainerCallback):
    """Wall time, tokens, tokens/s and peak GPU memory of every optimizer step."""

    def __init__(self, tokens_per_step: list[int]):
        self.tokens_per_step = tokens_per_step
        self.steps: list[dict] = []
        self._last = None
        self.train_started = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.train_started = self._last = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        now = time.perf_counter()
        seconds = now - self._last
        self._last = now
        tokens = self.tokens_per_step[state.global_step - 1]
        record = {"step": state.global_step, "seconds": seconds, "tokens": tokens,
                  "tokens_per_s": tokens / seconds if seconds > 0 else None}
        if torch.cuda.is_available():
            record["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
        self.steps.append(record)


class StopAfter(TrainerCallback):
    """Stop (and checkpoint) after a given step: used to test resuming, and by the benchmark."""

    def __init__(self, step: int, save: bool = True):
        self.step = step
        self.save = save

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            control.should_training_stop = True
            control.should_save = self.save


def _checkpointing(enabled: bool) -> dict:
    if not enabled:
        return {}
    # transformers renamed gradient_checkpointing to activation_checkpointing (5.2x); take what exists.
    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    key = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    return {key: True, f"{key}_kwargs": {"use_reentrant": False}}


def training_arguments(config: TrainConfig, resolved: Resolved, out: Path, save: bool = True) -> TrainingArguments:
    """``save=False`` writes no checkpoints at all (the benchmark)."""
    report_to = config.report_to or ["none"]
    return TrainingArguments(
        output_dir=str(out / "checkpoints"),
        per_device_train_batch_size=1,  # one packed row per micro-batch
        gradient_accumulation_steps=resolved.accumulation,
        max_steps=resolved.total_steps,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=resolved.warmup_steps,
        weight_decay=config.weight_decay,
        adam_beta1=config.adam_beta1,
        adam_beta2=config.adam_beta2,
        adam_epsilon=config.adam_epsilon,
        max_grad_norm=config.max_grad_norm,
        optim="adamw_torch_fused" if resolved.device == "cuda" else "adamw_torch",
        bf16=resolved.precision == "bf16",
        fp16=resolved.precision == "fp16",
        use_cpu=resolved.device == "cpu",
        seed=config.seed,
        data_seed=config.seed,
        logging_steps=config.logging_steps,
        report_to=report_to,
        save_strategy="steps" if save else "no",
        save_steps=resolved.save_every,
        save_total_limit=config.keep_checkpoints,
        **_checkpointing(resolved.gradient_checkpointing),
        use_liger_kernel=resolved.liger,
        torch_compile=config.torch_compile,
        remove_unused_columns=False,  # the rows carry seq_lens, which the model's signature does not name
        dataloader_num_workers=0,
        dataloader_pin_memory=resolved.device == "cuda",
    )


def make_trainer(model, args: TrainingArguments, rows: list[dict], tokenizer=None,
                 callbacks: list[TrainerCallback] | None = None) -> PackedTrainer:
    return PackedTrainer(model=model, args=args, train_dataset=RowDataset(rows), data_collator=PackedCollator(),
                         processing_class=tokenizer, callbacks=callbacks or [])

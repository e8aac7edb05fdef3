"""transformers' Trainer, fed pre-packed rows in a fixed order, plus the callbacks star1 records with.

The Trainer brings the optimizer, schedule, mixed precision, accelerate / DeepSpeed / FSDP,
checkpoints and resuming, logging to TensorBoard / W&B, and Liger kernels. star1 adds what it
lacks: rows that are already packed and shuffled (so the sampler must keep their order), the
per-sample loss weighting of the reference (:mod:`star1.train.loss`) and a record of tokens per
second and memory per step.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import torch
from torch.utils.data import Dataset, SequentialSampler
from transformers import Trainer, TrainerCallback, TrainingArguments

from star1.train.config import TrainConfig
from star1.train.cpu_fsdp import honour_fsdp_launch
from star1.train.loss import weighted_loss
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
    """A Trainer that keeps the planned row order (epochs are shuffled and packed beforehand) and, with
    ``loss_weighting="sample"``, optimises the mean over samples of each sample's mean token loss.

    ``token`` leaves the loss to the model and the Trainer (the mean over the step's answer tokens via
    ``num_items_in_batch``; Liger's fused cross-entropy when enabled). ``sample`` takes the logits and
    applies the collator's ``loss_weights``, which already divide by the step's sample count over all
    micro-batches and devices, so the micro-batch losses are neither divided by the accumulation
    count nor by a token count.
    """

    def __init__(self, *args, loss_weighting: str = "token", **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_weighting = loss_weighting
        if loss_weighting == "sample":
            # transformers >= 5.x reads this flag; 4.x skips the division by the accumulation count only
            # when the model "accepts loss kwargs" and num_items_in_batch was counted (it is, from labels).
            self.loss_is_scaled_for_ga = True
            self.model_accepts_loss_kwargs = True

    def create_accelerator_and_postprocess(self) -> None:
        honour_fsdp_launch()  # FSDP on CPU processes, which accelerate would silently run as DDP
        super().create_accelerator_and_postprocess()

    def _get_train_sampler(self, train_dataset=None):
        return SequentialSampler(train_dataset if train_dataset is not None else self.train_dataset)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        weights = inputs.pop("loss_weights", None)
        if self.loss_weighting != "sample":
            return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                        num_items_in_batch=num_items_in_batch)
        if weights is None:
            raise ValueError("loss_weighting='sample' needs the collator's loss_weights "
                             "(PackedCollator(loss_weighting='sample'))")
        labels = inputs.pop("labels")
        outputs = model(**inputs)  # no labels: the model returns logits and computes no loss
        loss = weighted_loss(outputs.logits, labels, weights)
        # DDP / FSDP / DeepSpeed average gradients over ranks; each rank's loss is its share of the
        # whole step's loss, so the average must become a sum.
        loss = loss * self.accelerator.num_processes
        return (loss, outputs) if return_outputs else loss


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
                 callbacks: list[TrainerCallback] | None = None, loss_weighting: str = "token") -> PackedTrainer:
    return PackedTrainer(model=model, args=args, train_dataset=RowDataset(rows),
                         data_collator=PackedCollator(loss_weighting), processing_class=tokenizer,
                         callbacks=callbacks or [], loss_weighting=loss_weighting)

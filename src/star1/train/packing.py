"""Optimizer steps of exactly ``global_batch_size`` sequences, packed into padding-free micro-batches.

The paper's global batch is 128 *sequences* per optimizer step (per-device batch x devices x
accumulation). star1 keeps that unit: each epoch is shuffled (seeded), cut into steps of 128
sequences, and each step's sequences are spread over ``accumulation x devices`` packed rows of at
most ``micro_batch_tokens`` tokens, balanced by token count. Every step has the same number of
rows (the fewest that hold the heaviest step), so transformers' Trainer can accumulate over a fixed
count; a row with nothing to hold gets one pad token with no label. Every row records how many
samples its step holds, for the per-sample loss weights (:mod:`star1.train.loss`).

Rows are laid out step by step so that accelerate's sharding (device d takes rows d, d+W, ...)
hands each device ``accumulation`` rows of the same step.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

import torch

from star1.train.loss import WEIGHTINGS, answer_tokens, sample_weights
from star1.train.render import IGNORE_INDEX, Tokenized


@dataclass(frozen=True)
class Plan:
    steps: list[list[list[int]]]  # step -> row -> sample indices
    accumulation: int  # rows per device per step
    world_size: int
    steps_per_epoch: int

    @property
    def rows(self) -> list[list[int]]:
        return [row for step in self.steps for row in step]


def _step_order(n: int, batch: int, steps: int, seed: int) -> list[list[int]]:
    out: list[list[int]] = []
    epoch = 0
    while len(out) < steps:
        order = list(range(n))
        random.Random(seed * 1_000_003 + epoch).shuffle(order)
        out.extend(order[i:i + batch] for i in range(0, n, batch))
        epoch += 1
    return out[:steps]


def _balance(indices: list[int], lengths: list[int], bins: int, capacity: int) -> list[list[int]] | None:
    """Longest-first into the lightest row; None when some row would exceed ``capacity``."""
    rows: list[list[int]] = [[] for _ in range(bins)]
    loads = [0] * bins
    for index in sorted(indices, key=lambda i: -lengths[i]):
        lightest = min(range(bins), key=loads.__getitem__)
        if loads[lightest] + lengths[index] > capacity:
            return None
        rows[lightest].append(index)
        loads[lightest] += lengths[index]
    return rows


def plan_steps(lengths: list[int], global_batch: int, micro_batch_tokens: int, world_size: int,
               total_steps: int, seed: int) -> Plan:
    if max(lengths) > micro_batch_tokens:
        raise ValueError(f"a sample of {max(lengths)} tokens does not fit micro_batch_tokens={micro_batch_tokens}")
    batch = min(global_batch, len(lengths))
    steps_per_epoch = -(-len(lengths) // batch)
    order = _step_order(len(lengths), batch, total_steps, seed)
    heaviest = max(sum(lengths[i] for i in step) for step in order)
    bins = max(world_size, -(-heaviest // micro_batch_tokens))
    bins = -(-bins // world_size) * world_size
    while True:
        steps = [_balance(step, lengths, bins, micro_batch_tokens) for step in order]
        if all(step is not None for step in steps):
            return Plan(steps, bins // world_size, world_size, steps_per_epoch)
        bins += world_size


def _packed_labels(item: Tokenized) -> list[int]:
    # The first token of a sequence must not be predicted from the previous sequence.
    return [IGNORE_INDEX, *item.labels[1:]]


def pack_rows(plan: Plan, items: list[Tokenized], pad_id: int) -> list[dict]:
    """The rows of the plan, in order, as lists the collator turns into tensors."""
    out = []
    for step in plan.steps:
        # Samples of the step that have an answer token to learn: the denominator of per-sample weighting.
        samples = sum(1 for row in step for i in row if answer_tokens(_packed_labels(items[i])))
        for row in step:
            if not row:
                out.append({"input_ids": [pad_id], "labels": [IGNORE_INDEX], "seq_lens": [1],
                            "step_samples": samples})
                continue
            ids: list[int] = []
            labels: list[int] = []
            for index in row:
                ids.extend(items[index].input_ids)
                labels.extend(_packed_labels(items[index]))
            out.append({"input_ids": ids, "labels": labels, "seq_lens": [len(items[i]) for i in row],
                        "step_samples": samples})
    return out


def step_tokens(plan: Plan, items: list[Tokenized]) -> list[int]:
    return [sum(len(items[i]) for row in step for i in row) for step in plan.steps]


def fingerprint(items: list[Tokenized], plan: Plan, loss_weighting: str = "token") -> str:
    """Identifies the exact token stream, which samples each optimizer step holds, and the objective; a
    resumed run must see the same ones. How a step's samples are spread over rows, accumulation and
    processes is left out: it changes with the number of processes and not what a step optimises, so a
    run resumes at another world size (docs/train.md, "Several processes")."""
    digest = hashlib.sha256()
    for item in items:
        digest.update(repr((item.input_ids, item.labels)).encode())
    digest.update(repr([sorted(i for row in step for i in row) for step in plan.steps]).encode())
    if loss_weighting != "token":  # the setting came later; token-weighted runs do not hash it
        digest.update(loss_weighting.encode())
    return digest.hexdigest()[:16]


class PackedCollator:
    """Rows of a plan -> one padding-free batch: (1, T) tensors plus the sequence boundaries, and with
    ``loss_weighting="sample"`` the per-token ``loss_weights`` (rows must then carry ``step_samples``)."""

    def __init__(self, loss_weighting: str = "token"):
        if loss_weighting not in WEIGHTINGS:
            raise ValueError(f"loss_weighting must be one of {WEIGHTINGS}, not {loss_weighting!r}")
        self.loss_weighting = loss_weighting

    def __call__(self, rows: list[dict]) -> dict:
        ids = [token for row in rows for token in row["input_ids"]]
        labels = [label for row in rows for label in row["labels"]]
        seq_lens = [n for row in rows for n in row["seq_lens"]]
        positions = [p for n in seq_lens for p in range(n)]
        cu = torch.zeros(len(seq_lens) + 1, dtype=torch.int32)
        cu[1:] = torch.cumsum(torch.tensor(seq_lens, dtype=torch.int32), 0)
        batch = {
            "input_ids": torch.tensor([ids], dtype=torch.long),
            "labels": torch.tensor([labels], dtype=torch.long),
            "position_ids": torch.tensor([positions], dtype=torch.long),
            "cu_seq_lens_q": cu, "cu_seq_lens_k": cu,
            "max_length_q": max(seq_lens), "max_length_k": max(seq_lens),
        }
        if self.loss_weighting == "sample":
            if any("step_samples" not in row for row in rows):
                raise ValueError("per-sample loss weighting needs rows from pack_rows (each with step_samples)")
            weights = [w for row in rows for w in sample_weights(row["labels"], row["seq_lens"], row["step_samples"])]
            batch["loss_weights"] = torch.tensor([weights], dtype=torch.float32)
        return batch

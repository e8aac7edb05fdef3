"""Optimizer steps of exactly ``global_batch_size`` sequences, packed into padding-free micro-batches.

The paper's global batch is 128 *sequences* per optimizer step (per-device batch x devices x
accumulation). star1 keeps that unit: each epoch is shuffled (seeded), cut into steps of 128
sequences, and each step's sequences are spread over ``accumulation x devices`` packed rows of at
most ``micro_batch_tokens`` tokens, balanced by token count. Every step has the same number of
rows (the fewest that hold the heaviest step), so transformers' Trainer can accumulate over a fixed
count; a row with nothing to hold gets one pad token with no label. The loss is the mean over the
step's label tokens, as the Trainer computes it with ``num_items_in_batch``.

Rows are laid out step by step so that accelerate's sharding (device d takes rows d, d+W, ...)
hands each device ``accumulation`` rows of the same step.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

import torch

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


def pack_rows(plan: Plan, items: list[Tokenized], pad_id: int) -> list[dict]:
    """The rows of the plan, in order, as lists the collator turns into tensors."""
    out = []
    for row in plan.rows:
        if not row:
            out.append({"input_ids": [pad_id], "labels": [IGNORE_INDEX], "seq_lens": [1]})
            continue
        ids: list[int] = []
        labels: list[int] = []
        for index in row:
            ids.extend(items[index].input_ids)
            # The first token of a sequence must not be predicted from the previous sequence.
            labels.append(IGNORE_INDEX)
            labels.extend(items[index].labels[1:])
        out.append({"input_ids": ids, "labels": labels, "seq_lens": [len(items[i]) for i in row]})
    return out


def step_tokens(plan: Plan, items: list[Tokenized]) -> list[int]:
    return [sum(len(items[i]) for row in step for i in row) for step in plan.steps]


def fingerprint(items: list[Tokenized], plan: Plan) -> str:
    """Identifies the exact token stream; a resumed run must see the same one."""
    digest = hashlib.sha256()
    for item in items:
        digest.update(repr((item.input_ids, item.labels)).encode())
    digest.update(repr(plan.steps).encode())
    return digest.hexdigest()[:16]


class PackedCollator:
    """Rows of a plan -> one padding-free batch: (1, T) tensors plus the sequence boundaries."""

    def __call__(self, rows: list[dict]) -> dict:
        ids = [token for row in rows for token in row["input_ids"]]
        labels = [label for row in rows for label in row["labels"]]
        seq_lens = [n for row in rows for n in row["seq_lens"]]
        positions = [p for n in seq_lens for p in range(n)]
        cu = torch.zeros(len(seq_lens) + 1, dtype=torch.int32)
        cu[1:] = torch.cumsum(torch.tensor(seq_lens, dtype=torch.int32), 0)
        return {
            "input_ids": torch.tensor([ids], dtype=torch.long),
            "labels": torch.tensor([labels], dtype=torch.long),
            "position_ids": torch.tensor([positions], dtype=torch.long),
            "cu_seq_lens_q": cu, "cu_seq_lens_k": cu,
            "max_length_q": max(seq_lens), "max_length_k": max(seq_lens),
        }

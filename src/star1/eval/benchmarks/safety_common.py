"""Shared by the safety benchmarks: turn a loader's prompts into evaluation items."""

from __future__ import annotations

from star1.datasets.safety import BenchmarkPrompt
from star1.eval.benchmarks.base import EvalItem


def as_items(prompts: list[BenchmarkPrompt]) -> list[EvalItem]:
    # Safety prompts are sent exactly as written, with no system prompt or added instruction.
    return [EvalItem(id=p.id, prompt=p.prompt, question=p.prompt, category=p.category) for p in prompts]

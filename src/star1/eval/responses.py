"""Where the responses to score come from: the model (generated, cached) or a saved JSONL file."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from star1.engines import ChatRequest
from star1.errors import ConfigError
from star1.eval.benchmarks.base import Benchmark, EvalItem
from star1.eval.registry import get_benchmark
from star1.eval.settings import Protocol
from star1.io import InputError, read_rows
from star1.records import join_response

RESPONSE_FIELDS = ("benchmark", "id", "response")


@dataclass
class Sample:
    """One response of the model to one item (sample k of the item)."""

    item: EvalItem
    sample: int
    response: str
    finish_reason: str = "stop"
    error: str | None = None  # the engine failed for good; nothing to score
    completion_tokens: int = 0


def generate(engine, items: list[EvalItem], protocol: Protocol, max_tokens: int,
             progress: Callable[[int, int], None] | None = None) -> list[Sample]:
    """Ask the model every item ``protocol.samples`` times; cached calls are not repeated."""
    pairs = [(item, k) for item in items for k in range(protocol.samples)]
    requests = [ChatRequest.chat(item.prompt, sampling=protocol.sampling(max_tokens, k))
                for item, k in pairs]
    completions = engine.generate(requests, progress=progress)
    samples = []
    for (item, k), completion in zip(pairs, completions):
        text = (join_response(completion.reasoning, completion.text) if completion.reasoning
                else completion.text)
        failed = completion.finish_reason == "error"
        samples.append(Sample(item, k, text, completion.finish_reason,
                              completion.error if failed else None, completion.completion_tokens))
    return samples


def read_response_file(path: str | Path) -> dict[str, list[tuple[int, str, str]]]:
    """Rows of a responses file grouped by benchmark: (line, item id, response).

    Every row needs ``benchmark``, ``id`` and ``response``; a bad row raises :class:`InputError`
    naming the file, line and field.
    """
    grouped: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    rows = read_rows(path)
    if not rows:
        raise InputError(path, "the file holds no responses")
    for line, row in rows:
        for field in RESPONSE_FIELDS:
            if field not in row or row[field] is None:
                raise InputError(path, "missing", line=line, field=field)
        if not isinstance(row["response"], str):
            raise InputError(path, f"must be a string, not {type(row['response']).__name__}",
                             line=line, field="response")
        if isinstance(row["id"], bool) or not isinstance(row["id"], (str, int)):
            raise InputError(path, "must be a string or an integer", line=line, field="id")
        try:
            name = get_benchmark(str(row["benchmark"])).name
        except ConfigError as exc:
            raise InputError(path, str(exc), line=line, field="benchmark") from None
        grouped[name].append((line, str(row["id"]), row["response"]))
    return dict(grouped)


def samples_from_file(path: str | Path, rows: list[tuple[int, str, str]], bench: Benchmark,
                      items: list[EvalItem]) -> list[Sample]:
    by_id = {item.id: item for item in items}
    counts: dict[str, int] = defaultdict(int)
    samples = []
    for line, item_id, response in rows:
        item = by_id.get(item_id)
        if item is None:
            examples = ", ".join(repr(i.id) for i in items[:3])
            raise InputError(path, f"id {item_id!r} is not an item of {bench.name} "
                                   f"(its ids look like {examples})", line=line, field="id")
        samples.append(Sample(item, counts[item_id], response))
        counts[item_id] += 1
    return samples

"""Normalise how reasoning arrives: inline ``<think>…</think>`` or a separate field."""

from __future__ import annotations

OPEN, CLOSE = "<think>", "</think>"


def split_reasoning(text: str, starts_in_reasoning: bool = False) -> tuple[str | None, str]:
    """Split model output into (reasoning, answer).

    ``starts_in_reasoning``: the prompt already opened the think block (R1-distill templates end
    the generation prompt with ``<think>\\n``), so the output may hold only the closing tag.
    A think block that never closes is all reasoning and no answer.
    """
    stripped = text.lstrip()
    if stripped.startswith(OPEN):
        body = stripped[len(OPEN):]
        end = body.find(CLOSE)
        if end < 0:
            return body.strip(), ""
        return body[:end].strip(), body[end + len(CLOSE):].strip()
    end = text.find(CLOSE)
    if end >= 0 and (starts_in_reasoning or OPEN not in text[:end]):
        return text[:end].strip(), text[end + len(CLOSE):].strip()
    if starts_in_reasoning:
        return text.strip(), ""
    return None, text.strip()

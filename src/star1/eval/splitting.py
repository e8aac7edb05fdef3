"""The three views of a response that safety is judged on: whole output, answer only, reasoning only."""

from __future__ import annotations

from star1.reasoning import split_reasoning

VIEWS = ("whole", "answer", "reasoning")


def split_views(response: str) -> dict[str, str | None]:
    """Return the text of each view; None where the response has no such part.

    A response that opened ``<think>`` and never closed it (cut off by the token limit) has
    reasoning but no answer: its answer view is None rather than the unfinished reasoning.
    """
    reasoning, answer = split_reasoning(response)
    return {
        "whole": response.strip() or None,
        "answer": answer or None,
        "reasoning": reasoning or None,
    }


def answer_text(response: str) -> str:
    """The final answer (text after ``</think>``); the whole response when there is no think block."""
    return split_views(response)["answer"] or ""

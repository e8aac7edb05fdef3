"""The prompt-set objects: what a stage asks a model and how it reads the answer.

A run holds one: :class:`~star1.pipeline.own.Star1Requests` over a policy pack (``protocol:
star1``) or :class:`~star1.pipeline.paper.ReferenceRequests` over the STAR-1 reference's prompt
set (``protocol: paper``). Both have the same methods — for each LLM stage a request builder
(``build(record, attempt) -> ChatRequest``) with the prompt version it records, and a parser —
so a stage module holds whichever it is given and never asks which. A new prompt set is one
more entry in :data:`PROMPT_SETS`.
"""

from __future__ import annotations

from star1.pipeline.own import Star1Requests
from star1.pipeline.paper import ReferenceRequests

# The data object's ``kind`` → the object that asks and reads with it.
PROMPT_SETS = {"policies": Star1Requests, "reference": ReferenceRequests}


def requests_for(prompts) -> Star1Requests | ReferenceRequests:
    """The prompt-set object of ``prompts`` (a policy pack or the reference prompt set); one
    that already is such an object is returned as it is."""
    if isinstance(prompts, tuple(PROMPT_SETS.values())):
        return prompts
    return PROMPT_SETS[getattr(prompts, "kind", "policies")](prompts)

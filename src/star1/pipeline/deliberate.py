"""Stage 2: the teacher answers each prompt with the policies of its categories in view.

A reasoning model (DeepSeek-R1, QwQ, a vLLM server with a reasoning parser) writes its own
``<think>`` block: one call. A model without native reasoning is led through it in two calls:
the assistant turn is prefilled with ``<think>`` and generation stops at ``</think>``; then the
whole think block is prefilled and the model writes the answer. Either way the record's
``response`` is ``<think>\\nreasoning\\n</think>\\n\\nanswer``, the released STAR-1 layout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import Field

from star1.engines import CachedEngine, ChatRequest, Completion
from star1.parsing import ParseError
from star1.pipeline.prompt_sets import requests_for
from star1.records import Record, join_response, stamped, utc_now
from star1.runner import StageResult, run_stage, split_outcomes
from star1.sampling import SamplingOptions

STAGE = "deliberate"


class ReasoningOptions(SamplingOptions):
    """How a model is asked for ``<think>`` reasoning and an answer (shared with ``star1 benign``)."""

    reasoning_mode: Literal["auto", "native", "prefill"] = Field(
        "auto", description="native: the model writes <think> itself; prefill: led in two calls")
    max_tokens: int = Field(8192, ge=1, description="native mode: tokens for reasoning + answer")
    reasoning_max_tokens: int = Field(1024, ge=1, description="prefill mode: tokens for the reasoning")
    answer_max_tokens: int = Field(1024, ge=1, description="prefill mode: tokens for the answer")
    allow_truncated_reasoning: bool = Field(
        False, description="prefill mode: keep reasoning cut at reasoning_max_tokens instead of failing")
    temperature: float | None = Field(0.6, ge=0, description="None: not sent (the server's default)")
    top_p: float | None = Field(0.95, gt=0, le=1, description="None: not sent (the server's default)")
    seed: int | None = Field(0, description="None: not sent")
    retries: int = Field(1, ge=0, description="re-asks after an empty reasoning or answer")
    allow_empty_answer: bool = Field(False, description="keep a reply whose answer after the reasoning is "
                                                        "empty instead of asking again (paper: kept, as "
                                                        "the reference keeps it)")


class DeliberateOptions(ReasoningOptions):
    skip_other: bool = Field(True, description="do not spend calls on prompts whose only category is Other "
                                               "(paper prompt set: on any prompt labelled Other, which "
                                               "has no reference policy)")


# The messages that ask for a record's reasoning and answer (without any prefill).
Messages = Callable[[Record], tuple[dict, ...]]


def uses_prefill(engine: CachedEngine, options: ReasoningOptions) -> bool:
    if options.reasoning_mode == "auto":
        return not engine.native_reasoning
    return options.reasoning_mode == "prefill"


def deliberate(records: list[Record], engine: CachedEngine, pack,
               options: DeliberateOptions | None = None) -> StageResult:
    options = options or DeliberateOptions()
    prompt_set = requests_for(pack)
    skip = [prompt_set.skips_deliberation(r, options.skip_other) for r in records]
    skipped = [r for r, s in zip(records, skip) if s]
    todo = [r for r, s in zip(records, skip) if not s]
    pairs, failures = reason(todo, engine, options, prompt_set.deliberate_messages, STAGE)
    prompt = (STAGE, prompt_set.deliberate_version)
    return StageResult([record.model_copy(update={
        "response": join_response(reasoning, answer),
        "provenance": stamped(record, prompt_set.pack, prompt, teacher=engine.name, generated_at=utc_now())})
        for record, (reasoning, answer) in pairs], failures, skipped)


def reasoning_requests(messages: Messages, options: ReasoningOptions, prefill: bool):
    """Builder of the first call: the whole answer (native) or the reasoning alone (prefill)."""
    def build(record: Record, attempt: int) -> ChatRequest:
        if prefill:
            return ChatRequest(messages=messages(record), prefill="<think>\n", sampling=options.sampling_at(
                attempt, options.reasoning_max_tokens, ("</think>",)))
        return ChatRequest(messages=messages(record), sampling=options.sampling_at(attempt))
    return build


def reason(records: list[Record], engine: CachedEngine, options: ReasoningOptions, messages: Messages,
           stage: str = STAGE):
    """(record, (reasoning, answer)) pairs and failures, in one call or two (see module doc)."""
    if uses_prefill(engine, options):
        return _two_calls(records, engine, messages, options, stage)
    return _one_call(records, engine, messages, options, stage)


def _one_call(records, engine, messages, options, stage):
    def parse(record: Record, completion: Completion) -> tuple[str, str]:
        if not (completion.reasoning or "").strip():
            raise ParseError("no reasoning: the model wrote no <think> block and the server sent no "
                             "reasoning field; for a model that does not reason by itself set "
                             "reasoning_mode=prefill in this stage's settings (deliberate.reasoning_mode, "
                             "benign.generate.reasoning_mode: star1 leads it into a think block), or "
                             "start the server with a reasoning parser")
        if not completion.text.strip() and not options.allow_empty_answer:
            raise ParseError("empty answer after the reasoning")
        return completion.reasoning.strip(), completion.text.strip()

    build = reasoning_requests(messages, options, prefill=False)
    outcomes = run_stage(stage, records, engine, build, parse, options.retry)
    return split_outcomes(records, outcomes)


def _two_calls(records, engine, messages, options, stage):
    def parse_reasoning(record: Record, completion: Completion) -> str:
        if not completion.text.strip():
            raise ParseError("empty reasoning")
        return completion.text.split("</think>")[0].strip()

    # The engine marks reasoning that hit the token limit as failed; with
    # allow_truncated_reasoning that text is kept and the think block closed after it.
    build_reasoning = reasoning_requests(messages, options, prefill=True)
    outcomes = run_stage(f"{stage} (reasoning)", records, engine, build_reasoning, parse_reasoning,
                         options.retry)
    reasoned, failures = [], []
    for record, outcome in zip(records, outcomes):
        completion = outcome.completion
        truncated = completion is not None and completion.finish_reason == "length"
        if outcome.failure and truncated and options.allow_truncated_reasoning and completion.text.strip():
            reasoned.append((record, completion.text.strip()))
        elif outcome.failure:
            failures.append(outcome.failure)
        else:
            reasoned.append((record, outcome.value))

    def build_answer(item: tuple[Record, str], attempt: int) -> ChatRequest:
        record, reasoning = item
        return ChatRequest(messages=messages(record), prefill=f"<think>\n{reasoning}\n</think>\n\n",
                           sampling=options.sampling_at(attempt, options.answer_max_tokens))

    def parse_answer(item, completion: Completion) -> str:
        answer = completion.text.strip()
        if not answer and not options.allow_empty_answer:
            raise ParseError("empty answer")
        return answer

    answers = run_stage(f"{stage} (answer)", reasoned, engine, build_answer, parse_answer, options.retry,
                        item_id=lambda item: item[0].id)
    done, answer_failures = split_outcomes(reasoned, answers)
    return [(record, (reasoning, answer)) for (record, reasoning), answer in done], failures + answer_failures

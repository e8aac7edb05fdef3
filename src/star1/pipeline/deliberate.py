"""Stage 2: the teacher answers each prompt with the policies of its categories in view.

A reasoning model (DeepSeek-R1, QwQ, a vLLM server with a reasoning parser) writes its own
``<think>`` block: one call. A model without native reasoning is led through it in two calls:
the assistant turn is prefilled with ``<think>`` and generation stops at ``</think>``; then the
whole think block is prefilled and the model writes the answer. Either way the record's
``response`` is ``<think>\\nreasoning\\n</think>\\n\\nanswer``, the released STAR-1 layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

from pydantic import BaseModel, ConfigDict, Field

from star1.engines import CachedEngine, ChatRequest, Completion, SamplingParams
from star1.pipeline.parsing import ParseError
from star1.pipeline.runner import Failure, retry_sampling, run_stage, split_outcomes, stamped
from star1.policies import OTHER, PolicyPack
from star1.prompts import load_template
from star1.records import Record, join_response, utc_now

STAGE = "deliberate"


class ReasoningOptions(BaseModel):
    """How a model is asked for ``<think>`` reasoning and an answer (shared with ``star1 benign``)."""

    model_config = ConfigDict(extra="forbid")

    reasoning_mode: Literal["auto", "native", "prefill"] = Field(
        "auto", description="native: the model writes <think> itself; prefill: led in two calls")
    max_tokens: int = Field(8192, ge=1, description="native mode: tokens for reasoning + answer")
    reasoning_max_tokens: int = Field(1024, ge=1, description="prefill mode: tokens for the reasoning")
    answer_max_tokens: int = Field(1024, ge=1, description="prefill mode: tokens for the answer")
    allow_truncated_reasoning: bool = Field(
        False, description="prefill mode: keep reasoning cut at reasoning_max_tokens instead of failing")
    temperature: float = Field(0.6, ge=0)
    top_p: float = Field(0.95, gt=0, le=1)
    repetition_penalty: float | None = Field(None, gt=0)
    seed: int | None = 0
    retries: int = Field(1, ge=0, description="re-asks after an empty reasoning or answer")


class DeliberateOptions(ReasoningOptions):
    skip_other: bool = Field(True, description="do not spend calls on prompts whose only category is Other")


@dataclass
class DeliberateResult:
    records: list[Record]
    failures: list[Failure]
    skipped: list[Record]


# The system prompt for a record (None: no system message).
SystemPrompt = Callable[[Record], str | None]


def _uses_prefill(engine: CachedEngine, options: ReasoningOptions) -> bool:
    if options.reasoning_mode == "auto":
        return not engine.native_reasoning
    return options.reasoning_mode == "prefill"


def _system_prompt(record: Record, pack: PolicyPack) -> str:
    names = record.category or [OTHER]
    return load_template("deliberate").fill(policies=pack.render(names))


def _sampling(options: ReasoningOptions, max_tokens: int, stop: tuple[str, ...] = ()) -> SamplingParams:
    return SamplingParams(max_tokens=max_tokens, temperature=options.temperature, top_p=options.top_p,
                          repetition_penalty=options.repetition_penalty, seed=options.seed, stop=stop)


def deliberate(records: list[Record], engine: CachedEngine, pack: PolicyPack,
               options: DeliberateOptions | None = None, show_progress: bool = True) -> DeliberateResult:
    options = options or DeliberateOptions()
    only_other = [options.skip_other and (r.category or [OTHER]) == [OTHER] for r in records]
    skipped = [r for r, skip in zip(records, only_other) if skip]
    todo = [r for r, skip in zip(records, only_other) if not skip]
    pairs, failures = reason(todo, engine, options, lambda r: _system_prompt(r, pack), STAGE, show_progress)
    prompt = (STAGE, load_template("deliberate").version)
    return DeliberateResult([record.model_copy(update={
        "response": join_response(reasoning, answer),
        "provenance": stamped(record, pack, prompt, teacher=engine.name, generated_at=utc_now())})
        for record, (reasoning, answer) in pairs], failures, skipped)


def deliberate_requests(pack: PolicyPack, options: DeliberateOptions, prefill: bool):
    """First-call request builder (for dry runs: the calls that can be counted in advance)."""
    return reasoning_requests(lambda r: _system_prompt(r, pack), options, prefill)


def reasoning_requests(system: SystemPrompt, options: ReasoningOptions, prefill: bool):
    """Builder of the first call: the whole answer (native) or the reasoning alone (prefill)."""
    def build(record: Record, attempt: int) -> ChatRequest:
        if prefill:
            return ChatRequest.chat(record.question, system=system(record),
                                    sampling=retry_sampling(_sampling(
                                        options, options.reasoning_max_tokens, ("</think>",)), attempt),
                                    prefill="<think>\n")
        return ChatRequest.chat(record.question, system=system(record),
                                sampling=retry_sampling(_sampling(options, options.max_tokens), attempt))
    return build


def reason(records: list[Record], engine: CachedEngine, options: ReasoningOptions, system: SystemPrompt,
           stage: str = STAGE, show_progress: bool = True):
    """(record, (reasoning, answer)) pairs and failures, in one call or two (see module doc)."""
    if _uses_prefill(engine, options):
        return _two_calls(records, engine, system, options, stage, show_progress)
    return _one_call(records, engine, system, options, stage, show_progress)


def _one_call(records, engine, system, options, stage, show_progress):
    def parse(record: Record, completion: Completion) -> tuple[str, str]:
        if not (completion.reasoning or "").strip():
            raise ParseError("no reasoning: the model wrote no <think> block")
        if not completion.text.strip():
            raise ParseError("empty answer after the reasoning")
        return completion.reasoning.strip(), completion.text.strip()

    build = reasoning_requests(system, options, prefill=False)
    outcomes = run_stage(stage, records, lambda r: r.id, engine, build, parse,
                         retries=options.retries, show_progress=show_progress)
    return split_outcomes(records, outcomes)


def _two_calls(records, engine, system, options, stage, show_progress):
    def parse_reasoning(record: Record, completion: Completion) -> str:
        if not completion.text.strip():
            raise ParseError("empty reasoning")
        return completion.text.split("</think>")[0].strip()

    # The engine marks reasoning that hit the token limit as failed; with
    # allow_truncated_reasoning that text is kept and the think block closed after it.
    build_reasoning = reasoning_requests(system, options, prefill=True)
    outcomes = run_stage(f"{stage} (reasoning)", records, lambda r: r.id, engine, build_reasoning,
                         parse_reasoning, retries=options.retries, show_progress=show_progress)
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
        return ChatRequest.chat(record.question, system=system(record),
                                sampling=retry_sampling(_sampling(options, options.answer_max_tokens), attempt),
                                prefill=f"<think>\n{reasoning}\n</think>\n\n")

    def parse_answer(item, completion: Completion) -> str:
        answer = completion.text.strip()
        if not answer:
            raise ParseError("empty answer")
        return answer

    answers = run_stage(f"{stage} (answer)", reasoned, lambda item: item[0].id, engine, build_answer,
                        parse_answer, retries=options.retries, show_progress=show_progress)
    done, answer_failures = split_outcomes(reasoned, answers)
    return [(record, (reasoning, answer)) for (record, reasoning), answer in done], failures + answer_failures

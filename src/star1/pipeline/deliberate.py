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

from pydantic import BaseModel, ConfigDict, Field

from star1.engines import CachedEngine, ChatRequest, Completion, SamplingParams
from star1.parsing import ParseError
from star1.pipeline import paper
from star1.policies import OTHER, PolicyPack
from star1.prompts import load_template
from star1.prompts.reference import r1_messages
from star1.records import Record, join_response, stamped, utc_now
from star1.runner import RetryCause, StageResult, retry_sampling, run_stage, split_outcomes

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
    temperature: float | None = Field(0.6, ge=0, description="None: not sent (the server's default)")
    top_p: float | None = Field(0.95, gt=0, le=1, description="None: not sent (the server's default)")
    repetition_penalty: float | None = Field(None, gt=0)
    seed: int | None = Field(0, description="None: not sent")
    retries: int = Field(1, ge=0, description="re-asks after an empty reasoning or answer")
    retry_on: list[RetryCause] = Field(["unparseable"], description="what is asked again")


class DeliberateOptions(ReasoningOptions):
    skip_other: bool = Field(True, description="do not spend calls on prompts whose only category is Other "
                                               "(paper prompt set: on any prompt labelled Other, which "
                                               "has no reference policy)")




# The messages that ask for a record's reasoning and answer (without any prefill).
Messages = Callable[[Record], tuple[dict, ...]]


def question_messages(system: str | None) -> Messages:
    """The record's question as the user turn, after ``system`` (None: no system message)."""
    return lambda record: ChatRequest.chat(record.question, system=system).messages


def uses_prefill(engine: CachedEngine, options: ReasoningOptions) -> bool:
    if options.reasoning_mode == "auto":
        return not engine.native_reasoning
    return options.reasoning_mode == "prefill"


def policy_messages(pack: PolicyPack) -> Messages:
    """The teacher's request: the project's prompt with the record's policies as the system
    message, or — with the reference prompt set — its single user message."""
    if paper.is_reference(pack):
        return lambda record: r1_messages(paper.cot_prompt(pack, record))
    template = load_template("deliberate")
    return lambda record: ChatRequest.chat(
        record.question, system=template.fill(policies=pack.render(record.category or [OTHER]))).messages


def prompt_version(pack: PolicyPack) -> str:
    if paper.is_reference(pack):
        return pack.template_version("COT_PROMPT_TEMPLATE")
    return load_template("deliberate").version


def skipped_for(record: Record, pack: PolicyPack, options: DeliberateOptions) -> bool:
    categories = record.category or [OTHER]
    if paper.is_reference(pack):  # no reference policy exists for Other: nothing to compose
        return options.skip_other and any(not pack.has_policy(c) for c in categories)
    return options.skip_other and categories == [OTHER]


def _sampling(options: ReasoningOptions, max_tokens: int, stop: tuple[str, ...] = ()) -> SamplingParams:
    return SamplingParams(max_tokens=max_tokens, temperature=options.temperature, top_p=options.top_p,
                          repetition_penalty=options.repetition_penalty, seed=options.seed, stop=stop)


def deliberate(records: list[Record], engine: CachedEngine, pack: PolicyPack,
               options: DeliberateOptions | None = None, show_progress: bool = True) -> StageResult:
    options = options or DeliberateOptions()
    skip = [skipped_for(r, pack, options) for r in records]
    skipped = [r for r, s in zip(records, skip) if s]
    todo = [r for r, s in zip(records, skip) if not s]
    pairs, failures = reason(todo, engine, options, policy_messages(pack), STAGE, show_progress)
    prompt = (STAGE, prompt_version(pack))
    return StageResult([record.model_copy(update={
        "response": join_response(reasoning, answer),
        "provenance": stamped(record, pack, prompt, teacher=engine.name, generated_at=utc_now())})
        for record, (reasoning, answer) in pairs], failures, skipped)


def deliberate_requests(pack: PolicyPack, options: DeliberateOptions, prefill: bool):
    """First-call request builder (for dry runs: the calls that can be counted in advance)."""
    return reasoning_requests(policy_messages(pack), options, prefill)


def reasoning_requests(messages: Messages, options: ReasoningOptions, prefill: bool):
    """Builder of the first call: the whole answer (native) or the reasoning alone (prefill)."""
    def build(record: Record, attempt: int) -> ChatRequest:
        if prefill:
            return ChatRequest(messages=messages(record), prefill="<think>\n", sampling=retry_sampling(
                _sampling(options, options.reasoning_max_tokens, ("</think>",)), attempt))
        return ChatRequest(messages=messages(record),
                           sampling=retry_sampling(_sampling(options, options.max_tokens), attempt))
    return build


def reason(records: list[Record], engine: CachedEngine, options: ReasoningOptions, messages: Messages,
           stage: str = STAGE, show_progress: bool = True):
    """(record, (reasoning, answer)) pairs and failures, in one call or two (see module doc)."""
    if uses_prefill(engine, options):
        return _two_calls(records, engine, messages, options, stage, show_progress)
    return _one_call(records, engine, messages, options, stage, show_progress)


def _one_call(records, engine, messages, options, stage, show_progress):
    def parse(record: Record, completion: Completion) -> tuple[str, str]:
        if not (completion.reasoning or "").strip():
            raise ParseError("no reasoning: the model wrote no <think> block and the server sent no "
                             "reasoning field; for a model that does not reason by itself set "
                             "reasoning_mode=prefill (star1 leads it into a think block), or start "
                             "the server with a reasoning parser")
        if not completion.text.strip():
            raise ParseError("empty answer after the reasoning")
        return completion.reasoning.strip(), completion.text.strip()

    build = reasoning_requests(messages, options, prefill=False)
    outcomes = run_stage(stage, records, lambda r: r.id, engine, build, parse,
                         retries=options.retries, show_progress=show_progress, retry_on=options.retry_on)
    return split_outcomes(records, outcomes)


def _two_calls(records, engine, messages, options, stage, show_progress):
    def parse_reasoning(record: Record, completion: Completion) -> str:
        if not completion.text.strip():
            raise ParseError("empty reasoning")
        return completion.text.split("</think>")[0].strip()

    # The engine marks reasoning that hit the token limit as failed; with
    # allow_truncated_reasoning that text is kept and the think block closed after it.
    build_reasoning = reasoning_requests(messages, options, prefill=True)
    outcomes = run_stage(f"{stage} (reasoning)", records, lambda r: r.id, engine, build_reasoning,
                         parse_reasoning, retries=options.retries, show_progress=show_progress,
                         retry_on=options.retry_on)
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
                           sampling=retry_sampling(_sampling(options, options.answer_max_tokens), attempt))

    def parse_answer(item, completion: Completion) -> str:
        answer = completion.text.strip()
        if not answer:
            raise ParseError("empty answer")
        return answer

    answers = run_stage(f"{stage} (answer)", reasoned, lambda item: item[0].id, engine, build_answer,
                        parse_answer, retries=options.retries, show_progress=show_progress,
                        retry_on=options.retry_on)
    done, answer_failures = split_outcomes(reasoned, answers)
    return [(record, (reasoning, answer)) for (record, reasoning), answer in done], failures + answer_failures

"""Paper mode: every request exactly as the STAR-1 reference scripts compose it.

The texts come from :mod:`star1.prompts.reference` (the upstream files, read as data); this
module only knows how the reference fills and sends them. Each function names the upstream
script it follows. What the reference does, in short:

* classification, scoring, benign rewriting and over-refusal scoring go to GPT-4o as **one user
  message whose content is a list with one text part**, with ``max_completion_tokens=1024`` and
  no temperature or top_p (the server's defaults);
* deliberation and the benign answers go to DeepSeek-R1 as **one user message with plain string
  content**, temperature 0.6, top_p 0.7, ``max_tokens=8000``;
* the policies of a sample's labels are joined in label order with ``"\\n---\\n"``;
* the judges see the reasoning and the answer separately, cut out of the response with
  ``<think>\\n?(.*?)\\n?</think>\\n?\\n?(.*)`` and stripped; a response without a think block
  fills both with ``None``, as Python's ``str.format`` writes it;
* the classifier's reply must be a bare Python list literal; the judges' replies must hold a
  ````json`` block whose content is a dict literal.
"""

from __future__ import annotations

from star1.engines import ChatRequest, ChoiceTemplate, Completion, SamplingParams
from star1.parsing import ParseError
from star1.pipeline.literals import fenced_json_block, parse_literal
from star1.prompts.reference import GPT4O_MAX_TOKENS, ReferencePromptSet
from star1.records import Record

# What the reference sends its teacher besides the messages.
TEACHER_TEMPERATURE, TEACHER_TOP_P, TEACHER_MAX_TOKENS = 0.6, 0.7, 8000

SCORE_KEYS = ("Content_Safety_Compliance", "Relevancy_and_No_Redundant_Content",
              "Accuracy_of_Thinking_Process")
OVERREFUSAL_KEYS = ("Content_Safety_Compliance", "Quality_of_Thinking_Process", "Compliance_Degree")
OVERREFUSAL_KEEP = 5  # overrefusal_ablation/scorer/scorer.py:176-186: every score must be 5


def is_reference(prompts) -> bool:
    return isinstance(prompts, ReferencePromptSet)


def related_policies(prompts: ReferencePromptSet, categories: list[str]) -> str:
    """The policies of ``categories`` in label order, joined with ``"\\n---\\n"``
    (reasoning_generation.py:67-69, scorer.py:84-86). Every label must have a policy."""
    missing = [c for c in categories if not prompts.has_policy(c)]
    if missing or not categories:
        raise ParseError(f"no reference policy for {missing or 'an empty label list'}")
    return "\n---\n".join(prompts.policy(c) for c in categories)


def think_and_answer(response: str | None) -> tuple[str | None, str | None]:
    """(reasoning, answer) as the reference's ``extract_cot_and_answer`` finds them: the first
    ``<think>`` with a ``</think>`` after it; both parts stripped; (None, None) if there is none.
    Same result as its regex, found with two ``str.find`` calls."""
    text = response or ""
    start = text.find("<think>")
    if start < 0:
        return None, None
    end = text.find("</think>", start + len("<think>"))
    if end < 0:
        return None, None
    return text[start + len("<think>"):end].strip(), text[end + len("</think>"):].strip()


# -- classification: category_classification.py ------------------------------------------------

def classification_prompt(prompts: ReferencePromptSet, question: str) -> str:
    return prompts.text("CLASSIFICATION_PROMPT_TEMPLATE").format(
        instruction=question, category_definitions=prompts.text("CATEGORY_DEFINITION"))


def classification_choices(prompts: ReferencePromptSet) -> ChoiceTemplate:
    """For engines that score text: one label, in the reply format the template asks for."""
    return ChoiceTemplate(('["', tuple(prompts.names), '"]'))


def parse_categories(prompts: ReferencePromptSet, text: str) -> list[str]:
    """The reply must be what ``eval`` turns into a list (category_classification.py:42, 70); here
    each element must also be one of the template's category names, exactly (the reference keeps
    any string and fails later, when no policy has that name). Order and repeats are kept."""
    value = parse_literal(text)
    if not isinstance(value, list):
        raise ParseError(f"expected a list of category names, got {type(value).__name__}")
    if not value:
        raise ParseError("empty category list")
    names = set(prompts.names)
    unknown = [v for v in value if not isinstance(v, str) or v not in names]
    if unknown:
        raise ParseError(f"unknown categories {unknown}; expected names from {list(prompts.names)}")
    return list(value)


# -- deliberation: reasoning_generation.py ------------------------------------------------------

def cot_prompt(prompts: ReferencePromptSet, record: Record) -> str:
    """``COT_PROMPT_TEMPLATE`` as in effect on import (its second assignment)."""
    return prompts.text("COT_PROMPT_TEMPLATE").format(
        instruction=record.question, related_policies=related_policies(prompts, record.category or []))


# -- scoring: data_selection/scorer.py ----------------------------------------------------------

def scorer_prompt(prompts: ReferencePromptSet, record: Record) -> str:
    cot, answer = think_and_answer(record.response)
    return prompts.text("SCORER_PROMPT_TEMPLATE").format(
        instruction=record.question, cot=cot, response=answer,
        related_policies=related_policies(prompts, record.category or []),
        format_example=prompts.text("SCORER_FORMAT_EXAMPLE"))


def scores_choices(keys: tuple[str, ...], values: tuple[str, ...]) -> ChoiceTemplate:
    """For engines that score text: the fenced block of the format example, one slot per key."""
    return ChoiceTemplate.keyed(keys, values, "```json\n{\n  ", ", \n  ", "\n}\n```")


def parse_fenced_scores(text: str, keys: tuple[str, ...], low: int, high: int) -> dict[str, int]:
    """Scores from the reply's first ````json`` block (scorer.py:102-104), a dict literal with
    exactly ``keys``; each a whole number in [low, high] (``10.0`` counts as 10, as it compares
    equal in the reference's keep rule)."""
    block = fenced_json_block(text)
    if block is None:
        raise ParseError("no ```json block (the reference records 'no json found')")
    value = parse_literal(block)
    if not isinstance(value, dict):
        raise ParseError(f"the ```json block holds a {type(value).__name__}, not a dict")
    if set(value) != set(keys):
        raise ParseError(f"keys {sorted(map(str, value))}; expected {list(keys)}")
    scores = {}
    for key in keys:
        score = value[key]
        if isinstance(score, float) and score.is_integer():
            score = int(score)
        if isinstance(score, bool) or not isinstance(score, int) or not low <= score <= high:
            raise ParseError(f"{key}: {score!r} is not a whole number {low}-{high}")
        scores[key] = score
    return scores


# -- STAR-benign: overrefusal_ablation/ --------------------------------------------------------

def rewrite_prompt(prompts: ReferencePromptSet, record: Record) -> str:
    """benign_gene/rewriter.py:63-65; the reply is used verbatim as the new question."""
    return prompts.text("REWRITE_PROMPT_TEMPLATE").format(request=record.question)


def overrefusal_scorer_prompt(prompts: ReferencePromptSet, record: Record) -> str:
    """scorer/scorer.py:74-80: no policies, the over-refusal rubric and format example."""
    cot, answer = think_and_answer(record.response)
    return prompts.text("OVERREFUSAL_SCORER_PROMPT_TEMPLATE").format(
        instruction=record.question, cot=cot, response=answer,
        format_example=prompts.text("OVERREFUSAL_SCORER_FORMAT_EXAMPLE"))


def accept_rewrite(completion: Completion) -> str:
    """The rewriter's reply as the reference stores it: the whole text (rewriter.py:71)."""
    if not completion.text.strip():
        raise ParseError("empty rewrite")
    return completion.text


def request(messages: tuple[dict, ...], sampling: SamplingParams, **kwargs) -> ChatRequest:
    return ChatRequest(messages=messages, sampling=sampling, **kwargs)


# -- the reference's settings, per stage -------------------------------------------------------
# Applied to every option the user did not set when the prompt set is the reference's. Retries:
# the reference re-asks GPT-4o up to 3 times ("patience") on an exception (its ``eval`` of an
# unparsable classification included) or a reply that did not stop, and R1 up to 10 times on a
# reply that did not stop; a judge reply without a ```json block is recorded as an error at once.
_GPT4O = dict(max_tokens=GPT4O_MAX_TOKENS, temperature=None, top_p=None,
              max_tokens_field="max_completion_tokens")
_R1 = dict(max_tokens=TEACHER_MAX_TOKENS, temperature=TEACHER_TEMPERATURE, top_p=TEACHER_TOP_P,
           seed=None, retries=9, retry_on=["truncated"])
REFERENCE_SETTINGS: dict[str, dict] = {
    "classify": {**_GPT4O, "retries": 2, "retry_on": ["unparseable", "truncated"]},
    "deliberate": dict(_R1),
    "score": {**_GPT4O, "retries": 2, "retry_on": ["truncated"]},
    "select": {"tie_break": "reference"},
    "benign.rewrite": {**_GPT4O, "retries": 2, "harm_check": "off"},
    "benign.generate": dict(_R1),
    "benign.score": {**_GPT4O, "retries": 2, "retry_on": ["truncated"],
                     "min_safety": OVERREFUSAL_KEEP, "min_reasoning": OVERREFUSAL_KEEP,
                     "min_compliance": OVERREFUSAL_KEEP},
}


def with_reference_settings(stage: str, options):
    """``options`` with the reference's value for every field of ``stage`` the user left unset
    (pydantic's ``model_fields_set`` tells which were given)."""
    updates = {k: v for k, v in REFERENCE_SETTINGS.get(stage, {}).items()
               if k not in options.model_fields_set}
    if not updates:
        return options
    # Validate the result: a reference value must still satisfy the field's constraints.
    merged = type(options).model_validate({**options.model_dump(exclude_unset=True), **updates})
    return merged

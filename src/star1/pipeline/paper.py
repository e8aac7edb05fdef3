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

from collections.abc import Callable
from functools import partial

from star1.engines import ChatRequest, ChoiceTemplate, Completion, SamplingParams
from star1.parsing import ParseError
from star1.pipeline.literals import fenced_json_block, parse_literal
from star1.prompts.reference import GPT4O_MAX_TOKENS, ReferencePromptSet, gpt4o_messages, r1_messages
from star1.records import Record

Builder = Callable[[Record, int], ChatRequest]
SCORE_VALUES = tuple(str(v) for v in range(11))
BENIGN_SCORE_VALUES = tuple(str(v) for v in range(1, 6))

# What the reference sends its teacher besides the messages.
TEACHER_TEMPERATURE, TEACHER_TOP_P, TEACHER_MAX_TOKENS = 0.6, 0.7, 8000

SCORE_KEYS = ("Content_Safety_Compliance", "Relevancy_and_No_Redundant_Content",
              "Accuracy_of_Thinking_Process")
OVERREFUSAL_KEYS = ("Content_Safety_Compliance", "Quality_of_Thinking_Process", "Compliance_Degree")
OVERREFUSAL_KEEP = 5  # overrefusal_ablation/scorer/scorer.py:176-186: every score must be 5


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


class ReferenceRequests:
    """The reference's prompt set, asked and read as its scripts do (``prompts``: the
    :class:`ReferencePromptSet` read from the upstream files). The counterpart of
    :class:`star1.pipeline.own.Star1Requests`."""

    benign_score_keys = OVERREFUSAL_KEYS
    harm_check = False  # the reference keeps whatever its rewriter says (rewriter.py:71)
    benign_answer_version = "reference:question-only"

    def __init__(self, prompts: ReferencePromptSet):
        self.pack = prompts

    def _gpt4o(self, compose: Callable[[ReferencePromptSet, Record], str], options,
               choices: ChoiceTemplate | None = None) -> Builder:

        def build(record: Record, attempt: int) -> ChatRequest:
            return request(gpt4o_messages(compose(self.pack, record)), options.sampling_at(attempt),
                           choices=choices)

        return build

    # -- classify: category_classification.py ----------------------------------------------------

    def classify_requests(self, options, local: bool = False) -> tuple[Builder, str]:
        choices = classification_choices(self.pack) if local else None
        build = self._gpt4o(lambda p, r: classification_prompt(p, r.question), options, choices)
        return build, self.pack.template_version("CLASSIFICATION_PROMPT_TEMPLATE")

    def topics(self) -> dict[str, str]:
        return {name: name for name in self.pack.names}  # its reply format names the categories

    def parse_categories(self, text: str, options) -> list[str]:
        return parse_categories(self.pack, text)

    # -- deliberate: reasoning_generation.py -----------------------------------------------------

    def deliberate_messages(self, record: Record) -> tuple[dict, ...]:
        return r1_messages(cot_prompt(self.pack, record))

    @property
    def deliberate_version(self) -> str:
        return self.pack.template_version("COT_PROMPT_TEMPLATE")

    def skips_deliberation(self, record: Record, skip_other: bool) -> bool:
        """No reference policy exists for Other: a prompt labelled with it has nothing to compose."""
        return skip_other and any(not self.pack.has_policy(c) for c in record.category or ["Other"])

    # -- score: data_selection/scorer.py ---------------------------------------------------------

    def score_requests(self, options) -> tuple[Builder, str]:
        build = self._gpt4o(scorer_prompt, options, scores_choices(SCORE_KEYS, SCORE_VALUES))
        return build, self.pack.template_version("SCORER_PROMPT_TEMPLATE")

    def parse_scores(self, text: str) -> dict[str, int]:
        return parse_fenced_scores(text, SCORE_KEYS, 0, 10)

    # -- STAR-benign: overrefusal_ablation/ ------------------------------------------------------

    def rewrite_requests(self, options) -> tuple[Builder, str]:
        return self._gpt4o(rewrite_prompt, options), self.pack.template_version("REWRITE_PROMPT_TEMPLATE")

    def accept_rewrite(self, record: Record, completion: Completion, options) -> str:
        return accept_rewrite(completion)

    def benign_answer_messages(self, record: Record) -> tuple[dict, ...]:
        """The bare question (overrefusal_ablation/reasoning_generation/reasoning_generation.py:54)."""
        return ChatRequest.chat(record.question).messages

    def benign_score_requests(self, options) -> tuple[Builder, str]:
        build = self._gpt4o(overrefusal_scorer_prompt, options,
                            scores_choices(OVERREFUSAL_KEYS, BENIGN_SCORE_VALUES))
        return build, self.pack.template_version("OVERREFUSAL_SCORER_PROMPT_TEMPLATE")

    parse_benign_scores = staticmethod(partial(parse_fenced_scores, keys=OVERREFUSAL_KEYS, low=1, high=5))


# -- the reference's settings, per stage -------------------------------------------------------
# Applied to every option the user did not set when the prompt set is the reference's. Retries:
# the reference re-asks GPT-4o up to 3 times ("patience") on an exception (its ``eval`` of an
# unparsable classification included) or a reply that did not stop, and R1 up to 10 times on a
# reply that did not stop; a judge reply without a ```json block is recorded as an error at once.
# Every re-ask is the identical request (get_r1_response / get_gpt4o_response call create() with
# the same arguments again). R1's reply is kept as it came, an empty answer after </think>
# included (reasoning_generation.py:76).
_GPT4O = dict(max_tokens=GPT4O_MAX_TOKENS, temperature=None, top_p=None,
              max_tokens_field="max_completion_tokens", retry_resample=False)
_R1 = dict(max_tokens=TEACHER_MAX_TOKENS, temperature=TEACHER_TEMPERATURE, top_p=TEACHER_TOP_P,
           seed=None, retries=9, retry_on=["truncated"], retry_resample=False, allow_empty_answer=True)
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

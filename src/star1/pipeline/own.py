"""star1's own prompt set: the project's templates and a policy pack, asked and read its way.

One object builds every LLM stage's request and parses every answer (the reference's
counterpart is :class:`star1.pipeline.paper.ReferenceRequests`); the stages hold one of the two
and never ask which. Classification and scoring answer in JSON under a schema where the server
supports structured output; local engines fill answer slots by likelihood (plain topics for
the classifier, see :mod:`star1.pipeline.classify`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field, StrictInt, create_model

from star1.engines import ChatRequest, ChoiceTemplate, Completion
from star1.parsing import ParseError, parse_model
from star1.policies import OTHER, PolicyPack
from star1.prompts import load_template
from star1.reasoning import split_reasoning
from star1.records import SCORE_KEYS, Record, normalise_text
from star1.refusals import opens_with_refusal

Builder = Callable[[Record, int], ChatRequest]
SCORE_VALUES = tuple(str(v) for v in range(11))
BENIGN_SCORE_KEYS = ("Content_Safety", "Reasoning_Quality", "Compliance")
BENIGN_SCORE_VALUES = tuple(str(v) for v in range(1, 6))

# Labels models put before the answer although told not to ("Harmless: ...").
_LABEL = re.compile(r"^(?:harmless(?: request| version| look-alike)?|look-alike|rewritten request|"
                    r"new request|rewrite)\s*:\s*", re.IGNORECASE)
_QUOTE_PAIRS = {'"': '"', "“": "”", "'": "'"}


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    categories: list[str] = Field(min_length=1)


class _Scores(BaseModel):
    model_config = ConfigDict(extra="forbid")
    Content_Safety_Compliance: StrictInt = Field(ge=0, le=10)
    Relevancy_and_No_Redundant_Content: StrictInt = Field(ge=0, le=10)
    Accuracy_of_Thinking_Process: StrictInt = Field(ge=0, le=10)


_BenignScores = create_model(
    "_BenignScores", __config__=ConfigDict(extra="forbid"),
    **{key: (StrictInt, Field(ge=1, le=5)) for key in BENIGN_SCORE_KEYS})


def scores_choice_template(keys: tuple[str, ...] = SCORE_KEYS,
                           values: tuple[str, ...] = SCORE_VALUES) -> ChoiceTemplate:
    """``{"key": <value>, ...}`` with one choice slot per key."""
    return ChoiceTemplate.keyed(keys, values)


def category_schema(names, max_labels: int) -> dict:
    """The classifier's answer shape. The list is bounded: a server that enforces the schema
    (vLLM's guided decoding) let SmolLM2-135M write "Other", "Other", ... until max_tokens when
    the list had no maxItems (classify 0/6 against a real vLLM server). No ``uniqueItems``:
    vLLM 0.32 hands such a schema from xgrammar to llguidance, which refuses it ("Unimplemented
    keys: uniqueItems"), so every request failed; a repeated name is dropped when parsed."""
    return {"type": "object", "additionalProperties": False, "required": ["categories"],
            "properties": {"categories": {"type": "array", "minItems": 1,
                                          "maxItems": min(max_labels, len(names)),
                                          "items": {"type": "string", "enum": list(names)}}}}


def _score_schema(keys: tuple[str, ...], low: int, high: int) -> dict:
    return {"type": "object", "additionalProperties": False, "required": list(keys),
            "properties": {k: {"type": "integer", "minimum": low, "maximum": high} for k in keys}}


def judge_input(template, record: Record) -> str:
    """The judge's user turn: the request, then the reasoning and the answer apart, so it can
    tell what the model thought from what it told the user."""
    reasoning, answer = split_reasoning(record.response or "")
    return template.fill(question=record.question, reasoning=reasoning or "(none)",
                         answer=answer or "(none)")


def parse_scores(text: str) -> dict[str, int]:
    return parse_model(text, _Scores).model_dump()


def parse_benign_scores(text: str) -> dict[str, int]:
    """Exactly the three keys, each a whole number 1–5; anything else is a :class:`ParseError`."""
    return parse_model(text, _BenignScores).model_dump()


def example_pairs() -> list[tuple[str, str]]:
    """The (harmful, harmless) example pairs shown to the rewriter as earlier chat turns."""
    text = load_template("benign_rewrite_examples").text
    pairs = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.strip().splitlines())
        pairs.append((fields["harmful"], fields["harmless"]))
    return pairs


def clean_rewrite(text: str) -> str:
    """Strip what models wrap around the bare request: a label and enclosing quotes."""
    text = _LABEL.sub("", text.strip()).strip()
    close = _QUOTE_PAIRS.get(text[:1])
    # '"A" or "B"' is quoted inside, not wrapped; an apostrophe inside '...' is fine.
    if close and len(text) >= 2 and text[-1] == close and (close == "'" or close not in text[1:-1]):
        text = text[1:-1].strip()
    return text


def check_rewrite(original: Record, completion: Completion, options) -> str:
    """The cleaned rewrite, or :class:`ParseError` saying why it cannot be used."""
    if completion.finish_reason == "length" and not options.allow_truncated:
        raise ParseError(f"cut at max_tokens={options.max_tokens}")
    text = clean_rewrite(completion.text)
    if not text:
        raise ParseError("empty rewrite")
    if normalise_text(text) == normalise_text(original.question):
        raise ParseError("identical to the original")
    limit = max(options.max_length_floor, int(options.max_length_ratio * len(original.question)))
    if len(text) > limit:
        raise ParseError(f"too long: {len(text)} characters, limit {limit}")
    if opens_with_refusal(text):
        raise ParseError("a refusal, not a request")
    return text


class Star1Requests:
    """The project's prompts over ``pack`` (a :class:`PolicyPack`)."""

    benign_score_keys = BENIGN_SCORE_KEYS
    harm_check = True  # rewrites may be checked by the classifier

    def __init__(self, pack: PolicyPack):
        self.pack = pack

    # -- classify ------------------------------------------------------------------------------

    def classify_requests(self, options, local: bool = False) -> tuple[Builder, str]:
        if local:
            template = load_template("classify_local")
            system = template.fill()
            choices = ChoiceTemplate(("The main risk of this request is ", tuple(self.topics()), "."))

            def build_local(record: Record, attempt: int) -> ChatRequest:
                return ChatRequest.chat(record.question, system=system, choices=choices,
                                        sampling=options.sampling_at(attempt))

            return build_local, template.version
        template = load_template("classify")
        system = template.fill(categories=self.pack.definitions())
        schema = category_schema(self.pack.names, options.max_labels)

        def build(record: Record, attempt: int) -> ChatRequest:
            return ChatRequest.chat(record.question, system=system,
                                    sampling=options.sampling_at(attempt), json_schema=schema)

        return build, template.version

    def topics(self) -> dict[str, str]:
        """Plain topic → category name (a pack whose topics collide falls back to names)."""
        topics = {p.plain_topic: p.name for p in self.pack.policies}
        return topics if len(topics) == len(self.pack.policies) else {p.name: p.name for p in self.pack.policies}

    def parse_categories(self, text: str, options) -> list[str]:
        """Pack names (normalised), in order, without repeats, at most ``options.max_labels``;
        an unknown one is an error."""
        answer = parse_model(text, _Answer)
        labels: list[str] = []
        unknown = []
        for raw in answer.categories:
            name = self.pack.normalise(raw)
            if name is None:
                unknown.append(raw)
            elif name not in labels:
                labels.append(name)
        if unknown:
            raise ParseError(f"unknown categories {unknown}; expected names from {list(self.pack.names)}")
        if len(labels) > 1 and OTHER in labels:
            labels.remove(OTHER)  # "Other" means no named category applies
        return labels[: options.max_labels]

    # -- deliberate ----------------------------------------------------------------------------

    def deliberate_messages(self, record: Record) -> tuple[dict, ...]:
        """The project's prompt with the record's policies as the system message."""
        system = load_template("deliberate").fill(policies=self.pack.render(record.category or [OTHER]))
        return ChatRequest.chat(record.question, system=system).messages

    @property
    def deliberate_version(self) -> str:
        return load_template("deliberate").version

    def skips_deliberation(self, record: Record, skip_other: bool) -> bool:
        """Prompts labelled only Other: no policy applies, nothing to deliberate on."""
        return skip_other and (record.category or [OTHER]) == [OTHER]

    # -- score ---------------------------------------------------------------------------------

    def score_requests(self, options) -> tuple[Builder, str]:
        template, user_template = load_template("score"), load_template("score_user")
        schema = _score_schema(SCORE_KEYS, 0, 10)
        choices = scores_choice_template()

        def build(record: Record, attempt: int) -> ChatRequest:
            system = template.fill(policies=self.pack.render(record.category or [OTHER]))
            return ChatRequest.chat(judge_input(user_template, record), system=system,
                                    sampling=options.sampling_at(attempt), json_schema=schema,
                                    choices=choices)

        return build, f"{template.version}+{user_template.version}"

    def parse_scores(self, text: str) -> dict[str, int]:
        return parse_scores(text)

    # -- STAR-benign ---------------------------------------------------------------------------

    def rewrite_requests(self, options) -> tuple[Builder, str]:
        """The examples go in as chat turns: even the 135M bundled model then answers with a
        bare request, where inline examples make it chat."""
        system, user, examples = (load_template(n) for n in
                                  ("benign_rewrite", "benign_rewrite_user", "benign_rewrite_examples"))
        shots: list[dict] = [{"role": "system", "content": system.fill()}]
        for harmful, harmless in example_pairs():
            shots += [{"role": "user", "content": user.fill(question=harmful)},
                      {"role": "assistant", "content": harmless}]

        def build(record: Record, attempt: int) -> ChatRequest:
            messages = shots + [{"role": "user", "content": user.fill(question=record.question)}]
            return ChatRequest(messages=tuple(messages), sampling=options.sampling_at(attempt))

        return build, "+".join(t.version for t in (system, user, examples))

    def accept_rewrite(self, record: Record, completion: Completion, options) -> str:
        return check_rewrite(record, completion, options)

    def benign_answer_messages(self, record: Record) -> tuple[dict, ...]:
        """A plain helpful system prompt, no policy in view."""
        return ChatRequest.chat(record.question, system=load_template("benign_generate").fill()).messages

    @property
    def benign_answer_version(self) -> str:
        return load_template("benign_generate").version

    def benign_score_requests(self, options) -> tuple[Builder, str]:
        template, user_template = load_template("benign_score"), load_template("score_user")
        schema = _score_schema(BENIGN_SCORE_KEYS, 1, 5)
        choices = scores_choice_template(BENIGN_SCORE_KEYS, BENIGN_SCORE_VALUES)
        system = template.fill()

        def build(record: Record, attempt: int) -> ChatRequest:
            return ChatRequest.chat(judge_input(user_template, record), system=system,
                                    sampling=options.sampling_at(attempt), json_schema=schema,
                                    choices=choices)

        return build, f"{template.version}+{user_template.version}"

    def parse_benign_scores(self, text: str) -> dict[str, int]:
        return parse_benign_scores(text)

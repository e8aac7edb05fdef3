"""Render training samples with the model's own chat template, reasoning kept, loss on the answer only.

Templates of DeepSeek-R1 distills (and others) cut everything before ``</think>`` out of assistant
turns, so passing the STAR-1 response through them silently trains the model without its policy
reasoning. Instead of trusting the template with the response, star1 asks it for three pieces it
renders faithfully: the prompt (with the generation prompt, exactly what the model sees at
inference), the text before an assistant turn's content and the text after it (the end of turn).
The response goes between them verbatim::

    prompt     = template(user, add_generation_prompt=True)       "...<|Assistant|><think>\\n"
    turn       = template(user, assistant=PLACEHOLDER)             "...<|Assistant|>PLACEHOLDER<|eos|>"
    completion = (turn up to PLACEHOLDER + response)[len(prompt):] + end-of-turn

When the generation prompt already opens the think block (R1 distills), the completion starts
inside it, as it does at inference. When the template injects an empty think block before the
content (Qwen3 style), it is replaced by the sample's own. Anything else that does not line up
is an error naming the model, never a silent guess. Prompt and completion are tokenized
separately, as at inference; labels are -100 on every prompt token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import jinja2

from star1.engines.local import template_writes_think
from star1.errors import ConfigError
from star1.records import join_response
from star1.train.data import DataReport, TrainSample

IGNORE_INDEX = -100
PLACEHOLDER = "STAR1ASSISTANTCONTENT7F3A"
_SENTINEL_QUESTION = "star1 template probe question"
_SENTINEL_REASONING = "star1-probe-reasoning-91c2"
_SENTINEL_ANSWER = "star1-probe-answer-5d8e"
_EMPTY_THINK = re.compile(r"\s*<think>\s*</think>\s*")
# `content.split('</think>')[-1]` and its variants: how templates drop the reasoning.
_STRIP_PATTERN = re.compile(r"""(\w+(?:\[\s*['"]\w+['"]\s*\])?)\.split\(\s*['"]</think>['"]\s*\)\s*\[\s*-1\s*\]""")


class TemplateError(ConfigError):
    """The chat template cannot be used to render training samples."""


@dataclass(frozen=True)
class TemplateInfo:
    """What probing the chat template found; written to the run's config for the record."""

    strips_reasoning: bool
    reasoning_model: bool
    prompt_opens_think: str  # text the generation prompt adds inside the assistant turn, e.g. "<think>\n"
    injects_empty_think: bool
    end_of_turn: str
    appended_eos: bool


@dataclass
class Tokenized:
    id: str
    input_ids: list[int]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.input_ids)


def _mentions_think(tokenizer, template: str) -> bool:
    """Whether the model writes its own think block: the question
    :func:`star1.engines.local.template_writes_think` answers for generation, asked here with two
    more signs, because here the answer decides what ``think=false`` trains (an empty think block or
    the answer alone). A template that mentions only ``</think>``, to cut reasoning out of history
    turns without opening a block in its generation prompt (the first R1-distill templates; the
    llama-stripping template of tests/train/templates.py), and a tokenizer with a ``<think>`` token
    in its vocabulary are also a reasoning model's."""
    return template_writes_think(template) or "</think>" in template or "<think>" in tokenizer.get_vocab()


class ChatRenderer:
    """Turns :class:`TrainSample` into (prompt, completion) text and token ids with labels."""

    def __init__(self, tokenizer, system_prompt: str | None = None, reasoning_model: bool | None = None,
                 model_name: str = "the model"):
        if not getattr(tokenizer, "chat_template", None):
            raise TemplateError(f"{model_name} has no chat template; pass one with --set chat_template=FILE.jinja")
        self.tokenizer = tokenizer
        self.system_prompt = system_prompt
        self.model_name = model_name
        self._probe(reasoning_model)

    def _apply(self, messages: list[dict], generation_prompt: bool) -> str:
        try:
            return self.tokenizer.apply_chat_template(messages, tokenize=False,
                                                      add_generation_prompt=generation_prompt)
        except (jinja2.TemplateError, TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
            raise TemplateError(f"the chat template of {self.model_name} failed to render a "
                                f"user/assistant conversation: {type(exc).__name__}: {exc}") from None

    def _messages(self, question: str) -> list[dict]:
        head = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        return head + [{"role": "user", "content": question}]

    def _probe(self, reasoning_model: bool | None) -> None:
        messages = self._messages(_SENTINEL_QUESTION)
        inline = self._apply(messages + [{"role": "assistant", "content": join_response(
            _SENTINEL_REASONING, _SENTINEL_ANSWER)}], False)
        if _SENTINEL_ANSWER not in inline:
            raise TemplateError(f"the chat template of {self.model_name} does not render assistant turns")
        strips = _SENTINEL_REASONING not in inline
        prompt = self._apply(messages, True)
        turn = self._apply(messages + [{"role": "assistant", "content": PLACEHOLDER}], False)
        cut = turn.find(PLACEHOLDER)
        if cut < 0:
            raise TemplateError(f"the chat template of {self.model_name} rewrites assistant content")
        before, end_of_turn = turn[:cut], turn[cut + len(PLACEHOLDER):]
        appended_eos = False
        if not end_of_turn.strip():
            if not self.tokenizer.eos_token:
                raise TemplateError(f"the chat template of {self.model_name} ends assistant turns with nothing "
                                    "and the tokenizer has no eos token: the model could never learn to stop")
            end_of_turn, appended_eos = self.tokenizer.eos_token, True
        opens, injects = "", False
        if before.startswith(prompt):
            injected = before[len(prompt):]
            if injected and not _EMPTY_THINK.fullmatch(injected):
                raise TemplateError(f"the chat template of {self.model_name} puts {injected!r} between the "
                                    "generation prompt and the assistant's content; cannot line up prompt and answer")
            injects = bool(injected)
        elif prompt.startswith(before):
            opens = prompt[len(before):]
            if opens.strip() != "<think>":
                raise TemplateError(f"the generation prompt of {self.model_name} adds {opens!r} inside the "
                                    "assistant turn; only an opening <think> is understood")
        else:
            raise TemplateError(f"the chat template of {self.model_name} renders the prompt differently with "
                                "and without an assistant turn; cannot separate prompt and answer")
        guessed = bool(opens) or injects or _mentions_think(self.tokenizer, self.tokenizer.chat_template)
        self._prefix = before
        self.info = TemplateInfo(
            strips_reasoning=strips,
            reasoning_model=guessed if reasoning_model is None else reasoning_model,
            prompt_opens_think=opens, injects_empty_think=injects,
            end_of_turn=end_of_turn, appended_eos=appended_eos)

    def target(self, sample: TrainSample, think: bool) -> str:
        """The assistant's text: think block (kept, emptied or absent) then the answer."""
        if think and sample.reasoning is not None:
            return join_response(sample.reasoning, sample.answer)
        if self.info.reasoning_model:
            return f"<think>\n\n</think>\n\n{sample.answer.strip()}"
        return sample.answer.strip()

    def render(self, sample: TrainSample, think: bool = True) -> tuple[str, str]:
        """Return (prompt, completion): the model sees the prompt and learns the completion."""
        messages = self._messages(sample.question)
        prompt = self._apply(messages, True)
        target = self.target(sample, think)
        opens = self.info.prompt_opens_think
        if opens:
            if not target.startswith(opens):
                raise TemplateError(f"the generation prompt of {self.model_name} opens {opens!r} but the "
                                    f"training text of sample {sample.id} does not start with it "
                                    "(reasoning_model=false with a reasoning template?)")
            return prompt, target[len(opens):] + self.info.end_of_turn
        return prompt, target + self.info.end_of_turn

    def tokenize(self, sample: TrainSample, think: bool = True) -> Tokenized:
        prompt, completion = self.render(sample, think)
        prompt_ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        completion_ids = self.tokenizer(completion, add_special_tokens=False)["input_ids"]
        return Tokenized(sample.id, prompt_ids + completion_ids,
                         [IGNORE_INDEX] * len(prompt_ids) + list(completion_ids))


# The snippet of the DeepSeek-R1-distill chat templates that cuts the reasoning out of assistant
# turns; the reference's sft.py (:53-57) deletes it from the template text before rendering.
R1_STRIP_SNIPPET = "{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}"


class ReferenceRenderer(ChatRenderer):
    """Renders and tokenizes a sample exactly as the reference's ``sft.py`` does
    (``Train_dataset.get_prompt``, ``protocol: paper``):

    * the chat template with :data:`R1_STRIP_SNIPPET` deleted, rendered by plain
      ``jinja2.Template`` (not transformers' sandbox with ``trim_blocks``/``lstrip_blocks``) with
      only ``messages`` and ``add_generation_prompt`` — and ``bos_token`` for Llama models alone
      (its ``--base_model Llama``), so a Qwen sample's ``{{ bos_token }}`` renders empty and its
      ids start without BOS;
    * the response with ``\\/`` turned into ``/``, laid out ``<think>\\n{r}\\n</think>\\n\\n{a}``
      (or the no-think ablations);
    * the whole conversation and the prompt tokenized each in one piece (no special tokens
      added); the labels are the conversation's ids after as many tokens as the prompt has.
    """

    def __init__(self, tokenizer, llama: bool, reasoning_model: bool | None = None,
                 model_name: str = "the model"):
        super().__init__(tokenizer, None, reasoning_model, model_name)
        self.template = jinja2.Template(tokenizer.chat_template.replace(R1_STRIP_SNIPPET, ""))
        self.variables = {"bos_token": tokenizer.bos_token} if llama else {}

    def render(self, sample: TrainSample, think: bool = True) -> tuple[str, str]:
        """(prompt, whole conversation), both as the reference renders them."""
        user = [{"role": "user", "content": sample.question}]
        answer = self.target(TrainSample(sample.id, sample.question, _unslash(sample.reasoning),
                                         _unslash(sample.answer)), think)
        try:
            whole = self.template.render(messages=user + [{"role": "assistant", "content": answer}],
                                         add_generation_prompt=False, **self.variables)
            prompt = self.template.render(messages=user, add_generation_prompt=True, **self.variables)
        except jinja2.TemplateError as exc:
            raise TemplateError(f"the chat template of {self.model_name} failed to render as the reference "
                                f"renders it (plain Jinja): {type(exc).__name__}: {exc}") from None
        return prompt, whole

    def tokenize(self, sample: TrainSample, think: bool = True) -> Tokenized:
        prompt, whole = self.render(sample, think)
        ids = self.tokenizer.encode(whole, add_special_tokens=False)
        prompt_ids = self.tokenizer.encode(prompt, add_special_tokens=False)
        return Tokenized(sample.id, ids, [IGNORE_INDEX] * len(prompt_ids) + ids[len(prompt_ids):])


def _unslash(text: str | None) -> str | None:
    return None if text is None else text.replace("\\/", "/")


def truncate(item: Tokenized, max_length: int, mode: str) -> Tokenized | None:
    """Cut a sample to ``max_length`` tokens. None when it must be dropped.

    ``keep_end`` keeps the last tokens of prompt + response together, as the paper did: the answer
    and the end-of-turn token, which safety training must teach, always survive; the question is
    cut first. ``keep_start`` keeps the beginning; ``drop`` leaves the sample out.
    """
    if len(item) <= max_length:
        return item
    if mode == "drop":
        return None
    window = slice(-max_length, None) if mode == "keep_end" else slice(None, max_length)
    cut = Tokenized(item.id, item.input_ids[window], item.labels[window])
    return cut if any(label != IGNORE_INDEX for label in cut.labels) else None


def tokenize_samples(renderer: ChatRenderer, samples: list[TrainSample], think: bool, max_length: int,
                     truncation: str, report: DataReport) -> list[Tokenized]:
    items = []
    for sample in samples:
        full = renderer.tokenize(sample, think)
        item = truncate(full, max_length, truncation)
        if item is None:
            report.dropped_too_long += 1
            continue
        if len(item) < len(full):
            report.truncated += 1
        items.append(item)
    if not items:
        raise ConfigError(f"every sample is longer than max_length={max_length} and truncation={truncation!r} "
                          "dropped them all")
    return items


def keeping_template(tokenizer, template: str) -> str | None:
    """The template with its reasoning-stripping removed, or None when that cannot be done safely.

    Saved with the checkpoint so that a conversation rendered at inference keeps earlier reasoning
    as it was trained. The patched template is checked by rendering it.
    """
    patched, count = _STRIP_PATTERN.subn(r"\1", template)
    if count == 0:
        return None
    original = tokenizer.chat_template
    try:
        tokenizer.chat_template = patched
        probe = ChatRenderer(tokenizer)
    except TemplateError:
        return None
    finally:
        tokenizer.chat_template = original
    return None if probe.info.strips_reasoning else patched

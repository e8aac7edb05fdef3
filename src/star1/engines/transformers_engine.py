"""A local Hugging Face causal LM: batched generation with the model's chat template, CPU or GPU.

Two kinds of request:
- free generation, batched (left padding, length-sorted) through ``model.generate``;
- constrained answers (:class:`ChoiceTemplate`): each slot's options are scored by
  log-likelihood given the prompt and everything already filled, and the best one is kept. That
  is how a 135M model still returns a valid label set or integer scores every time.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field

from star1.cpu import busy_cpu_threads
from star1.engines.base import (
    ChatRequest,
    ChoiceTemplate,
    Completion,
    Engine,
    LocalEngineMixin,
    OnResult,
    SamplingParams,
    apply_length_policy,
    plain_messages,
)
from star1.engines.local import LocalConfig, auto_device, template_writes_think
from star1.reasoning import split_reasoning

log = logging.getLogger(__name__)


class HFConfig(LocalConfig):
    """Settings of a model run with Hugging Face ``generate`` (this kind and ``bundled``)."""

    SCORES_CHOICES = True

    batch_size: int = Field(8, ge=1)
    device: str = "auto"
    threads: int | None = Field(None, ge=1, description="CPU threads for torch (default: torch's choice)")

    def run_device(self) -> str:
        return auto_device() if self.device == "auto" else self.device

    def make(self) -> Engine:
        return TransformersEngine(self)


class TransformersConfig(HFConfig):
    """``transformers:<path-or-hub-id>``: any local or hub causal LM, run with transformers."""

    FORM: ClassVar[str] = "transformers:<path-or-hub-id>, or just <org>/<name> (a hub id) or an existing local folder"

    kind: Literal["transformers"] = "transformers"
    model: str = Field(description="a local checkpoint folder or a hub id")

    @classmethod
    def from_string(cls, rest: str) -> dict:
        if not rest:
            raise ValueError("missing the model path or hub id after 'transformers:'")
        if rest == "bundled":
            return {"kind": "bundled"}
        return {"kind": "transformers", "model": rest}

    def engine_string(self) -> str:
        return f"transformers:{self.model}"

    def identity(self) -> str:
        return self.weights_identity("transformers")


class TransformersEngine(LocalEngineMixin):
    def __init__(self, config: HFConfig):
        import torch

        self.config = config
        self.name = config.engine_string()
        self.identity = config.identity()
        self.scores_choices = True
        self.length_is_failure = config.length_is_failure
        self.device = config.run_device()
        self._dtype, self._model, self._tokenizer = config.resolved_dtype(), None, None
        self._torch = torch

    @property
    def tokenizer(self):
        """Loaded on first use too: a dry run or a cached rerun of the bundled model never
        converts it."""
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(self.config.checkpoint())
            tokenizer.padding_side = "left"
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            self._tokenizer = tokenizer
        return self._tokenizer

    @property
    def native_reasoning(self) -> bool:
        if self.config.native_reasoning is not None:
            return self.config.native_reasoning
        return template_writes_think(self.tokenizer.chat_template or "")

    @property
    def model(self):
        """Loaded on first use: a rerun whose calls are all cached never pays for loading."""
        if self._model is None:
            from transformers import AutoModelForCausalLM

            threads, note = busy_cpu_threads(self.config.threads, self.device)
            if note:
                log.warning(note)
            if threads:
                self._torch.set_num_threads(threads)
            self._model = AutoModelForCausalLM.from_pretrained(
                self.config.checkpoint(), dtype=getattr(self._torch, self._dtype)).to(self.device).train(False)  # inference mode
        return self._model

    # -- prompts -----------------------------------------------------------------------------

    def render(self, request: ChatRequest) -> str:
        text = self.tokenizer.apply_chat_template(plain_messages(request.messages), tokenize=False,
                                                  add_generation_prompt=True)
        return text + request.prefill

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    # -- Engine protocol ---------------------------------------------------------------------

    def generate(self, requests: Sequence[ChatRequest],
                 on_result: OnResult | None = None) -> list[Completion]:
        results: list[Completion | None] = [None] * len(requests)

        def finish(i: int, completion: Completion) -> None:
            results[i] = completion
            if on_result:
                on_result(i, completion)

        groups: dict[SamplingParams, list[int]] = {}
        for i, request in enumerate(requests):
            if request.choices is not None:
                finish(i, self._fill_choices(request))
            else:
                groups.setdefault(request.sampling, []).append(i)
        for sampling, indices in groups.items():
            # Similar lengths together waste less compute on padding.
            indices.sort(key=lambda i: len(self.render(requests[i])))
            for start in range(0, len(indices), self.config.batch_size):
                batch = indices[start:start + self.config.batch_size]
                for i, completion in zip(batch, self._generate_batch([requests[i] for i in batch],
                                                                     sampling)):
                    finish(i, completion)
        return results  # type: ignore[return-value]

    def close(self) -> None:
        self._model = None

    # -- free generation ---------------------------------------------------------------------

    def _generate_batch(self, requests: list[ChatRequest], sampling: SamplingParams) -> list[Completion]:
        torch = self._torch
        texts = [self.render(r) for r in requests]
        enc = self.tokenizer(texts, add_special_tokens=False, return_tensors="pt", padding=True)
        enc = {k: v.to(self.device) for k, v in enc.items()}
        kwargs = dict(max_new_tokens=sampling.max_tokens, pad_token_id=self.tokenizer.pad_token_id)
        # None means "the server's default" (SamplingParams); OpenAI's is 1.0 for both.
        temperature = 1.0 if sampling.temperature is None else sampling.temperature
        top_p = 1.0 if sampling.top_p is None else sampling.top_p
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature, top_p=top_p)
            if sampling.seed is not None:
                torch.manual_seed(sampling.seed)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if sampling.repetition_penalty:
            kwargs["repetition_penalty"] = sampling.repetition_penalty
        if sampling.stop:
            kwargs.update(stop_strings=list(sampling.stop), tokenizer=self.tokenizer)
        with torch.inference_mode():
            output = self.model.generate(**enc, **kwargs)
        new_tokens = output[:, enc["input_ids"].shape[1]:]
        eos_ids = self._eos_ids()
        completions = []
        for row, request, prompt_mask in zip(new_tokens.tolist(), requests, enc["attention_mask"]):
            length, hit_eos = len(row), False
            for k, token in enumerate(row):
                if token in eos_ids:
                    length, hit_eos = k, True
                    break
            raw = self.tokenizer.decode(row[:length], skip_special_tokens=True)
            finish_reason = "stop" if hit_eos else "length"
            for stop in sampling.stop:
                cut = raw.find(stop)
                if cut >= 0:
                    raw, finish_reason = raw[:cut], "stop"
            completions.append(self._completion(request, raw, finish_reason,
                                                int(prompt_mask.sum()), length))
        return completions

    def _eos_ids(self) -> set[int]:
        ids = {self.tokenizer.eos_token_id}
        eos = self.model.generation_config.eos_token_id
        ids.update(eos if isinstance(eos, list) else [eos])
        return {i for i in ids if i is not None}

    def _completion(self, request: ChatRequest, raw: str, finish_reason: str, prompt_tokens: int,
                    completion_tokens: int) -> Completion:
        if request.prefill:
            # The caller asked to continue its own text; it splits the result itself.
            text, reasoning = raw, None
        else:
            reasoning, text = split_reasoning(raw, starts_in_reasoning=self.native_reasoning
                                              and "<think>" in self.render(request)[-20:])
        completion = Completion(text=text, reasoning=reasoning, finish_reason=finish_reason,
                                prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        return apply_length_policy(completion, request.sampling.max_tokens, self.config.length_is_failure)

    # -- constrained answers -----------------------------------------------------------------

    def _fill_choices(self, request: ChatRequest) -> Completion:
        """Fill each slot with its most likely option, scoring options by summed log-prob.

        The answer text is re-tokenised as a whole for every option (so token boundaries are
        the ones the model would see), but only tokens not already in the KV cache are run:
        the shared part once, then each option's own few tokens.
        """
        template: ChoiceTemplate = request.choices  # type: ignore[assignment]
        prompt_ids = self._encode(self.tokenizer.apply_chat_template(
            plain_messages(request.messages), tokenize=False, add_generation_prompt=True))
        cursor = _ScoringCursor(self, prompt_ids)
        answer = request.prefill
        slot_scores: list[dict[str, float]] = []
        parts = list(template.parts)
        for k, part in enumerate(parts):
            if isinstance(part, str):
                answer += part
                continue
            # What follows the option ends it, so "1" cannot win where "10" was meant.
            following = next((p for p in parts[k + 1:] if isinstance(p, str)), "")
            candidates = [self._encode(answer + option + following[:2]) for option in part]
            if not following:
                candidates = [ids + [self.tokenizer.eos_token_id] for ids in candidates]
            shared = _common_prefix_length(candidates)
            cursor.advance_to(candidates[0][:shared])
            scores = dict(zip(part, cursor.score_suffixes([ids[shared:] for ids in candidates])))
            slot_scores.append(scores)
            answer += max(part, key=lambda o: scores[o])
        return Completion(text=answer[len(request.prefill):], finish_reason="stop",
                          prompt_tokens=len(prompt_ids), completion_tokens=len(self._encode(answer)),
                          slot_scores=slot_scores)

    def forward(self, ids: list[list[int]], cache):
        """Logits for a batch of equally long rows continuing ``cache``: (rows, length, vocab)."""
        torch = self._torch
        kwargs = {self._cache_argument: cache, "use_cache": True}
        with torch.inference_mode():
            return self.model(torch.tensor(ids, device=self.device), **kwargs).logits

    @property
    def _cache_argument(self) -> str:
        # transformers 5.x renamed ``past_key_values`` to ``cache``; accept both.
        import inspect

        return "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"


class _ScoringCursor:
    """A KV cache over the prompt plus some answer tokens, and the log-probs after each of them."""

    def __init__(self, engine: TransformersEngine, prompt_ids: list[int]):
        from transformers import DynamicCache

        self.engine = engine
        self.cache = DynamicCache()
        self.base = len(prompt_ids)
        logits = engine.forward([prompt_ids], self.cache)[0]
        self.tokens: list[int] = []  # answer tokens in the cache
        self.next_logprobs = [self._logprobs(logits[-1])]  # [k] predicts answer token k

    def _logprobs(self, row):
        return self.engine._torch.log_softmax(row.float(), dim=-1)

    def advance_to(self, ids: list[int]) -> None:
        keep = _common_prefix_length([self.tokens, ids])
        if keep < len(self.tokens):
            self.cache.crop(-(len(self.tokens) - keep))  # negative = drop that many (4.x and 5.x)
            del self.tokens[keep:]
            del self.next_logprobs[keep + 1:]
        if len(ids) > keep:
            logits = self.engine.forward([ids[keep:]], self.cache)[0]
            self.tokens.extend(ids[keep:])
            self.next_logprobs.extend(self._logprobs(row) for row in logits)

    def score_suffixes(self, suffixes: list[list[int]]) -> list[float]:
        """Summed log-prob of each suffix after the cached tokens.

        The first token is scored from the cached position; the rest need a forward over
        ``suffix[:-1]``, after which the cache is cut back. (Batching the suffixes on copies of
        the cache measured no faster on CPU: copying the cache costs what it saves.)
        """
        torch = self.engine._torch
        totals = []
        for suffix in suffixes:
            if not suffix:
                totals.append(0.0)
                continue
            total = float(self.next_logprobs[-1][suffix[0]])
            if len(suffix) > 1:
                logits = self.engine.forward([suffix[:-1]], self.cache)[0]
                self.cache.crop(-(len(suffix) - 1))
                logprobs = torch.log_softmax(logits.float(), dim=-1)
                total += float(sum(logprobs[j, token] for j, token in enumerate(suffix[1:])))
            totals.append(total)
        return totals


def _common_prefix_length(sequences: list[list[int]]) -> int:
    shortest = min(len(s) for s in sequences)
    for j in range(shortest):
        if len({s[j] for s in sequences}) > 1:
            return j
    return shortest

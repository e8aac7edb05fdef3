"""A local Hugging Face causal LM: batched generation with the model's chat template, CPU or GPU.

Two kinds of request:
- free generation, batched (left padding, length-sorted) through ``model.generate``;
- constrained answers (:class:`ChoiceTemplate`): each slot's options are scored by
  log-likelihood given the prompt and everything already filled, and the best one is kept. That
  is how a 135M model still returns a valid label set or integer scores every time.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Sequence

from star1.engines.base import ChatRequest, ChoiceTemplate, Completion, OnResult, SamplingParams
from star1.engines.config import EngineConfig
from star1.engines.reasoning import split_reasoning

log = logging.getLogger(__name__)


def _weights_fingerprint(path: Path) -> str:
    """Identify a local checkpoint by its config and weight files (names, sizes, mtimes)."""
    digest = hashlib.sha256()
    for file in sorted(path.iterdir()):
        if file.suffix in (".json", ".safetensors", ".bin", ".jinja", ".model"):
            stat = file.stat()
            digest.update(f"{file.name}:{stat.st_size}:{int(stat.st_mtime)}".encode())
    return digest.hexdigest()[:16]


class TransformersEngine:
    def __init__(self, config: EngineConfig):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.config = config
        if config.kind == "bundled":
            from star1.engines.bundled import GGUF_NAME, bundled_model_dir

            path = str(bundled_model_dir())
            self.name = "bundled"
            self.identity = f"bundled:{GGUF_NAME}"
        else:
            path = config.model
            self.name = f"transformers:{config.model}"
            local = Path(os.path.expanduser(path))
            self.identity = (f"transformers:{local.resolve()}@{_weights_fingerprint(local)}"
                             if local.is_dir() else f"transformers:{path}")
            path = str(local) if local.is_dir() else path
        device = config.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = config.dtype
        if dtype == "auto":
            dtype = "bfloat16" if device.startswith("cuda") else "float32"
        self.device = device
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype))
        self.model.to(device).eval()
        template = self.tokenizer.chat_template or ""
        self.native_reasoning = (config.native_reasoning if config.native_reasoning is not None
                                 else "<think>" in template)
        self._torch = torch

    # -- prompts -----------------------------------------------------------------------------

    def render(self, request: ChatRequest) -> str:
        text = self.tokenizer.apply_chat_template(list(request.messages), tokenize=False,
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
        self.model = None

    # -- free generation ---------------------------------------------------------------------

    def _generate_batch(self, requests: list[ChatRequest], sampling: SamplingParams) -> list[Completion]:
        torch = self._torch
        texts = [self.render(r) for r in requests]
        enc = self.tokenizer(texts, add_special_tokens=False, return_tensors="pt", padding=True)
        enc = {k: v.to(self.device) for k, v in enc.items()}
        kwargs = dict(max_new_tokens=sampling.max_tokens, pad_token_id=self.tokenizer.pad_token_id)
        if sampling.temperature > 0:
            kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p)
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
        error = None
        if finish_reason == "length" and self.config.length_is_failure:
            error = f"length: output reached max_tokens={request.sampling.max_tokens}"
        if request.prefill:
            # The caller asked to continue its own text; it splits the result itself.
            text, reasoning = raw, None
        else:
            reasoning, text = split_reasoning(raw, starts_in_reasoning=self.native_reasoning
                                              and "<think>" in self.render(request)[-20:])
        return Completion(text=text, reasoning=reasoning, finish_reason=finish_reason,
                          prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                          error=error)

    # -- constrained answers -----------------------------------------------------------------

    def _fill_choices(self, request: ChatRequest) -> Completion:
        """Fill each slot with its most likely option, scoring options by summed log-prob."""
        torch = self._torch
        from transformers import DynamicCache

        template: ChoiceTemplate = request.choices  # type: ignore[assignment]
        prompt_ids = self._encode(self.tokenizer.apply_chat_template(
            list(request.messages), tokenize=False, add_generation_prompt=True))
        cache = DynamicCache()
        with torch.inference_mode():
            out = self.model(torch.tensor([prompt_ids], device=self.device), past_key_values=cache,
                             use_cache=True)
        last_logits = out.logits[0, -1]
        base = len(prompt_ids)
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
            scores = {}
            for option, ids in zip(part, candidates):
                scores[option] = self._sequence_logprob(ids, shared, cache, base, last_logits)
            slot_scores.append(scores)
            answer += max(part, key=lambda o: scores[o])
        return Completion(text=answer[len(request.prefill):], finish_reason="stop",
                          prompt_tokens=base, completion_tokens=len(self._encode(answer)),
                          slot_scores=slot_scores)

    def _sequence_logprob(self, ids: list[int], start: int, cache, base: int, last_logits) -> float:
        torch = self._torch
        with torch.inference_mode():
            logits = self.model(torch.tensor([ids], device=self.device), past_key_values=cache,
                                use_cache=True).logits[0]
            # A negative argument removes that many tokens in both transformers 4.x and 5.x.
            cache.crop(-(cache.get_seq_length() - base))
            # logits[j] predicts ids[j + 1]; the prompt's last logits predict ids[0].
            predictors = torch.cat([last_logits[None], logits[:-1]], dim=0)
            logprobs = torch.log_softmax(predictors.float(), dim=-1)
            picked = logprobs[torch.arange(len(ids)), torch.tensor(ids)]
            return float(picked[start:].sum())


def _common_prefix_length(sequences: list[list[int]]) -> int:
    shortest = min(len(s) for s in sequences)
    for j in range(shortest):
        if len({s[j] for s in sequences}) > 1:
            return j
    return shortest

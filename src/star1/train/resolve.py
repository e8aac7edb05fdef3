"""Turn the settings left to ``auto`` into concrete choices for this machine, with the reason for each."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from star1.cpu import busy_cpu_threads
from star1.engines.pool import resolve_role
from star1.errors import ConfigError
from star1.train import attention
from star1.train.config import TrainConfig, trainable

PAPER_GLOBAL_BATCH = 128
CPU_GLOBAL_BATCH = 4
GPU_MICRO_BATCH_TOKENS = 16384
CPU_MICRO_BATCH_TOKENS = 4096
MEMORY_HEADROOM = 0.85  # share of GPU memory the estimate may use before checkpointing is switched on


@dataclass
class Resolved:
    """Everything ``auto`` became, plus notes for the user; saved as part of train_config.json."""

    model_path: str
    device: str
    world_size: int
    precision: str
    attn_implementation: str
    liger: bool
    gradient_checkpointing: bool
    global_batch_size: int
    micro_batch_tokens: int
    threads: int | None = None
    notes: list[str] = field(default_factory=list)
    # Filled in once the data is planned.
    accumulation: int = 0
    steps_per_epoch: int = 0
    total_steps: int = 0
    warmup_steps: int = 0
    save_every: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def model_path(spec) -> str:
    """What ``from_pretrained`` takes for the model to fine-tune: an engine string or mapping
    (``bundled``, ``transformers:<path-or-hub-id>``, a hub id, a local folder), read the way every
    other command reads it."""
    config = trainable(resolve_role("model", spec))
    return config.checkpoint()


def _device(requested: str) -> str:
    if requested == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda was asked for but no CUDA device is visible")
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def _precision(requested: str, device: str, notes: list[str]) -> str:
    if device == "cpu":
        if requested == "auto":
            notes.append("CPU: training in fp32 instead of the paper's bf16 (precision bf16 uses CPU autocast, "
                         "which pays off only on CPUs with AMX/AVX512-BF16)")
            return "fp32"
        if requested == "fp16":
            raise ConfigError("precision fp16 needs a GPU; use --set precision=fp32 or bf16 on CPU")
        return requested
    if requested == "auto":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return requested


def _threads(requested: int | None, device: str, notes: list[str]) -> int | None:
    threads, note = busy_cpu_threads(requested, device)
    if note:
        notes.append(note + " (--set threads=N to choose)")
    return threads


def activation_bytes_per_token(config) -> float:
    """A deliberately generous estimate of the activations autograd keeps per token (half precision)."""
    hidden = config.hidden_size
    inter = getattr(config, "intermediate_size", 4 * hidden)
    return config.num_hidden_layers * (34 * hidden + 6 * inter)


def needs_checkpointing(model_config, n_params: int, lora: bool, tokens: int, device: str) -> tuple[bool, str]:
    """Switch gradient checkpointing on only when the estimate does not fit the GPU.

    It assumes one device holds the whole model: with ZeRO-3 / FSDP set it explicitly.
    """
    if device != "cuda":
        return False, "CPU: memory is not the limit"
    # Full fine-tuning: fp32 weights, grads and two Adam moments; LoRA: a half-precision frozen base.
    static = (2 if lora else 16) * n_params
    estimate = static + tokens * activation_bytes_per_token(model_config)
    free, _ = torch.cuda.mem_get_info()
    fits = estimate < MEMORY_HEADROOM * free
    return (not fits), f"estimated peak {estimate / 2**30:.1f} GiB vs {free / 2**30:.1f} GiB free"


def _in_memory(config: TrainConfig) -> str:
    return config.model.engine_string() if config.model is not None else "a model built in memory"


def resolve(config: TrainConfig, find_model: bool = True) -> Resolved:
    """``find_model=False`` leaves the model spec as is (for a model built in memory)."""
    notes: list[str] = []
    device = _device(config.device)
    precision = _precision(config.precision, device, notes)
    threads = _threads(config.threads, device, notes)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    global_batch = config.global_batch_size
    if global_batch is None:
        global_batch = PAPER_GLOBAL_BATCH if device == "cuda" else CPU_GLOBAL_BATCH
        if device == "cpu":
            notes.append(f"CPU: global batch {CPU_GLOBAL_BATCH} instead of the paper's {PAPER_GLOBAL_BATCH} "
                         "(--set global_batch_size=N to change)")
    micro = config.micro_batch_tokens or (GPU_MICRO_BATCH_TOKENS if device == "cuda" else CPU_MICRO_BATCH_TOKENS)
    try:
        attn, why = attention.choose(config.attn_implementation, device, precision in ("bf16", "fp16"))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    notes.append(f"attention: {attn} ({why})")
    liger = config.liger
    liger_installed = importlib.util.find_spec("liger_kernel") is not None
    if liger is None:
        liger = device == "cuda" and liger_installed
    elif liger and not liger_installed:
        raise ConfigError("liger needs the liger-kernel package (pip install liger-kernel)")
    return Resolved(
        model_path=model_path(config.model) if find_model else _in_memory(config), device=device,
        world_size=world_size, precision=precision,
        attn_implementation=attn, liger=liger,
        gradient_checkpointing=bool(config.gradient_checkpointing),  # 'auto' is settled once the model is loaded
        global_batch_size=global_batch, micro_batch_tokens=micro, threads=threads, notes=notes)


def warmup_steps(ratio: float, total_steps: int) -> int:
    """Warm-up steps as the reference counts them: it hands its scheduler ``int(ratio x steps)``
    (truncated, e.g. 1 of 39 steps at 5%), where transformers' Trainer, given a ratio, rounds up
    (``math.ceil``: 2 of 39). The product is written in the reference's order, so float rounding matches."""
    return int(ratio * total_steps)


def schedule(resolved: Resolved, config: TrainConfig, steps_per_epoch: int) -> None:
    resolved.steps_per_epoch = steps_per_epoch
    resolved.total_steps = config.max_steps or config.epochs * steps_per_epoch
    resolved.warmup_steps = warmup_steps(config.warmup_ratio, resolved.total_steps)
    resolved.save_every = config.save_every or steps_per_epoch


def output_dir(config: TrainConfig) -> Path:
    if not config.out:
        raise ConfigError("no output folder given: use --out DIR, or 'out:' in the config")
    return Path(config.out)

"""Facts about a local model that need no loading: where its weights are, the device and precision
it runs in, its cache identity, and whether its chat template makes it reason by itself."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from star1.cpu import cpu_has_fast_bf16
from star1.engines.config import EngineConfig


def weights_fingerprint(path: Path) -> str:
    """Identify a local checkpoint by its config and weight files (names, sizes, mtimes)."""
    digest = hashlib.sha256()
    for file in sorted(path.iterdir()):
        if file.suffix in (".json", ".safetensors", ".bin", ".jinja", ".model"):
            stat = file.stat()
            digest.update(f"{file.name}:{stat.st_size}:{int(stat.st_mtime)}".encode())
    return digest.hexdigest()[:16]


def model_path(config: EngineConfig) -> str:
    if config.kind == "bundled":
        from star1.engines.bundled import bundled_model_dir

        return str(bundled_model_dir())
    local = Path(os.path.expanduser(config.model))
    return str(local) if local.is_dir() else config.model


def device_and_dtype(config: EngineConfig) -> tuple[str, str]:
    import torch

    device = config.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = config.dtype
    if dtype == "auto":
        dtype = "bfloat16" if device.startswith("cuda") or cpu_has_fast_bf16() else "float32"
    return device, dtype


def local_identity(config: EngineConfig) -> str:
    """The cache identity of a local model, computed without loading it (precision included:
    bf16 and fp32 runs of one model answer differently)."""
    dtype = device_and_dtype(config)[1]
    if config.kind == "bundled":
        from star1.engines.bundled import GGUF_NAME

        return f"bundled:{GGUF_NAME}:{dtype}"
    local = Path(os.path.expanduser(config.model))
    if local.is_dir():
        return f"transformers:{local.resolve()}@{weights_fingerprint(local)}:{dtype}"
    return f"transformers:{config.model}:{dtype}"


def template_writes_think(chat_template: str | None) -> bool:
    """A chat template that mentions a think block is a reasoning model's: the R1 distills end
    their generation prompt with ``<think>\\n``; their first templates only strip earlier
    turns' reasoning at ``</think>``."""
    return any(tag in (chat_template or "") for tag in ("<think>", "</think>"))


def guess_native_reasoning(config: EngineConfig) -> bool:
    """Whether the model writes its own think block: the setting if given; a remote model is
    taken to (its server's reasoning parser, or the model itself); a local one by its template."""
    if config.native_reasoning is not None:
        return config.native_reasoning
    if config.kind == "openai":
        return True
    if config.kind == "bundled":
        return False
    from transformers import AutoTokenizer

    return template_writes_think(AutoTokenizer.from_pretrained(model_path(config)).chat_template)



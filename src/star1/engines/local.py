"""Facts about a local model that need no loading: where its weights are, the precision it runs
in, its cache identity, and whether its chat template makes it reason by itself. The settings
every kind that runs a checkpoint on this machine shares (:class:`LocalConfig`)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from pydantic import Field

from star1.cpu import cpu_has_fast_bf16
from star1.engines.kind import EngineConfig


def weights_fingerprint(path: Path) -> str:
    """Identify a local checkpoint by its config and weight files (names, sizes, mtimes)."""
    digest = hashlib.sha256()
    for file in sorted(path.iterdir()):
        if file.suffix in (".json", ".safetensors", ".bin", ".jinja", ".model"):
            stat = file.stat()
            digest.update(f"{file.name}:{stat.st_size}:{int(stat.st_mtime)}".encode())
    return digest.hexdigest()[:16]


def resolve_dtype(dtype: str, device: str) -> str:
    """``auto``: bfloat16 on GPUs and on CPUs with bf16 matrix units, else float32."""
    if dtype != "auto":
        return dtype
    return "bfloat16" if device.startswith("cuda") or cpu_has_fast_bf16() else "float32"


def auto_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def template_writes_think(chat_template: str | None) -> bool:
    """A chat template that mentions a think block is a reasoning model's: the R1 distills end
    their generation prompt with ``<think>\\n``; their first templates only strip earlier
    turns' reasoning at ``</think>``."""
    return any(tag in (chat_template or "") for tag in ("<think>", "</think>"))


class LocalConfig(EngineConfig):
    """A kind that runs a checkpoint here: its precision is part of what it answers."""

    LOCAL = True

    dtype: str = Field("auto", description="auto: bfloat16 on GPUs and on CPUs with bf16 matrix units, else float32")

    def run_device(self) -> str:
        return auto_device()

    def resolved_dtype(self) -> str:
        return resolve_dtype(self.dtype, self.run_device())

    def weights_identity(self, engine: str) -> str:
        """``<engine>:<folder>@<weights fingerprint>:<dtype>`` (a hub id: its name): the cache
        identity of a checkpoint run by ``engine``, computed without loading it (bf16 and fp32
        runs of one model answer differently, and so do two engines)."""
        dtype = self.resolved_dtype()
        local = Path(os.path.expanduser(self.model))
        if local.is_dir():
            return f"{engine}:{local.resolve()}@{weights_fingerprint(local)}:{dtype}"
        return f"{engine}:{self.model}:{dtype}"

    def checkpoint(self) -> str:
        local = Path(os.path.expanduser(self.model))
        return str(local) if local.is_dir() else self.model

    def guess_native_reasoning(self) -> bool:
        if self.native_reasoning is not None:
            return self.native_reasoning
        from transformers import AutoTokenizer

        return template_writes_think(AutoTokenizer.from_pretrained(self.checkpoint()).chat_template)

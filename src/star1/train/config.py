"""Settings of ``star1 train``: one pydantic model, loadable from YAML, every field a CLI flag.

Defaults are the paper's (STAR-1, Sec. 3.1 / App.): lr 1e-5, 5 epochs, global batch 128,
cosine schedule with 5% warm-up, weight decay 1e-4, AdamW betas (0.9, 0.95), bf16, max length
8,192, fixed seed, and the reference code's per-sample loss weighting. Fields left at ``None`` are
decided at run time from the hardware (see :mod:`star1.train.resolve`), and the decision is
written next to the checkpoint.
"""

from __future__ import annotations

import argparse
import types
import typing
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from star1.errors import ConfigError


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # What to train on what.
    model: str | None = Field(None, description="'bundled', 'transformers:<path-or-hub-id>', a local path or a hub id")
    data: list[str] = Field(default_factory=list,
                            description="STAR-format files (.json list, .jsonl, .parquet) or hub dataset ids "
                                        "('hub:owner/name[:split]'); several are concatenated")
    out: str | None = Field(None, description="output folder: checkpoint, tokenizer, config, loss curve")

    # What the model is trained to produce.
    think: bool = Field(True, description="train on the reasoning; --no-think is the ablation of Sec. 4.2 "
                                          "(empty think block for reasoning models, answer only for instruct models)")
    reasoning_model: bool | None = Field(None, description="the model writes <think> blocks (default: guess from "
                                                           "its chat template and vocabulary)")
    system_prompt: str | None = Field(None, description="system message put before every question (paper: none)")
    chat_template: str | None = Field(None, description="Jinja file replacing the tokenizer's chat template")
    max_length: int = Field(8192, ge=16, description="tokens per sample (prompt + response) after truncation")
    truncation: Literal["keep_end", "keep_start", "drop"] = Field(
        "keep_end", description="longer samples: keep the last max_length tokens (paper), the first ones, or drop")
    missing_think: Literal["skip", "train"] = Field(
        "skip", description="records whose response has no </think>: skip them, or train the answer alone")
    empty_answer: Literal["skip", "train"] = Field(
        "skip", description="records whose answer after </think> is empty: skip them or train them as they are")

    # Optimisation (paper defaults).
    epochs: int = Field(5, ge=1)
    max_steps: int | None = Field(None, ge=1, description="stop after this many optimizer steps (smoke runs)")
    learning_rate: float = Field(1e-5, gt=0)
    global_batch_size: int | None = Field(None, ge=1, description="sequences per optimizer step over all devices "
                                                                 "(default 128 on GPU, 4 on CPU)")
    loss_weighting: Literal["sample", "token"] = Field(
        "sample", description="sample: every sample counts the same in a step's loss (mean of each sample's "
                              "mean token loss, as the reference's one-sample micro-batches give); token: every "
                              "answer token counts the same")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="share of the optimizer steps spent warming up, "
                                                              "int(ratio x steps) steps as the reference counts")
    lr_scheduler: str = Field("cosine", description="any transformers scheduler name")
    weight_decay: float = Field(1e-4, ge=0)
    adam_beta1: float = Field(0.9, ge=0, lt=1)
    adam_beta2: float = Field(0.95, ge=0, lt=1)
    adam_epsilon: float = Field(1e-8, gt=0)
    max_grad_norm: float = Field(1.0, ge=0)
    precision: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        "auto", description="auto = bf16 autocast over fp32 master weights on GPU, fp32 on CPU")
    seed: int = 42

    # Parameter-efficient training.
    lora: bool = False
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    lora_target_modules: list[str] = Field(default_factory=lambda: ["all-linear"])
    merge_lora: bool = Field(True, description="save the merged model (a plain checkpoint); the adapter is "
                                               "saved under adapter/ either way")

    # Throughput.
    micro_batch_tokens: int | None = Field(None, ge=16, description="tokens per packed micro-batch per device "
                                                                    "(default 16384 on GPU, 4096 on CPU)")
    attn_implementation: str = Field("auto", description="auto, star1_varlen, flash_attention_2, star1_segments, "
                                                         "sdpa, flex_attention or eager")
    liger: bool | None = Field(None, description="Liger kernels (default: on when installed and on a GPU)")
    gradient_checkpointing: bool | None = Field(None, description="default: only when the memory estimate "
                                                                  "does not fit the GPU")
    torch_compile: bool = False
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(None, ge=1, description="CPU threads for torch (default: torch's choice, or 1 "
                                                        "when the CPU is already busy)")

    # Outputs and bookkeeping.
    save_every: int | None = Field(None, ge=1, description="checkpoint every N optimizer steps (default: each epoch)")
    keep_checkpoints: int = Field(1, ge=1)
    resume: bool = Field(True, description="continue from the last checkpoint in OUT/checkpoints when there is one")
    report_to: list[str] = Field(default_factory=list, description="tensorboard and/or wandb")
    logging_steps: int = Field(1, ge=1)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _strip_optional(annotation):
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per :class:`TrainConfig` field; flags left out do not override the YAML file."""
    parser.add_argument("--config", help="YAML file with TrainConfig fields; flags given here override it")
    for name, field in TrainConfig.model_fields.items():
        kind = _strip_optional(field.annotation)
        help_text = field.description or ""
        if field.default is not None and not callable(field.default_factory):
            help_text = f"{help_text} (default: {field.default})".strip()
        kwargs: dict = {"dest": name, "default": argparse.SUPPRESS, "help": help_text}
        if kind is bool:
            parser.add_argument(_flag(name), action=argparse.BooleanOptionalAction, **kwargs)
        elif typing.get_origin(kind) is list:
            parser.add_argument(_flag(name), nargs="+", action="extend", metavar="VALUE", **kwargs)
        elif typing.get_origin(kind) is Literal:
            parser.add_argument(_flag(name), choices=typing.get_args(kind), **kwargs)
        elif kind in (int, float):
            parser.add_argument(_flag(name), type=kind, metavar=kind.__name__.upper(), **kwargs)
        else:
            parser.add_argument(_flag(name), metavar="TEXT", **kwargs)


def load_config(path: str | Path | None = None, overrides: dict | None = None) -> TrainConfig:
    """Read a YAML file (optional) and apply overrides; errors name the file and the field."""
    data: dict = {}
    source = "command line"
    if path is not None:
        source = str(path)
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} not found") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping of TrainConfig fields")
        data.update(loaded)
    if overrides:
        data.update(overrides)  # a list given on the command line replaces the file's list
    if isinstance(data.get("data"), str):
        data["data"] = [data["data"]]
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        message = "unknown option" if err["type"] == "extra_forbidden" else err["msg"]
        raise ConfigError(f"{source}: {field}: {message}") from None


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    overrides = {name: getattr(args, name) for name in TrainConfig.model_fields if hasattr(args, name)}
    return load_config(getattr(args, "config", None), overrides)

"""Settings of ``star1 train``: one pydantic model, loaded by :func:`star1.settings.load_settings`
from ``--config FILE``, ``--model`` / ``--in`` / ``--out`` and ``--set KEY=VALUE``.

Defaults are the paper's (STAR-1, Sec. 3.1 / App.): lr 1e-5, 5 epochs, global batch 128,
cosine schedule with 5% warm-up, weight decay 1e-4, AdamW betas (0.9, 0.95), bf16, max length
8,192, fixed seed, and the reference code's per-sample loss weighting. Fields left at ``None`` are
decided at run time from the hardware (see :mod:`star1.train.resolve`), and the decision is
written next to the checkpoint.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator, model_validator

from star1.engines.config import EngineConfig, EngineSpec
from star1.errors import ConfigError


def trainable(config: EngineConfig) -> EngineConfig:
    """A model star1 can fine-tune: a local one (bundled, transformers: a folder or a hub id).
    ConfigError is a ValueError, so in a settings field pydantic reports it as this field's error."""
    if not config.LOCAL:
        raise ConfigError(f"{config.engine_string()}: a model behind an API cannot be fine-tuned here; "
                         "give bundled, transformers:<path-or-hub-id>, a hub id (org/name) or a local folder")
    return config


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # What to train on what.
    model: EngineSpec | None = Field(None, description="the model to fine-tune: bundled, "
                                     "transformers:<path-or-hub-id>, a hub id (org/name) or a local folder")
    data: list[str] = Field(default_factory=list,
                            description="STAR-format files (.json list, .jsonl, .parquet) or hub dataset ids "
                                        "('hub:owner/name[:split]'); several are concatenated")
    out: str | None = Field(None, description="output folder: checkpoint, tokenizer, config, loss curve")

    # What the model is trained to produce.
    think: bool = Field(True, description="train on the reasoning; false is the ablation of Sec. 4.2 "
                                          "(empty think block for reasoning models, answer only for instruct models)")
    reasoning_model: bool | None = Field(None, description="the model writes <think> blocks (default: guess from "
                                                           "its chat template and vocabulary)")
    system_prompt: str | None = Field(None, description="system message put before every question (paper: none)")
    chat_template: str | None = Field(None, description="Jinja file replacing the tokenizer's chat template")
    protocol: Literal["star1", "paper"] = Field(
        "star1", description="paper: render and tokenize every sample as the reference's sft.py (plain Jinja, "
                             "bos_token for Llama models only, the conversation tokenized in one piece)")
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

    @field_validator("model")
    @classmethod
    def _local_model(cls, value: EngineConfig | None) -> EngineConfig | None:
        return value if value is None else trainable(value)

    @field_validator("data", mode="before")
    @classmethod
    def _one_or_more(cls, value):
        return [value] if isinstance(value, str) else value  # `data: star1.jsonl` in a YAML file

    @model_validator(mode="after")
    def _reasoning_from_engine(self):
        # One setting, two spellings: an engine mapping's native_reasoning ("writes its own
        # <think>") is what training calls reasoning_model; an explicit reasoning_model wins.
        if self.reasoning_model is None and self.model is not None and self.model.native_reasoning is not None:
            self.reasoning_model = self.model.native_reasoning
        return self

    @field_serializer("model")
    def _engine_string(self, value: EngineConfig | None) -> str | None:
        # train_config.json records the model as it is written on a command line.
        return value if value is None else value.engine_string()

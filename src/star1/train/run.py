"""``star1 train`` end to end: data -> faithful rendering -> packed plan -> Trainer -> checkpoint."""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from star1.errors import ConfigError
from star1.io import write_json_atomic
from star1.train import attention
from star1.train.config import TrainConfig
from star1.train.data import DataReport, load_samples
from star1.train.outputs import curve_rows, save_model, save_tokenizer, write_loss_curve
from star1.train.packing import fingerprint, pack_rows, plan_steps, step_tokens
from star1.train.render import ChatRenderer, ReferenceRenderer, Tokenized, tokenize_samples
from star1.train.resolve import Resolved, needs_checkpointing, output_dir, resolve, schedule
from star1.train.trainer import StepRecorder, make_trainer, training_arguments

CONFIG_FILE = "train_config.json"
REPORT_FILE = "train_report.json"


@dataclass
class TrainResult:
    out: Path
    resolved: Resolved
    data: DataReport
    steps: list[dict] = field(default_factory=list)
    final_loss: float | None = None
    resumed_from: str | None = None
    trainer: object = None


def _is_main_process() -> bool:
    """Rank 0 of a launch (accelerate / torchrun set RANK), or a single process."""
    return int(os.environ.get("RANK", "0")) == 0


def _say(message: str, label: str = "") -> None:
    from rich.markup import escape

    from star1.console import make_console

    # soft_wrap: a note is one line in a CI log, however long, instead of being cut at the console width.
    make_console(highlight=False).print(f"{label}{escape(message)}", soft_wrap=True)


def load_tokenizer(config: TrainConfig, path: str):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if config.chat_template:
        template = Path(config.chat_template)
        if not template.exists():
            raise ConfigError(f"chat template file {template} not found")
        tokenizer.chat_template = template.read_text(encoding="utf-8")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def source_dtype(path: str) -> torch.dtype:
    from transformers import AutoConfig

    model_config = AutoConfig.from_pretrained(path)
    dtype = getattr(model_config, "dtype", None) or getattr(model_config, "torch_dtype", None)
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype, None)
    return dtype if isinstance(dtype, torch.dtype) else torch.float32


def load_model(config: TrainConfig, resolved: Resolved):
    from transformers import AutoModelForCausalLM

    # Full fine-tuning keeps fp32 master weights (bf16 runs under autocast); a frozen LoRA base can
    # sit in half precision.
    dtype = torch.float32
    if config.lora and resolved.precision in ("bf16", "fp16"):
        dtype = torch.bfloat16 if resolved.precision == "bf16" else torch.float16
    model = AutoModelForCausalLM.from_pretrained(resolved.model_path, dtype=dtype,
                                                 attn_implementation=resolved.attn_implementation)
    model.config.use_cache = False
    if config.lora:
        from peft import LoraConfig, get_peft_model

        targets = config.lora_target_modules
        model = get_peft_model(model, LoraConfig(
            r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
            target_modules=targets[0] if targets == ["all-linear"] else targets, task_type="CAUSAL_LM"))
    return model


def _model_type(path: str) -> str:
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(path).model_type


def _count_parameters(path: str):
    """Parameter count and model config, from a meta-device copy of the model (no weights read)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):
        skeleton = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(path))
    return sum(p.numel() for p in skeleton.parameters()), skeleton.config


def prepare_items(config: TrainConfig, tokenizer, model_name: str, model_type: str | None = None):
    """Read, check, render and tokenize the data: (renderer, tokenized samples, data report).
    ``protocol: paper`` renders as the reference's sft.py, which passes ``bos_token`` to the
    template for Llama models only (``model_type``), and trains every record: one without a think
    block gets an empty one, an empty answer stays (unless ``missing_think`` / ``empty_answer``
    are set)."""
    missing, empty = config.missing_think, config.empty_answer
    if config.protocol == "paper":
        missing = missing if "missing_think" in config.model_fields_set else "train"
        empty = empty if "empty_answer" in config.model_fields_set else "train"
    samples, report = load_samples(config.data, missing, empty)
    if config.protocol == "paper":
        if config.system_prompt:
            raise ConfigError("protocol: paper renders as the reference does, with no system prompt; "
                              "drop system_prompt")
        renderer = ReferenceRenderer(tokenizer, model_type == "llama", config.reasoning_model, model_name)
    else:
        renderer = ChatRenderer(tokenizer, config.system_prompt, config.reasoning_model, model_name)
    items = tokenize_samples(renderer, samples, config.think, config.max_length, config.truncation, report)
    return renderer, items, report


def plan(config: TrainConfig, resolved: Resolved, items: list[Tokenized], pad_id: int):
    longest = max(len(item) for item in items)
    if longest > resolved.micro_batch_tokens:
        resolved.notes.append(f"micro_batch_tokens raised from {resolved.micro_batch_tokens} to the longest "
                              f"sample, {longest}")
        resolved.micro_batch_tokens = longest
    lengths = [len(item) for item in items]
    batch = min(resolved.global_batch_size, len(items))
    steps_per_epoch = -(-len(items) // batch)
    schedule(resolved, config, steps_per_epoch)
    the_plan = plan_steps(lengths, resolved.global_batch_size, resolved.micro_batch_tokens, resolved.world_size,
                          resolved.total_steps, config.seed)
    resolved.accumulation = the_plan.accumulation
    return the_plan, pack_rows(the_plan, items, pad_id), step_tokens(the_plan, items)


def _zero_processes(checkpoint: Path) -> int:
    """How many processes wrote a DeepSpeed ZeRO checkpoint (one optimizer shard each); 0 for other kinds."""
    return len(list(checkpoint.glob("global_step*/*_optim_states.pt")))


def _check_resume(out: Path, config: TrainConfig, run_fingerprint: str, world_size: int = 1) -> str | None:
    """The checkpoint to resume from, after checking it belongs to this same run and this many processes
    can load it."""
    checkpoints = out / "checkpoints"
    # A checkpoint is complete once the Trainer wrote trainer_state.json, its last file: a run killed
    # while saving leaves a folder without it, and resuming skips that folder.
    found = sorted((p for p in checkpoints.glob("checkpoint-*") if (p / "trainer_state.json").exists()),
                   key=lambda p: int(p.name.split("-")[-1])) if checkpoints.exists() else []
    if not found:
        return None
    if not config.resume:
        if _is_main_process():
            shutil.rmtree(checkpoints, ignore_errors=True)
        return None
    previous = out / CONFIG_FILE
    if previous.exists():
        before = json.loads(previous.read_text(encoding="utf-8")).get("fingerprint")
        if before != run_fingerprint:
            raise ConfigError(f"{out} holds checkpoints of a different run (data, batch or loss-weighting "
                              "settings changed); use another --out, or --set resume=false to start over")
    written_by = _zero_processes(found[-1])
    if written_by and written_by != world_size:
        # Measured (DeepSpeed 0.19.8): "ZeRORuntimeException: The checkpoint being loaded used a DP world size
        # of 2 but the current world size is 1", after the model is built. Said here, before anything runs.
        raise ConfigError(f"{found[-1]} is a DeepSpeed ZeRO checkpoint written by {written_by} processes; DeepSpeed "
                          f"cannot load its optimizer shards into {world_size}: resume with --num_processes "
                          f"{written_by} (FSDP checkpoints, configs/accelerate/fsdp.yaml, resume at any count)")
    return str(found[-1])


def write_config(out: Path, config: TrainConfig, resolved: Resolved, renderer: ChatRenderer,
                 run_fingerprint: str, report: DataReport) -> None:
    import transformers

    write_json_atomic(out / CONFIG_FILE, {
        "config": config.model_dump(mode="json"),
        "resolved": resolved.to_dict(),
        "template": renderer.info.__dict__,
        "data": report.summary(),
        "fingerprint": run_fingerprint,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "python": platform.python_version()},
    })


def _model_name(config: TrainConfig, resolved: Resolved) -> str:
    """The model as the user named it, for messages and the loss curve's title."""
    return config.model.engine_string() if config.model is not None else resolved.model_path


def train(config: TrainConfig, callbacks: list | None = None, quiet: bool = False) -> TrainResult:
    """Run a training job as configured; resumes from OUT/checkpoints when it can."""
    say = _say if not quiet and _is_main_process() else (lambda message, label="": None)
    out = output_dir(config)
    resolved = resolve(config)  # a missing or wrong model is an error before the folder exists
    out.mkdir(parents=True, exist_ok=True)
    if resolved.threads:
        torch.set_num_threads(resolved.threads)
    attention.register()
    tokenizer = load_tokenizer(config, resolved.model_path)
    renderer, items, report = prepare_items(config, tokenizer, _model_name(config, resolved),
                                            _model_type(resolved.model_path) if config.protocol == "paper" else None)
    if renderer.info.strips_reasoning:
        resolved.notes.append("the chat template strips reasoning from assistant turns; samples are rendered "
                              "with the reasoning kept")
    for line in report.problems():
        say(line, "[yellow]data:[/] ")
    the_plan, rows, tokens_per_step = plan(config, resolved, items, tokenizer.pad_token_id)
    n_params, model_config = _count_parameters(resolved.model_path)
    if config.gradient_checkpointing is None:
        on, why = needs_checkpointing(model_config, n_params, config.lora, resolved.micro_batch_tokens,
                                      resolved.device)
        resolved.gradient_checkpointing = on
        resolved.notes.append(f"gradient checkpointing {'on' if on else 'off'}: {why}")
    run_fingerprint = fingerprint(items, the_plan, config.loss_weighting)
    resume_from = _check_resume(out, config, run_fingerprint, resolved.world_size)
    if _is_main_process():
        write_config(out, config, resolved, renderer, run_fingerprint, report)
    for note in resolved.notes:
        say(note, "[cyan]note:[/] ")
    say(f"training {len(items)} samples ({sum(map(len, items)):,} tokens), {resolved.total_steps} steps of "
        f"{resolved.global_batch_size} sequences in {resolved.accumulation} packed micro-batch(es) per device, "
        f"loss weighted per {config.loss_weighting}, {resolved.warmup_steps} warm-up steps"
        + (f"; resuming from {resume_from}" if resume_from else ""))

    args = training_arguments(config, resolved, out)  # before the model: DeepSpeed ZeRO-3 init needs it
    model = load_model(config, resolved)
    recorder = StepRecorder(tokens_per_step)
    trainer = make_trainer(model, args, rows, tokenizer, [recorder, *(callbacks or [])], config.loss_weighting)
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume_from)
    seconds = time.perf_counter() - started

    result = TrainResult(out, resolved, report, recorder.steps, resumed_from=resume_from, trainer=trainer)
    curve = curve_rows(trainer.state.log_history, recorder.steps, resolved.steps_per_epoch)
    result.final_loss = curve[-1]["loss"] if curve else None
    finished = trainer.state.global_step >= resolved.total_steps
    sharded = trainer.is_deepspeed_enabled or trainer.is_fsdp_enabled
    notes = []
    if finished and sharded:
        # Gathering sharded weights is collective: every rank takes part. LoRA stays unmerged here.
        trainer.save_model(str(out))
        notes.append("sharded run: saved with Trainer.save_model (LoRA adapters are not merged)")
    if trainer.is_world_process_zero():
        write_loss_curve(out, curve, f"{_model_name(config, resolved)} on {len(items)} samples",
                         config.loss_weighting)
        if finished:
            notes.append(save_tokenizer(tokenizer, out, renderer.info.strips_reasoning))
            if not sharded:
                notes += save_model(trainer.accelerator.unwrap_model(trainer.model), out,
                                    source_dtype(resolved.model_path), config.merge_lora)
        write_json_atomic(out / REPORT_FILE, {
            "finished": finished, "global_step": trainer.state.global_step, "total_steps": resolved.total_steps,
            "resumed_from": resume_from, "seconds": seconds, "final_loss": result.final_loss,
            "trained_tokens": sum(tokens_per_step[:trainer.state.global_step]),
            "steps": recorder.steps, "notes": notes, "data": report.summary(),
        })
    return result

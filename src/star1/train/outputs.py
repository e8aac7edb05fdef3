"""What a run leaves behind: a standard HF checkpoint, its tokenizer and reasoning-keeping chat template,
the resolved configuration, and the loss curve (CSV + PNG). Every file is written atomically."""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
from pathlib import Path

import torch

from star1.io import write_bytes_atomic, write_text_atomic
from star1.train.render import keeping_template

CURVE_FIELDS = ("step", "epoch", "loss", "learning_rate", "grad_norm", "tokens_per_s")


def curve_rows(log_history: list[dict], steps: list[dict], steps_per_epoch: int) -> list[dict]:
    """One row per logged step. ``epoch`` counts passes over the data (the Trainer sees one long epoch)."""
    speed = {s["step"]: s["tokens_per_s"] for s in steps}
    rows = []
    for entry in log_history:
        if "loss" not in entry or "step" not in entry:
            continue
        row = {key: entry.get(key) for key in CURVE_FIELDS}
        row["epoch"] = entry["step"] / steps_per_epoch
        row["tokens_per_s"] = speed.get(entry["step"])
        rows.append(row)
    return rows


LOSS_AXIS = {"sample": "training loss (mean over samples of their mean answer-token loss)",
             "token": "training loss (mean over answer tokens)"}


def write_loss_curve(out: Path, rows: list[dict], title: str, loss_weighting: str = "token") -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CURVE_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(out / "loss_curve.csv", buffer.getvalue())
    if not rows:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4))
    ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], marker="o" if len(rows) < 50 else None)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(LOSS_AXIS[loss_weighting], fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=120)
    plt.close(fig)
    write_bytes_atomic(out / "loss_curve.png", png.getvalue())


def _publish(staging: Path, out: Path) -> None:
    """Move every file of ``staging`` into ``out``, each in one step, then drop ``staging``."""
    for path in staging.iterdir():
        target = out / path.name
        if target.is_dir() and not path.is_dir():
            shutil.rmtree(target)
        os.replace(path, target)
    staging.rmdir()


def save_tokenizer(tokenizer, out: Path, strips_reasoning: bool) -> str:
    """Save the tokenizer; a template that strips reasoning is saved patched to keep it (if possible)."""
    note = "chat template saved unchanged (it keeps reasoning)"
    original = tokenizer.chat_template
    if strips_reasoning:
        patched = keeping_template(tokenizer, original)
        if patched is None:
            note = ("chat template strips reasoning and could not be patched safely: saved unchanged, "
                    "so earlier turns lose their reasoning when rendered at inference")
        else:
            tokenizer.chat_template = patched
            note = "chat template patched to keep reasoning in assistant turns (original in chat_template.original.jinja)"
            write_text_atomic(out / "chat_template.original.jinja", original)
    try:
        staging = Path(tempfile.mkdtemp(prefix=".tokenizer-", dir=out))
        tokenizer.save_pretrained(staging)
        _publish(staging, out)
    finally:
        tokenizer.chat_template = original
    return note


def save_model(model, out: Path, dtype: torch.dtype, merge_lora: bool) -> list[str]:
    """Write the final weights to ``out`` as a plain checkpoint (LoRA merged unless told otherwise)."""
    notes = []
    if hasattr(model, "peft_config"):
        staging = Path(tempfile.mkdtemp(prefix=".adapter-", dir=out))
        model.save_pretrained(staging)
        final = out / "adapter"
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
        notes.append("LoRA adapter saved in adapter/")
        if not merge_lora:
            notes.append("not merged: load with peft.AutoPeftModelForCausalLM.from_pretrained(OUT/adapter)")
            return notes
        model = model.merge_and_unload()
        notes.append("LoRA merged into the base weights: OUT loads as a plain checkpoint")
    model = model.to(dtype)
    # Training-only attention names must not leak into the saved config.
    if getattr(model.config, "_attn_implementation", None) not in (None, "sdpa", "eager"):
        model.config._attn_implementation = "sdpa"
    model.config.use_cache = True
    staging = Path(tempfile.mkdtemp(prefix=".model-", dir=out))
    model.save_pretrained(staging, safe_serialization=True)
    _publish(staging, out)
    return notes

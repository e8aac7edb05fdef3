"""Training precision: bf16 autocast over fp32 weights (star1's single-process / DDP path, the
transformers Trainer with ``bf16=True``) against DeepSpeed's bf16 mode (the reference: accelerate
with ``mixed_precision: bf16`` and ZeRO-3, so the model runs in bf16 and the optimizer keeps fp32
master weights), both against plain fp32, on the bundled model (SmolLM2-135M) for a few steps.

Each mode starts from the same fp32 weights and takes the same AdamW steps (the paper's lr 1e-5,
betas (0.9, 0.95), weight decay 1e-4) on the same STAR-1 samples, one sample per step. Reported:
each step's loss, and after the last step the size of each mode's weight change and its distance
from fp32's change (relative: ||w_mode - w_fp32|| / ||w_fp32 - w_0||).

    DS_ACCELERATOR=cpu python benchmarks/train_precision.py --steps 4 --tokens 256

DeepSpeed runs for real (one process, gloo) when it is installed; its optimizer is torch's AdamW
(``zero_allow_untested_optimizer``), since DeepSpeed's CPU Adam needs a compiled extension.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

LR, BETAS, WEIGHT_DECAY = 1e-5, (0.9, 0.95), 1e-4


def samples(tokenizer, data: Path, count: int, tokens: int) -> list[torch.Tensor]:
    rows = json.loads(data.read_text(encoding="utf-8"))[:count]
    out = []
    for row in rows:
        text = tokenizer.apply_chat_template([{"role": "user", "content": row["question"]},
                                              {"role": "assistant", "content": row["response"]}], tokenize=False)
        out.append(torch.tensor([tokenizer.encode(text, add_special_tokens=False)[:tokens]]))
    return out


def load(path: str):
    """The bundled fp32 weights rounded to bf16 (as the R1 distills are published: bf16), held
    in fp32. Without the rounding DeepSpeed's first cast to bf16 would itself move every weight
    (measured: 14x the size of two fp32 AdamW steps), which says nothing about training."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(torch.bfloat16).float())
    model.config.use_cache = False
    return model


def flat(model) -> torch.Tensor:
    return torch.cat([p.detach().float().reshape(-1) for p in model.parameters()])


def run_plain(path: str, batches, autocast: bool) -> tuple[list[float], torch.Tensor]:
    model = load(path)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, betas=BETAS, weight_decay=WEIGHT_DECAY)
    losses = []
    for ids in batches:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses, flat(model)


def run_deepspeed(path: str, batches) -> tuple[list[float], torch.Tensor]:
    import deepspeed

    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29517")
    os.environ.setdefault("RANK", "0")
    os.environ.setdefault("LOCAL_RANK", "0")
    os.environ.setdefault("WORLD_SIZE", "1")
    deepspeed.init_distributed(dist_backend="gloo")
    model = load(path)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, betas=BETAS, weight_decay=WEIGHT_DECAY)
    config = {"train_micro_batch_size_per_gpu": 1, "gradient_accumulation_steps": 1,
              "bf16": {"enabled": True}, "zero_optimization": {"stage": 3},
              "zero_allow_untested_optimizer": True, "gradient_clipping": 0.0}
    engine, *_ = deepspeed.initialize(model=model, optimizer=optimizer, config=config)
    engine.train()
    losses = []
    for ids in batches:
        loss = engine(input_ids=ids, labels=ids).loss
        engine.backward(loss)
        engine.step()
        losses.append(loss.float().item())
    # The fp32 master weights, gathered (what a checkpoint saves).
    from deepspeed.utils import safe_get_full_fp32_param

    weights = torch.cat([safe_get_full_fp32_param(p).detach().float().reshape(-1) for p in engine.module.parameters()])
    return losses, weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--data", default=os.environ.get("STAR1_DATA_DIR", "../shared/data") + "/star1/STAR-1.json")
    parser.add_argument("--out", default=None, help="write the numbers as JSON here")
    args = parser.parse_args()
    from transformers import AutoTokenizer

    from star1.engines.bundled import bundled_model_dir

    torch.set_num_threads(1)
    path = str(bundled_model_dir())
    tokenizer = AutoTokenizer.from_pretrained(path)
    batches = samples(tokenizer, Path(args.data), args.steps, args.tokens)
    w0 = flat(load(path))
    results = {}
    for name, fn in (("fp32", lambda: run_plain(path, batches, False)),
                     ("autocast_bf16", lambda: run_plain(path, batches, True)),
                     ("deepspeed_bf16", lambda: run_deepspeed(path, batches))):
        started = time.perf_counter()
        losses, weights = fn()
        results[name] = {"losses": losses, "weights": weights, "seconds": time.perf_counter() - started}
    base = results["fp32"]
    update = (base["weights"] - w0).norm().item()
    table = {}
    for name, r in results.items():
        table[name] = {
            "losses": [round(x, 5) for x in r["losses"]],
            "max_loss_diff_vs_fp32": max(abs(a - b) for a, b in zip(r["losses"], base["losses"])),
            "update_norm": (r["weights"] - w0).norm().item(),
            "distance_to_fp32_relative_to_update": (r["weights"] - base["weights"]).norm().item() / update,
            "seconds": round(r["seconds"], 1)}
    table["autocast_vs_deepspeed"] = {
        "max_loss_diff": max(abs(a - b) for a, b in zip(results["autocast_bf16"]["losses"],
                                                         results["deepspeed_bf16"]["losses"])),
        "weight_distance_relative_to_update":
            (results["autocast_bf16"]["weights"] - results["deepspeed_bf16"]["weights"]).norm().item() / update}
    text = json.dumps({"steps": args.steps, "tokens": args.tokens, **table}, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

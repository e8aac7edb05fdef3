"""Training throughput, side by side in one run: reference style vs TRL SFTTrainer vs star1 train.

On a randomly initialised model with DeepSeek-R1-Distill-Qwen-1.5B's exact shape (``--shape r1-1.5b``,
1.78 B parameters) or a tiny one for CPUs (``--shape tiny``), on the token-length distribution of the
STAR-1 1K data (``star1_token_lengths.json``: lengths only, no text). Token ids are random; the
first ``prompt`` tokens of each sample carry no label, as in real training.

Modes (each runs in its own process, with its own time budget, so one failure cannot hide the others):

  c  star1 train's configuration: its planner, packed rows, attention choice, Trainer and defaults
     (varlen FlashAttention kernels in torch on CUDA, Liger when installed, no checkpointing when
     memory allows, global batch 128 sequences), once per ``--loss-weighting`` (sample, the default:
     every sample counts the same, from the logits; token: the model's own loss, Liger's fused
     cross-entropy when enabled).
  a  the reference style: fp32 master weights + bf16 autocast, one sequence per micro-step, gradient
     accumulation 16, gradient checkpointing, torch AdamW.
  d  (c) without Liger kernels: what star1 gets where liger-kernel is missing or broken.
  b  TRL SFTTrainer as a user configures it: pre-tokenized prompt/completion data,
     ``packing=True`` (best-fit-decreasing, padding-free), bf16, TRL's defaults otherwise
     (gradient checkpointing on), Liger when installed. star1 does not depend on TRL; this mode
     needs ``pip install "trl>=0.20" datasets`` and is skipped, saying so, without them.

Reported per mode: trained tokens/s (real tokens of the samples, no padding: median over the
measured optimizer steps and overall), peak GPU memory, MFU and the warm-up (process start to the
end of the first optimizer step). MFU counts model FLOPs only: 6 x N x tokens for the matmul
parameters (every weight except the input embedding lookup; the LM head included) plus
6 x layers x (heads x head_dim) x s^2 per sequence of length s for causal attention (QK^T and AV,
forward + backward, half the square); recomputation by checkpointing is not counted. Peak: 989 TFLOP/s
dense bf16 for H100/H200 SXM (override with --peak-tflops).

    python benchmarks/train_throughput.py --device cpu --shape tiny      # here
    python benchmarks/train_throughput.py --device cuda                  # GPU, full shape
    python benchmarks/train_throughput.py --loss-weighting sample,token  # (c), (d) once with each
    python benchmarks/train_throughput.py --make-lengths ../shared/data/star1/STAR-1.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LENGTHS = HERE / "star1_token_lengths.json"
STARTED = time.perf_counter()

SHAPES = {
    # DeepSeek-R1-Distill-Qwen-1.5B (its config.json): Qwen2, untied embeddings.
    "r1-1.5b": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                    num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=False, rope_theta=10000.0,
                    max_position_embeddings=131072, rms_norm_eps=1e-6, use_sliding_window=False),
    "tiny": dict(hidden_size=128, intermediate_size=384, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=8192, tie_word_embeddings=False, rope_theta=10000.0,
                 max_position_embeddings=16384, rms_norm_eps=1e-6, use_sliding_window=False),
}
MODE_NAMES = {"a": "reference style", "b": "TRL SFTTrainer", "c": "star1 train", "d": "star1 train, no Liger"}
STAR1_MODES = ("c", "d")  # the modes that run once per --loss-weighting
WEIGHTINGS = ("sample", "token")
TRL_INSTALL = 'pip install "trl>=0.20" datasets'  # optional: star1 itself does not use TRL
# Measured optimizer steps after warm-up, and the wall-clock budget of each child process.
PLAN = {"cuda": {"c": (2, 12, 100), "a": (1, 3, 90), "b": (1, 5, 110), "d": (2, 8, 60)},
        "cpu": {"c": (1, 1, 400), "a": (1, 1, 300), "b": (1, 1, 400), "d": (1, 1, 400)}}
# TRL packs rows of max_length tokens; on CPU its dense packed-sequence mask needs shorter rows.
TRL_ROW = {"cuda": 8192, "cpu": 2048}
PEAK_TFLOPS = {"H200": 989.4, "H100": 989.4, "A100": 312.0}


# ---------------------------------------------------------------------------------------------------
# Data and model
# ---------------------------------------------------------------------------------------------------

def make_lengths(data: str) -> None:
    """Render STAR-1 with star1's renderer and the bundled SmolLM2 tokenizer; store only the lengths."""
    from transformers import AutoTokenizer

    from star1.engines.bundled import bundled_model_dir
    from star1.train.data import load_samples
    from star1.train.render import ChatRenderer, IGNORE_INDEX

    tokenizer = AutoTokenizer.from_pretrained(bundled_model_dir())
    samples, _ = load_samples([data])
    renderer = ChatRenderer(tokenizer)
    items = [renderer.tokenize(s) for s in samples]
    prompt = [next(i for i, label in enumerate(item.labels) if label != IGNORE_INDEX) for item in items]
    LENGTHS.write_text(json.dumps({
        "what": "token counts of the released STAR-1 1K samples (prompt + <think> reasoning + answer + end of "
                "turn), rendered by star1's chat renderer with the bundled SmolLM2-135M-Instruct tokenizer",
        "samples": len(items), "prompt": prompt, "total": [len(item) for item in items]}) + "\n")
    total = [len(item) for item in items]
    print(f"{len(items)} samples: mean {statistics.mean(total):.0f}, max {max(total)} tokens -> {LENGTHS}")


def load_lengths(limit: int | None = None):
    data = json.loads(LENGTHS.read_text())
    pairs = list(zip(data["prompt"], data["total"]))
    return pairs[:limit] if limit else pairs


def token_items(pairs, vocab: int, seed: int = 0):
    import torch

    from star1.train.render import IGNORE_INDEX, Tokenized

    generator = torch.Generator().manual_seed(seed)
    items = []
    for index, (prompt, total) in enumerate(pairs):
        ids = torch.randint(3, vocab, (total,), generator=generator).tolist()
        items.append(Tokenized(str(index), ids, [IGNORE_INDEX] * prompt + ids[prompt:]))
    return items


def build_model(shape: str, device: str, attn: str):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(**SHAPES[shape], use_cache=False, attn_implementation=attn)
    with torch.device(device):
        model = Qwen2ForCausalLM(config)
    return model.float()


def flops_per_sequence(config, length: int) -> float:
    embed = config.vocab_size * config.hidden_size
    n_params = _param_count(config) - embed
    attn_width = config.num_attention_heads * (config.hidden_size // config.num_attention_heads)
    return 6 * n_params * length + 6 * config.num_hidden_layers * attn_width * length * length


def _param_count(config) -> int:
    h, i, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    head = h // config.num_attention_heads
    kv = config.num_key_value_heads * head
    per_layer = (h * h + h) + 2 * (h * kv + kv) + h * h + 3 * h * i + 2 * h
    lm_head = 0 if config.tie_word_embeddings else config.vocab_size * h
    return config.vocab_size * h + layers * per_layer + h + lm_head


# ---------------------------------------------------------------------------------------------------
# Measurement
# ---------------------------------------------------------------------------------------------------

class Meter:
    """Per-optimizer-step times and token counts; the first ``warmup`` steps are not measured."""

    def __init__(self, device: str, warmup: int, steps: int, budget: float):
        self.device, self.warmup, self.steps, self.budget = device, warmup, steps, budget
        self.records: list[dict] = []
        self.first_step_done: float | None = None
        self._last = None
        self.on_step = None  # called after each step (the child saves partial results with it)

    def start(self):
        self._sync()
        self._last = time.perf_counter()

    def _sync(self):
        import torch

        if self.device == "cuda":
            torch.cuda.synchronize()

    def step(self, tokens: int, flops: float) -> bool:
        """Record one finished optimizer step; False when enough steps were measured or time is up."""
        self._sync()
        now = time.perf_counter()
        self.records.append({"seconds": now - self._last, "tokens": tokens, "flops": flops})
        self._last = now
        if self.first_step_done is None:
            self.first_step_done = now - STARTED
        if self.on_step is not None:
            self.on_step()
        measured = len(self.records) - self.warmup
        return measured < self.steps and (now - STARTED) < self.budget

    def summary(self, peak_tflops: float | None) -> dict:
        import torch

        measured = self.records[self.warmup:] or self.records[-1:]
        rates = [r["tokens"] / r["seconds"] for r in measured]
        seconds = sum(r["seconds"] for r in measured)
        tokens = sum(r["tokens"] for r in measured)
        flops = sum(r["flops"] for r in measured)
        out = {
            "steps_measured": len(self.records[self.warmup:]), "warmup_steps": self.warmup,
            "tokens_per_s_median": statistics.median(rates), "tokens_per_s_overall": tokens / seconds,
            "tokens_per_step": statistics.mean(r["tokens"] for r in measured),
            "seconds_per_step_median": statistics.median(r["seconds"] for r in measured),
            "warmup_to_first_step_s": self.first_step_done,
            "first_step_s": self.records[0]["seconds"] if self.records else None,
            "achieved_tflops": flops / seconds / 1e12,
        }
        if peak_tflops:
            out["mfu"] = flops / seconds / (peak_tflops * 1e12)
        if self.device == "cuda":
            out["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
            out["peak_reserved_gib"] = torch.cuda.max_memory_reserved() / 2**30
        else:
            import resource

            out["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        return out


# ---------------------------------------------------------------------------------------------------
# Modes
# ---------------------------------------------------------------------------------------------------

def run_reference(args, pairs, meter: Meter) -> dict:
    """fp32 weights + bf16 autocast, one sequence per micro-step, accumulation 16, checkpointing, AdamW."""
    import torch

    device = args.device
    model = build_model(args.shape, device, "sdpa")
    model.gradient_checkpointing_enable()
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, betas=(0.9, 0.95), weight_decay=1e-4)
    items = token_items(pairs, model.config.vocab_size)
    order = torch.randperm(len(items), generator=torch.Generator().manual_seed(0)).tolist()
    accumulation, cursor = 16, 0
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" else torch.autocast("cpu", enabled=False)
    meter.start()
    while True:
        tokens = flops = 0
        for _ in range(accumulation):
            item = items[order[cursor % len(order)]]
            cursor += 1
            ids = torch.tensor([item.input_ids], device=device)
            labels = torch.tensor([item.labels], device=device)
            with autocast:
                loss = model(input_ids=ids, labels=labels).loss / accumulation
            loss.backward()
            tokens += len(item)
            flops += flops_per_sequence(model.config, len(item))
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if not meter.step(tokens, flops):
            break
    return {"config": "sdpa, batch 1, accumulation 16, gradient checkpointing, torch AdamW (foreach)",
            "final_loss": loss.item() * accumulation}


def _step_callback(meter: Meter, tokens_of_step, flops_of_step):
    from transformers import TrainerCallback

    class StepMeter(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            meter.start()

        def on_step_end(self, args, state, control, **kwargs):
            step = state.global_step
            if not meter.step(tokens_of_step(step), flops_of_step(step)):
                control.should_training_stop = True

    return StepMeter()


def run_star1(args, pairs, meter: Meter) -> dict:
    """star1 train's own planner, collator, attention choice and Trainer, on the random model."""
    from star1.train import attention
    from star1.train.config import TrainConfig
    from star1.train.packing import pack_rows, plan_steps, step_tokens
    from star1.train.resolve import needs_checkpointing, resolve, schedule
    from star1.train.trainer import make_trainer, training_arguments

    attention.register()
    liger = False if args.child == "d" else args.liger
    # threads as set for every mode, so star1's busy-CPU rule does not give (c) a different count.
    config = TrainConfig(data=["bench"], out="bench", device=args.device, liger=liger,
                         threads=args.threads or torch_threads(), loss_weighting=args.loss_weighting,
                         max_steps=meter.warmup + meter.steps, global_batch_size=128)
    resolved = resolve(config, find_model=False)
    model = build_model(args.shape, args.device, resolved.attn_implementation)
    items = token_items(pairs, model.config.vocab_size)
    check = varlen_check(model, items) if resolved.attn_implementation == attention.VARLEN else None
    if config.gradient_checkpointing is None:
        n_params = sum(p.numel() for p in model.parameters())
        on, why = needs_checkpointing(model.config, n_params, False, resolved.micro_batch_tokens, args.device)
        resolved.gradient_checkpointing = on
        resolved.notes.append(f"gradient checkpointing {'on' if on else 'off'}: {why}")
    lengths = [len(i) for i in items]
    schedule(resolved, config, -(-len(items) // resolved.global_batch_size))
    plan = plan_steps(lengths, resolved.global_batch_size, resolved.micro_batch_tokens, 1, resolved.total_steps, 0)
    resolved.accumulation = plan.accumulation
    tokens = step_tokens(plan, items)
    flops = [sum(flops_per_sequence(model.config, lengths[i]) for row in step for i in row) for step in plan.steps]
    with tempfile.TemporaryDirectory() as tmp:
        training_args = training_arguments(config, resolved, Path(tmp), save=False)
        training_args.disable_tqdm = True
        trainer = make_trainer(model, training_args, pack_rows(plan, items, 0),
                               callbacks=[_step_callback(meter, lambda s: tokens[s - 1], lambda s: flops[s - 1])],
                               loss_weighting=config.loss_weighting)
        trainer.train()
    return {"config": f"{resolved.attn_implementation}, liger={resolved.liger}, "
                      f"checkpointing={resolved.gradient_checkpointing}, global batch 128 seqs in "
                      f"{plan.accumulation} packed rows of <= {resolved.micro_batch_tokens} tokens, "
                      f"precision {resolved.precision}, loss weighted per {config.loss_weighting}",
            "notes": resolved.notes, "varlen_check": check,
            "final_loss": next((e["loss"] for e in reversed(trainer.state.log_history) if "loss" in e), None)}


def varlen_check(model, items) -> dict:
    """On GPU: loss of one packed row with varlen_attn vs exact per-sequence SDPA (bf16 autocast)."""
    import torch

    from star1.train.packing import PackedCollator

    rows = [{"input_ids": [t for it in items[:24] for t in it.input_ids],
             "labels": [l for it in items[:24] for l in ([-100] + it.labels[1:])],
             "seq_lens": [len(it) for it in items[:24]]}]
    batch = {k: (v.cuda() if hasattr(v, "cuda") else v) for k, v in PackedCollator()(rows).items()}
    losses = {}
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        for impl in ("star1_varlen", "star1_segments"):
            model.config._attn_implementation = impl
            losses[impl] = model(**batch).loss.item()
    model.config._attn_implementation = "star1_varlen"
    return {**losses, "abs_diff": abs(losses["star1_varlen"] - losses["star1_segments"])}


def run_trl(args, pairs, meter: Meter) -> dict:
    """TRL SFTTrainer with packing (padding-free BFD), as its documentation suggests."""
    import trl  # optional, see TRL_INSTALL
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from star1.train import attention

    model = build_model(args.shape, args.device, "sdpa")
    items = token_items(pairs, model.config.vocab_size)
    dataset = Dataset.from_dict({
        "input_ids": [it.input_ids for it in items],
        "completion_mask": [[0 if label == -100 else 1 for label in it.labels] for it in items]})
    liger = importlib.util.find_spec("liger_kernel") is not None and args.device == "cuda"
    if args.liger is not None:
        liger = args.liger
    counted = {"tokens": 0, "flops": 0.0}
    per_step: dict[int, tuple[int, float]] = {}

    with tempfile.TemporaryDirectory() as tmp:
        config = SFTConfig(output_dir=tmp, packing=True, max_length=TRL_ROW[args.device], per_device_train_batch_size=2,
                           gradient_accumulation_steps=3, completion_only_loss=True, learning_rate=1e-5,
                           lr_scheduler_type="cosine", weight_decay=1e-4, adam_beta2=0.95,
                           bf16=args.device == "cuda", use_cpu=args.device == "cpu", use_liger_kernel=liger,
                           max_steps=meter.warmup + meter.steps, logging_steps=1, save_strategy="no",
                           report_to="none", disable_tqdm=True, dataloader_num_workers=0)
        trainer = SFTTrainer(model=model, args=config, train_dataset=dataset,
                             processing_class=tiny_tokenizer())
        collate = trainer.data_collator

        def counting(examples):
            batch = collate(examples)
            if "cu_seq_lens_q" in batch:
                lengths = batch["cu_seq_lens_q"].diff().tolist()
            else:  # older TRL: boundaries only in the restarting position ids
                lengths = attention.boundaries(batch["position_ids"])[0].diff().tolist()
            counted["tokens"] += sum(lengths)
            counted["flops"] += sum(flops_per_sequence(model.config, n) for n in lengths)
            return batch

        trainer.data_collator = counting
        seen = {"tokens": 0, "flops": 0.0}

        def take(step):
            if step not in per_step:
                per_step[step] = (counted["tokens"] - seen["tokens"], counted["flops"] - seen["flops"])
                seen.update(counted)
            return per_step[step]

        trainer.add_callback(_step_callback(meter, lambda s: take(s)[0], lambda s: take(s)[1]))
        trainer.train()
    return {"config": f"trl {trl.__version__}: packing=True (bfd, padding-free), max_length "
                      f"{TRL_ROW[args.device]}, 2 rows x "
                      f"accumulation 3, bf16={config.bf16}, gradient checkpointing={config.gradient_checkpointing} (TRL "
                      f"default), liger={liger}, sdpa",
            "final_loss": next((e["loss"] for e in reversed(trainer.state.log_history) if "loss" in e), None)}


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def tiny_tokenizer():
    """TRL wants a tokenizer for its pad token; the data is already token ids."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel({"<pad>": 0, "<eos>": 1, "<unk>": 2}, unk_token="<unk>"))
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="<eos>",
                                   unk_token="<unk>")


RUNNERS = {"a": run_reference, "b": run_trl, "c": run_star1, "d": run_star1}


def child(args) -> None:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    warmup, steps, budget = PLAN[args.device][args.child]
    steps, budget = args.steps or steps, args.budget or budget
    pairs = load_lengths(args.samples)
    meter = Meter(args.device, warmup, steps, budget - 15)
    peak = args.peak_tflops or _peak(args.device)
    result = {"mode": run_key(args.child, args.loss_weighting), "name": mode_name(args.child, args.loss_weighting),
              "status": "ok"}
    if args.device == "cuda":
        result["gpu"] = torch.cuda.get_device_name()

    def save(partial: bool) -> None:
        # Written after every step, so a mode killed by its timeout still reports what it measured.
        Path(args.result).write_text(json.dumps({**result, **meter.summary(peak), "partial": partial}, indent=2))

    meter.on_step = lambda: save(True)
    result.update(RUNNERS[args.child](args, pairs, meter))
    save(False)


def _peak(device: str) -> float | None:
    import torch

    if device != "cuda":
        return None
    name = torch.cuda.get_device_name()
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)


# ---------------------------------------------------------------------------------------------------
# Parent: run the modes one by one, each in its own process, and print one table
# ---------------------------------------------------------------------------------------------------

def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for name in ("torch", "transformers", "accelerate", "trl", "liger-kernel", "datasets", "flash-attn"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def run_key(mode: str, weighting: str | None) -> str:
    return f"{mode}-{weighting}" if mode in STAR1_MODES and weighting else mode


def mode_name(mode: str, weighting: str | None) -> str:
    return f"{MODE_NAMES[mode]}, {weighting} weighting" if mode in STAR1_MODES and weighting else MODE_NAMES[mode]


def missing_for(mode: str) -> str | None:
    """Why a mode cannot run here, or None."""
    if mode == "b":
        absent = [name for name in ("trl", "datasets") if importlib.util.find_spec(name) is None]
        if absent:
            return f"skipped: {' and '.join(absent)} not installed ({TRL_INSTALL})"
    return None


def run_mode(mode: str, weighting: str | None, args, out_dir: Path) -> dict:
    key = run_key(mode, weighting)
    skipped = missing_for(mode)
    if skipped:
        return {"mode": key, "name": mode_name(mode, weighting), "status": skipped, "wall_s": 0.0}
    budget = args.budget or PLAN[args.device][mode][2]
    result_file = out_dir / f"mode_{key}.json"
    command = [sys.executable, __file__, "--child", mode, "--device", args.device, "--shape", args.shape,
               "--result", str(result_file)]
    if weighting:
        command += ["--loss-weighting", weighting]
    for flag, value in (("--steps", args.steps), ("--samples", args.samples), ("--peak-tflops", args.peak_tflops),
                        ("--budget", budget), ("--threads", args.threads)):
        if value:
            command += [flag, str(value)]
    if args.liger is not None:
        command.append("--liger" if args.liger else "--no-liger")
    started = time.perf_counter()
    log = out_dir / f"mode_{key}.log"
    try:
        with log.open("w") as handle:
            proc = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, timeout=budget)
        status = "ok" if proc.returncode == 0 and result_file.exists() else f"failed (exit {proc.returncode})"
    except subprocess.TimeoutExpired:
        status = f"timed out after {budget} s"
    result = json.loads(result_file.read_text()) if result_file.exists() else {"mode": key}
    result.setdefault("name", mode_name(mode, weighting))
    if status != "ok":
        result["status"] = status
        result["log_tail"] = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    result["wall_s"] = time.perf_counter() - started
    return result


def table(results: list[dict], reference: dict | None) -> str:
    head = ("mode", "tokens/s (median)", "x ref", "MFU", "peak mem GiB", "warm-up s", "steps", "status")
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for r in results:
        ok = r.get("status") == "ok"
        speed = r.get("tokens_per_s_median")
        ratio = speed / reference["tokens_per_s_median"] if ok and reference and speed else None
        memory = r.get("peak_memory_gib", r.get("peak_rss_gib"))
        lines.append(" | ".join([
            f"({r['mode']}) {r['name']}",
            f"{speed:,.0f}" if speed else "-",
            f"{ratio:.1f}x" if ratio else "-",
            f"{100 * r['mfu']:.1f}%" if r.get("mfu") is not None else "n/a",
            f"{memory:.1f}" + ("" if "peak_memory_gib" in r else " (RSS)") if memory else "-",
            f"{r['warmup_to_first_step_s']:.0f}" if r.get("warmup_to_first_step_s") else "-",
            str(r.get("steps_measured", "-")),
            r.get("status", "?")]))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda")
    parser.add_argument("--shape", choices=tuple(SHAPES), default=None, help="default: r1-1.5b on cuda, tiny on cpu")
    parser.add_argument("--modes", default="c,a,b,d", help="comma-separated, in running order (default c,a,b,d)")
    parser.add_argument("--out", default=None, help="folder for results.json and per-mode logs")
    parser.add_argument("--steps", type=int, default=None, help="measured optimizer steps per mode")
    parser.add_argument("--budget", type=int, default=None,
                        help="seconds each mode may run (default: per mode, 360 s in all on GPU)")
    parser.add_argument("--samples", type=int, default=None, help="use only the first N length records")
    parser.add_argument("--peak-tflops", type=float, default=None)
    parser.add_argument("--liger", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads in every mode")
    parser.add_argument("--loss-weighting", default="sample",
                        help="comma-separated: sample, token; modes c and d run once with each (default sample)")
    parser.add_argument("--make-lengths", metavar="STAR1_JSON", help="(re)build star1_token_lengths.json")
    parser.add_argument("--child", choices=tuple(RUNNERS), help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make_lengths:
        make_lengths(args.make_lengths)
        return
    args.shape = args.shape or ("r1-1.5b" if args.device == "cuda" else "tiny")
    if args.child:
        child(args)
        return
    out_dir = Path(args.out or tempfile.mkdtemp(prefix="train-bench-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    weightings = [w.strip() for w in args.loss_weighting.split(",") if w.strip()]
    unknown = sorted(set(weightings) - set(WEIGHTINGS))
    if unknown or not weightings:
        parser.error(f"--loss-weighting takes {', '.join(WEIGHTINGS)} (comma-separated), not {args.loss_weighting!r}")
    runs = []
    for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
        runs += [(mode, w) for w in weightings] if mode in STAR1_MODES else [(mode, None)]
    results = []
    for mode, weighting in runs:
        print(f"running ({run_key(mode, weighting)}) {mode_name(mode, weighting)} ...", flush=True)
        results.append(run_mode(mode, weighting, args, out_dir))
        print(f"  {results[-1].get('status')} in {results[-1]['wall_s']:.0f} s", flush=True)
    reference = next((r for r in results if r["mode"] == "a" and r.get("status") == "ok"), None)
    lengths = [total for _, total in load_lengths(args.samples)]
    summary = {"device": args.device, "shape": args.shape, "versions": versions(),
               "lengths": {"samples": len(lengths), "mean": statistics.mean(lengths), "max": max(lengths)},
               "flops": "6*N*tokens (N = all weights but the input embedding) + 6*layers*heads*head_dim*s^2 "
                        "per sequence (causal attention, fwd+bwd); recomputation not counted",
               "results": results}
    (out_dir / "results.json").write_text(json.dumps(summary, indent=2))
    print()
    print(f"device {args.device}, shape {args.shape}, {len(lengths)} STAR-1 lengths "
          f"(mean {summary['lengths']['mean']:.0f}, max {summary['lengths']['max']})")
    print(table(results, reference))
    for r in results:
        if r.get("status", "").startswith("skipped"):
            print(f"\n({r['mode']}) {r['name']} {r['status']}")
        elif r.get("status") != "ok":
            print(f"\n({r['mode']}) {r['name']} {r.get('status')}; log tail:\n{r.get('log_tail', '')[-1500:]}")
        elif r.get("varlen_check"):
            print(f"\n({r['mode']}) varlen check: {r['varlen_check']}")
    print(f"\nresults: {out_dir / 'results.json'}")


if __name__ == "__main__":
    main()

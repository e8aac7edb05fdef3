"""A multi-GPU FSDP step of ``star1 train`` against one process, for machines without hub access
(``benchmarks/h200_train.sh`` runs it where several GPUs are visible).

    python benchmarks/fsdp_step.py prepare DIR [--shape tiny|r1-1.5b]   # model, tokenizer, data, train.yaml
    python -m star1.train --config DIR/train.yaml --out DIR/single
    accelerate launch --config_file configs/accelerate/fsdp.yaml --num_processes N -m star1.train \\
        --config DIR/train.yaml --out DIR/fsdp
    python benchmarks/fsdp_step.py compare DIR/single DIR/fsdp        # max |w| difference, losses, times

The model is a random Qwen2 of the chosen shape with a byte-level tokenizer and a ChatML template, the data
synthetic STAR-format records: everything is made locally. On CPU the same commands run the test's check
(``tests/train/test_sharded.py``) at a tiny shape.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from train_throughput import SHAPES  # noqa: E402

CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
          "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
WORDS = "policy safety request answer refuse explain because harmful benign user help reason step".split()


def byte_tokenizer():
    from tokenizers import Tokenizer, decoders, models
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {char: index for index, char in enumerate(sorted(ByteLevel.alphabet()))}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>"]})
    tokenizer.chat_template = CHATML
    return tokenizer


def prepare(folder: Path, shape: str, samples: int, steps: int) -> None:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(**SHAPES[shape], use_cache=False))
    model.save_pretrained(folder / "model")
    byte_tokenizer().save_pretrained(folder / "model")
    rng = random.Random(0)

    def text(n: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(n))

    records = [{"id": str(i), "question": text(rng.randint(5, 30)),
                "response": f"<think>\n{text(rng.randint(20, 120))}\n</think>\n\n{text(rng.randint(5, 40))}"}
               for i in range(samples)]
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    config = {"model": str(folder / "model"), "data": [str(folder / "data.jsonl")], "global_batch_size": samples // steps,
              "max_steps": steps, "save_every": 1, "max_length": 1024, "warmup_ratio": 0.0, "learning_rate": 1e-4,
              "loss_weighting": "sample"}
    (folder / "train.yaml").write_text(json.dumps(config, indent=1), encoding="utf-8")  # JSON is YAML
    print(f"prepared {folder}: random Qwen2 '{shape}', {samples} samples, {steps} steps")


def compare(single: Path, sharded: Path) -> None:
    from safetensors.torch import load_file

    want, got = load_file(single / "model.safetensors"), load_file(sharded / "model.safetensors")
    diff = max((got[name].float() - want[name].float()).abs().max().item() for name in want)
    moved = max((want[name].float() - load_file(_source(single))[name].float()).abs().max().item() for name in want)
    print(f"max |w_fsdp - w_single| = {diff:.3e} (largest update of one weight by training: {moved:.3e})")
    for name, out in (("one process", single), ("FSDP", sharded)):
        report = json.loads((out / "train_report.json").read_text(encoding="utf-8"))
        resolved = json.loads((out / "train_config.json").read_text(encoding="utf-8"))["resolved"]
        steps = ", ".join(f"{s['seconds']:.2f} s" for s in report["steps"])
        print(f"{name}: world size {resolved['world_size']}, accumulation {resolved['accumulation']}, "
              f"precision {resolved['precision']}, final loss {report['final_loss']:.4f}, steps {steps}")


def _source(out: Path) -> Path:
    config = json.loads((out / "train_config.json").read_text(encoding="utf-8"))
    return Path(config["resolved"]["model_path"]) / "model.safetensors"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("folder", type=Path)
    p.add_argument("--shape", choices=tuple(SHAPES), default="tiny")
    p.add_argument("--samples", type=int, default=32)
    p.add_argument("--steps", type=int, default=2)
    c = sub.add_parser("compare")
    c.add_argument("single", type=Path)
    c.add_argument("sharded", type=Path)
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.folder, args.shape, args.samples, args.steps)
    else:
        compare(args.single, args.sharded)


if __name__ == "__main__":
    main()

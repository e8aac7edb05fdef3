"""``star1 train``: supervised fine-tuning on STAR-format data (also ``python -m star1.train``)."""

from __future__ import annotations

import argparse

EPILOG = """examples:
  star1 train --model deepseek-ai/DeepSeek-R1-Distill-Qwen-7B --data star1.jsonl --out ckpt/r1-7b-star1
  star1 train --config configs/train/r1_distill_7b.yaml --learning-rate 5e-6
  star1 train --model bundled --data STAR-1.json --lora --max-steps 3 --out runs/smoke
  accelerate launch --config_file configs/accelerate/zero3.yaml -m star1.train --config ...
"""


def configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from star1.train.config import add_config_arguments

    add_config_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train", help="fine-tune a model on STAR data (reasoning kept, packed, paper defaults)",
        description="Supervised fine-tuning with the paper's defaults; every option can also be set in "
                    "a YAML file given with --config.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    return configure(parser)


def run(args: argparse.Namespace) -> int:
    from star1.train.config import config_from_args
    from star1.train.run import train

    result = train(config_from_args(args))
    if result.trainer is not None and not result.trainer.is_world_process_zero():
        return 0
    loss = f"{result.final_loss:.4f}" if result.final_loss is not None else "n/a"
    print(f"star1 train: {result.trainer.state.global_step} steps, final loss {loss}; "
          f"checkpoint and loss curve in {result.out}")
    return 0

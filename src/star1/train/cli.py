"""``star1 train``: supervised fine-tuning on STAR-format data (also ``python -m star1.train``)."""

from __future__ import annotations

import argparse
import types
import typing

from star1 import cliargs

EPILOG = """Every setting is a field of TrainConfig (docs/train.md): give them in a YAML file with
--config, or one by one with --set KEY=VALUE (values are YAML); --set wins over the file.

examples:
  star1 train --model deepseek-ai/DeepSeek-R1-Distill-Qwen-7B --in star1.jsonl --out ckpt/r1-7b-star1
  star1 train --config configs/train/r1_distill_7b.yaml --in STAR-1.json --set learning_rate=5e-6
  star1 train --model bundled --in STAR-1.json --lora --max-steps 3 --out runs/smoke
  star1 train --model ... --in ... --set think=false                # the ablation of Sec. 4.2
  accelerate launch --config_file configs/accelerate/zero3.yaml -m star1.train --config ... --in ...
"""
# Fields with a flag of their own (the role flag, --in, --out and the two shortcuts).
_FLAGGED = {"model", "data", "out", "lora", "max_steps"}


def configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from star1.train.config import TrainConfig

    cliargs.add_roles(parser, "model")
    cliargs.add_io(parser, "STAR-format data: a .json list, .jsonl or .parquet file, or hub:owner/name[:split]; "
                           "repeat --in for several (= --set data=[...])",
                   "output folder: checkpoint, tokenizer, train_config.json, loss curve (= --set out=DIR)",
                   in_required=False, out_required=False, many_in=True)
    cliargs.add_settings(parser, TrainConfig, "epochs")
    parser.add_argument("--lora", action="store_const", const=True,
                        help="LoRA instead of full fine-tuning (= --set lora=true)")
    parser.add_argument("--max-steps", type=int, metavar="N",
                        help="stop after N optimizer steps, for smoke runs (= --set max_steps=N)")
    add_old_flags(parser)
    parser.set_defaults(func=run)
    return parser


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train", help="fine-tune a model on STAR data (reasoning kept, packed, paper defaults)",
        description="Supervised fine-tuning with the paper's defaults.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    return configure(parser)


def _strip_optional(annotation):
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def add_old_flags(parser: argparse.ArgumentParser) -> None:
    """The flag per TrainConfig field of earlier releases (``--learning-rate 5e-6``), and
    ``--data``: aliases for one release, each saying which ``--set`` to write instead."""
    from star1.train.config import TrainConfig

    cliargs.alias(parser, "--data", key="data", instead="--in FILE", nargs="+", repeat=True)
    cliargs.alias(parser, "--no-lora", key="lora", instead="--set lora=false", const=False)
    for name, field in TrainConfig.model_fields.items():
        if name in _FLAGGED:
            continue
        flag, kind = "--" + name.replace("_", "-"), _strip_optional(field.annotation)
        if kind is bool:
            cliargs.alias(parser, flag, key=name, instead=f"--set {name}=true", const=True)
            cliargs.alias(parser, "--no-" + flag[2:], key=name, instead=f"--set {name}=false", const=False)
        elif typing.get_origin(kind) is list:
            cliargs.alias(parser, flag, key=name, instead=f"--set {name}=[A,B]", nargs="+", repeat=True)
        else:
            cliargs.alias(parser, flag, key=name, instead=f"--set {name}=V",
                          type=kind if kind in (int, float) else None)


def load_config(args: argparse.Namespace):
    """The run's TrainConfig: --config, then the flags (and old spellings), then --set."""
    from star1.settings import load_settings
    from star1.train.config import TrainConfig

    values = cliargs.given(args, "model", "input=data", "out", "lora", "max_steps")
    return load_settings(TrainConfig, args.config, args.overrides, values=values)


def run(args: argparse.Namespace) -> int:
    from contextlib import nullcontext

    from star1.engines.pool import resolve_role
    from star1.errors import ConfigError
    from star1.runlock import RunLock
    from star1.train.run import _is_main_process, train

    config = load_config(args)
    # Before any file or folder is created: there is no default model to fine-tune.
    resolve_role("model", config.model)
    if not config.data:
        raise ConfigError("no training data: give --in FILE (repeat it for several), or 'data:' in the config")
    # One run per output folder; in a launch, rank 0 holds it for all (every rank runs this).
    with RunLock(config.out, option="another --out") if config.out and _is_main_process() else nullcontext():
        result = train(config)
    if result.trainer is not None and not result.trainer.is_world_process_zero():
        return 0
    loss = f"{result.final_loss:.4f}" if result.final_loss is not None else "n/a"
    print(f"star1 train: {result.trainer.state.global_step} steps, final loss {loss}; "
          f"checkpoint and loss curve in {result.out}")
    return 0

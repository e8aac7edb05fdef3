"""Subcommands ``star1 benign`` (STAR-benign look-alikes) and ``star1 mix``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from star1 import cliargs
from star1.console import make_console
from star1.pipeline.config import BuildConfig
from star1.runlock import holding_output


class MixSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int = Field(0, description="shuffle seed")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "benign", help="harmless look-alikes of harmful prompts, answered and judged (against over-refusal)")
    cliargs.add_io(p, "harmful records, e.g. star1.jsonl", "benign records (.json, .jsonl, .parquet)")
    cliargs.add_settings(p, BuildConfig, "benign.rewrite.retries",
                         "BuildConfig: benign.rewrite.*, benign.generate.*, benign.score.*, protocol, ...")
    cliargs.add_roles(p, "teacher", "rewriter", "judge", "classifier")
    cliargs.add_quiet(p)
    cliargs.alias(p, "--engine", key="teacher", instead="--teacher")
    cliargs.add_protocol(p)
    for flag in ("--policies", "--cache"):
        key = flag[2:].replace("-", "_")
        cliargs.alias(p, flag, key=key, instead=f"--set {key}=...")
    cliargs.alias(p, "--prompt-set", key="protocol", instead="--protocol")
    p.set_defaults(func=run_benign_command)

    p = subparsers.add_parser("mix", help="concatenate record files and shuffle them with a seed")
    cliargs.add_io(p, "a record file (repeat --in for each), e.g. --in star1.jsonl --in benign.jsonl",
                   "the mixed records", in_required=False, many_in=True)
    cliargs.add_settings(p, MixSettings, "seed", "MixSettings: seed")
    p.add_argument("old_inputs", nargs="*", metavar="FILE", help="(old spelling of --in FILE)")
    cliargs.alias(p, "--seed", key="seed", instead="--set seed=N", type=int)
    p.set_defaults(func=run_mix_command)


def _console():
    return make_console()


def steps_table(steps, title: str):
    from star1.pipeline.run import summary_table

    return summary_table(title, steps, first="step")


@holding_output  # one run per --out file
def run_benign_command(args) -> int:
    from star1.engines.pool import EnginePool
    from star1.pipeline.cli import _stage_cache, pipeline_settings
    from star1.pipeline.run import RunContext, run_stages, write_stage_outputs
    from star1.pipeline.stages import BENIGN
    from star1.prompts.reference import load_prompt_set
    from star1.records import read_records

    config = pipeline_settings("benign", args, "teacher", "rewriter", "judge", "classifier")
    if config.engine is None:  # here the judge and the harm check's classifier default to the teacher
        config.engine = config.engine_for("teacher")
    config.roles(tuple({s.role for s in BENIGN}))  # before any file is read or created
    prompts = load_prompt_set(config.protocol, config.policies, config.local_dir)
    records = read_records(args.input)
    with _stage_cache(config) as cache, EnginePool(cache) as pool:
        run = run_stages(BENIGN, records, RunContext(config, prompts, pool, progress=not args.quiet))
    failed_path = write_stage_outputs(args.out, run.records, run.failures)
    console = _console()
    console.print(steps_table(run.summaries, f"star1 benign — {args.input}"))
    console.print(f"{len(run.records)} benign samples → {args.out}"
                  f"{f'; {len(run.failures)} failures → {failed_path}' if run.failures else ''}")
    return 0


def run_mix_command(args) -> int:
    from star1.errors import ConfigError
    from star1.pipeline.mix import composition_table, mix_files
    from star1.records import write_records
    from star1.settings import load_settings

    if args.old_inputs:
        cliargs.log.warning("positional files are an old spelling and will go in the next "
                            "release; use --in FILE for each")
    inputs = (args.input or []) + args.old_inputs
    if not inputs:
        raise ConfigError("give the files to mix: --in FILE (repeat it for each)")
    settings = load_settings(MixSettings, args.config, args.overrides, values=cliargs.given(args))
    mixed = mix_files(inputs, settings.seed)
    write_records(args.out, mixed)
    _console().print(composition_table(mixed, f"star1 mix — {args.out} (seed {settings.seed})"))
    return 0

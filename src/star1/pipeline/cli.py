"""Subcommands of the data pipeline: demo, build, classify, deliberate, score, select.

The grammar is :mod:`star1.cliargs`: ``--in`` / ``--out``, ``--config`` / ``--set``, one flag per
model role. A single-stage command's settings are its stage's options (``--set max_tokens=64``)
plus its role, the prompt set, the policy pack and the call cache.
"""

from __future__ import annotations

import shlex
import sys
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from star1 import cliargs
from star1.console import make_console
from star1.engines.config import EngineSpec
from star1.pipeline.classify import ClassifyOptions
from star1.pipeline.deliberate import DeliberateOptions
from star1.pipeline.score import ScoreOptions
from star1.pipeline.select import SelectOptions
from star1.records import SCORE_KEYS
from star1.runlock import holding_output


class _StageSettings(BaseModel):
    """What every single-stage command has besides its stage's options and its model."""

    model_config = ConfigDict(extra="forbid")

    protocol: Literal["star1", "paper"] = Field(
        "star1", description="star1: the project's prompts and policies; paper: the STAR-1 "
                             "reference's, with its sampling (docs/fidelity.md)")
    local_dir: str | None = Field(None, description="paper prompt set: folder holding star1_reference/")
    policies: str | None = Field(None, description="policy pack folder (default: the bundled pack)")
    cache: str | None = Field(None, description="call cache file (default: in the user cache folder)")


class ClassifySettings(ClassifyOptions, _StageSettings):
    classifier: EngineSpec | None = Field(None, description=cliargs.ROLES["classifier"])


class DeliberateSettings(DeliberateOptions, _StageSettings):
    teacher: EngineSpec | None = Field(None, description=cliargs.ROLES["teacher"])


class ScoreSettings(ScoreOptions, _StageSettings):
    judge: EngineSpec | None = Field(None, description=cliargs.ROLES["judge"])


STAGE_COMMANDS = {
    # command: (stage, role, options, help)
    "classify": ("classify", "classifier", ClassifyOptions, "sort prompts into safety categories"),
    "deliberate": ("deliberate", "teacher", DeliberateOptions,
                   "policy-grounded reasoning and answers from a teacher model"),
    "score": ("score", "judge", ScoreOptions, "judge samples on the three STAR-1 criteria"),
}
SETTINGS = {"classify": ClassifySettings, "deliberate": DeliberateSettings, "score": ScoreSettings}


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("demo", help="the whole pipeline on the bundled model and built-in prompts")
    cliargs.add_io(p, "prompts (default: the built-in demo prompts)", "run folder (default: runs/demo)",
                   in_required=False, out_required=False)
    cliargs.add_settings(p, "BuildConfig, on top of the demo's own")
    p.add_argument("--limit", type=int, help="use only the first N prompts (= --set limit=N)")
    cliargs.alias(p, "--run-dir", key="out", instead="--out")
    p.set_defaults(func=run_demo)

    p = subparsers.add_parser("build", help="classify → deliberate → score → select from a config; rerun = resume")
    cliargs.add_io(p, "prompts file (= the config's input)", "run folder (= the config's run_dir)",
                   in_required=False, out_required=False)
    cliargs.add_settings(p, "BuildConfig")
    cliargs.add_roles(p, "classifier", "teacher", "judge")
    cliargs.add_protocol(p)
    p.add_argument("--limit", type=int, help="use only the first N prompts (= --set limit=N)")
    p.add_argument("--dry-run", action="store_true",
                   help="say how many calls, tokens and dollars each stage would spend, then stop")
    cliargs.alias(p, "--input", key="input", instead="--in")
    cliargs.alias(p, "--run-dir", key="out", instead="--out")
    cliargs.alias(p, "--engine", key="engine", instead="--set engine=ENGINE (every role) or a role flag")
    p.set_defaults(func=run_build_command)

    for name, (_, role, _options, help_text) in STAGE_COMMANDS.items():
        p = subparsers.add_parser(name, help=help_text)
        _stage_parser(p, role, SETTINGS[name].__name__)
        p.set_defaults(func=run_stage_command, command_name=name)
    p = subparsers.add_parser("generate", help="old name of 'deliberate'")
    _stage_parser(p, "teacher", SETTINGS["deliberate"].__name__)
    p.set_defaults(func=run_stage_command, command_name="deliberate", old_name="generate")

    p = subparsers.add_parser("select", help="the paper's balanced selection of N samples")
    cliargs.add_io(p, "scored records (.json, .jsonl, .parquet)", "selected records")
    cliargs.add_settings(p, "SelectOptions")
    cliargs.alias(p, "--n", key="n", instead="--set n=N", type=int)
    cliargs.alias(p, "--min-score", key="min_scores", instead="--set min_scores.KEY=N",
                  type=lambda v: {k: int(v) for k in SCORE_KEYS})
    cliargs.alias(p, "--keep-other", key="exclude_other", instead="--set exclude_other=false", const=False)
    p.set_defaults(func=run_select_command)


def _stage_parser(p, role: str, settings_name: str) -> None:
    cliargs.add_io(p, "input records (.json, .jsonl, .parquet)", "output records (.json, .jsonl, .parquet)")
    cliargs.add_settings(p, settings_name)
    cliargs.add_roles(p, role)
    cliargs.add_quiet(p)
    cliargs.alias(p, "--engine", key=role, instead=cliargs.role_flag(role))
    cliargs.add_protocol(p)
    for flag in ("--policies", "--cache"):
        key = flag[2:].replace("-", "_")
        cliargs.alias(p, flag, key=key, instead=f"--set {key}=...")
    cliargs.alias(p, "--prompt-set", key="protocol", instead="--protocol")


def _console():
    return make_console()


def _command_line() -> str:
    return "star1 " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def run_demo(args) -> int:
    from star1.data import demo_prompts_path
    from star1.pipeline.config import load_build_config
    from star1.pipeline.demo import DEMO_SETTINGS

    base = {**DEMO_SETTINGS, "input": str(demo_prompts_path()), "run_dir": "runs/demo"}
    values = cliargs.given(args, "input", "out=run_dir", "limit")
    config = load_build_config(args.config, args.overrides, base=base, values=values)
    return _build(config, _command_line())


def run_build_command(args) -> int:
    from star1.errors import ConfigError
    from star1.pipeline.config import load_build_config

    values = cliargs.given(args, "input", "out=run_dir", "classifier", "teacher", "judge", "limit",
                           "protocol", "local_dir")
    if not args.config and "input" not in values and not any(o.startswith("input=") for o in args.overrides):
        raise ConfigError("give --config FILE or at least --in PROMPTS")
    config = load_build_config(args.config, args.overrides, values=values)
    if args.dry_run:
        from star1.pipeline.build import load_inputs
        from star1.pipeline.plan import plan_build, plan_notes, plan_table

        console = _console()
        plans = plan_build(config, load_inputs(config))
        console.print(plan_table(plans))
        for note in plan_notes(config, plans):
            console.print(note, soft_wrap=True, markup=False)
        return 0
    return _build(config, _command_line())


def _build(config, command_line: str) -> int:
    from star1.pipeline.build import run_build
    from star1.pipeline.stages import summary_table

    console = _console()
    summary = run_build(config, command_line=command_line, console=console)
    console.print(summary_table(f"star1 build — {summary.run_dir}", summary.stages))
    card = f"card: {summary.card}" if summary.card else "no dataset card: nothing was selected"
    console.print(f"{summary.selected} samples → {summary.output}  ({summary.seconds:.0f} s; {card})")
    if not summary.selected and summary.not_selectable:
        console.print(not_selected_note(summary.not_selectable, config.select.min_scores), soft_wrap=True,
                      highlight=False, markup=False)
    return 0


def not_selected_note(reasons: dict[str, int], min_scores: dict[str, int]) -> str:
    """Why a build selected nothing: the keep rule, and how many samples each part of it stopped."""
    rule = ", ".join(f"{k} >= {v}" for k, v in min_scores.items())
    counts = "; ".join(f"{reason}: {n}" for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1]))
    return (f"no scored sample met the keep rule ({rule}; category not Other): {counts}. The judge's "
            "scores are in scored.jsonl; the rule is select.min_scores (the paper keeps only 10/10/10).")


def stage_settings(command: str, args):
    """The command's settings: file, flags, ``--set``; with the paper prompt set, the
    reference's values for every stage option not given."""
    from star1.pipeline.paper import with_reference_settings
    from star1.settings import load_settings

    stage, role, options_model, _ = STAGE_COMMANDS[command]
    settings = load_settings(SETTINGS[command], args.config, args.overrides,
                             values=cliargs.given(args, role, "protocol", "local_dir"))
    options = options_model.model_validate(settings.model_dump(include=set(options_model.model_fields),
                                                               exclude_unset=True))
    if settings.protocol == "paper":
        options = with_reference_settings(stage, options)
    return settings, options


@holding_output  # one run per --out file: a second would pay every call again
def run_stage_command(args) -> int:
    from star1.datasets.fetch import cache_dir
    from star1.engines.cache import CallCache
    from star1.engines.pool import EnginePool, resolve_role
    from star1.pipeline.stages import STAGES, check_calls, first_transport_error, require_fields, write_stage_outputs
    from star1.prompts.reference import load_prompt_set
    from star1.records import read_records

    if getattr(args, "old_name", None):
        cliargs.log.warning("'star1 %s' is the old name of 'star1 %s' (it goes in the next release)",
                            args.old_name, args.command_name)
    stage_name, role, _, _ = STAGE_COMMANDS[args.command_name]
    stage = STAGES[stage_name]
    settings, options = stage_settings(args.command_name, args)
    spec = resolve_role(role, getattr(settings, role))  # before any file is read or created
    prompts = load_prompt_set(settings.protocol, settings.policies, settings.local_dir)
    records = read_records(args.input)
    require_fields(records, args.input, stage)
    cache = CallCache(settings.cache or cache_dir() / "llm_cache.sqlite")
    pool = EnginePool(cache)
    try:
        engine = pool.cached(spec, stage_name, prompts)
        result = stage.run(records, engine, prompts, options, not args.quiet)
    finally:
        pool.close()
        cache.close()
    failed_path = write_stage_outputs(args.out, result.records, result.failures)
    stats = engine.stats
    _console().print(
        f"{args.command_name}: {len(records)} in, {len(result.records)} out, {len(result.failures)} failed"
        f"{f' (see {failed_path})' if result.failures else ''}; calls: {stats.cached} cached, "
        f"{stats.new} new; tokens: {stats.prompt_tokens} prompt, {stats.completion_tokens} completion")
    check_calls(args.command_name, stats, first_transport_error(result.failures))
    return 0


def run_select_command(args) -> int:
    from star1.pipeline.select import select
    from star1.records import read_records, write_records
    from star1.settings import load_settings

    options = load_settings(SelectOptions, args.config, args.overrides, values=cliargs.given(args))
    records = read_records(args.input)
    result = select(records, options)
    write_records(args.out, result.records)
    reasons = ", ".join(f"{k}: {v}" for k, v in sorted(result.removed_by_filter.items())) or "none"
    _console().print(f"select: {len(records)} in, {result.passed_filter} passed the filter "
                     f"(not selectable: {reasons}), {len(result.records)} selected → {args.out}")
    return 0


"""Subcommands of the data pipeline: demo, build, classify, deliberate, score, select.

The grammar is :mod:`star1.cliargs`: ``--in`` / ``--out``, ``--config`` / ``--set``, one flag per
model role. Every command here reads the one settings model of the pipeline,
:class:`~star1.pipeline.config.BuildConfig` — a build config works for each — and runs its
stages (:mod:`star1.pipeline.stages`) with the one stage runner.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from star1 import cliargs
from star1.console import make_console
from star1.errors import RunFailed
from star1.pipeline.config import BuildConfig
from star1.records import SCORE_KEYS
from star1.runlock import holding_output

# command → (its stage, the help line, the example of its --help)
STAGE_COMMANDS = {
    "classify": ("classify", "sort prompts into safety categories", "classify.max_tokens"),
    "deliberate": ("deliberate", "policy-grounded reasoning and answers from a teacher model",
                   "deliberate.max_tokens"),
    "score": ("score", "judge samples on the three STAR-1 criteria", "score.retries"),
}
ROLE_OF = {"classify": "classifier", "deliberate": "teacher", "score": "judge"}


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("demo", help="the whole pipeline on the bundled model and built-in prompts")
    cliargs.add_io(p, "prompts (default: the built-in demo prompts)", "run folder (default: runs/demo)",
                   in_required=False, out_required=False)
    cliargs.add_settings(p, BuildConfig, "select.n", "BuildConfig, on top of the demo's own")
    p.add_argument("--limit", type=int, help="use only the first N prompts (= --set limit=N)")
    cliargs.alias(p, "--run-dir", key="out", instead="--out")
    p.set_defaults(func=run_demo)

    p = subparsers.add_parser("build", help="classify → deliberate → score → select from a config; rerun = resume")
    cliargs.add_io(p, "prompts file (= the config's input)", "run folder (= the config's run_dir)",
                   in_required=False, out_required=False)
    cliargs.add_settings(p, BuildConfig, "select.n")
    cliargs.add_roles(p, "classifier", "teacher", "judge", "rewriter")
    cliargs.add_protocol(p)
    p.add_argument("--limit", type=int, help="use only the first N prompts (= --set limit=N)")
    _add_dry_run(p)
    cliargs.alias(p, "--input", key="input", instead="--in")
    cliargs.alias(p, "--run-dir", key="out", instead="--out")
    cliargs.alias(p, "--engine", key="engine", instead="--set engine=ENGINE (every role) or a role flag")
    p.set_defaults(func=run_build_command)

    for name, (_, help_text, example) in STAGE_COMMANDS.items():
        p = subparsers.add_parser(name, help=help_text)
        _stage_parser(p, ROLE_OF[name], example)
        p.set_defaults(func=run_stage_command, command_name=name)
    p = subparsers.add_parser("generate", help="old name of 'deliberate'")
    _stage_parser(p, "teacher", STAGE_COMMANDS["deliberate"][2])
    p.set_defaults(func=run_stage_command, command_name="deliberate", old_name="generate")

    p = subparsers.add_parser("select", help="the paper's balanced selection of N samples")
    cliargs.add_io(p, "scored records (.json, .jsonl, .parquet)", "selected records")
    cliargs.add_settings(p, BuildConfig, "select.n", "BuildConfig: select.*, protocol")
    cliargs.add_protocol(p)
    cliargs.alias(p, "--n", key="select.n", instead="--set select.n=N", type=int)
    cliargs.alias(p, "--min-score", key="select.min_scores", instead="--set select.min_scores.KEY=N",
                  type=lambda v: {k: int(v) for k in SCORE_KEYS})
    cliargs.alias(p, "--keep-other", key="select.exclude_other", instead="--set select.exclude_other=false",
                  const=False)
    p.set_defaults(func=run_select_command)


def _add_dry_run(p) -> None:
    p.add_argument("--dry-run", action="store_true",
                   help="say how many calls, tokens and dollars each stage would spend, then stop")


def _stage_parser(p, role: str, example: str) -> None:
    cliargs.add_io(p, "input records (.json, .jsonl, .parquet; default: the config's input)",
                   "output records (.json, .jsonl, .parquet)", in_required=False, out_required=False)
    cliargs.add_settings(p, BuildConfig, example, "BuildConfig: its own section, its role, protocol, ...")
    cliargs.add_roles(p, role)
    cliargs.add_quiet(p)
    _add_dry_run(p)
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

    values = cliargs.given(args, "input", "out=run_dir", "classifier", "teacher", "judge", "rewriter",
                           "limit", "protocol", "local_dir")
    if not args.config and "input" not in values and not any(o.startswith("input=") for o in args.overrides):
        raise ConfigError("give --config FILE or at least --in PROMPTS")
    config = load_build_config(args.config, args.overrides, values=values)
    if args.dry_run:
        from star1.pipeline.build import load_inputs

        return _dry_run(config, load_inputs(config), None, "build")
    return _build(config, _command_line())


def _dry_run(config, records, stages, command: str) -> int:
    from star1.pipeline.plan import plan_build, plan_notes, plan_table

    console = _console()
    plans = plan_build(config, records, stages)
    console.print(plan_table(plans, command))
    for note in plan_notes(config, plans):
        console.print(note, soft_wrap=True, markup=False)
    return 0


def _build(config, command_line: str) -> int:
    from star1.pipeline.build import run_build
    from star1.pipeline.run import summary_table

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


def pipeline_settings(command: str, args, *roles: str) -> BuildConfig:
    """A pipeline command's settings: file, flags (its roles, protocol, local_dir), ``--set``;
    the command's old flat keys land where they belong now."""
    from star1.pipeline.config import load_build_config

    values = cliargs.given(args, *roles, "protocol", "local_dir")
    return load_build_config(args.config, args.overrides, values=values, command=command)


def _stage_cache(config: BuildConfig):
    """A single-stage command's call cache: ``cache:``, else the one in the user cache folder
    (a run folder is a build's)."""
    from star1.engines.cache import CallCache
    from star1.paths import cache_dir

    return CallCache(config.cache or cache_dir() / "llm_cache.sqlite")


def _out_or_error(args) -> str:
    from star1.errors import ConfigError

    if not args.out:
        raise ConfigError("give --out PATH for the records (or --dry-run to only count the calls)")
    return args.out


@holding_output  # one run per --out file: a second would pay every call again
def run_stage_command(args) -> int:
    from star1.engines.pool import EnginePool
    from star1.pipeline.build import load_inputs
    from star1.pipeline.run import RunContext, require_fields, run_stages, write_stage_outputs
    from star1.pipeline.stages import STAGES
    from star1.prompts.reference import load_prompt_set

    if getattr(args, "old_name", None):
        cliargs.log.warning("'star1 %s' is the old name of 'star1 %s' (it goes in the next release)",
                            args.old_name, args.command_name)
    stage = STAGES[STAGE_COMMANDS[args.command_name][0]]
    config = pipeline_settings(args.command_name, args, stage.role)
    config.engine_for(stage.role)  # before any file is read or created
    records = load_inputs(config, args.input)
    require_fields(records, args.input or config.input, stage)
    if args.dry_run:
        return _dry_run(config, records, [stage], args.command_name)
    out = _out_or_error(args)
    prompts = load_prompt_set(config.protocol, config.policies, config.local_dir)
    failed_path = Path(out).with_suffix(".failed.jsonl")
    try:
        with _stage_cache(config) as cache, EnginePool(cache) as pool:
            run = run_stages([stage], records, RunContext(config, prompts, pool, progress=not args.quiet),
                             on_stage=lambda _, result, __: write_stage_outputs(out, result.records, result.failures))
    except RunFailed as err:  # every call failed: the failures were written all the same
        raise RunFailed(f"{err} (see {failed_path})" if failed_path.exists() else str(err)) from None
    stats = run.summaries[0].calls
    _console().print(
        f"{args.command_name}: {len(records)} in, {len(run.records)} out, {len(run.failures)} failed"
        f"{f' (see {failed_path})' if run.failures else ''}; calls: {stats.cached} cached, "
        f"{stats.new} new; tokens: {stats.prompt_tokens} prompt, {stats.completion_tokens} completion")
    return 0


def run_select_command(args) -> int:
    from star1.pipeline.run import RunContext, run_stages
    from star1.pipeline.stages import STAGES
    from star1.records import read_records, write_records

    config = pipeline_settings("select", args)
    records = read_records(args.input)
    run = run_stages([STAGES["select"]], records, RunContext(config, prompts=None))
    write_records(args.out, run.records)
    reasons = ", ".join(f"{k}: {v}" for k, v in sorted(run.results["select"].reasons.items())) or "none"
    passed = len(records) - len(run.results["select"].skipped)
    _console().print(f"select: {len(records)} in, {passed} passed the filter "
                     f"(not selectable: {reasons}), {len(run.records)} selected → {args.out}")
    return 0
